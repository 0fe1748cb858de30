//! The bucket record decoder never panics, and what decodes encodes again
//! to the same bytes, except the reserved bytes 6..8 a v1 decoder ignores
//! (format-spec/object.md), which the encoder writes as zero.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::object::bucket_meta::BucketMeta;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = BucketMeta::decode(data) {
        let again = m.encode().unwrap();
        assert_eq!(again.len(), data.len());
        assert_eq!(again[..6], data[..6]);
        assert_eq!(again[8..data.len() - 4], data[8..data.len() - 4]);
        assert_eq!(BucketMeta::decode(&again).unwrap(), m);
    }
});
