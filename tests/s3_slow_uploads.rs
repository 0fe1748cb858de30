//! One user's slow uploads cannot stall everyone else's, against the real
//! binary with an 8 MiB upload budget: while user A keeps dozens of PUTs
//! open that declare 100 MiB and trickle a byte every 250 ms, user B's
//! small PUTs keep a p99 under 1 s (A holds at most its share of the
//! budget); A's trickling bodies are cut with 400 RequestTimeout within
//! the configured grace + window (those past A's share are told 503
//! SlowDown); afterwards nothing of A's is stored, every buffer is back,
//! A's keys take new writes, and B's objects all read back. A body that
//! starts slowly but inside the grace period is stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::server::{creds_env, start, test_credentials, Node};
use shale::client::sign::{self, Credentials, RequestToSign};
use shale::client::{PayloadMode, Request, Response, S3Client};

const BUDGET_MIB: &str = "8";
/// 25% of 8: two buffers per user.
const USER_SHARE: &str = "25";
const USER_WAIT_SECS: u64 = 1;
const GRACE_SECS: u64 = 1;
const WINDOW_SECS: u64 = 2;

fn boot(dir: &std::path::Path) -> Node {
    let mut env: Vec<(&str, &str)> = creds_env().to_vec();
    let wait = USER_WAIT_SECS.to_string();
    let grace = GRACE_SECS.to_string();
    let window = WINDOW_SECS.to_string();
    env.extend([
        ("SHALE_HTTP_UPLOAD_BUFFER_MIB", BUDGET_MIB),
        ("SHALE_HTTP_UPLOAD_BUDGET_USER_SHARE", USER_SHARE),
        ("SHALE_HTTP_UPLOAD_BUDGET_USER_WAIT_SECS", wait.as_str()),
        ("SHALE_HTTP_BODY_MIN_BYTES_PER_SEC", "1024"),
        ("SHALE_HTTP_BODY_RATE_WINDOW_SECS", window.as_str()),
        ("SHALE_HTTP_BODY_RATE_GRACE_SECS", grace.as_str()),
        ("SHALE_COMPACTION_INTERVAL_SECS", "0"),
        ("SHALE_SCRUB_INTERVAL_SECS", "0"),
        ("SHALE_EXPIRY_INTERVAL_SECS", "0"),
    ]);
    let mut node = start(dir, &env);
    // Failed requests are logged on stderr: keep the pipe drained.
    let mut err = node.child.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    node
}

fn admin(addr: SocketAddr, method: &str, path: &str, body: &str) -> serde_json::Value {
    let mut c = S3Client::new(addr, test_credentials());
    let req = Request {
        body: body.as_bytes(),
        ..Request::default()
    };
    let r = c
        .send(method, "admin", path, req, PayloadMode::Signed)
        .unwrap();
    assert!(r.status < 300, "{}: {}", r.status, text(&r));
    serde_json::from_slice(&r.body).unwrap()
}

/// A new user with a key; its credentials.
fn user(addr: SocketAddr, uid: &str) -> Credentials {
    let v = admin(addr, "POST", "users", &format!(r#"{{"uid":"{uid}"}}"#));
    Credentials {
        access_key: v["key"]["access_key"].as_str().unwrap().into(),
        secret_key: v["key"]["secret_key"].as_str().unwrap().into(),
        region: "us-east-1".into(),
    }
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// A gauge or counter of `/metrics`.
fn metric(addr: SocketAddr, name: &str) -> f64 {
    let mut c = S3Client::new(addr, test_credentials());
    let r = c.send_raw("GET", "/metrics").unwrap();
    text(&r)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// How a trickling PUT ended.
#[derive(Debug, Clone)]
struct Ended {
    status: u16,
    code: String,
    /// From the request head sent to the answer.
    after: Duration,
}

/// A PUT of `key` declaring `declared` bytes (UNSIGNED-PAYLOAD), whose
/// body comes a byte every `every` until the server answers (or `give_up`
/// passes: `None`).
fn trickle_put(
    addr: SocketAddr,
    creds: &Credentials,
    bucket: &str,
    key: &str,
    declared: u64,
    every: Duration,
    give_up: Duration,
) -> Option<Ended> {
    let path = sign::object_path(bucket, key);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let host = addr.to_string();
    let signed = sign::sign(
        creds,
        &RequestToSign {
            method: "PUT",
            path: &path,
            query: &[],
            host: &host,
            headers: &[],
            payload_line: "UNSIGNED-PAYLOAD",
        },
        now,
    );
    let mut head = format!("PUT {path} HTTP/1.1\r\nhost: {host}\r\n");
    for (n, v) in &signed.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {declared}\r\n\r\n"));
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(give_up)).unwrap();
    let sent = Instant::now();
    s.write_all(head.as_bytes()).unwrap();
    let answered = Arc::new(AtomicBool::new(false));
    let reader = {
        let mut r = s.try_clone().unwrap();
        let answered = Arc::clone(&answered);
        std::thread::spawn(move || {
            let got = common::server::read_response(&mut r).ok();
            answered.store(true, Ordering::SeqCst);
            got.map(|(status, body)| (status, body, sent.elapsed()))
        })
    };
    while !answered.load(Ordering::SeqCst) && sent.elapsed() < give_up {
        if s.write_all(b"x").is_err() {
            break;
        }
        std::thread::sleep(every);
    }
    let (status, body, after) = reader.join().unwrap()?;
    let code = body
        .split("<Code>")
        .nth(1)
        .and_then(|c| c.split("</Code>").next())
        .unwrap_or_default()
        .to_string();
    Some(Ended {
        status,
        code,
        after,
    })
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    let i = (v.len() * 99).div_ceil(100).saturating_sub(1);
    v[i]
}

#[test]
fn a_slow_upload_attack_by_one_user_leaves_other_users_puts_fast_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = boot(dir.path());
    let addr = node.addr;
    let a = user(addr, "mallory");
    let b = user(addr, "bob");
    let mut ca = S3Client::new(addr, a.clone());
    let mut cb = S3Client::new(addr, b.clone());
    assert_eq!(ca.create_bucket("a-bucket").unwrap().status, 200);
    assert_eq!(cb.create_bucket("b-bucket").unwrap().status, 200);
    let budget: f64 = BUDGET_MIB.parse().unwrap();
    assert_eq!(metric(addr, "shale_upload_buffers_free"), budget);

    // A: 24 connections, each PUT declaring 100 MiB and trickling a byte
    // every 250 ms, again and again until B is done.
    let stop = Arc::new(AtomicBool::new(false));
    let ended = Arc::new(Mutex::new(Vec::<Option<Ended>>::new()));
    let attackers: Vec<_> = (0..24)
        .map(|t| {
            let (a, stop, ended) = (a.clone(), Arc::clone(&stop), Arc::clone(&ended));
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let e = trickle_put(
                        addr,
                        &a,
                        "a-bucket",
                        &format!("slow-{t}-{i}"),
                        100 << 20,
                        Duration::from_millis(250),
                        Duration::from_secs(30),
                    );
                    ended.lock().unwrap().push(e);
                    i += 1;
                }
            })
        })
        .collect();
    // The attack is on when A holds its share of the buffers.
    let until = Instant::now() + Duration::from_secs(10);
    while metric(addr, "shale_upload_buffers_free") > budget - 2.0 {
        assert!(Instant::now() < until, "A's uploads never took buffers");
        std::thread::sleep(Duration::from_millis(50));
    }

    // B: 100 small PUTs meanwhile.
    let mut latencies = Vec::new();
    let body = |i: usize| format!("object {i} of bob ").repeat(200).into_bytes();
    for i in 0..100 {
        let t = Instant::now();
        let r = cb
            .put_object("b-bucket", &format!("k{i}"), &body(i), PayloadMode::Signed)
            .unwrap();
        latencies.push(t.elapsed());
        assert_eq!(r.status, 200, "{}", text(&r));
        std::thread::sleep(Duration::from_millis(20));
    }
    let buffers_free_during = metric(addr, "shale_upload_buffers_free");
    stop.store(true, Ordering::SeqCst);
    for t in attackers {
        t.join().unwrap();
    }
    let p99 = p99(latencies);
    assert!(
        p99 < Duration::from_secs(1),
        "B's PUT p99 {p99:?} under A's attack"
    );
    assert!(
        buffers_free_during <= budget - 2.0,
        "A held its share all along ({buffers_free_during} free)"
    );

    // Every one of A's requests was answered: the ones holding A's share
    // cut for their rate within grace + window (plus the share wait), the
    // ones past it told to slow down.
    let ended = ended.lock().unwrap().clone();
    assert!(ended.len() >= 24, "{} requests", ended.len());
    let bound = Duration::from_secs(GRACE_SECS + WINDOW_SECS + USER_WAIT_SECS + 3);
    let mut timeouts = 0;
    for e in &ended {
        let e = e.as_ref().expect("a trickling PUT never answered");
        match (e.status, e.code.as_str()) {
            (400, "RequestTimeout") => {
                timeouts += 1;
                assert!(e.after < bound, "cut only after {:?}", e.after);
                assert!(
                    e.after >= Duration::from_secs(GRACE_SECS + WINDOW_SECS),
                    "cut before grace + window: {:?}",
                    e.after
                );
            }
            (503, "SlowDown") => {}
            other => panic!("A's trickling PUT ended with {other:?}"),
        }
    }
    assert!(
        timeouts >= 2,
        "{timeouts} RequestTimeout of {}",
        ended.len()
    );

    // Nothing of A's is held, visible or stored ...
    let until = Instant::now() + Duration::from_secs(5);
    while metric(addr, "shale_upload_buffers_free") < budget
        || metric(addr, "shale_upload_buffer_users") > 0.0
    {
        assert!(Instant::now() < until, "buffers not given back");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        ca.list_all("a-bucket", "").unwrap().unwrap(),
        Vec::<String>::new()
    );
    let u = admin(addr, "GET", "users/mallory", "");
    assert_eq!(
        (u["objects"].as_u64(), u["bytes"].as_u64()),
        (Some(0), Some(0))
    );
    // ... and its index transactions are gone: the same keys take writes.
    for key in ["slow-0-0", "slow-1-0"] {
        assert_eq!(ca.head_object("a-bucket", key).unwrap().status, 404);
        let r = ca
            .put_object("a-bucket", key, b"now whole", PayloadMode::Signed)
            .unwrap();
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(ca.get_object("a-bucket", key).unwrap().body, b"now whole");
    }

    // B's objects all read back.
    for i in 0..100 {
        let r = cb.get_object("b-bucket", &format!("k{i}")).unwrap();
        assert_eq!((r.status, r.body), (200, body(i)));
    }
}

#[test]
fn a_body_that_starts_slowly_inside_the_grace_period_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let node = boot(dir.path());
    let addr = node.addr;
    let creds = test_credentials();
    let mut c = S3Client::new(addr, creds.clone());
    assert_eq!(c.create_bucket("slow-start").unwrap().status, 200);

    // Nothing for 2 s (grace 1 s + window 2 s: the first check is at 3 s),
    // then 64 KiB at once.
    let data: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut reader = Delayed {
        wait: Some(Duration::from_secs(2)),
        data: &data,
    };
    let r = c
        .put_object_from("slow-start", "late", data.len() as u64, &mut reader)
        .unwrap();
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(c.get_object("slow-start", "late").unwrap().body, data);

    // The same start with a trickle after it is cut.
    let e = trickle_put(
        addr,
        &creds,
        "slow-start",
        "trickle",
        1 << 20,
        Duration::from_millis(100),
        Duration::from_secs(30),
    )
    .expect("no answer");
    assert_eq!((e.status, e.code.as_str()), (400, "RequestTimeout"));
    assert!(e.after >= Duration::from_secs(GRACE_SECS + WINDOW_SECS));
    assert_eq!(c.head_object("slow-start", "trickle").unwrap().status, 404);
}

/// Sends nothing for `wait`, then all of `data`.
struct Delayed<'a> {
    wait: Option<Duration>,
    data: &'a [u8],
}

impl Read for Delayed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(w) = self.wait.take() {
            std::thread::sleep(w);
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
