//! The test vectors in format-spec/segment.md match what the code encodes
//! and decodes, byte for byte.

mod common;

use common::spec::unhex;
use std::collections::HashMap;

use shale::segment::format::{self, RecordKind, SegmentHeader};

fn num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

fn vectors() -> Vec<HashMap<String, String>> {
    common::spec::vectors("segment.md")
}

#[test]
fn spec_vectors_match_the_code() {
    let vs = vectors();
    assert!(
        vs.len() >= 5,
        "expected the spec's vectors, found {}",
        vs.len()
    );
    for v in vs {
        let name = &v["name"];
        let want = unhex(&v["hex"]);
        let seg = num(&v["segment_id"]);
        if name == "header" {
            let h = SegmentHeader {
                segment_id: seg,
                base_batch: num(&v["base_batch"]),
                created_nanos: num(&v["created_nanos"]),
            };
            assert_eq!(format::encode_header(&h).to_vec(), want, "{name}");
            assert_eq!(format::decode_header(&want).unwrap(), h, "{name}");
            continue;
        }
        let kind = RecordKind::from_u8(num(&v["kind"]) as u8).unwrap();
        let batch = num(&v["batch"]);
        let payload = unhex(&v["payload_hex"]);
        let mut got = Vec::new();
        format::encode_record(&mut got, seg, kind, batch, &payload);
        assert_eq!(got, want, "{name}");
        let rec = format::decode_record(seg, &want).unwrap();
        assert_eq!(
            (rec.kind, rec.batch, rec.payload),
            (kind, batch, &payload[..]),
            "{name}"
        );
        if kind == RecordKind::Seal {
            let seal = format::decode_seal(rec.payload).unwrap();
            assert_eq!(format::encode_seal(&seal).to_vec(), payload);
        }
    }
}
