//! The bucket record decoder never panics, and what decodes encodes
//! again to exactly the same bytes: v1 has no ignored bytes (reserved
//! bytes 6..8 must be zero, format-spec/object.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::object::bucket_meta::BucketMeta;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = BucketMeta::decode(data) {
        assert_eq!(m.encode().unwrap(), data);
    }
});
