//! The parsers of request headers added for conditional requests, copies
//! and additional checksums never panic: `x-amz-checksum-*` /
//! `x-amz-trailer` / `x-amz-sdk-checksum-algorithm` (and the check of a
//! trailer value), `If-*` on reads and writes, `x-amz-copy-source` and
//! `x-amz-copy-source-range`, `x-amz-tagging`, `X-Delete-At` and
//! `X-Delete-After`. Whatever they accept is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::s3::checksum::Expected;
use shale::s3::conditional::{ReadConditions, WriteCondition};
use shale::s3::copy_source::{parse_copy_range, parse_copy_source};

const NAMES: [&str; 12] = [
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-trailer",
    "x-amz-sdk-checksum-algorithm",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "x-amz-copy-source",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Lines `N:value`: N picks the header name.
    let headers: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            let i = n.bytes().fold(0usize, |a, b| a.wrapping_add(b as usize));
            Some((NAMES[i % NAMES.len()], v))
        })
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
    if let Ok(Some(e)) = Expected::from_headers(headers.iter().map(|(k, _)| *k), get) {
        if let Some(v) = &e.value {
            assert_eq!(v.len(), e.algorithm.digest_len());
        }
        let digest = e.algorithm.digest(data);
        let _ = e.verify(&digest, get("x-amz-trailer"));
        let _ = e.verify(&digest, None);
    }
    let r = ReadConditions::from_headers(get);
    for mtime in [0, 1_795_334_400, u64::MAX] {
        let _ = r.evaluate(text, mtime);
    }
    if let Ok(Some(w)) = WriteCondition::from_headers(get) {
        let _ = w.check(None);
        let _ = w.check(Some(text));
    }
    if let Ok(s) = parse_copy_source(text) {
        assert!(!s.bucket.is_empty() && !s.key.is_empty());
    }
    for size in [0, 1, 1024, u64::MAX] {
        if let Ok((first, last)) = parse_copy_range(text, size) {
            assert!(first <= last && last < size);
        }
    }
    // x-amz-tagging: what parses is a valid tag set that its stored form
    // gives back.
    if let Ok(tags) = shale::s3::tagging::parse_header(text) {
        let stored = shale::s3::tagging::with_tags(&[], &tags);
        assert_eq!(shale::s3::tagging::tags_in(&stored), tags);
    }
    // X-Delete-At / X-Delete-After: a future time that fits the head.
    for now in [0u64, 1_800_000_000] {
        if let Ok(t) = shale::s3::delete_at::parse(Some(text), None, now) {
            assert!(u64::from(t) > now);
        }
        if let Ok(t) = shale::s3::delete_at::parse(None, Some(text), now) {
            assert!(u64::from(t) > now);
        }
    }
});
