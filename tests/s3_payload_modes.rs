//! Every payload signing mode real clients send, end to end against the
//! real binary: whole-payload signed, UNSIGNED-PAYLOAD, minio-go's
//! STREAMING-AWS4-HMAC-SHA256-PAYLOAD (no Content-Encoding), and the
//! aws-chunked trailer forms of current AWS SDKs. A chunk with a bad
//! signature is refused with 403 and changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::server::{client, creds_env, start};
use shale::client::PayloadMode;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

const MODES: [PayloadMode; 5] = [
    PayloadMode::Signed,
    PayloadMode::Unsigned,
    PayloadMode::StreamingSigned { chunk: 64 * 1024 },
    PayloadMode::StreamingUnsignedTrailer { chunk: 64 * 1024 },
    PayloadMode::StreamingSignedTrailer { chunk: 8 * 1024 },
];

#[test]
fn every_payload_mode_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(&tmp.path().join("data"), &creds_env());
    let mut c = client(node.addr);
    assert_eq!(c.create_bucket("modes").unwrap().status, 200);
    for (i, mode) in MODES.into_iter().enumerate() {
        for len in [0usize, 1, 8 * 1024, 64 * 1024 + 7, 3 * 1024 * 1024 + 1] {
            let key = format!("{}/{len}", mode.name());
            let body = data(len, i as u8);
            let r = c.put_object("modes", &key, &body, mode).unwrap();
            assert_eq!(r.status, 200, "{key}: {}", String::from_utf8_lossy(&r.body));
            let etag = format!("\"{:x}\"", md5_of(&body));
            assert_eq!(r.header("etag"), Some(etag.as_str()), "{key}");
            let g = c.get_object("modes", &key).unwrap();
            assert_eq!(g.status, 200, "{key}");
            assert!(g.body == body, "{key}: bytes differ");
        }
    }
    // Multipart parts in streaming modes.
    let id = c.create_multipart("modes", "mp").unwrap().unwrap();
    let part1 = data(5 * 1024 * 1024, 1);
    let part2 = data(1000, 2);
    let mut etags = Vec::new();
    for (n, (part, mode)) in [(&part1, MODES[2]), (&part2, MODES[3])]
        .into_iter()
        .enumerate()
    {
        let r = c
            .upload_part("modes", "mp", &id, n as u32 + 1, part, mode)
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        etags.push((n as u32 + 1, r.header("etag").unwrap().to_owned()));
    }
    let r = c.complete_multipart("modes", "mp", &id, &etags).unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let g = c.get_object("modes", "mp").unwrap();
    assert!(g.body.len() == part1.len() + part2.len());
    assert!(g.body[..part1.len()] == part1[..] && g.body[part1.len()..] == part2[..]);
    assert!(g.header("etag").unwrap().ends_with("-2\""));
}

#[test]
fn a_bad_chunk_signature_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(&tmp.path().join("data"), &creds_env());
    let mut c = client(node.addr);
    assert_eq!(c.create_bucket("tamper").unwrap().status, 200);
    let old = data(1000, 9);
    let r = c
        .put_object("tamper", "k", &old, PayloadMode::Signed)
        .unwrap();
    assert_eq!(r.status, 200);
    for mode in [
        PayloadMode::StreamingSigned { chunk: 4096 },
        PayloadMode::StreamingSignedTrailer { chunk: 4096 },
    ] {
        c.tamper_chunk_signature = true;
        for key in ["k", "fresh"] {
            let r = c
                .put_object("tamper", key, &data(100_000, 3), mode)
                .unwrap();
            assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
            assert!(
                String::from_utf8_lossy(&r.body).contains("<Code>SignatureDoesNotMatch</Code>"),
                "{}",
                String::from_utf8_lossy(&r.body)
            );
        }
        c.tamper_chunk_signature = false;
        let g = c.get_object("tamper", "k").unwrap();
        assert_eq!(g.status, 200);
        assert!(g.body == old, "a refused PUT changed the object");
        assert_eq!(c.get_object("tamper", "fresh").unwrap().status, 404);
    }
    assert_eq!(
        c.list_all("tamper", "").unwrap().unwrap(),
        vec!["k".to_string()]
    );
}

#[test]
fn presigned_urls_work_until_they_expire() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(&tmp.path().join("data"), &creds_env());
    let mut c = client(node.addr);
    assert_eq!(c.create_bucket("pre").unwrap().status, 200);
    let body = data(5000, 1);
    let key = "a b/ü+%?.txt";
    assert_eq!(
        c.put_object("pre", key, &body, PayloadMode::Unsigned)
            .unwrap()
            .status,
        200
    );
    let url = c.presign_get("pre", key, 60);
    let r = c.send_raw("GET", &url).unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body == body);
    // X-Amz-Expires=0 is refused outright (400); one second, then wait.
    let expired = c.presign_get("pre", key, 1);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let r = c.send_raw("GET", &expired).unwrap();
    assert_eq!(r.status, 403);
}

fn md5_of(data: &[u8]) -> u128 {
    use md5::Digest;
    u128::from_be_bytes(md5::Md5::digest(data).into())
}
