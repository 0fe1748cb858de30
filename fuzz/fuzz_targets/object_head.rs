//! The object head decoder never panics, and what decodes encodes again
//! to the same bytes, except the reserved bytes a v1 decoder ignores
//! (format-spec/object.md), which the encoder writes as zero.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::object::head::ObjectHead;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = ObjectHead::decode(data) {
        let again = h.encode().unwrap();
        assert_eq!(again.len(), data.len());
        assert_eq!(again.len(), h.encoded_len());
        let mut want = data.to_vec();
        want[70..72].fill(0);
        want[88..96].fill(0);
        let parts_at = want.len() - 16 * h.parts.len();
        for p in 0..h.parts.len() {
            let at = parts_at + 16 * p;
            want[at + 12..at + 16].fill(0);
        }
        assert_eq!(again, want);
        assert_eq!(ObjectHead::decode(&again).unwrap(), h);
    }
});
