//! SIGTERM drains: a PUT in progress when the signal arrives completes
//! and is acknowledged, idle keep-alive connections are closed, no new
//! connection is accepted, and the process exits cleanly. A request body
//! that stalls is timed out elsewhere (`BODY_IDLE_TIMEOUT`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::server::{creds_env, start, stop, test_credentials};
use shale::client::sign::{self, RequestToSign};
use shale::client::{PayloadMode, S3Client};

#[test]
fn sigterm_lets_a_put_in_progress_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let node = start(&data, &creds_env());
    let mut c = S3Client::new(node.addr, test_credentials());
    assert_eq!(c.create_bucket("drain").unwrap().status, 200);
    // An idle keep-alive connection: closed by the drain, not waited for.
    let idle = TcpStream::connect(node.addr).unwrap();

    let body = vec![7u8; 2 * 1024 * 1024];
    let host = node.addr.to_string();
    let len = body.len().to_string();
    let headers = vec![("content-length".to_owned(), len)];
    let signed = sign::sign(
        &test_credentials(),
        &RequestToSign {
            method: "PUT",
            path: "/drain/slow",
            query: &[],
            host: &host,
            headers: &headers,
            payload_line: "UNSIGNED-PAYLOAD",
        },
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    let mut s = TcpStream::connect(node.addr).unwrap();
    let mut head = format!("PUT /drain/slow HTTP/1.1\r\nhost: {host}\r\n");
    for (n, v) in &signed.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..body.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // SIGTERM while the body is half sent.
    let pid = node.child.id() as i32;
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(&body[body.len() / 2..]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("connection: close"),
        "{resp}"
    );
    drop(idle);
    let (ok, err) = stop(node);
    assert!(ok, "{err}");

    let node = start(&data, &creds_env());
    let mut c = S3Client::new(node.addr, test_credentials());
    let g = c.get_object("drain", "slow").unwrap();
    assert_eq!(g.status, 200);
    assert!(g.body == body);
    let _ = c.put_object("drain", "x", b"x", PayloadMode::Signed);
}
