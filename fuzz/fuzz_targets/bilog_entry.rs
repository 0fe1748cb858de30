//! The bucket index log decoder never panics on any bytes, what decodes
//! re-encodes to the same bytes, and the step it stands for can be
//! applied to any entry without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::index::bilog::BilogEntry;
use shale::index::entry::IndexEntry;
use shale::index::shard::step_of;
use shale::index::txn::apply_key;

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = BilogEntry::decode(data) {
        let mut again = Vec::new();
        b.encode(&mut again).unwrap();
        assert_eq!(again, data);
        let step = step_of(&b);
        let head = b.entry.clone();
        let _ = apply_key(None, &[], &step);
        let _ = apply_key(head.as_ref(), &[IndexEntry::default()], &step);
    }
});
