//! Deferred jobs against the real binary (issue 8): a user purge waits for
//! its time on the test clock (SHALE_TEST_CLOCK=1; the clock is moved, the
//! tests only poll the job's state), takes the user out of reach at once,
//! a cancel inside the window restores every object byte for byte, and
//! after the window the purge removes 10,000 objects in 100 buckets and
//! gives the space back with no orphan records left; a kill -9 during a
//! purge is resumed by the next process (the dead one's job is a zombie);
//! a second process on the same data dir refuses to start; an orphan
//! search finds exactly the records planted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::server::{creds_env, start, start_with, test_credentials, Node};
use shale::client::{Credentials, PayloadMode, Request, Response, S3Client};

fn boot(dir: &Path) -> Node {
    let mut env: Vec<(&str, &str)> = creds_env().to_vec();
    env.push(("SHALE_TEST_CLOCK", "1"));
    env.push(("SHALE_EXPIRY_INTERVAL_SECS", "0"));
    env.push(("SHALE_COMPACTION_INTERVAL_SECS", "0"));
    env.push(("SHALE_COMPACTION_GRACE_SECS", "0"));
    env.push(("SHALE_SCRUB_INTERVAL_SECS", "0"));
    start_with(dir, &env, &["--segment-size-mib", "1"])
}

fn admin_q(
    addr: SocketAddr,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut c = S3Client::new(addr, test_credentials());
    c.send(
        method,
        "admin",
        path,
        Request {
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes(),
            ..Request::default()
        },
        PayloadMode::Signed,
    )
    .unwrap()
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {} {}", r.status, String::from_utf8_lossy(&r.body)))
}

fn ok(r: Response) -> serde_json::Value {
    assert!(
        r.status < 300,
        "{}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    if r.body.is_empty() {
        serde_json::Value::Null
    } else {
        json(&r)
    }
}

fn set_clock(addr: SocketAddr, secs: u64) {
    ok(admin_q(
        addr,
        "POST",
        "test/clock",
        &[],
        &format!(r#"{{"now_secs":{secs}}}"#),
    ));
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A user `uid` with an access key; its credentials.
fn user_creds(addr: SocketAddr, uid: &str) -> Credentials {
    let v = ok(admin_q(
        addr,
        "POST",
        "users",
        &[],
        &format!(r#"{{"uid":"{uid}"}}"#),
    ));
    let key = &v["key"];
    Credentials {
        access_key: key["access_key"].as_str().unwrap().into(),
        secret_key: key["secret_key"].as_str().unwrap().into(),
        region: "us-east-1".into(),
    }
}

/// A user `uid` with an access key; its client.
fn user(addr: SocketAddr, uid: &str) -> S3Client {
    S3Client::new(addr, user_creds(addr, uid))
}

fn job(addr: SocketAddr, id: &str) -> serde_json::Value {
    ok(admin_q(addr, "GET", &format!("jobs/{id}"), &[], ""))
}

/// Polls job `id` until it is in one of `states` (the runner looks every
/// second).
fn wait_for(addr: SocketAddr, id: &str, states: &[&str]) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let j = job(addr, id);
        if states.contains(&j["state"].as_str().unwrap()) {
            return j;
        }
        assert!(Instant::now() < until, "job {id} stuck: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn body_of(i: usize, b: usize) -> Vec<u8> {
    format!("bucket {b} object {i} ")
        .repeat(1 + (i * 7 + b) % 40)
        .into_bytes()
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn a_purge_waits_and_a_cancel_restores_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let node = boot(tmp.path());
    let addr = node.addr;
    let t0 = now_secs();
    set_clock(addr, t0);
    let mut alice = user(addr, "alice");
    for b in 0..3 {
        let bucket = format!("alice-{b}");
        assert_eq!(alice.create_bucket(&bucket).unwrap().status, 200);
        for i in 0..20 {
            let r = alice
                .put_object(
                    &bucket,
                    &format!("k{i}"),
                    &body_of(i, b),
                    PayloadMode::Signed,
                )
                .unwrap();
            assert_eq!(r.status, 200);
        }
    }
    // Without --purge-data: refused, saying how.
    let r = admin_q(addr, "DELETE", "users/alice", &[], "");
    assert_eq!(r.status, 409);
    assert!(json(&r)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--purge-data"));

    let r = admin_q(
        addr,
        "DELETE",
        "users/alice",
        &[("purge-data", ""), ("after-secs", "3600")],
        "",
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let j = json(&r);
    let id = j["id"].as_str().unwrap().to_string();
    assert_eq!(j["state"], "scheduled");
    assert_eq!(j["type"], "user-purge");
    assert_eq!(j["due"].as_u64().unwrap(), t0 + 3600);
    // Suspended at once: alice is refused, and so is root in her buckets.
    let r = alice.get_object("alice-0", "k0").unwrap();
    assert_eq!(r.status, 403);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        text.contains("AccountSuspended") && text.contains(&id),
        "{text}"
    );
    let mut root = S3Client::new(addr, test_credentials());
    let r = root.get_object("alice-1", "k1").unwrap();
    assert_eq!(r.status, 403);
    assert!(String::from_utf8_lossy(&r.body).contains("AllAccessDisabled"));
    // A second purge of the same user is refused.
    let r = admin_q(addr, "DELETE", "users/alice", &[("purge-data", "")], "");
    assert_eq!(r.status, 409);
    // Not early: a second before its time the runner leaves it.
    set_clock(addr, t0 + 3599);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(job(addr, &id)["state"], "scheduled");
    // Cancelled inside the window: everything as it was.
    let j = ok(admin_q(addr, "DELETE", &format!("jobs/{id}"), &[], ""));
    assert_eq!(j["state"], "cancelled");
    let r = admin_q(addr, "DELETE", &format!("jobs/{id}"), &[], "");
    assert_eq!(r.status, 409);
    assert_eq!(json(&r)["error"]["code"], "JobFinished");
    for b in 0..3 {
        for i in 0..20 {
            let r = alice
                .get_object(&format!("alice-{b}"), &format!("k{i}"))
                .unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.body, body_of(i, b));
        }
    }
    set_clock(addr, t0 + 7200);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(job(addr, &id)["state"], "cancelled");
    assert_eq!(alice.get_object("alice-2", "k3").unwrap().status, 200);

    // Again, and this time it runs: when due, not before.
    let r = admin_q(
        addr,
        "DELETE",
        "buckets/alice-2",
        &[("purge-data", ""), ("after-secs", "60")],
        "",
    );
    let id2 = json(&r)["id"].as_str().unwrap().to_string();
    assert_eq!(alice.get_object("alice-2", "k3").unwrap().status, 403);
    assert_eq!(alice.get_object("alice-1", "k3").unwrap().status, 200);
    set_clock(addr, t0 + 7200 + 60);
    let j = wait_for(addr, &id2, &["done", "failed"]);
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(
        (j["done"].as_u64(), j["total"].as_u64()),
        (Some(1), Some(1))
    );
    let r = alice.get_object("alice-2", "k3").unwrap();
    assert_eq!(r.status, 404);
    assert!(String::from_utf8_lossy(&r.body).contains("NoSuchBucket"));
    assert_eq!(alice.get_object("alice-1", "k3").unwrap().status, 200);
    // The history says who did what, when.
    let states: Vec<&str> = j["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["scheduled", "running", "done"]);
    // Listing filters.
    let v = ok(admin_q(addr, "GET", "jobs", &[("state", "cancelled")], ""));
    assert_eq!(v.as_array().unwrap().len(), 1);
    let r = admin_q(addr, "GET", "jobs", &[("state", "sleeping")], "");
    assert_eq!(r.status, 400);
    // Metrics per job type and state.
    let m = S3Client::new(addr, test_credentials())
        .send_raw("GET", "/metrics")
        .unwrap();
    let text = String::from_utf8(m.body).unwrap();
    for line in [
        "shale_jobs{type=\"user-purge\",state=\"cancelled\"} 1",
        "shale_jobs{type=\"bucket-purge\",state=\"done\"} 1",
        "shale_jobs{type=\"scrub\",state=\"running\"} 0",
        "shale_job_items_done{type=\"bucket-purge\"} 1",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
}

#[test]
fn a_purge_of_10000_objects_in_100_buckets_leaves_nothing_and_survives_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let node = boot(tmp.path());
    let addr = node.addr;
    let t0 = now_secs();
    set_clock(addr, t0);
    // Someone else's data stays.
    let carol_creds = user_creds(addr, "carol");
    let mut carol = S3Client::new(addr, carol_creds.clone());
    assert_eq!(carol.create_bucket("carol").unwrap().status, 200);
    for i in 0..50 {
        carol
            .put_object(
                "carol",
                &format!("c{i}"),
                &body_of(i, 999),
                PayloadMode::Signed,
            )
            .unwrap();
    }
    let bob = user_creds(addr, "bob");
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut c = S3Client::new(addr, bob.clone());
            std::thread::spawn(move || {
                for b in (w..100).step_by(4) {
                    let bucket = format!("bob-{b:03}");
                    assert_eq!(c.create_bucket(&bucket).unwrap().status, 200);
                    for i in 0..100 {
                        let r = c
                            .put_object(
                                &bucket,
                                &format!("o{i:03}"),
                                &body_of(i, b),
                                PayloadMode::Signed,
                            )
                            .unwrap();
                        assert_eq!(r.status, 200);
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let segdir = tmp.path().join("segments");
    let full = dir_bytes(&segdir);
    let r = admin_q(
        addr,
        "DELETE",
        "users/bob",
        &[("purge-data", ""), ("after-secs", "10")],
        "",
    );
    let id = json(&r)["id"].as_str().unwrap().to_string();
    set_clock(addr, t0 + 10);
    // Killed while it runs (or right after it starts).
    let j = wait_for(addr, &id, &["running", "done"]);
    let mut node = node;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    drop(node);
    let ran_before = j["done"].as_u64().unwrap();

    // The next process takes the zombie over and finishes.
    let node = boot(tmp.path());
    let addr = node.addr;
    set_clock(addr, t0 + 10);
    let j = wait_for(addr, &id, &["done", "failed"]);
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(j["total"].as_u64(), Some(100), "{j}");
    assert_eq!(j["done"].as_u64(), Some(100));
    let owners: Vec<&str> = j["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["state"] == "running" || h["state"] == "done")
        .map(|h| h["owner"].as_str().unwrap())
        .collect();
    if j["history"].as_array().unwrap().len() > 3 {
        // Taken over: the running states have two different owners.
        assert_ne!(owners.first(), owners.last(), "{j}");
    }
    eprintln!("purge: {ran_before} buckets before the kill; {j}");
    // Nothing of bob is left: no user, no buckets.
    let r = admin_q(addr, "GET", "users/bob", &[], "");
    assert_eq!(r.status, 404);
    let buckets = ok(admin_q(addr, "GET", "buckets", &[], ""));
    let names: Vec<&str> = buckets
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol"]);
    assert!(!std::fs::read_dir(tmp.path().join("buckets"))
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().starts_with("bob-")));
    // Carol's objects are whole.
    drop(carol);
    let mut carol = S3Client::new(addr, carol_creds);
    for i in 0..50 {
        assert_eq!(
            carol.get_object("carol", &format!("c{i}")).unwrap().body,
            body_of(i, 999)
        );
    }
    // Space back (the job compacted; what stays is carol's and the
    // active segment), and no record left that nothing references.
    let after = dir_bytes(&segdir);
    assert!(after * 4 < full, "segments {full} -> {after} bytes");
    assert!(j["bytes_reclaimed"].as_u64().unwrap() > 0, "{j}");
    let o = ok(admin_q(
        addr,
        "POST",
        "jobs",
        &[],
        r#"{"type":"orphan-search"}"#,
    ));
    let o = wait_for(addr, o["id"].as_str().unwrap(), &["done", "failed"]);
    assert_eq!(o["state"], "done", "{o}");
    assert_eq!(o["done"].as_u64(), Some(0), "{o}");
}

#[test]
fn orphan_search_finds_exactly_the_planted_records() {
    let tmp = tempfile::tempdir().unwrap();
    let node = boot(tmp.path());
    let addr = node.addr;
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("orphans").unwrap().status, 200);
    c.put_object("orphans", "before", &[1u8; 300_000], PayloadMode::Signed)
        .unwrap();
    let mut planted = Vec::new();
    for _ in 0..3 {
        let v = ok(admin_q(addr, "POST", "test/orphan", &[], ""));
        planted.push(format!("{}@{}+{}", v["segment"], v["offset"], v["len"]));
    }
    // Roll past the planted segment (1 MiB segments).
    for i in 0..6 {
        c.put_object(
            "orphans",
            &format!("after{i}"),
            &[2u8; 400_000],
            PayloadMode::Signed,
        )
        .unwrap();
    }
    let o = ok(admin_q(
        addr,
        "POST",
        "jobs",
        &[],
        r#"{"type":"orphan-search"}"#,
    ));
    let o = wait_for(addr, o["id"].as_str().unwrap(), &["done", "failed"]);
    assert_eq!(o["state"], "done", "{o}");
    let found: Vec<&str> = o["checkpoint"].as_str().unwrap().split(' ').collect();
    assert_eq!(found, planted, "{o}");
    // With reclaim: compaction takes them, and a new search finds none.
    let o = ok(admin_q(
        addr,
        "POST",
        "jobs",
        &[],
        r#"{"type":"orphan-search","reclaim":true}"#,
    ));
    let o = wait_for(addr, o["id"].as_str().unwrap(), &["done", "failed"]);
    assert_eq!(o["state"], "done", "{o}");
    let o = ok(admin_q(
        addr,
        "POST",
        "jobs",
        &[],
        r#"{"type":"orphan-search"}"#,
    ));
    let o = wait_for(addr, o["id"].as_str().unwrap(), &["done", "failed"]);
    assert_eq!(o["done"].as_u64(), Some(0), "{o}");
    for i in 0..6 {
        assert_eq!(
            c.get_object("orphans", &format!("after{i}")).unwrap().body,
            vec![2u8; 400_000]
        );
    }
    assert_eq!(
        c.get_object("orphans", "before").unwrap().body,
        vec![1u8; 300_000]
    );
}

#[test]
fn a_second_process_on_the_same_data_dir_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let _node = start(tmp.path(), &creds_env());
    let out = common::server::shale()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .envs(creds_env())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("lock"), "{err}");
}

/// `shale admin` runs against the node with the test credentials.
fn cli(addr: SocketAddr, args: &[&str]) -> (i32, String, String) {
    let out = common::server::shale()
        .arg("admin")
        .args(["--endpoint", &format!("http://{addr}")])
        .args(["--access-key", common::server::ACCESS_KEY])
        .args(["--secret-key", common::server::SECRET_KEY])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_schedules_shows_lists_and_cancels_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let node = boot(tmp.path());
    let addr = node.addr;
    set_clock(addr, now_secs());
    let mut dave = user(addr, "dave");
    assert_eq!(dave.create_bucket("dave-data").unwrap().status, 200);
    dave.put_object("dave-data", "k", b"v", PayloadMode::Signed)
        .unwrap();
    // Without --purge-data: refused, exit 1, saying how.
    let (code, _, err) = cli(addr, &["user", "rm", "--uid", "dave"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--purge-data"), "{err}");
    // --after without --purge-data is a usage error.
    let (code, _, err) = cli(addr, &["user", "rm", "--uid", "dave", "--after", "2h"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = cli(
        addr,
        &[
            "user",
            "rm",
            "--uid",
            "dave",
            "--purge-data",
            "--after",
            "2h",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("suspended") && out.contains("shale admin job cancel"),
        "{out}"
    );
    let (_, out, _) = cli(addr, &["--json", "job", "list", "--state", "scheduled"]);
    let jobs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = jobs[0]["id"].as_str().unwrap().to_string();
    assert_eq!(jobs[0]["target"], "dave");
    assert!(out.contains("user-purge"));
    let (code, out, _) = cli(addr, &["job", "show", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("scheduled") && out.contains("dave"), "{out}");
    let (code, out, _) = cli(addr, &["job", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("ID") && out.contains(&id), "{out}");
    let (code, out, err) = cli(addr, &["job", "cancel", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cancelled"), "{out}");
    let (code, _, err) = cli(addr, &["job", "cancel", &id]);
    assert_eq!(code, 1);
    assert!(err.contains("JobFinished"), "{err}");
    assert_eq!(dave.get_object("dave-data", "k").unwrap().body, b"v");
    let (code, _, err) = cli(addr, &["job", "show", "not-an-id"]);
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = cli(
        addr,
        &[
            "job",
            "schedule",
            "--type",
            "orphan-search",
            "--after",
            "1h",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("orphan-search"), "{out}");
}
