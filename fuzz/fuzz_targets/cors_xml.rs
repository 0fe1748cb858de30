//! PutBucketCors's body parser: no panics, only the documented error
//! codes, what parses is valid (within the rule cap, known methods) and
//! renders to the stored document that parses back to the same rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::s3::cors::{METHODS, RULES_MAX};
use shale::s3::xml::{cors, parse_cors};
use shale::s3::S3ErrorCode;

fuzz_target!(|data: &[u8]| {
    match parse_cors(data) {
        Ok(c) => {
            assert!((1..=RULES_MAX).contains(&c.rules.len()));
            assert!(c
                .rules
                .iter()
                .all(|r| r.allowed_methods.iter().all(|m| METHODS.contains(&m.as_str()))));
            assert!(c.validate().is_ok());
            let stored = cors(&c);
            assert_eq!(parse_cors(stored.as_bytes()).ok(), Some(c));
        }
        Err(e) => assert!(matches!(
            e.code,
            S3ErrorCode::MalformedXML | S3ErrorCode::InvalidRequest
        )),
    }
});
