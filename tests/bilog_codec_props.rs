//! Bucket index log entries round-trip, and malformed ones are typed
//! errors: an unknown op, an entry where none belongs (or missing where
//! one must be), truncation anywhere, arbitrary bytes.

use proptest::prelude::*;
use shale::index::bilog::{BilogEntry, BilogError, BilogOp};
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;

fn op() -> impl Strategy<Value = BilogOp> {
    prop_oneof![
        Just(BilogOp::Prepare),
        Just(BilogOp::Complete),
        Just(BilogOp::Cancel),
        Just(BilogOp::Suggest)
    ]
}

fn entry_for(op: BilogOp, size: u64) -> Option<IndexEntry> {
    // Complete and suggest carry an entry unless the key ends with none.
    (op.may_carry_entry() && !size.is_multiple_of(3)).then(|| IndexEntry {
        size,
        current: true,
        ..IndexEntry::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn entries_round_trip_and_truncation_is_detected(op in op(), gen in any::<u32>(), marker in any::<u64>(), tag in any::<u64>(),
            mtime in any::<u64>(), zone in any::<u64>(), key in proptest::collection::vec(any::<u8>(), 0..50),
            version in proptest::option::of(any::<[u8; 16]>()), size in any::<u64>(), cut in any::<prop::sample::Index>()) {
        let key = match version { Some(version) => SortKey::Version { key, version }, None => SortKey::Head { key } };
        let e = BilogEntry { op, generation: gen, marker, tag, mtime_nanos: mtime, source_zone: zone, key, entry: entry_for(op, size) };
        let mut b = Vec::new();
        e.encode(&mut b).unwrap();
        prop_assert_eq!(BilogEntry::decode(&b).unwrap(), e);
        prop_assert!(BilogEntry::decode(&b[..cut.index(b.len())]).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = BilogEntry::decode(&b);
    }
}

#[test]
fn prepare_and_cancel_never_carry_an_entry() {
    let base = BilogEntry {
        op: BilogOp::Prepare,
        generation: 0,
        marker: 1,
        tag: 9,
        mtime_nanos: 0,
        source_zone: 0,
        key: SortKey::Head { key: b"k".to_vec() },
        entry: Some(IndexEntry::default()),
    };
    assert!(matches!(
        base.encode(&mut Vec::new()),
        Err(BilogError::UnexpectedEntry { .. })
    ));
    // A complete without an entry is a delete.
    let delete = BilogEntry {
        op: BilogOp::Complete,
        entry: None,
        ..base.clone()
    };
    let mut b = Vec::new();
    delete.encode(&mut b).unwrap();
    assert_eq!(BilogEntry::decode(&b).unwrap(), delete);
    // A prepare on disk followed by stray bytes is refused, not ignored.
    let prepare = BilogEntry {
        entry: None,
        ..base
    };
    let mut b = Vec::new();
    prepare.encode(&mut b).unwrap();
    b.extend_from_slice(&[0u8; 81]);
    assert!(matches!(
        BilogEntry::decode(&b),
        Err(BilogError::TrailingBytes { extra: 81 })
    ));
    // A prepare that claims an index entry is refused too.
    b[1] = 1;
    assert!(matches!(
        BilogEntry::decode(&b),
        Err(BilogError::UnexpectedEntry { .. })
    ));
    let mut bad = Vec::new();
    prepare.encode(&mut bad).unwrap();
    bad[0] = 9;
    assert_eq!(BilogEntry::decode(&bad), Err(BilogError::UnknownOp(9)));
}

#[test]
fn spec_vector_matches_the_code() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/format-spec/bilog.md"))
            .unwrap();
    let hex = spec.lines().find_map(|l| l.strip_prefix("hex: ")).unwrap();
    let want: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let e = BilogEntry {
        op: BilogOp::Prepare,
        generation: 1,
        marker: 42,
        tag: 7,
        mtime_nanos: 1_795_312_496_000_000_001,
        source_zone: 3,
        key: SortKey::Head { key: b"k".to_vec() },
        entry: None,
    };
    let mut b = Vec::new();
    e.encode(&mut b).unwrap();
    assert_eq!(b, want);
    assert_eq!(BilogEntry::decode(&want).unwrap(), e);
}
