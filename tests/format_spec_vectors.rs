//! The test vectors in format-spec/segment.md match what the code encodes
//! and decodes, byte for byte.

use std::collections::HashMap;

use shale::segment::format::{self, RecordKind, SegmentHeader};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

fn vectors() -> Vec<HashMap<String, String>> {
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/format-spec/segment.md"
    ))
    .unwrap();
    let mut out = Vec::new();
    let mut cur: Option<HashMap<String, String>> = None;
    for line in spec.lines() {
        if line.trim() == "```vector" {
            cur = Some(HashMap::new());
        } else if line.trim() == "```" {
            if let Some(v) = cur.take() {
                out.push(v);
            }
        } else if let Some(v) = cur.as_mut() {
            let (k, val) = line.split_once(':').unwrap();
            v.insert(k.trim().to_string(), val.trim().to_string());
        }
    }
    out
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
