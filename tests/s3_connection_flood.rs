//! Idle connections cannot keep clients out, against the real binary:
//! with thousands of idle connections open (more than every slot; half
//! sending nothing, half a partial request head) `/health` and a signed
//! PUT + GET on new connections answer within a couple of seconds (the
//! idle ones are closed to make room), and everything works after the
//! flood; a client address gets at most `http.connections_per_ip_max`
//! connections; and when every slot is busy with a request `/health`
//! still answers on a reserved connection while other requests there get
//! 503 SlowDown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::server::{client, creds_env, start_with, Node};
use shale::client::PayloadMode;

fn boot(dir: &std::path::Path, env: &[(&str, &str)], threads: &str) -> Node {
    let mut all: Vec<(&str, &str)> = creds_env().to_vec();
    all.extend_from_slice(env);
    all.extend([
        ("SHALE_COMPACTION_INTERVAL_SECS", "0"),
        ("SHALE_SCRUB_INTERVAL_SECS", "0"),
    ]);
    let mut node = start_with(dir, &all, &["--threads", threads]);
    let mut err = node.child.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    node
}

/// Raises this process's open files limit to the hard one; the limit.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out-pointer; setrlimit only reads it.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// One request on a new connection; (status, body), or the error.
fn raw(addr: SocketAddr, request: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(request.as_bytes())?;
    common::server::read_response(&mut s)
}

fn health(addr: SocketAddr, timeout: Duration) -> std::io::Result<(u16, String)> {
    raw(
        addr,
        &format!("GET /health HTTP/1.1\r\nhost: {addr}\r\n\r\n"),
        timeout,
    )
}

fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, body) = raw(
        addr,
        &format!("GET /metrics HTTP/1.1\r\nhost: {addr}\r\n\r\n"),
        Duration::from_secs(10),
    )
    .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// A signed PUT then GET of `key` on a new connection; how long they took.
fn put_get(addr: SocketAddr, key: &str) -> Duration {
    let t = Instant::now();
    let mut c = client(addr);
    let body = format!("the object {key}").into_bytes();
    let r = c
        .put_object("flood", key, &body, PayloadMode::Signed)
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = c.get_object("flood", key).unwrap();
    assert_eq!((r.status, r.body), (200, body));
    t.elapsed()
}

#[test]
fn thousands_of_idle_connections_do_not_keep_health_or_a_put_out() {
    let limit = raise_nofile();
    // As many as the descriptors allow (the server's slots are 2 x 500).
    let flood = usize::try_from(limit.saturating_sub(500))
        .unwrap_or(0)
        .min(10_000);
    assert!(
        flood >= 3000,
        "open files limit {limit} too low for the test"
    );
    let dir = tempfile::tempdir().unwrap();
    let node = boot(
        dir.path(),
        &[
            ("SHALE_HTTP_CONNECTIONS_PER_THREAD_MAX", "500"),
            ("SHALE_HTTP_CONNECTIONS_PER_IP_MAX", "0"),
        ],
        "2",
    );
    let addr = node.addr;
    assert_eq!(client(addr).create_bucket("flood").unwrap().status, 200);

    let mut idle = Vec::with_capacity(flood);
    let partial = format!("GET /flood/x HTTP/1.1\r\nhost: {addr}\r\nx-amz-date: ");
    for i in 0..flood {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
            continue;
        };
        if i % 2 == 1 {
            let _ = s.write_all(partial.as_bytes());
        }
        idle.push(s);
    }
    assert!(idle.len() >= 3000, "only {} connections opened", idle.len());
    assert!(metric(addr, "shale_http_connections_shed_total") > 0.0);

    let t = Instant::now();
    let (status, body) = health(addr, Duration::from_secs(10)).unwrap();
    let waited = t.elapsed();
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert!(waited < Duration::from_secs(2), "/health took {waited:?}");
    let took = put_get(addr, "during");
    assert!(took < Duration::from_secs(3), "PUT + GET took {took:?}");
    let open = metric(addr, "shale_http_connections_open");
    assert!(open <= 1016.0, "{open} connections open past the slots");

    drop(idle);
    let until = Instant::now() + Duration::from_secs(10);
    while metric(addr, "shale_http_connections_open") > 2.0 {
        assert!(Instant::now() < until, "the flood's connections stay open");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(health(addr, Duration::from_secs(10)).unwrap().0, 200);
    put_get(addr, "after");
    let mut c = client(addr);
    assert_eq!(c.get_object("flood", "during").unwrap().status, 200);
}

#[test]
fn an_address_gets_at_most_its_connection_limit() {
    let dir = tempfile::tempdir().unwrap();
    // One thread: connections are accepted in the order they were made.
    let node = boot(
        dir.path(),
        &[("SHALE_HTTP_CONNECTIONS_PER_IP_MAX", "5")],
        "1",
    );
    let addr = node.addr;
    let mut held: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Let the server accept them all before the sixth.
    std::thread::sleep(Duration::from_millis(300));
    let refused = health(addr, Duration::from_secs(5));
    assert!(
        refused.is_err(),
        "a sixth connection was served: {refused:?}"
    );
    // The five are served.
    let req = format!("GET /health HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    held[0]
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    held[0].write_all(req.as_bytes()).unwrap();
    assert_eq!(common::server::read_response(&mut held[0]).unwrap().0, 200);
    // One closed, a new one is served.
    drop(held.pop());
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match health(addr, Duration::from_secs(5)) {
            Ok((200, _)) => break,
            r => assert!(Instant::now() < until, "no room after a close: {r:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(held);
    let until = Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let r = raw(
            addr,
            &format!("GET /metrics HTTP/1.1\r\nhost: {addr}\r\n\r\n"),
            Duration::from_secs(5),
        );
        match r {
            Ok((200, body)) => break body,
            r => assert!(Instant::now() < until, "no /metrics: {r:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let refused: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("shale_http_connections_refused_total ")?
                .parse()
                .ok()
        })
        .unwrap();
    assert!(refused >= 1.0, "{metrics}");
}

#[test]
fn health_is_answered_when_every_slot_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let node = boot(
        dir.path(),
        &[
            ("SHALE_HTTP_CONNECTIONS_PER_THREAD_MAX", "2"),
            ("SHALE_HTTP_BODY_MIN_BYTES_PER_SEC", "0"),
        ],
        "1",
    );
    let addr = node.addr;
    let mut c = client(addr);
    assert_eq!(c.create_bucket("flood").unwrap().status, 200);
    drop(c);
    // Two PUTs whose bodies do not come: both slots busy with a request.
    let mut busy = Vec::new();
    for key in ["one", "two"] {
        let mut s = TcpStream::connect(addr).unwrap();
        let head = signed_put_head(addr, key, 1 << 20);
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(b"some of the body").unwrap();
        busy.push(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let (status, _) = health(addr, Duration::from_secs(10)).unwrap();
    assert_eq!(status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Anything else on a reserved connection is told to slow down.
    let r = client(addr).get_object("flood", "one").unwrap();
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("<Code>SlowDown</Code>"));
    drop(busy);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let r = client(addr).get_object("flood", "one").unwrap();
        if r.status == 404 {
            break;
        }
        assert!(Instant::now() < until, "slots never freed: {}", r.status);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The head of a signed UNSIGNED-PAYLOAD PUT of `len` bytes.
fn signed_put_head(addr: SocketAddr, key: &str, len: u64) -> String {
    use shale::client::sign;
    let path = sign::object_path("flood", key);
    let host = addr.to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = sign::sign(
        &common::server::test_credentials(),
        &sign::RequestToSign {
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
    head.push_str(&format!("content-length: {len}\r\n\r\n"));
    head
}
