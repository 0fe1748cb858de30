//! The recovery scan over arbitrary bytes never panics and reports a
//! consistent end. Inputs are usually given a valid header so the fuzzer
//! gets past it and into the records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::segment::format::{self, SegmentHeader, HEADER_LEN};
use shale::segment::scan::{scan_segment, Tail};

fuzz_target!(|data: &[u8]| {
    let mut file = Vec::with_capacity(data.len() + HEADER_LEN);
    if data.first().is_some_and(|b| b & 1 == 0) {
        let h = SegmentHeader {
            segment_id: 1,
            base_batch: 1,
            created_nanos: 0,
        };
        file.extend_from_slice(&format::encode_header(&h));
        file.extend_from_slice(data.get(1..).unwrap_or_default());
    } else {
        file.extend_from_slice(data);
    }
    let mut last_end = HEADER_LEN as u64;
    if let Ok(report) = scan_segment(&file[..], |info, payload| {
        assert!(info.offset >= last_end);
        assert_eq!(payload.len(), info.payload_len as usize);
        last_end = info.offset + format::record_footprint(info.payload_len);
    }) {
        assert!(report.valid_end >= HEADER_LEN as u64);
        match report.tail {
            Tail::Clean => assert!(report.valid_end >= report.file_len),
            Tail::Torn { offset, .. } | Tail::Corrupt { offset, .. } => {
                assert_eq!(offset, report.valid_end)
            }
        }
    }
});
