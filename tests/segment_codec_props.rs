//! Property tests of the segment record and header codecs: they round-trip,
//! and every single-bit flip and every truncation is detected.

use proptest::prelude::*;
use shale::segment::format::{self, RecordKind, SegmentHeader, RECORD_HEADER_LEN};

fn kind() -> impl Strategy<Value = RecordKind> {
    prop_oneof![
        Just(RecordKind::DataChunk),
        Just(RecordKind::ObjectHead),
        Just(RecordKind::Tombstone),
        Just(RecordKind::Seal),
        Just(RecordKind::LogEntry),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn record_round_trips(seg in any::<u64>(), k in kind(), batch in any::<u64>(),
                          payload in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut buf = Vec::new();
        format::encode_record(&mut buf, seg, k, batch, &payload);
        prop_assert_eq!(buf.len() as u64, format::record_footprint(payload.len() as u32));
        prop_assert_eq!(buf.len() % 8, 0);
        let r = format::decode_record(seg, &buf).unwrap();
        prop_assert_eq!(r.kind, k);
        prop_assert_eq!(r.batch, batch);
        prop_assert_eq!(r.payload, &payload[..]);
    }

    #[test]
    fn any_bit_flip_in_a_record_is_detected(seg in any::<u64>(), k in kind(), batch in any::<u64>(),
            payload in proptest::collection::vec(any::<u8>(), 0..512), bit in any::<prop::sample::Index>()) {
        let mut buf = Vec::new();
        format::encode_record(&mut buf, seg, k, batch, &payload);
        // Padding is not part of the record; flip within header + payload.
        let len = RECORD_HEADER_LEN + payload.len();
        let i = bit.index(len * 8);
        buf[i / 8] ^= 1 << (i % 8);
        prop_assert!(format::decode_record(seg, &buf).is_err());
    }

    #[test]
    fn a_record_from_another_segment_is_rejected(seg in any::<u64>(), other in any::<u64>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assume!(seg != other);
        let mut buf = Vec::new();
        format::encode_record(&mut buf, seg, RecordKind::DataChunk, 1, &payload);
        let is_mismatch = matches!(format::decode_record(other, &buf),
            Err(format::FormatError::ChecksumMismatch { .. }));
        prop_assert!(is_mismatch);
    }

    #[test]
    fn any_truncation_of_a_record_is_detected(seg in any::<u64>(), batch in any::<u64>(),
            payload in proptest::collection::vec(any::<u8>(), 0..512), cut in any::<prop::sample::Index>()) {
        let mut buf = Vec::new();
        format::encode_record(&mut buf, seg, RecordKind::DataChunk, batch, &payload);
        let len = RECORD_HEADER_LEN + payload.len();
        let keep = cut.index(len);
        prop_assert!(format::decode_record(seg, &buf[..keep]).is_err());
    }

    #[test]
    fn header_round_trips_and_detects_flips_and_cuts(seg in any::<u64>(), base in any::<u64>(),
            created in any::<u64>(), bit in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let h = SegmentHeader { segment_id: seg, base_batch: base, created_nanos: created };
        let b = format::encode_header(&h);
        prop_assert_eq!(format::decode_header(&b).unwrap(), h);
        let mut flipped = b;
        let i = bit.index(b.len() * 8);
        flipped[i / 8] ^= 1 << (i % 8);
        prop_assert!(format::decode_header(&flipped).is_err());
        prop_assert!(format::decode_header(&b[..cut.index(b.len())]).is_err());
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(seg in any::<u64>(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = format::decode_record(seg, &bytes);
        let _ = format::decode_header(&bytes);
        let _ = shale::segment::scan::scan_segment(&bytes[..], |_, _| {});
    }
}

#[test]
fn unknown_version_is_refused() {
    let h = SegmentHeader {
        segment_id: 1,
        base_batch: 1,
        created_nanos: 0,
    };
    let mut b = format::encode_header(&h);
    b[8] = 2;
    let crc = crc32c::crc32c(&b[..60]);
    b[60..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        format::decode_header(&b),
        Err(format::FormatError::UnknownVersion(2))
    );
}

#[test]
fn oversized_length_is_refused_before_reading_payload() {
    let mut buf = Vec::new();
    format::encode_record(&mut buf, 1, RecordKind::DataChunk, 1, b"x");
    buf[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        format::decode_record_header(&buf),
        Err(format::FormatError::PayloadTooLarge { .. })
    ));
}
