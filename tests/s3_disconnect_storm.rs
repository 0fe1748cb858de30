//! A disconnect storm cannot stop writes or lose acknowledged data. For
//! `SHALE_STORM_SECS` (30 s by default) storm clients open connections,
//! write pipelined signed PUT, DELETE, CopyObject, CreateMultipartUpload,
//! UploadPart, CompleteMultipartUpload and DeleteObjects requests, and
//! close them at random moments (mid-head, mid-body, between requests,
//! while responses are pending), into a plain and a versioned bucket,
//! while steady clients write and remember what was acknowledged. Then
//! every kind of write to every bucket succeeds at once, every
//! acknowledged object reads back byte for byte (also after a restart),
//! no steady request got a 5xx, and the server logged no failed log
//! append or reopened shard.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::server::{creds_env, start_with, test_credentials};
use shale::client::sign::{self, RequestToSign};
use shale::client::{PayloadMode, Request, S3Client};

/// Acknowledged steady writes: (bucket, key) -> (seq, len).
type Acked = BTreeMap<(String, String), (u64, usize)>;

const BUCKETS: [&str; 2] = ["storm-plain", "storm-versioned"];
const STORM_THREADS: u64 = 8;
const STEADY_THREADS: u64 = 2;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn content(key: &str, seq: u64, len: usize) -> Vec<u8> {
    let mut x = xxhash_rust::xxh64::xxh64(key.as_bytes(), seq) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One signed request as bytes on the wire (UNSIGNED-PAYLOAD body).
fn wire(
    addr: SocketAddr,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let host = addr.to_string();
    let mut headers = headers.to_vec();
    headers.push(("content-length".into(), body.len().to_string()));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = sign::sign(
        &test_credentials(),
        &RequestToSign {
            method,
            path,
            query,
            host: &host,
            headers: &headers,
            payload_line: "UNSIGNED-PAYLOAD",
        },
        now,
    );
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", sign::encode_query(query))
    };
    let mut out = format!("{method} {target} HTTP/1.1\r\nhost: {host}\r\n");
    for (k, v) in &signed.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A random storm request into `bucket`; `uploads` are ids of open
/// uploads of key `mp/{n}` the storm may add parts to or complete.
fn storm_request(
    rng: &mut Rng,
    addr: SocketAddr,
    bucket: &str,
    uploads: &[(String, String)],
) -> Vec<u8> {
    let key = format!("storm/{}", rng.below(64));
    let path = format!("/{bucket}/{key}");
    match rng.below(8) {
        0..=2 => {
            let body = content(&key, rng.next(), rng.below(300 * 1024) as usize);
            wire(addr, "PUT", &path, &[], &[], &body)
        }
        3 => wire(addr, "DELETE", &path, &[], &[], b""),
        4 => {
            let src = format!("/{bucket}/steady/0/{}", rng.below(4));
            let h = vec![("x-amz-copy-source".to_string(), src)];
            wire(addr, "PUT", &path, &[], &h, b"")
        }
        5 => wire(addr, "POST", &path, &q(&[("uploads", "")]), &[], b""),
        6 if !uploads.is_empty() => {
            let (key, id) = &uploads[rng.below(uploads.len() as u64) as usize];
            let body = content(key, rng.next(), 64 * 1024 + rng.below(64 * 1024) as usize);
            let query = q(&[("partNumber", "1"), ("uploadId", id)]);
            wire(addr, "PUT", &format!("/{bucket}/{key}"), &query, &[], &body)
        }
        6 => wire(addr, "DELETE", &path, &[], &[], b""),
        _ => {
            let xml = format!(
                "<Delete><Object><Key>{key}</Key></Object><Object><Key>storm/{}</Key></Object></Delete>",
                rng.below(64)
            );
            let md5 = {
                use base64::Engine;
                use md5::Digest;
                base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(xml.as_bytes()))
            };
            let h = vec![("content-md5".to_string(), md5)];
            wire(
                addr,
                "POST",
                &format!("/{bucket}"),
                &q(&[("delete", "")]),
                &h,
                xml.as_bytes(),
            )
        }
    }
}

/// Writes a random prefix of a few pipelined requests, maybe reads a
/// little, and closes the connection.
fn storm_connection(rng: &mut Rng, addr: SocketAddr, uploads: &[(String, String)]) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
    let mut bytes = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let bucket = BUCKETS[rng.below(2) as usize];
        bytes.extend(storm_request(rng, addr, bucket, uploads));
    }
    let cut = match rng.below(4) {
        0 => bytes.len(),
        _ => rng.below(bytes.len() as u64 + 1) as usize,
    };
    let _ = s.write_all(&bytes[..cut]);
    match rng.below(3) {
        0 => {}
        1 => std::thread::sleep(Duration::from_millis(rng.below(15))),
        _ => {
            let _ = s.read(&mut [0u8; 512]);
        }
    }
    // Dropping the stream closes it with whatever is in flight.
}

#[test]
fn a_disconnect_storm_leaves_every_bucket_writable_and_every_acknowledged_object_intact() {
    let secs: u64 = std::env::var("SHALE_STORM_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let env = creds_env();
    let mut node = start_with(dir.path(), &env, &[]);
    let addr = node.addr;
    // Drain stderr as it comes (a full pipe would stall the server).
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = node.child.stderr.take().unwrap();
    let log_w = Arc::clone(&log);
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            log_w
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });

    let mut c = S3Client::new(addr, test_credentials());
    for b in BUCKETS {
        assert_eq!(c.create_bucket(b).unwrap().status, 200);
    }
    let versioning = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let r = c
        .send(
            "PUT",
            BUCKETS[1],
            "",
            Request {
                query: q(&[("versioning", "")]),
                body: versioning,
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200);
    // Open uploads the storm adds parts to and completes.
    let mut uploads = Vec::new();
    for b in BUCKETS {
        for n in 0..4 {
            let key = format!("mp/{n}");
            let id = c.create_multipart(b, &key).unwrap().unwrap();
            uploads.push((key, id));
        }
    }
    let uploads = Arc::new(uploads);

    let stop = Arc::new(AtomicBool::new(false));
    let storm_conns = Arc::new(AtomicU64::new(0));
    // Acknowledged steady writes: (bucket, key) -> (seq, len).
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let steady_puts = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for t in 0..STORM_THREADS {
        let (stop, uploads, conns) = (
            Arc::clone(&stop),
            Arc::clone(&uploads),
            Arc::clone(&storm_conns),
        );
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
            while !stop.load(Ordering::Relaxed) {
                storm_connection(&mut rng, addr, &uploads);
                conns.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in 0..STEADY_THREADS {
        let (stop, acked, puts) = (
            Arc::clone(&stop),
            Arc::clone(&acked),
            Arc::clone(&steady_puts),
        );
        threads.push(std::thread::spawn(move || {
            let mut c = S3Client::new(addr, test_credentials());
            let mut rng = Rng(77 + t);
            let mut seq = 0;
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                let bucket = BUCKETS[rng.below(2) as usize];
                let key = format!("steady/{t}/{}", rng.below(8));
                let len = rng.below(200 * 1024) as usize;
                let data = content(&key, seq, len);
                let r = c
                    .put_object(bucket, &key, &data, PayloadMode::Signed)
                    .unwrap();
                assert!(
                    r.status < 500,
                    "steady PUT: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                acked
                    .lock()
                    .unwrap()
                    .insert((bucket.to_string(), key), (seq, len));
                puts.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let conns = storm_conns.load(Ordering::Relaxed);
    assert!(conns > 100, "only {conns} storm connections");

    // Every kind of write to every bucket succeeds at once.
    let settled = Instant::now();
    for b in BUCKETS {
        let data = content("after", 1, 10_000);
        let r = c
            .put_object(b, "after/put", &data, PayloadMode::Signed)
            .unwrap();
        assert_eq!(r.status, 200, "{b}: {}", String::from_utf8_lossy(&r.body));
        let r = c
            .send(
                "PUT",
                b,
                "after/copy",
                Request {
                    headers: vec![("x-amz-copy-source".into(), format!("/{b}/after/put"))],
                    ..Request::default()
                },
                PayloadMode::Signed,
            )
            .unwrap();
        assert_eq!(
            r.status,
            200,
            "{b} copy: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(c.delete_object(b, "after/put").unwrap().status, 204);
        let id = c.create_multipart(b, "after/mp").unwrap().unwrap();
        let part = content("part", 1, 5 * 1024 * 1024);
        let r = c
            .upload_part(b, "after/mp", &id, 1, &part, PayloadMode::Signed)
            .unwrap();
        assert_eq!(r.status, 200);
        let etag = r
            .headers
            .iter()
            .find(|(k, _)| k == "etag")
            .map(|(_, v)| v.clone())
            .unwrap();
        let r = c
            .complete_multipart(b, "after/mp", &id, &[(1, etag)])
            .unwrap();
        assert_eq!(
            r.status,
            200,
            "{b} complete: {}",
            String::from_utf8_lossy(&r.body)
        );
        for storm_key in 0..64 {
            let r = c
                .put_object(b, &format!("storm/{storm_key}"), b"x", PayloadMode::Signed)
                .unwrap();
            assert_eq!(r.status, 200, "{b}: a key the storm used");
        }
    }
    assert!(settled.elapsed() < Duration::from_secs(60));

    let verify = |c: &mut S3Client, when: &str| {
        for ((bucket, key), (seq, len)) in acked.lock().unwrap().iter() {
            let r = c.get_object(bucket, key).unwrap();
            assert_eq!(r.status, 200, "{when}: {bucket}/{key}");
            assert!(
                r.body == content(key, *seq, *len),
                "{when}: {bucket}/{key} differs"
            );
        }
    };
    verify(&mut c, "after the storm");
    let acked_n = acked.lock().unwrap().len();
    assert!(acked_n > 0);

    // SAFETY: sending SIGTERM to our own child process.
    unsafe { libc::kill(node.child.id() as i32, libc::SIGTERM) };
    assert!(node.child.wait().unwrap().success());
    drain.join().unwrap();
    let log = log.lock().unwrap().clone();
    for bad in [
        "log append failed",
        "reopened a bucket index log",
        "panicked",
    ] {
        assert!(!log.contains(bad), "the server logged {bad:?}:\n{log}");
    }
    let node = start_with(dir.path(), &env, &[]);
    let mut c = S3Client::new(node.addr, test_credentials());
    verify(&mut c, "after a restart");
    let failed = log.lines().filter(|l| l.contains("request failed")).count();
    eprintln!(
        "{conns} storm connections, {} steady PUTs, {acked_n} keys verified, {failed} server errors logged",
        steady_puts.load(Ordering::Relaxed)
    );
    if let Some(l) = log.lines().find(|l| l.contains("request failed")) {
        eprintln!("first: {l}");
    }
}
