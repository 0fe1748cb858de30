//! The test vectors in format-spec/wal.md match what the code encodes and
//! decodes, byte for byte: the node log's index step records and its
//! replay point.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::spec::unhex;
use shale::index::bilog::BilogEntry;
use shale::index::wal::{decode_replay_point, encode_replay_point, ShardName, WalStep};

fn num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

/// The step a vector describes (its shard fields and bilog entry).
fn step_of(v: &HashMap<String, String>) -> WalStep {
    WalStep {
        shard: ShardName {
            bucket: Arc::from(v["bucket"].as_str()),
            instance: num(&v["instance"]),
            generation: num(&v["generation"]) as u32,
            shard: num(&v["shard"]) as u32,
        },
        entry: BilogEntry::decode(&unhex(&v["entry_hex"])).unwrap(),
    }
}

fn vectors() -> Vec<HashMap<String, String>> {
    common::spec::vectors("wal.md")
}

#[test]
fn wal_spec_vectors_match_the_code() {
    let vs = vectors();
    assert!(
        vs.len() >= 2,
        "expected the spec's vectors, found {}",
        vs.len()
    );
    for v in vs {
        let name = &v["name"];
        let want = unhex(&v["hex"]);
        if name.starts_with("replay point") {
            let at = (num(&v["segment"]), num(&v["offset"]));
            assert_eq!(encode_replay_point(at.0, at.1).to_vec(), want, "{name}");
            assert_eq!(decode_replay_point(&want).unwrap(), at, "{name}");
            continue;
        }
        let step = step_of(&v);
        let mut got = Vec::new();
        step.encode(&mut got).unwrap();
        assert_eq!(hex(&got), hex(&want), "{name}");
        assert_eq!(WalStep::decode(&want).unwrap(), step, "{name}");
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Prints the vectors' bytes (run with --ignored --nocapture to regenerate).
#[test]
#[ignore]
fn print_vectors() {
    let p = encode_replay_point(3, 0x1000);
    println!("replay {}", hex(&p));
    for v in vectors()
        .into_iter()
        .filter(|v| v.contains_key("entry_hex"))
    {
        let step = step_of(&v);
        let mut got = Vec::new();
        step.encode(&mut got).unwrap();
        println!("{} {}", v["name"], hex(&got));
    }
}
