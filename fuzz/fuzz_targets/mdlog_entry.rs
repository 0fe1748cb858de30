//! The metadata log entry decoder never panics, and whatever it accepts
//! encodes back to exactly the same bytes and applies to a table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::meta::mdlog::MdEntry;
use shale::meta::table::MetaTable;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = MdEntry::decode(data) {
        assert_eq!(e.encode().expect("a decoded entry encodes"), data);
        let mut t = MetaTable::default();
        t.apply(&e);
        let once = t.clone();
        t.apply(&e);
        assert_eq!(t, once, "applying twice changes nothing");
    }
});
