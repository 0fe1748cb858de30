//! The object head decoder never panics, and what decodes encodes again
//! to exactly the same bytes: v1 has no ignored bytes (reserved bytes
//! must be zero, format-spec/object.md), so a head has one encoding;
//! the same of the Object Lock section (version 3 heads, index entries)
//! on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::object::head::ObjectHead;
use shale::s3::object_lock::{ObjectLock, LOCK_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = ObjectHead::decode(data) {
        let again = h.encode().unwrap();
        assert_eq!(again.len(), h.encoded_len());
        assert_eq!(again, data);
    }
    if let Some(section) = data.get(..LOCK_LEN) {
        if let Ok(l) = ObjectLock::decode(section) {
            assert_eq!(&l.encode()[..], section);
        }
    }
});
