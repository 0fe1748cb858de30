//! The object head decoder never panics, and what decodes encodes again
//! to exactly the same bytes: v1 has no ignored bytes (reserved bytes
//! must be zero, format-spec/object.md), so a head has one encoding;
//! the same of the Object Lock section (version 3 heads, index entries)
//! and of the SSE section (version 4 heads; the first byte picks 0..=3
//! part numbers) on their own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::object::head::ObjectHead;
use shale::object::sse::{section_len, SseInfo};
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
    if let Some((&parts, rest)) = data.split_first() {
        let parts = usize::from(parts % 4);
        if let Some(section) = rest.get(..section_len(parts)) {
            if let Ok(s) = SseInfo::decode(section, parts) {
                assert_eq!(&s.encode()[..], section);
            }
        }
    }
});
