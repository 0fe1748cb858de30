//! Versioning against a model, through the real binary over S3, with
//! `kill -9` restarts: random PUT / DELETE / DELETE ?versionId / enable /
//! suspend sequences on a few keys. After every step the current object
//! of every key (GET, or 404 with `x-amz-delete-marker`) and the whole
//! ListObjectVersions (ids, latest flags, markers; read in small pages)
//! agree with the model; after a kill, every acknowledged step is still
//! there, and every version reads back with its bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::server::{client, creds_env, start, Node};
use shale::client::{xml_texts, PayloadMode, Request, Response, S3Client};

const BUCKET: &str = "model";
const KEYS: [&str; 4] = ["a", "b/x", "b/y", "c"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Never,
    Enabled,
    Suspended,
}

/// A key's versions, most recently written first: (version id as S3 shows
/// it, `Some(body)` or `None` for a delete marker).
type Versions = Vec<(String, Option<Vec<u8>>)>;

struct Model {
    state: State,
    keys: Vec<Versions>,
}

/// xorshift64*: a reproducible sequence per seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn send(
    c: &mut S3Client,
    method: &str,
    key: &str,
    query: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let req = Request {
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        headers: Vec::new(),
        body,
    };
    c.send(method, BUCKET, key, req, PayloadMode::Signed)
        .unwrap_or_else(|e| panic!("{method} {key}: {e}"))
}

fn set_versioning(c: &mut S3Client, enabled: bool) {
    let status = if enabled { "Enabled" } else { "Suspended" };
    let body = format!(
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{status}</Status></VersioningConfiguration>"
    );
    let r = send(c, "PUT", "", &[("versioning", "")], body.as_bytes());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// One random step, applied to the server and then to the model.
fn step(c: &mut S3Client, m: &mut Model, rng: &mut Rng, n: u64) {
    let k = rng.below(KEYS.len() as u64) as usize;
    let key = KEYS[k];
    match rng.below(20) {
        0 => {
            set_versioning(c, true);
            m.state = State::Enabled;
        }
        1 if m.state != State::Never => {
            set_versioning(c, false);
            m.state = State::Suspended;
        }
        2..=10 => {
            let body = format!("{key} #{n}").into_bytes();
            let r = send(c, "PUT", key, &[], &body);
            assert_eq!(r.status, 200);
            let id = r.header("x-amz-version-id").map(str::to_string);
            let versions = &mut m.keys[k];
            match m.state {
                State::Never => {
                    assert_eq!(id, None);
                    versions.clear();
                    versions.push(("null".into(), Some(body)));
                }
                State::Enabled => {
                    let id = id.expect("a version id");
                    assert_ne!(id, "null");
                    versions.insert(0, (id, Some(body)));
                }
                State::Suspended => {
                    // AWS does not name the null version a suspended PUT makes.
                    assert_eq!(id, None);
                    versions.retain(|(v, _)| v != "null");
                    versions.insert(0, ("null".into(), Some(body)));
                }
            }
        }
        11..=14 => {
            let r = send(c, "DELETE", key, &[], b"");
            assert_eq!(r.status, 204);
            let versions = &mut m.keys[k];
            match m.state {
                State::Never => versions.clear(),
                State::Enabled => {
                    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
                    let id = r.header("x-amz-version-id").expect("a marker id");
                    versions.insert(0, (id.to_string(), None));
                }
                State::Suspended => {
                    assert_eq!(r.header("x-amz-version-id"), Some("null"));
                    versions.retain(|(v, _)| v != "null");
                    versions.insert(0, ("null".into(), None));
                }
            }
        }
        _ => {
            // Remove a version for good (sometimes one that is not there).
            let versions = &mut m.keys[k];
            let id = if versions.is_empty() || rng.below(8) == 0 {
                "0123456789abcdef0123456789abcdef".to_string()
            } else {
                versions[rng.below(versions.len() as u64) as usize]
                    .0
                    .clone()
            };
            let r = send(c, "DELETE", key, &[("versionId", &id)], b"");
            assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
            versions.retain(|(v, _)| *v != id);
        }
    }
}

/// Everything the server says about the bucket equals the model.
fn verify(c: &mut S3Client, m: &Model, when: &str) {
    for (k, key) in KEYS.iter().enumerate() {
        let r = send(c, "GET", key, &[], b"");
        match m.keys[k].first() {
            Some((id, Some(body))) => {
                assert_eq!(r.status, 200, "{when}: GET {key}");
                assert_eq!(&r.body, body, "{when}: GET {key}");
                if m.state != State::Never || id != "null" {
                    assert_eq!(
                        r.header("x-amz-version-id"),
                        Some(id.as_str()),
                        "{when}: {key}"
                    );
                }
            }
            Some((id, None)) => {
                assert_eq!(r.status, 404, "{when}: GET {key} (a marker)");
                assert_eq!(
                    r.header("x-amz-delete-marker"),
                    Some("true"),
                    "{when}: {key}"
                );
                assert_eq!(
                    r.header("x-amz-version-id"),
                    Some(id.as_str()),
                    "{when}: {key}"
                );
            }
            None => assert_eq!(r.status, 404, "{when}: GET {key}"),
        }
        // Every version reads back by id.
        for (id, body) in &m.keys[k] {
            let r = send(c, "GET", key, &[("versionId", id)], b"");
            match body {
                Some(b) => {
                    assert_eq!(r.status, 200, "{when}: GET {key}?versionId={id}");
                    assert_eq!(&r.body, b, "{when}: {key}@{id}");
                }
                None => assert_eq!(r.status, 405, "{when}: GET marker {key}@{id}"),
            }
        }
    }
    // ListObjectVersions, two entries a page.
    let mut got = BTreeSet::new();
    let (mut key_marker, mut version_marker) = (String::new(), String::new());
    loop {
        let mut q = vec![("versions", ""), ("max-keys", "2")];
        if !key_marker.is_empty() {
            q.push(("key-marker", &key_marker));
            q.push(("version-id-marker", &version_marker));
        }
        let r = send(c, "GET", "", &q, b"");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        for (element, marker) in [("Version", false), ("DeleteMarker", true)] {
            let keys = xml_texts(&r.body, element, "Key");
            let ids = xml_texts(&r.body, element, "VersionId");
            let latest = xml_texts(&r.body, element, "IsLatest");
            for ((k, id), l) in keys.into_iter().zip(ids).zip(latest) {
                assert!(
                    got.insert((k, id, l == "true", marker)),
                    "{when}: listed twice"
                );
            }
        }
        if xml_texts(&r.body, "ListVersionsResult", "IsTruncated") != ["true"] {
            break;
        }
        key_marker = xml_texts(&r.body, "ListVersionsResult", "NextKeyMarker").concat();
        version_marker = xml_texts(&r.body, "ListVersionsResult", "NextVersionIdMarker").concat();
    }
    let mut want = BTreeSet::new();
    for (k, key) in KEYS.iter().enumerate() {
        for (i, (id, body)) in m.keys[k].iter().enumerate() {
            want.insert((key.to_string(), id.clone(), i == 0, body.is_none()));
        }
    }
    assert_eq!(got, want, "{when}: ListObjectVersions");
}

fn restart(node: Node, dir: &Path) -> (Node, S3Client) {
    drop(node); // SIGKILL
    let node = start(dir, &creds_env());
    let c = client(node.addr);
    (node, c)
}

#[test]
fn versioning_matches_the_model_across_kill_9() {
    for seed in [0x05ee_d0f5_ba1e, 0xc0ffee, 0xdecade] {
        run(seed, 300);
    }
}

fn run(seed: u64, steps: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut node = start(dir, &creds_env());
    let mut c = client(node.addr);
    assert_eq!(send(&mut c, "PUT", "", &[], b"").status, 200);
    let mut m = Model {
        state: State::Never,
        keys: vec![Vec::new(); KEYS.len()],
    };
    let mut rng = Rng(seed);
    let mut kills = 0;
    for n in 0..steps {
        step(&mut c, &mut m, &mut rng, n);
        verify(&mut c, &m, &format!("seed {seed:#x}, step {n}"));
        if rng.below(30) == 0 {
            (node, c) = restart(node, dir);
            kills += 1;
            verify(
                &mut c,
                &m,
                &format!("seed {seed:#x}, after the kill at step {n}"),
            );
        }
    }
    (node, c) = restart(node, dir);
    verify(&mut c, &m, "after the last kill");
    drop(node);
    let versions: usize = m.keys.iter().map(Vec::len).sum();
    eprintln!(
        "seed {seed:#x}: {steps} steps, {} kills, {versions} versions at the end",
        kills + 1
    );
    assert!(kills >= 3, "too few kills to mean anything");
}
