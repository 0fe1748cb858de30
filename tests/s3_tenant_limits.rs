//! Tenant limits hold whatever the request looks like, against the real
//! binary: a `Transfer-Encoding: chunked` PUT with no length cannot store
//! past a quota (it is cut off while streaming, nothing stored); parts of
//! open multipart uploads count in quotas; open uploads per bucket are
//! limited, also after a restart; the node's files are private to its
//! user; `/metrics` can require a token and leave bucket names out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::server::{creds_env, start_with, stop, test_credentials};
use shale::client::sign::{self, RequestToSign};
use shale::client::{PayloadMode, Request, Response, S3Client};

const MIB: usize = 1024 * 1024;

fn admin(addr: SocketAddr, method: &str, path: &str, body: &str) -> Response {
    let mut c = S3Client::new(addr, test_credentials());
    c.send(
        method,
        "admin",
        path,
        Request {
            body: body.as_bytes(),
            ..Request::default()
        },
        PayloadMode::Signed,
    )
    .unwrap()
}

fn code(r: &Response) -> String {
    shale::client::xml_texts(&r.body, "Error", "Code")
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// A header-signed PUT with `Transfer-Encoding: chunked`, UNSIGNED-PAYLOAD
/// and no length, `len` bytes in 64 KiB HTTP chunks; (status, body).
fn chunked_put(addr: SocketAddr, bucket: &str, key: &str, len: usize) -> (u16, String) {
    let path = format!("/{bucket}/{key}");
    let host = addr.to_string();
    let headers = vec![("transfer-encoding".to_string(), "chunked".to_string())];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = sign::sign(
        &test_credentials(),
        &RequestToSign {
            method: "PUT",
            path: &path,
            query: &[],
            host: &host,
            headers: &headers,
            payload_line: "UNSIGNED-PAYLOAD",
        },
        now,
    );
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("PUT {path} HTTP/1.1\r\nhost: {host}\r\n");
    for (k, v) in &signed.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'q'; 64 * 1024];
    let mut sent = 0;
    // The server may answer and close before the body ends.
    while sent < len {
        let n = chunk.len().min(len - sent);
        let frame = [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
        if s.write_all(&frame).is_err() {
            break;
        }
        sent += n;
        // Stop sending once the server has answered (it answers early).
        s.set_nonblocking(true).unwrap();
        let answered = s.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0);
        s.set_nonblocking(false).unwrap();
        if answered {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the response head and (small) body.
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some(i) = text.find("\r\n\r\n") {
            let body_complete =
                text.contains("</Error>") || text[..i].contains("content-length: 0");
            if body_complete {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn boot(dir: &Path, extra: &[(&str, &str)]) -> common::server::Node {
    let mut env: Vec<(&str, &str)> = creds_env().to_vec();
    env.extend_from_slice(extra);
    start_with(dir, &env, &[])
}

#[test]
fn a_chunked_body_without_a_length_cannot_pass_a_bucket_quota() {
    let dir = tempfile::tempdir().unwrap();
    let node = boot(dir.path(), &[]);
    let addr = node.addr;
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("quota").unwrap().status, 200);
    let r = admin(
        addr,
        "POST",
        "buckets/quota/quota",
        r#"{"max_bytes":1048576}"#,
    );
    assert!(r.status < 300, "{}", String::from_utf8_lossy(&r.body));
    let (status, text) = chunked_put(addr, "quota", "big", 8 * MIB);
    assert_eq!(status, 403, "{text}");
    // The body may be cut off by the close that follows an early answer.
    assert!(
        !text.contains("<Code>") || text.contains("QuotaExceeded"),
        "{text}"
    );
    assert_eq!(c.head_object("quota", "big").unwrap().status, 404);
    let (status, text) = chunked_put(addr, "quota", "small", MIB / 2);
    assert_eq!(status, 200, "{text}");
    let (status, text) = chunked_put(addr, "quota", "second", 600 * 1024);
    assert_eq!(status, 403, "{text}");
    assert_eq!(c.head_object("quota", "second").unwrap().status, 404);
    let stats = admin(addr, "GET", "buckets/quota", "");
    let v: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert_eq!(v["objects"], 1, "{v}");
    assert_eq!(v["bytes"], MIB / 2, "{v}");
}

#[test]
fn parts_of_open_uploads_count_in_the_quota_until_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let node = boot(dir.path(), &[]);
    let addr = node.addr;
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("parts").unwrap().status, 200);
    // Small parts (never completed): a refused one fits in the socket
    // buffers, so the client reads the answer.
    let quota = format!(r#"{{"max_bytes":{}}}"#, 100 * 1024);
    assert!(admin(addr, "POST", "buckets/parts/quota", &quota).status < 300);
    let id = c.create_multipart("parts", "mp").unwrap().unwrap();
    let part = vec![7u8; 50 * 1024];
    for n in 1..=2 {
        let r = c
            .upload_part("parts", "mp", &id, n, &part, PayloadMode::Unsigned)
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    // The quota is full of parts: a third part and a plain PUT are refused.
    let r = c
        .upload_part("parts", "mp", &id, 3, &part, PayloadMode::Unsigned)
        .unwrap();
    assert_eq!((r.status, code(&r).as_str()), (403, "QuotaExceeded"));
    let r = c
        .put_object("parts", "plain", &[1u8; 1024], PayloadMode::Signed)
        .unwrap();
    assert_eq!((r.status, code(&r).as_str()), (403, "QuotaExceeded"));
    // Aborting gives the room back.
    let r = c
        .send(
            "DELETE",
            "parts",
            "mp",
            Request {
                query: vec![("uploadId".into(), id.clone())],
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(
        c.put_object("parts", "plain", &[1u8; 1024], PayloadMode::Signed)
            .unwrap()
            .status,
        200
    );
}

#[test]
fn open_uploads_per_bucket_are_limited_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let limit = [("SHALE_MULTIPART_UPLOADS_PER_BUCKET_MAX", "5")];
    let node = boot(dir.path(), &limit);
    let mut c = S3Client::new(node.addr, test_credentials());
    assert_eq!(c.create_bucket("ups").unwrap().status, 200);
    assert_eq!(c.create_bucket("other").unwrap().status, 200);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            c.create_multipart("ups", &format!("k{i}"))
                .unwrap()
                .unwrap(),
        );
    }
    let r = c.create_multipart("ups", "k5").unwrap().unwrap_err();
    assert_eq!((r.status, code(&r).as_str()), (403, "QuotaExceeded"));
    assert!(String::from_utf8_lossy(&r.body).contains("multipart.uploads_per_bucket_max"));
    // Another bucket is not affected.
    c.create_multipart("other", "k").unwrap().unwrap();
    let (clean, _) = stop(node);
    assert!(clean);
    let node = boot(dir.path(), &limit);
    let mut c = S3Client::new(node.addr, test_credentials());
    // SlowDown while the manifests load, then the limit as before.
    let r = loop {
        let r = c.create_multipart("ups", "k5").unwrap().unwrap_err();
        if r.status != 503 {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(r.status, 403, "the count must survive a restart");
    let r = c
        .send(
            "DELETE",
            "ups",
            "k0",
            Request {
                query: vec![("uploadId".into(), ids[0].clone())],
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 204);
    c.create_multipart("ups", "k5").unwrap().unwrap();
}

/// ListMultipartUploads of `bucket`.
fn list_uploads(c: &mut S3Client, bucket: &str) -> Response {
    let req = Request {
        query: vec![("uploads".into(), String::new())],
        ..Request::default()
    };
    c.send("GET", bucket, "", req, PayloadMode::Signed).unwrap()
}

fn assert_private(path: &Path) {
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "{} is {:o}: readable by others",
            entry.path().display(),
            mode & 0o777
        );
        if entry.file_type().unwrap().is_dir() {
            assert_private(&entry.path());
        }
    }
}

#[test]
fn the_data_dir_and_everything_in_it_are_private_to_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = boot(&data, &[]);
    let mut c = S3Client::new(node.addr, test_credentials());
    assert_eq!(c.create_bucket("priv").unwrap().status, 200);
    assert_eq!(
        c.put_object("priv", "k", b"secret", PayloadMode::Signed)
            .unwrap()
            .status,
        200
    );
    c.create_multipart("priv", "mp").unwrap().unwrap();
    let mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_private(&data);
    drop(node);
    // An older data dir opened to others is closed off at start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _node = boot(&data, &[]);
    let mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

fn get(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = auth
        .map(|a| format!("authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, out)
}

#[test]
fn metrics_can_require_a_token_and_leave_bucket_names_out() {
    let dir = tempfile::tempdir().unwrap();
    let token = "metrics-token-0123456789";
    let node = boot(
        dir.path(),
        &[
            ("SHALE_METRICS_TOKEN", token),
            ("SHALE_METRICS_BUCKET_LABELS", "false"),
        ],
    );
    let addr = node.addr;
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("tenant-secret-name").unwrap().status, 200);
    assert_eq!(get(addr, "/metrics", None).0, 401);
    assert_eq!(
        get(addr, "/metrics", Some("Bearer wrong-token-0123456789")).0,
        401
    );
    let (status, body) = get(addr, "/metrics", Some(&format!("Bearer {token}")));
    assert_eq!(status, 200);
    assert!(body.contains("shale_buckets"), "{body}");
    assert!(!body.contains("tenant-secret-name"), "bucket names leaked");
    // A system user's signature is accepted too.
    let r = c
        .send(
            "GET",
            "metrics",
            "",
            Request::default(),
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200);
    // /health stays open.
    assert_eq!(get(addr, "/health", None).0, 200);
}

#[test]
fn a_restart_serves_before_reading_manifests_and_a_bad_one_stops_only_what_needs_them() {
    let dir = tempfile::tempdir().unwrap();
    let node = boot(dir.path(), &[]);
    let mut c = S3Client::new(node.addr, test_credentials());
    assert_eq!(c.create_bucket("mpb").unwrap().status, 200);
    let good = c.create_multipart("mpb", "good").unwrap().unwrap();
    let (clean, _) = stop(node);
    assert!(clean);
    // A manifest that cannot be read appears while the node is down.
    let bad = dir
        .path()
        .join("uploads")
        .join(format!("{}.json", "ab".repeat(16)));
    std::fs::write(&bad, b"{ not a manifest").unwrap();
    let node = boot(dir.path(), &[]);
    let mut c = S3Client::new(node.addr, test_credentials());
    // Objects are served, and the readable upload works.
    assert_eq!(
        c.put_object("mpb", "obj", b"data", PayloadMode::Signed)
            .unwrap()
            .status,
        200
    );
    let r = c
        .upload_part("mpb", "good", &good, 1, b"part", PayloadMode::Signed)
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Listing uploads refuses (it cannot be complete), and says nothing
    // of server paths.
    let r = list_uploads(&mut c, "mpb");
    assert!(r.status >= 500, "{}", r.status);
    // Compaction refuses too: it must not reclaim parts it cannot see.
    let r = admin(node.addr, "POST", "compact/run", "");
    assert!(
        r.status >= 500,
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let (_, log) = stop(node);
    assert!(log.contains("multipart manifest cannot be read"), "{log}");
    // Removing the bad manifest brings everything back.
    std::fs::remove_file(&bad).unwrap();
    let node = boot(dir.path(), &[]);
    let mut c = S3Client::new(node.addr, test_credentials());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = list_uploads(&mut c, "mpb");
        if r.status == 200 {
            assert!(String::from_utf8_lossy(&r.body).contains(&good));
            break;
        }
        assert_eq!(r.status, 503, "only SlowDown while loading");
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
}
