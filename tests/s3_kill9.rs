//! `kill -9` of the real server under concurrent PUT, DELETE and multipart
//! load, over several rounds on one data directory. Each key is owned by
//! one client thread, so a key has at most one operation in flight. After
//! every restart:
//! - every acknowledged PUT (single or multipart) reads back with exactly
//!   its bytes, unless the key's next operation was in flight, in which
//!   case the key shows one of the two outcomes;
//! - every acknowledged DELETE is gone (same proviso);
//! - no key shows bytes that were never written (contents are derived
//!   from key and sequence number, so any other bytes are detected);
//! - LIST agrees with GET: a key is listed exactly when GET finds it.
//!
//! Halfway through, the bucket gets default encryption (SSE-S3), so later
//! rounds overwrite plain objects with encrypted ones (single and
//! multipart) and the checks cover both kinds across kills. A third of
//! the writes are SSE-C (single and multipart, a customer key derived from
//! key and sequence number): such an object reads back byte-exact with its
//! key and is refused without it or with another key.
//!
//! Beside it, a bucket with Object Lock takes COMPLIANCE-retained PUTs
//! (some with a legal hold from the start, some given one later by
//! PutObjectLegalHold). After every restart every acknowledged locked
//! version is still listed and reads back, still reports its retention
//! and legal hold, and a DELETE of it is refused; a version that was in
//! flight either is absent or carries exactly what it was written with.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{client, creds_env, start_with};
use common::Rng;
use sha2::Digest;
use shale::client::{
    content_md5_header, sse_c_headers, xml_texts, PayloadMode, Request, Response, S3Client,
};

const BUCKET: &str = "crash";
const LOCK_BUCKET: &str = "crash-locked";
const LOCK_KEYS_PER_WORKER: u64 = 3;
/// How far ahead of the test's start locked versions are retained: long
/// enough that no retention runs out while the test runs.
const RETAIN_SECS: u64 = 15 * 60;
const WORKERS: u64 = 6;
const KEYS_PER_WORKER: u64 = 8;
const ROUNDS: u64 = 6;
const PART_MIN: usize = 5 * 1024 * 1024;

/// What a key holds: nothing, or the content of write `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Absent,
    /// Written by a single PUT or a multipart upload of `len` bytes.
    Written {
        seq: u64,
        len: usize,
        multipart: bool,
        /// SSE-C with `customer_key(key, seq)`.
        ssec: bool,
    },
}

/// The SSE-C key of write `seq` of `key`.
fn customer_key(key: &str, seq: u64) -> [u8; 32] {
    sha2::Sha256::digest(format!("ssec/{key}/{seq}")).into()
}

/// Whether a legal hold is on a locked version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    Off,
    On,
    /// A PutObjectLegalHold ON was in flight at a kill.
    MaybeOn,
}

/// One PUT into the lock bucket: COMPLIANCE until `Lock::until`.
#[derive(Clone, Debug)]
struct LockedVersion {
    key: String,
    seq: u64,
    len: usize,
    hold: Hold,
}

/// What the lock bucket must hold.
#[derive(Default)]
struct Locked {
    /// Acknowledged versions by version id.
    acked: BTreeMap<String, LockedVersion>,
    /// PUTs sent and not acknowledged (their version ids are unknown).
    pending: Vec<LockedVersion>,
}

#[derive(Clone, Debug)]
struct KeyState {
    acked: Value,
    /// Operations sent since the last acknowledged one (more than one
    /// when a round starts without verifying the previous kill).
    in_flight: Vec<Value>,
}

fn key_name(worker: u64, k: u64) -> String {
    format!("w{worker}/k{k}")
}

fn content(key: &str, seq: u64, len: usize) -> Vec<u8> {
    common::keyed_content(key, seq, len)
}

/// Multipart content: part 1 is the first PART_MIN bytes, part 2 the rest.
fn part(key: &str, seq: u64, len: usize, n: u32) -> Vec<u8> {
    let all = content(key, seq, len);
    if n == 1 {
        all[..PART_MIN].to_vec()
    } else {
        all[PART_MIN..].to_vec()
    }
}

fn ok(r: &Response, what: &str) {
    assert!(
        (200..300).contains(&r.status),
        "{what}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

/// What the workers share with the test: the models and counters.
#[derive(Clone)]
struct Shared {
    states: Arc<Mutex<BTreeMap<String, KeyState>>>,
    locked: Arc<Mutex<Locked>>,
    killed: Arc<AtomicBool>,
    seq: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
    /// Unix seconds every locked version is retained until.
    until: u64,
}

fn lock_key(worker: u64, k: u64) -> String {
    format!("w{worker}/L{k}")
}

/// One worker's loop until its connection dies with the server. Ops are
/// recorded in flight before they are sent and acknowledged after a 2xx.
fn worker(addr: SocketAddr, worker: u64, seed: u64, sh: Shared) {
    let mut c = client(addr);
    let mut rng = Rng(seed | 1);
    loop {
        let dice = rng.below(100);
        let s = sh.seq.fetch_add(1, Ordering::Relaxed);
        let result = if dice < 10 {
            locked_op(&mut c, worker, s, &mut rng, &sh)
        } else {
            key_op(&mut c, worker, s, &mut rng, &sh)
        };
        match result {
            Ok(()) => {
                sh.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                assert!(
                    sh.killed.load(Ordering::SeqCst),
                    "transport error before the kill: {e}"
                );
                return; // the op stays in flight: either outcome is allowed
            }
        }
    }
}

/// A DELETE, PUT or multipart upload of one of the worker's keys in the
/// main bucket; a third of the writes SSE-C.
fn key_op(
    c: &mut S3Client,
    worker: u64,
    s: u64,
    rng: &mut Rng,
    sh: &Shared,
) -> Result<(), shale::client::ConnError> {
    let modes = [
        PayloadMode::Signed,
        PayloadMode::Unsigned,
        PayloadMode::StreamingSigned { chunk: 64 * 1024 },
        PayloadMode::StreamingUnsignedTrailer { chunk: 64 * 1024 },
    ];
    let key = key_name(worker, rng.below(KEYS_PER_WORKER));
    let dice = rng.below(100);
    let ssec = rng.below(3) == 0;
    let target = if dice < 22 {
        Value::Absent
    } else if dice < 29 {
        let len = PART_MIN + 1 + rng.below(300_000) as usize;
        Value::Written {
            seq: s,
            len,
            multipart: true,
            ssec,
        }
    } else {
        let len = match rng.below(4) {
            0 => rng.below(100) as usize,
            1 | 2 => rng.below(64 * 1024) as usize,
            _ => rng.below(3 * 1024 * 1024) as usize,
        };
        Value::Written {
            seq: s,
            len,
            multipart: false,
            ssec,
        }
    };
    sh.states
        .lock()
        .unwrap()
        .get_mut(&key)
        .unwrap()
        .in_flight
        .push(target);
    match target {
        Value::Absent => c.delete_object(BUCKET, &key).map(|r| ok(&r, "delete"))?,
        Value::Written {
            seq,
            len,
            multipart: false,
            ssec,
        } => {
            let mode = modes[rng.below(modes.len() as u64) as usize];
            let headers = if ssec {
                sse_c_headers(&customer_key(&key, seq))
            } else {
                Vec::new()
            };
            let r = c.put_object_with(BUCKET, &key, &content(&key, seq, len), headers, mode)?;
            ok(&r, "put");
        }
        Value::Written { seq, len, ssec, .. } => {
            let headers = if ssec {
                sse_c_headers(&customer_key(&key, seq))
            } else {
                Vec::new()
            };
            let id = match c.create_multipart_with(BUCKET, &key, headers.clone())? {
                Ok(id) => id,
                Err(r) => {
                    ok(&r, "create multipart");
                    unreachable!()
                }
            };
            let mut etags = Vec::new();
            for n in 1..=2 {
                let r = c.upload_part_with(
                    BUCKET,
                    &key,
                    &id,
                    n,
                    &part(&key, seq, len, n),
                    headers.clone(),
                    PayloadMode::Unsigned,
                )?;
                ok(&r, "upload part");
                etags.push((n, r.header("etag").unwrap().to_owned()));
            }
            let r = c.complete_multipart(BUCKET, &key, &id, &etags)?;
            ok(&r, "complete");
            // A 200 may still carry an error document after the body began.
            assert!(
                !String::from_utf8_lossy(&r.body).contains("<Error>"),
                "{}",
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    let mut states = sh.states.lock().unwrap();
    let st = states.get_mut(&key).unwrap();
    st.acked = target;
    st.in_flight.clear();
    Ok(())
}

/// A COMPLIANCE-locked PUT into the lock bucket (a third with a legal
/// hold), or a legal hold put on one of the worker's acknowledged
/// versions that has none.
fn locked_op(
    c: &mut S3Client,
    worker: u64,
    s: u64,
    rng: &mut Rng,
    sh: &Shared,
) -> Result<(), shale::client::ConnError> {
    let prefix = format!("w{worker}/");
    if rng.below(4) == 0 {
        let unheld = {
            let mut locked = sh.locked.lock().unwrap();
            let found = locked
                .acked
                .iter_mut()
                .find(|(_, v)| v.key.starts_with(&prefix) && v.hold == Hold::Off);
            found.map(|(vid, v)| {
                v.hold = Hold::MaybeOn;
                (vid.clone(), v.key.clone())
            })
        };
        if let Some((vid, key)) = unheld {
            let body = b"<LegalHold><Status>ON</Status></LegalHold>";
            let r = c.send(
                "PUT",
                LOCK_BUCKET,
                &key,
                Request {
                    query: vec![
                        ("legal-hold".into(), String::new()),
                        ("versionId".into(), vid.clone()),
                    ],
                    headers: vec![content_md5_header(body)],
                    body,
                },
                PayloadMode::Signed,
            )?;
            ok(&r, "put legal hold");
            let mut locked = sh.locked.lock().unwrap();
            locked.acked.get_mut(&vid).unwrap().hold = Hold::On;
            return Ok(());
        }
    }
    let key = lock_key(worker, rng.below(LOCK_KEYS_PER_WORKER));
    let len = if rng.below(4) == 0 {
        rng.below(2 * 1024 * 1024) as usize
    } else {
        rng.below(64 * 1024) as usize
    };
    let hold = rng.below(3) == 0;
    let version = LockedVersion {
        key: key.clone(),
        seq: s,
        len,
        hold: if hold { Hold::On } else { Hold::Off },
    };
    let body = content(&key, s, len);
    let mut headers = vec![
        ("x-amz-object-lock-mode".to_owned(), "COMPLIANCE".to_owned()),
        (
            "x-amz-object-lock-retain-until-date".to_owned(),
            shale::s3::time::iso8601_millis(sh.until * 1_000_000_000),
        ),
        content_md5_header(&body),
    ];
    if hold {
        headers.push(("x-amz-object-lock-legal-hold".into(), "ON".into()));
    }
    sh.locked.lock().unwrap().pending.push(version.clone());
    let r = c.put_object_with(LOCK_BUCKET, &key, &body, headers, PayloadMode::Signed)?;
    ok(&r, "locked put");
    let vid = r
        .header("x-amz-version-id")
        .expect("a locked PUT without a version id")
        .to_owned();
    let mut locked = sh.locked.lock().unwrap();
    locked.pending.retain(|v| v.seq != s);
    locked.acked.insert(vid, version);
    Ok(())
}

/// Counts of what the checks saw, over all verifications.
#[derive(Default, Debug)]
struct Seen {
    in_flight: u64,
    in_flight_took_effect: u64,
    ssec_objects: u64,
    locked_versions: u64,
    held_versions: u64,
}

/// What GET shows for `key`, checked against the allowed outcomes. An
/// SSE-C object is refused without a key and with a wrong one, and read
/// with the key of the write it shows.
fn check_key(c: &mut S3Client, key: &str, st: &KeyState) -> Value {
    let candidates: Vec<Value> = std::iter::once(st.acked)
        .chain(st.in_flight.iter().copied())
        .collect();
    let matching = |body: &[u8], want_ssec: bool| {
        candidates.iter().copied().find(|v| match *v {
            Value::Written { seq, len, ssec, .. } => {
                ssec == want_ssec && body.len() == len && body == content(key, seq, len)
            }
            Value::Absent => false,
        })
    };
    let r = c.get_object(BUCKET, key).unwrap();
    let (seen, r) = match r.status {
        404 => (Value::Absent, r),
        200 => match matching(&r.body, false) {
            Some(v) => (v, r),
            None => panic!(
                "{key}: {} bytes without a key that match no plain write: acknowledged {:?}, in flight {:?}",
                r.body.len(),
                st.acked,
                st.in_flight
            ),
        },
        400 => {
            let body = String::from_utf8_lossy(&r.body).into_owned();
            assert!(body.contains("InvalidRequest"), "{key}: {body}");
            // Stored with SSE-C: it must open with one candidate's key.
            let wrong = c
                .get_object_with(
                    BUCKET,
                    key,
                    vec![],
                    sse_c_headers(&customer_key(key, u64::MAX)),
                )
                .unwrap();
            assert_eq!(wrong.status, 403, "{key}: a wrong SSE-C key was not refused");
            let mut opened = None;
            for v in &candidates {
                let Value::Written {
                    seq, ssec: true, ..
                } = *v
                else {
                    continue;
                };
                let r = c
                    .get_object_with(BUCKET, key, vec![], sse_c_headers(&customer_key(key, seq)))
                    .unwrap();
                match r.status {
                    403 => continue,
                    200 => {
                        let v = matching(&r.body, true).unwrap_or_else(|| {
                            panic!("{key}: write {seq}'s key opens {} other bytes", r.body.len())
                        });
                        opened = Some((v, r));
                        break;
                    }
                    s => panic!("{key}: SSE-C GET {s} {}", String::from_utf8_lossy(&r.body)),
                }
            }
            opened.unwrap_or_else(|| {
                panic!(
                    "{key}: needs an SSE-C key that no write had: acknowledged {:?}, in flight {:?}",
                    st.acked, st.in_flight
                )
            })
        }
        s => panic!("{key}: GET {s} {}", String::from_utf8_lossy(&r.body)),
    };
    let allowed = seen == st.acked || st.in_flight.contains(&seen);
    assert!(
        allowed,
        "{key}: shows {seen:?}; acknowledged {:?}, in flight {:?}",
        st.acked, st.in_flight
    );
    if let Value::Written {
        multipart: true, ..
    } = seen
    {
        let etag = r.header("etag").unwrap_or("");
        assert!(etag.ends_with("-2\""), "{key}: multipart ETag {etag}");
    }
    seen
}

#[test]
fn acknowledged_writes_survive_kill9_under_s3_load() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let seed0 = now.as_nanos() as u64;
    eprintln!("seed {seed0}");
    let mut rng = Rng(seed0 | 1);
    let sh = Shared {
        states: Arc::new(Mutex::new(
            (0..WORKERS)
                .flat_map(|w| (0..KEYS_PER_WORKER).map(move |k| key_name(w, k)))
                .map(|k| {
                    (
                        k,
                        KeyState {
                            acked: Value::Absent,
                            in_flight: Vec::new(),
                        },
                    )
                })
                .collect(),
        )),
        locked: Arc::new(Mutex::new(Locked::default())),
        killed: Arc::new(AtomicBool::new(false)),
        seq: Arc::new(AtomicU64::new(1)),
        acked: Arc::new(AtomicU64::new(0)),
        until: now.as_secs() + RETAIN_SECS,
    };
    let args = ["--checkpoint-secs", "1", "--bucket-shards", "3"];
    let mut seen = Seen::default();
    for round in 0..ROUNDS {
        let mut node = start_with(&data, &creds_env(), &args);
        let mut c = client(node.addr);
        if round == 0 {
            ok(&c.create_bucket(BUCKET).unwrap(), "create bucket");
            let r = c
                .send(
                    "PUT",
                    LOCK_BUCKET,
                    "",
                    Request {
                        headers: vec![("x-amz-bucket-object-lock-enabled".into(), "true".into())],
                        ..Request::default()
                    },
                    PayloadMode::Signed,
                )
                .unwrap();
            ok(&r, "create lock bucket");
        }
        if round == ROUNDS / 2 {
            let doc = b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>";
            let r = c
                .send(
                    "PUT",
                    BUCKET,
                    "",
                    Request {
                        query: vec![("encryption".into(), String::new())],
                        headers: vec![],
                        body: doc,
                    },
                    PayloadMode::Signed,
                )
                .unwrap();
            ok(&r, "put bucket encryption");
        }
        // Verify what the last round left, then take it as the new truth;
        // every other round goes straight back to load, so writes land on
        // keys whose transactions died with the last process and are
        // resolved later (an older unacknowledged write must never hide a
        // newer acknowledged one).
        if round % 2 == 0 {
            verify(&mut c, &sh, &mut seen);
        }
        let killed = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let sh = Shared {
                    killed: Arc::clone(&killed),
                    ..sh.clone()
                };
                let addr = node.addr;
                let seed = rng.next();
                std::thread::spawn(move || worker(addr, w, seed, sh))
            })
            .collect();
        let run_for = Duration::from_millis(800 + rng.below(2500));
        let t0 = Instant::now();
        while t0.elapsed() < run_for && !handles.iter().any(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        killed.store(true, Ordering::SeqCst);
        node.child.kill().unwrap(); // SIGKILL
        node.child.wait().unwrap();
        for h in handles {
            h.join().expect("a worker failed before the kill");
        }
    }
    let node = start_with(&data, &creds_env(), &args);
    let mut c = client(node.addr);
    verify(&mut c, &sh, &mut seen);
    let acked = sh.acked.load(Ordering::Relaxed);
    eprintln!("{ROUNDS} kills: {acked} acknowledged operations; {seen:?}");
    assert!(acked > 100, "too little load to mean anything: {acked}");
    assert!(seen.ssec_objects > 0, "no SSE-C object was ever checked");
    assert!(
        seen.locked_versions > 0 && seen.held_versions > 0,
        "too few locked versions checked: {seen:?}"
    );
}

/// Checks every key and LIST against the model, then makes what was seen
/// the acknowledged state (nothing in flight); then the lock bucket.
fn verify(c: &mut S3Client, sh: &Shared, seen_total: &mut Seen) {
    {
        let mut states = sh.states.lock().unwrap();
        let mut present = BTreeSet::new();
        for (key, st) in states.iter_mut() {
            let seen = check_key(c, key, st);
            if !st.in_flight.is_empty() {
                seen_total.in_flight += 1;
                if seen != st.acked {
                    seen_total.in_flight_took_effect += 1;
                }
            }
            if let Value::Written { ssec: true, .. } = seen {
                seen_total.ssec_objects += 1;
            }
            if seen != Value::Absent {
                present.insert(key.clone());
            }
            st.acked = seen;
            st.in_flight.clear();
        }
        let listed: BTreeSet<String> = c
            .list_all(BUCKET, "")
            .unwrap()
            .unwrap_or_else(|r| panic!("list: {} {}", r.status, String::from_utf8_lossy(&r.body)))
            .into_iter()
            .collect();
        assert_eq!(listed, present, "LIST disagrees with GET");
    }
    verify_locked(c, sh, seen_total);
}

/// Every (key, version id) of the lock bucket, and whether it has any
/// delete marker.
fn list_versions(c: &mut S3Client) -> (Vec<(String, String)>, bool) {
    let mut out = Vec::new();
    let mut markers = false;
    let mut next: Option<(String, String)> = None;
    loop {
        let mut query = vec![("versions".to_owned(), String::new())];
        if let Some((k, v)) = &next {
            query.push(("key-marker".into(), k.clone()));
            query.push(("version-id-marker".into(), v.clone()));
        }
        let r = c
            .send(
                "GET",
                LOCK_BUCKET,
                "",
                Request {
                    query,
                    ..Request::default()
                },
                PayloadMode::Unsigned,
            )
            .unwrap();
        ok(&r, "list versions");
        let keys = xml_texts(&r.body, "Version", "Key");
        let ids = xml_texts(&r.body, "Version", "VersionId");
        assert_eq!(keys.len(), ids.len());
        out.extend(keys.into_iter().zip(ids));
        markers |= !xml_texts(&r.body, "DeleteMarker", "Key").is_empty();
        let truncated = xml_texts(&r.body, "ListVersionsResult", "IsTruncated");
        if truncated.first().map(String::as_str) != Some("true") {
            return (out, markers);
        }
        let k = xml_texts(&r.body, "ListVersionsResult", "NextKeyMarker");
        let v = xml_texts(&r.body, "ListVersionsResult", "NextVersionIdMarker");
        next = Some((k[0].clone(), v[0].clone()));
    }
}

/// The lock bucket against its model: what is listed is exactly the
/// acknowledged versions plus in-flight ones that took effect (which
/// become acknowledged), and each is still locked.
fn verify_locked(c: &mut S3Client, sh: &Shared, seen: &mut Seen) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now + 30 < sh.until,
        "the test ran so long that retention is about to end"
    );
    let (listed, markers) = list_versions(c);
    assert!(!markers, "a delete marker appeared in the lock bucket");
    let mut locked = sh.locked.lock().unwrap();
    let listed_ids: BTreeSet<&String> = listed.iter().map(|(_, v)| v).collect();
    for vid in locked.acked.keys() {
        assert!(
            listed_ids.contains(vid),
            "acknowledged locked version {vid} is gone"
        );
    }
    for (key, vid) in &listed {
        if locked.acked.contains_key(vid) {
            continue;
        }
        let r = c
            .get_object_with(
                LOCK_BUCKET,
                key,
                vec![("versionId".into(), vid.clone())],
                vec![],
            )
            .unwrap();
        ok(&r, "GET of an unacknowledged locked version");
        let Some(at) = locked.pending.iter().position(|v| {
            &v.key == key && r.body.len() == v.len && r.body == content(key, v.seq, v.len)
        }) else {
            panic!("{key} {vid}: a version with bytes that no in-flight PUT sent");
        };
        let v = locked.pending.remove(at);
        locked.acked.insert(vid.clone(), v);
    }
    locked.pending.clear();
    for (vid, v) in locked.acked.iter_mut() {
        check_locked(c, vid, v, sh.until);
        seen.locked_versions += 1;
        if v.hold == Hold::On {
            seen.held_versions += 1;
        }
    }
}

/// One locked version reads back, reports COMPLIANCE until `until` and
/// its legal hold (a hold in flight resolves to what it shows), and
/// cannot be deleted.
fn check_locked(c: &mut S3Client, vid: &str, v: &mut LockedVersion, until: u64) {
    let key = v.key.clone();
    let q = |extra: &str| {
        let mut q = vec![("versionId".to_owned(), vid.to_owned())];
        if !extra.is_empty() {
            q.push((extra.to_owned(), String::new()));
        }
        q
    };
    let r = c.get_object_with(LOCK_BUCKET, &key, q(""), vec![]).unwrap();
    ok(&r, "GET of a locked version");
    assert!(
        r.body == content(&key, v.seq, v.len),
        "{key} {vid}: {} bytes, not what was written",
        r.body.len()
    );
    assert_eq!(r.header("x-amz-object-lock-mode"), Some("COMPLIANCE"));
    let shown = r
        .header("x-amz-object-lock-retain-until-date")
        .unwrap_or("");
    assert_eq!(
        shale::s3::time::parse_iso8601(shown),
        Some(until),
        "{key} {vid}: retain-until {shown}"
    );
    let r = c
        .get_object_with(LOCK_BUCKET, &key, q("retention"), vec![])
        .unwrap();
    ok(&r, "GetObjectRetention");
    assert_eq!(xml_texts(&r.body, "Retention", "Mode"), ["COMPLIANCE"]);
    let date = xml_texts(&r.body, "Retention", "RetainUntilDate");
    assert_eq!(
        date.first().and_then(|d| shale::s3::time::parse_iso8601(d)),
        Some(until),
        "{key} {vid}: {date:?}"
    );
    let r = c
        .get_object_with(LOCK_BUCKET, &key, q("legal-hold"), vec![])
        .unwrap();
    ok(&r, "GetObjectLegalHold");
    let status = xml_texts(&r.body, "LegalHold", "Status");
    let on = match status.first().map(String::as_str) {
        Some("ON") => true,
        Some("OFF") => false,
        other => panic!("{key} {vid}: legal hold {other:?}"),
    };
    match (v.hold, on) {
        (Hold::On, false) => panic!("{key} {vid}: an acknowledged legal hold is gone"),
        (Hold::Off, true) => panic!("{key} {vid}: a legal hold nobody set"),
        _ => v.hold = if on { Hold::On } else { Hold::Off },
    }
    let r = c
        .send(
            "DELETE",
            LOCK_BUCKET,
            &key,
            Request {
                query: q(""),
                ..Request::default()
            },
            PayloadMode::Unsigned,
        )
        .unwrap();
    assert_eq!(
        r.status,
        403,
        "{key} {vid}: DELETE of a locked version: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(String::from_utf8_lossy(&r.body).contains("AccessDenied"));
}
