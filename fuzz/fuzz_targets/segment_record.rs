//! The record and header decoders never panic, and whatever decodes
//! re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::segment::format;

fuzz_target!(|data: &[u8]| {
    let seg = data.first().map_or(0, |&b| u64::from(b));
    let bytes = data.get(1..).unwrap_or_default();
    if let Ok(r) = format::decode_record(seg, bytes) {
        let mut again = Vec::new();
        format::encode_record(&mut again, seg, r.kind, r.batch, r.payload);
        let len = format::RECORD_HEADER_LEN + r.payload.len();
        assert_eq!(&again[..len], &bytes[..len]);
        if r.kind == format::RecordKind::Seal {
            let _ = format::decode_seal(r.payload);
        }
    }
    if let Ok(h) = format::decode_header(bytes) {
        assert_eq!(&format::encode_header(&h)[..], &bytes[..format::HEADER_LEN]);
    }
});
