//! No byte of a signed aws-chunked chunk reaches the segment files before
//! that chunk's signature checks: against the real binary, a PUT whose
//! 2nd chunk (8 MiB) has a bad signature is refused with 403
//! SignatureDoesNotMatch and the segments grow by (nearly) nothing, while
//! the same PUT correctly signed stores its megabytes; a signed chunk
//! declaring more than 16 MiB is refused up front with 400 InvalidRequest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::server::{client, creds_env, start, test_credentials};
use shale::client::sign::{self, RequestToSign, Signed};
use shale::client::{Body, Conn, Response};
use shale::s3::chunked::SIGNED_CHUNK_BYTES_MAX;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn segment_bytes(data_dir: &Path) -> u64 {
    std::fs::read_dir(data_dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The signed head of a streaming PUT of `decoded_len` bytes; with
/// `trailer`, announcing a signed crc32 trailer.
fn sign_put(addr: SocketAddr, key: &str, decoded_len: usize, trailer: bool) -> (String, Signed) {
    let path = sign::object_path("hold", key);
    let mut headers = vec![(
        "x-amz-decoded-content-length".to_string(),
        decoded_len.to_string(),
    )];
    if trailer {
        headers.push(("content-encoding".into(), "aws-chunked".into()));
        headers.push(("x-amz-trailer".into(), "x-amz-checksum-crc32".into()));
    }
    let payload_line = if trailer {
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    } else {
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    };
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
            host: &addr.to_string(),
            headers: &headers,
            payload_line,
        },
        now,
    );
    (path, signed)
}

/// PUTs `chunks` aws-chunked and signed; the signature of chunk
/// `corrupt` (if any) has one digit changed.
fn chunked_put(
    addr: SocketAddr,
    key: &str,
    chunks: &[Vec<u8>],
    corrupt: Option<usize>,
    trailer: bool,
) -> Response {
    let total = chunks.iter().map(Vec::len).sum();
    let (path, signed) = sign_put(addr, key, total, trailer);
    let mut chain = signed.chain.clone();
    let mut body = Vec::with_capacity(total + 1024);
    let empty = Vec::new();
    for (i, c) in chunks.iter().chain(std::iter::once(&empty)).enumerate() {
        let mut sig = chain.next_chunk(c);
        if corrupt == Some(i) {
            let first = if sig.starts_with('0') { "1" } else { "0" };
            sig.replace_range(0..1, first);
        }
        body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        if !c.is_empty() {
            body.extend_from_slice(c);
            body.extend_from_slice(b"\r\n");
        }
    }
    if trailer {
        let all: Vec<u8> = chunks.concat();
        use base64::Engine as _;
        let crc =
            base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(&all).to_be_bytes());
        let trailers = vec![("x-amz-checksum-crc32".to_string(), crc)];
        let sig = chain.trailer(&trailers);
        body.extend_from_slice(format!("x-amz-checksum-crc32:{}\r\n", trailers[0].1).as_bytes());
        body.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    let mut conn = Conn::new(addr, Duration::from_secs(60));
    conn.request("PUT", &path, &signed.headers, &Body::Encoded(body))
        .unwrap()
}

#[test]
fn a_bad_second_chunk_signature_stores_none_of_its_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let node = start(&dir, &creds_env());
    let addr = node.addr;
    let mut c = client(addr);
    assert_eq!(c.create_bucket("hold").unwrap().status, 200);
    let chunks = vec![data(64 * KIB, 1), data(8 * MIB, 2), data(64 * KIB, 3)];
    for trailer in [false, true] {
        let before = segment_bytes(&dir);
        let r = chunked_put(addr, "bad", &chunks, Some(1), trailer);
        assert_eq!(r.status, 403, "{}", text(&r));
        assert!(
            text(&r).contains("<Code>SignatureDoesNotMatch</Code>"),
            "{}",
            text(&r)
        );
        let grown = segment_bytes(&dir) - before;
        // The first (valid) chunk may be buffered; the 8 MiB never land.
        assert!(
            grown <= 128 * KIB as u64,
            "trailer {trailer}: segments grew by {grown} bytes for a refused chunk"
        );
        assert_eq!(c.head_object("hold", "bad").unwrap().status, 404);
    }
    // The measure sees writes: the same PUT correctly signed stores them.
    let before = segment_bytes(&dir);
    let r = chunked_put(addr, "good", &chunks, None, false);
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(segment_bytes(&dir) - before >= 8 * MIB as u64);
    let g = c.get_object("hold", "good").unwrap();
    assert!(g.status == 200 && g.body == chunks.concat());
}

#[test]
fn a_signed_chunk_declaring_more_than_the_maximum_is_refused_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let node = start(&dir, &creds_env());
    let addr = node.addr;
    let mut c = client(addr);
    assert_eq!(c.create_bucket("hold").unwrap().status, 200);
    let before = segment_bytes(&dir);
    let declared = SIGNED_CHUNK_BYTES_MAX as usize + 1;
    let (path, signed) = sign_put(addr, "huge", declared, false);
    let mut chain = signed.chain.clone();
    // The client would send the whole chunk; the first MiB is enough.
    let part = data(MIB, 4);
    let sig = chain.next_chunk(&part);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("PUT {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (n, v) in &signed.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "connection: close\r\ncontent-length: {}\r\n\r\n",
        declared + 200
    ));
    head.push_str(&format!("{declared:x};chunk-signature={sig}\r\n"));
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer and stop reading at any point of this.
    let _ = s.write_all(&part);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("<Code>InvalidRequest</Code>"), "{out}");
    assert!(out.contains("at most 16777216 bytes"), "{out}");
    assert!(segment_bytes(&dir) - before <= 4 * KIB as u64);
    assert_eq!(c.head_object("hold", "huge").unwrap().status, 404);
    // Exactly the maximum is a chunk like any other.
    let max = vec![data(SIGNED_CHUNK_BYTES_MAX as usize, 5)];
    let r = chunked_put(addr, "max", &max, None, false);
    assert_eq!(r.status, 200, "{}", text(&r));
}
