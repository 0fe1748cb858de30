//! The job log entry decoder never panics, and whatever it accepts
//! encodes back to exactly the same bytes and applies to a job table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::jobs::record::JobEntry;
use shale::jobs::table::JobTable;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = JobEntry::decode(data) {
        assert_eq!(e.encode().expect("a decoded entry encodes"), data);
        let mut t = JobTable::default();
        t.apply(&e);
    }
});
