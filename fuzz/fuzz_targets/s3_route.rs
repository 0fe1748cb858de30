//! Routing a request never panics, whatever its query string: it is one
//! S3 operation (named, and the same one when asked twice) or a refusal
//! whose error renders.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use shale::s3::operation::{resolve, Shape};

const METHODS: [&str; 7] = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let query = String::from_utf8_lossy(rest);
    let Ok(method) = Method::from_bytes(METHODS[usize::from(flags) % METHODS.len()].as_bytes())
    else {
        return;
    };
    let shape = Shape {
        method: &method,
        bucket: (flags & 0x08 != 0).then_some("bucket"),
        key: flags & 0x10 != 0,
        query: &query,
        copy: flags & 0x20 != 0,
    };
    match resolve(&shape) {
        Ok(op) => {
            assert!(!op.name().is_empty());
            assert_eq!(resolve(&shape).ok(), Some(op));
        }
        Err(e) => {
            let _ = e.error();
        }
    }
});
