//! The index entry and sort-key decoders never panic, and what decodes
//! re-encodes to the same bytes, locked entries (flag bit 6, the lock
//! section) included. (The bilog decoder has its own target.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = IndexEntry::decode(data) {
        let mut again = Vec::new();
        e.encode(&mut again).unwrap();
        assert_eq!(again, data);
    }
    if let Ok(k) = SortKey::decode(data) {
        assert_eq!(k.encode(), data);
    }
});
