//! The Range header parser never panics, and whatever it accepts resolves,
//! against any object size, to bytes inside the object or to 416.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::s3::range::{parse_range, resolve, RangeSpec};
use shale::s3::S3ErrorCode;

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes are the object size, the rest the header.
    let (size, header) = match data.split_first_chunk::<8>() {
        Some((size, rest)) => (u64::from_le_bytes(*size), rest),
        None => (0, data),
    };
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let Some(spec) = parse_range(header).unwrap() else {
        return;
    };
    if let RangeSpec::FromTo(first, last) = spec {
        assert!(first <= last);
    }
    // A small size too, so satisfiable ranges are common.
    for size in [size, size % 1024, 0] {
        match resolve(spec, size) {
            Ok((first, last)) => assert!(first <= last && last < size),
            Err(e) => assert_eq!(e.code, S3ErrorCode::InvalidRange),
        }
    }
});
