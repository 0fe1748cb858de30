//! Expiry known to the index (X-Delete-At / X-Delete-After), driven by a
//! test clock (SHALE_TEST_CLOCK=1, moved through the admin API; nothing
//! sleeps): from the expiry second on, GET/HEAD, listings and bucket
//! stats all leave the object out — before the expiry pass has run —
//! and a versioned key falls back to its previous version; the pass then
//! deletes what is due through the index transaction (it survives
//! restarts and kill -9 in the middle), never what a newer write
//! replaced, never an object without expiry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::server::{creds_env, start, stop, test_credentials, Node};
use shale::client::{PayloadMode, Request, Response, S3Client};

fn boot(dir: &Path) -> Node {
    let mut env: Vec<(&str, &str)> = creds_env().to_vec();
    env.push(("SHALE_TEST_CLOCK", "1"));
    // The pass runs only when a test asks for it.
    env.push(("SHALE_EXPIRY_INTERVAL_SECS", "0"));
    start(dir, &env)
}

fn admin(addr: SocketAddr, method: &str, path: &str, body: &str) -> serde_json::Value {
    let mut c = S3Client::new(addr, test_credentials());
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => {
            let (k, v) = q.split_once('=').unwrap();
            (p, vec![(k.to_string(), v.to_string())])
        }
        None => (path, vec![]),
    };
    let r = c
        .send(
            method,
            "admin",
            path,
            Request {
                query,
                body: body.as_bytes(),
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert!(
        r.status < 300,
        "{method} {path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    serde_json::from_slice(&r.body).unwrap()
}

/// Stops the node's expiry clock at `secs`.
fn set_clock(addr: SocketAddr, secs: u64) {
    admin(
        addr,
        "POST",
        "test/clock",
        &format!(r#"{{"now_secs":{secs}}}"#),
    );
}

/// A start time for the frozen clock: now, as whole seconds.
fn t0() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn run_pass(addr: SocketAddr, limit: Option<usize>) -> serde_json::Value {
    match limit {
        Some(l) => admin(addr, "POST", &format!("expiry/run?limit={l}"), ""),
        None => admin(addr, "POST", "expiry/run", ""),
    }
}

fn stats(addr: SocketAddr, bucket: &str) -> (u64, u64) {
    let v = admin(addr, "GET", &format!("buckets/{bucket}"), "");
    (v["objects"].as_u64().unwrap(), v["bytes"].as_u64().unwrap())
}

fn put(
    c: &mut S3Client,
    bucket: &str,
    key: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Response {
    c.send(
        "PUT",
        bucket,
        key,
        Request {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body,
            ..Request::default()
        },
        PayloadMode::Signed,
    )
    .unwrap()
}

fn listed(c: &mut S3Client, bucket: &str) -> Vec<String> {
    c.list_all(bucket, "").unwrap().unwrap()
}

fn versioning_on(c: &mut S3Client, bucket: &str) {
    let body = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let r = c
        .send(
            "PUT",
            bucket,
            "",
            Request {
                query: vec![("versioning".into(), String::new())],
                body,
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn expired_objects_vanish_from_get_list_and_stats_at_once_then_the_pass_deletes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let node = boot(tmp.path());
    let addr = node.addr;
    let t = t0();
    set_clock(addr, t);
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("exp").unwrap().status, 200);
    for i in 0..10 {
        let hdr: &[(&str, &str)] = if i % 2 == 0 {
            &[("x-delete-after", "100")]
        } else {
            &[]
        };
        assert_eq!(
            put(&mut c, "exp", &format!("k{i}"), &vec![b'x'; 100 + i], hdr).status,
            200
        );
    }
    // A versioned key: v1 without expiry, v2 (current) with.
    assert_eq!(c.create_bucket("ver").unwrap().status, 200);
    versioning_on(&mut c, "ver");
    assert_eq!(put(&mut c, "ver", "doc", b"version one", &[]).status, 200);
    assert_eq!(
        put(
            &mut c,
            "ver",
            "doc",
            b"version two!",
            &[("x-delete-after", "100")]
        )
        .status,
        200
    );

    let r = c.head_object("exp", "k0").unwrap();
    let at: u64 = r.header("x-delete-at").unwrap().parse().unwrap();
    assert_eq!(at, t + 100);
    assert!(c
        .head_object("exp", "k1")
        .unwrap()
        .header("x-delete-at")
        .is_none());
    let all_bytes: u64 = (0..10).map(|i| 100 + i as u64).sum();
    assert_eq!(stats(addr, "exp"), (10, all_bytes));

    // One second before: everything is there.
    set_clock(addr, t + 99);
    assert_eq!(c.get_object("exp", "k0").unwrap().status, 200);
    assert_eq!(listed(&mut c, "exp").len(), 10);
    assert_eq!(stats(addr, "exp"), (10, all_bytes));
    assert_eq!(c.get_object("ver", "doc").unwrap().body, b"version two!");

    // The expiry second: gone everywhere at the same instant, no pass run.
    set_clock(addr, t + 100);
    let kept: Vec<String> = (0..10)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("k{i}"))
        .collect();
    let kept_bytes: u64 = (0..10).filter(|i| i % 2 == 1).map(|i| 100 + i as u64).sum();
    for i in 0..10 {
        let want = if i % 2 == 0 { 404 } else { 200 };
        assert_eq!(
            c.get_object("exp", &format!("k{i}")).unwrap().status,
            want,
            "k{i}"
        );
        assert_eq!(
            c.head_object("exp", &format!("k{i}")).unwrap().status,
            want,
            "k{i}"
        );
    }
    assert_eq!(listed(&mut c, "exp"), kept);
    assert_eq!(stats(addr, "exp"), (5, kept_bytes));
    // The versioned key shows its previous version, in GET, LIST and stats.
    let r = c.get_object("ver", "doc").unwrap();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"version one".as_slice())
    );
    assert_eq!(listed(&mut c, "ver"), vec!["doc".to_string()]);
    assert_eq!(stats(addr, "ver"), (1, 11));

    // The pass deletes what is due (5 objects, 1 version); nothing else
    // changes for readers.
    let r = run_pass(addr, None);
    assert_eq!(
        (r["expired"].as_u64(), r["bytes"].as_u64()),
        (Some(6), Some(all_bytes - kept_bytes + 12))
    );
    assert_eq!(run_pass(addr, None)["expired"], 0);
    assert_eq!(listed(&mut c, "exp"), kept);
    assert_eq!(stats(addr, "exp"), (5, kept_bytes));
    assert_eq!(c.get_object("ver", "doc").unwrap().body, b"version one");
    assert_eq!(stats(addr, "ver"), (1, 11));

    // A restart replays the deletions from the bucket index log.
    let (ok, _) = stop(node);
    assert!(ok);
    let node = boot(tmp.path());
    set_clock(node.addr, t + 100);
    let mut c = S3Client::new(node.addr, test_credentials());
    assert_eq!(listed(&mut c, "exp"), kept);
    assert_eq!(stats(node.addr, "exp"), (5, kept_bytes));
    assert_eq!(c.get_object("exp", "k0").unwrap().status, 404);
    assert_eq!(run_pass(node.addr, None)["expired"], 0);
}

#[test]
fn a_newer_write_is_never_expired_and_bad_headers_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let node = boot(tmp.path());
    let addr = node.addr;
    let t = t0();
    set_clock(addr, t);
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("bkt").unwrap().status, 200);
    assert_eq!(
        put(&mut c, "bkt", "k", b"old", &[("x-delete-after", "10")]).status,
        200
    );
    assert_eq!(put(&mut c, "bkt", "k", b"new", &[]).status, 200);
    set_clock(addr, t + 20);
    assert_eq!(run_pass(addr, None)["expired"], 0);
    assert_eq!(c.get_object("bkt", "k").unwrap().body, b"new");

    let now = t + 20;
    for (h, v) in [
        ("x-delete-at", "1"),
        ("x-delete-at", "soon"),
        ("x-delete-after", "0"),
        ("x-delete-after", "-5"),
        ("x-delete-at", "99999999999"),
    ] {
        let r = put(&mut c, "bkt", "bad", b"x", &[(h, v)]);
        assert_eq!(r.status, 400, "{h}: {v}");
        assert!(String::from_utf8_lossy(&r.body).contains("InvalidArgument"));
    }
    let both = [
        ("x-delete-at", &*format!("{}", now + 100)),
        ("x-delete-after", "5"),
    ];
    assert_eq!(put(&mut c, "bkt", "bad", b"x", &both).status, 400);
    assert_eq!(c.get_object("bkt", "bad").unwrap().status, 404);
    // X-Delete-At in the future works and is shown.
    let at = format!("{}", now + 100);
    assert_eq!(
        put(&mut c, "bkt", "at", b"x", &[("x-delete-at", &at)]).status,
        200
    );
    assert_eq!(
        c.head_object("bkt", "at").unwrap().header("x-delete-at"),
        Some(at.as_str())
    );
}

#[test]
fn the_pass_resumes_after_kill_9_and_deletes_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let node = boot(tmp.path());
    let addr = node.addr;
    let t = t0();
    set_clock(addr, t);
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("many").unwrap().status, 200);
    for i in 0..400 {
        let hdr: &[(&str, &str)] = if i % 4 != 0 {
            &[("x-delete-after", "50")]
        } else {
            &[]
        };
        assert_eq!(
            put(
                &mut c,
                "many",
                &format!("o{i:04}"),
                format!("body {i}").as_bytes(),
                hdr
            )
            .status,
            200
        );
    }
    set_clock(addr, t + 60);
    assert_eq!(stats(addr, "many").0, 100);
    assert_eq!(run_pass(addr, Some(120))["expired"], 120);
    // kill -9 right after a partial pass (and while another runs).
    let mut busy = S3Client::new(addr, test_credentials());
    let pass = std::thread::spawn(move || {
        let _ = busy.send(
            "POST",
            "admin",
            "expiry/run",
            Request {
                query: vec![("limit".into(), "50".into())],
                ..Request::default()
            },
            PayloadMode::Signed,
        );
    });
    let mut node = node;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let _ = pass.join();
    drop(node);

    let node = boot(tmp.path());
    let addr = node.addr;
    // The frozen clock was the process's: set it again.
    set_clock(addr, t + 60);
    let mut c = S3Client::new(addr, test_credentials());
    let want: Vec<String> = (0..400)
        .filter(|i| i % 4 == 0)
        .map(|i| format!("o{i:04}"))
        .collect();
    assert_eq!(listed(&mut c, "many"), want);
    assert_eq!(stats(addr, "many").0, 100);
    let mut total = 0;
    loop {
        let n = run_pass(addr, Some(100))["expired"].as_u64().unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert!(
        (130..=180).contains(&total),
        "{total} deleted after the restart"
    );
    assert_eq!(listed(&mut c, "many"), want);
    for k in &want {
        let i: usize = k[1..].parse().unwrap();
        assert_eq!(
            c.get_object("many", k).unwrap().body,
            format!("body {i}").into_bytes()
        );
    }
    let m = admin(addr, "GET", "buckets/many", "");
    assert_eq!(m["objects"], 100);
}

/// Every version and delete marker of `bucket` as (kind, key, version id),
/// in listing order (one page: the test keeps under 1000).
fn all_versions(c: &mut S3Client, bucket: &str) -> Vec<(String, String, String)> {
    let r = c
        .send(
            "GET",
            bucket,
            "",
            Request {
                query: vec![("versions".into(), String::new())],
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let xml = String::from_utf8(r.body).unwrap();
    assert!(xml.contains("<IsTruncated>false</IsTruncated>"));
    let mut vs = Vec::new();
    for (kind, element) in [("v", "Version"), ("m", "DeleteMarker")] {
        let keys = shale::client::xml_texts(xml.as_bytes(), element, "Key");
        let ids = shale::client::xml_texts(xml.as_bytes(), element, "VersionId");
        assert_eq!(keys.len(), ids.len());
        vs.extend(
            keys.into_iter()
                .zip(ids)
                .map(|(k, i)| (kind.to_string(), k, i)),
        );
    }
    vs.sort_by(|a, b| (&a.1, &a.0, &a.2).cmp(&(&b.1, &b.0, &b.2)));
    vs
}

/// A lifecycle Expiration in a versioned bucket: at the expiry second every
/// key reads as a delete marker with its previous versions' noncurrent
/// expiry applied; the pass writes the very markers readers saw, and a
/// kill -9 in the middle changes nothing anyone can see.
#[test]
fn versioned_expiry_markers_survive_kill_9_in_the_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let node = boot(tmp.path());
    let addr = node.addr;
    let t = t0();
    set_clock(addr, t);
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("vers").unwrap().status, 200);
    versioning_on(&mut c, "vers");
    let rules = b"<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix></Prefix></Filter>\
        <Status>Enabled</Status><Expiration><Days>1</Days></Expiration>\
        <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>\
        </Rule></LifecycleConfiguration>";
    let r = c
        .send(
            "PUT",
            "vers",
            "",
            Request {
                query: vec![("lifecycle".into(), String::new())],
                body: rules,
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for i in 0..150 {
        for round in 0..2 {
            let body = format!("key {i} round {round}");
            assert_eq!(
                put(&mut c, "vers", &format!("k{i:03}"), body.as_bytes(), &[]).status,
                200
            );
        }
    }
    let day = 86_400;
    let due = ((t + day) / day + 1) * day;
    set_clock(addr, due);
    // Round 0 is noncurrent since round 1 was written (same day): gone;
    // round 1 is under a marker.
    let seen = all_versions(&mut c, "vers");
    assert_eq!(seen.len(), 300);
    assert_eq!(seen.iter().filter(|v| v.0 == "m").count(), 150);
    assert_eq!(stats(addr, "vers").0, 150);
    assert!(listed(&mut c, "vers").is_empty());
    let r = run_pass(addr, Some(100));
    assert!(r["expired"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(all_versions(&mut c, "vers"), seen);
    let mut busy = S3Client::new(addr, test_credentials());
    let pass = std::thread::spawn(move || {
        let _ = busy.send(
            "POST",
            "admin",
            "expiry/run",
            Request {
                query: vec![("limit".into(), "60".into())],
                ..Request::default()
            },
            PayloadMode::Signed,
        );
    });
    let mut node = node;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let _ = pass.join();
    drop(node);

    let node = boot(tmp.path());
    let addr = node.addr;
    set_clock(addr, due);
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(all_versions(&mut c, "vers"), seen);
    loop {
        let r = run_pass(addr, Some(100));
        if r["expired"] == 0 && r["skipped"] == 0 {
            break;
        }
    }
    assert_eq!(all_versions(&mut c, "vers"), seen);
    assert_eq!(stats(addr, "vers").0, 150);
    for (kind, key, id) in &seen {
        let r = c
            .send(
                "GET",
                "vers",
                key,
                Request {
                    query: vec![("versionId".into(), id.clone())],
                    ..Request::default()
                },
                PayloadMode::Signed,
            )
            .unwrap();
        if kind == "m" {
            assert_eq!(r.status, 405, "{key} {id}");
        } else {
            let i: usize = key[1..].parse().unwrap();
            assert_eq!(r.body, format!("key {i} round 1").into_bytes());
        }
    }
    // A day later (rounded up to the next midnight: two) the versions
    // under the markers are noncurrent ones due.
    set_clock(addr, due + 2 * day - 1);
    assert_eq!(stats(addr, "vers").0, 150);
    set_clock(addr, due + 2 * day);
    assert_eq!(stats(addr, "vers").0, 0);
    let left = all_versions(&mut c, "vers");
    assert!(left.iter().all(|v| v.0 == "m") && left.len() == 150);
}
