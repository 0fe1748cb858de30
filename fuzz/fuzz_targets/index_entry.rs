//! The index entry, sort-key and bilog entry decoders never panic, and what decodes
//! re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::index::bilog::BilogEntry;
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = IndexEntry::decode(data) {
        let mut again = Vec::new();
        e.encode(&mut again).unwrap();
        assert_eq!(again, data);
    }
    if let Ok(b) = BilogEntry::decode(data) {
        let mut again = Vec::new();
        b.encode(&mut again).unwrap();
        assert_eq!(again, data);
    }
    if let Ok(k) = SortKey::decode(data) {
        assert_eq!(k.encode(), data);
    }
});
