//! Space reclamation: after most objects are deleted, compaction moves
//! the live records out of mostly-dead segments and removes them (after
//! a grace period, zero here), with foreground writes running; every
//! remaining object and version reads back byte for byte, versions keep
//! their currency, restarts and a kill -9 in the middle lose nothing, and
//! the space comes back to within 1.5x of the live data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::server::{creds_env, start_with, stop, test_credentials, Node};
use shale::client::{PayloadMode, Request, S3Client};

const SEG_MIB: u64 = 1;

fn boot(dir: &Path) -> Node {
    let mut env = creds_env().to_vec();
    env.push(("SHALE_COMPACTION_INTERVAL_SECS", "0"));
    env.push(("SHALE_COMPACTION_GRACE_SECS", "0"));
    env.push(("SHALE_SCRUB_INTERVAL_SECS", "0"));
    start_with(dir, &env, &["--segment-size-mib", "1"])
}

fn compact(addr: SocketAddr) -> serde_json::Value {
    let mut c = S3Client::new(addr, test_credentials());
    let r = c
        .send(
            "POST",
            "admin",
            "compact/run",
            Request::default(),
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    serde_json::from_slice(&r.body).unwrap()
}

fn segment_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn body(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (j * 7 + i * 13) as u8).collect()
}

fn versioning_on(c: &mut S3Client, bucket: &str) {
    let r = c
        .send(
            "PUT",
            bucket,
            "",
            Request {
                query: vec![("versioning".into(), String::new())],
                body:
                    b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200);
}

fn get_version(c: &mut S3Client, bucket: &str, key: &str, v: &str) -> Vec<u8> {
    let r = c
        .send(
            "GET",
            bucket,
            key,
            Request {
                query: vec![("versionId".into(), v.into())],
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200);
    r.body
}

#[test]
fn deleted_space_comes_back_and_nothing_live_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let node = boot(tmp.path());
    let addr = node.addr;
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("data").unwrap().status, 200);
    const N: usize = 80;
    const LEN: usize = 256 * 1024;
    for i in 0..N {
        let r = c
            .put_object(
                "data",
                &format!("o{i:03}"),
                &body(i, LEN),
                PayloadMode::Signed,
            )
            .unwrap();
        assert_eq!(r.status, 200);
    }
    // A versioned key: three versions, the middle one current after the
    // newest is deleted.
    assert_eq!(c.create_bucket("vers").unwrap().status, 200);
    versioning_on(&mut c, "vers");
    let mut ids = Vec::new();
    for v in 0..3 {
        let r = c
            .put_object("vers", "doc", &body(1000 + v, 100_000), PayloadMode::Signed)
            .unwrap();
        ids.push(r.header("x-amz-version-id").unwrap().to_string());
    }
    let r = c
        .send(
            "DELETE",
            "vers",
            "doc",
            Request {
                query: vec![("versionId".into(), ids[2].clone())],
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 204);
    // Delete 90% of the objects.
    let keep: Vec<usize> = (0..N).filter(|i| i % 10 == 0).collect();
    for i in (0..N).filter(|i| i % 10 != 0) {
        assert_eq!(
            c.delete_object("data", &format!("o{i:03}")).unwrap().status,
            204
        );
    }
    let before = segment_bytes(tmp.path());

    // Compact with foreground writes and reads going on.
    let stop_fg = Arc::new(AtomicBool::new(false));
    let fg = {
        let stop_fg = Arc::clone(&stop_fg);
        std::thread::spawn(move || {
            let mut c = S3Client::new(addr, test_credentials());
            let mut n = 0usize;
            while !stop_fg.load(Ordering::Relaxed) {
                let k = format!("fg{}", n % 4);
                assert_eq!(
                    c.put_object("data", &k, &body(5000 + n, 20_000), PayloadMode::Signed)
                        .unwrap()
                        .status,
                    200
                );
                assert_eq!(
                    c.get_object("data", &k).unwrap().body,
                    body(5000 + n, 20_000)
                );
                n += 1;
            }
            n
        })
    };
    let r = compact(addr);
    stop_fg.store(true, Ordering::Relaxed);
    let fg_ops = fg.join().unwrap();
    assert!(r["compacted"].as_u64().unwrap() > 0, "{r}");
    assert!(r["removed"].as_u64().unwrap() > 0, "{r}");
    // The last pass may leave segments the foreground filled meanwhile.
    let r2 = compact(addr);
    let after = segment_bytes(tmp.path());
    let live = (keep.len() * LEN + 2 * 100_000 + 4 * 20_000) as u64;
    eprintln!(
        "segments {before} -> {after} bytes, live {live}, {fg_ops} foreground PUT+GET during the pass; {r}\n{r2}"
    );
    assert!(
        after as f64 <= 1.5 * live as f64 + (SEG_MIB << 20) as f64,
        "after compaction {after} bytes on disk for {live} live"
    );

    let check = |c: &mut S3Client| {
        for &i in &keep {
            let r = c.get_object("data", &format!("o{i:03}")).unwrap();
            assert_eq!((r.status, r.body == body(i, LEN)), (200, true), "o{i:03}");
        }
        assert_eq!(c.get_object("data", "o001").unwrap().status, 404);
        // The current version is still the middle one; the oldest is there.
        assert_eq!(
            c.get_object("vers", "doc").unwrap().body,
            body(1001, 100_000)
        );
        assert_eq!(get_version(c, "vers", "doc", &ids[0]), body(1000, 100_000));
        assert_eq!(get_version(c, "vers", "doc", &ids[1]), body(1001, 100_000));
        let listed = c.list_all("data", "o").unwrap().unwrap();
        assert_eq!(listed.len(), keep.len());
    };
    check(&mut c);
    let (ok, _) = stop(node);
    assert!(ok);
    let node = boot(tmp.path());
    let mut c = S3Client::new(node.addr, test_credentials());
    check(&mut c);
}

#[test]
fn kill_9_during_compaction_loses_nothing_and_a_later_pass_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let node = boot(tmp.path());
    let addr = node.addr;
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("data").unwrap().status, 200);
    const N: usize = 60;
    const LEN: usize = 200 * 1024;
    for i in 0..N {
        assert_eq!(
            c.put_object(
                "data",
                &format!("o{i:03}"),
                &body(i, LEN),
                PayloadMode::Signed
            )
            .unwrap()
            .status,
            200
        );
    }
    let keep: Vec<usize> = (0..N).filter(|i| i % 4 == 0).collect();
    for i in (0..N).filter(|i| i % 4 != 0) {
        assert_eq!(
            c.delete_object("data", &format!("o{i:03}")).unwrap().status,
            204
        );
    }
    let pass = std::thread::spawn(move || {
        let mut c = S3Client::new(addr, test_credentials());
        let _ = c.send(
            "POST",
            "admin",
            "compact/run",
            Request::default(),
            PayloadMode::Signed,
        );
    });
    std::thread::sleep(std::time::Duration::from_millis(30));
    let mut node = node;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let _ = pass.join();
    drop(node);

    let node = boot(tmp.path());
    let mut c = S3Client::new(node.addr, test_credentials());
    for &i in &keep {
        let r = c.get_object("data", &format!("o{i:03}")).unwrap();
        assert_eq!(
            (r.status, r.body == body(i, LEN)),
            (200, true),
            "o{i:03} after kill -9"
        );
    }
    let r = compact(node.addr);
    assert!(r["skipped"].as_u64().unwrap() == 0, "{r}");
    let live = (keep.len() * LEN) as u64;
    let after = segment_bytes(tmp.path());
    assert!(
        after as f64 <= 1.5 * live as f64 + (SEG_MIB << 20) as f64,
        "{after} on disk for {live} live: {r}"
    );
    for &i in &keep {
        let r = c.get_object("data", &format!("o{i:03}")).unwrap();
        assert_eq!(
            (r.status, r.body == body(i, LEN)),
            (200, true),
            "o{i:03} after the pass"
        );
    }
}
