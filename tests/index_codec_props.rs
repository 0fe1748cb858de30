//! Property tests of the index codecs against a model: sort keys order
//! exactly as (object key, logical head first, versions newest first) and
//! round-trip; prefix seeks bound exactly the keys with that prefix; index
//! entries round-trip, and corrupt or truncated entries are typed errors.

use proptest::prelude::*;
use shale::index::entry::{EntryError, IndexEntry, PENDING_TAGS_MAX};
use shale::index::key::{encode_prefix, prefix_end, SortKey};
use shale::segment::RecordLoc;

fn object_key() -> impl Strategy<Value = Vec<u8>> {
    // Small alphabet with the bytes that matter to the escaping.
    proptest::collection::vec(
        prop_oneof![
            Just(0u8),
            Just(1),
            Just(0xFF),
            Just(b'a'),
            Just(b'/'),
            any::<u8>()
        ],
        0..6,
    )
}

fn sort_key() -> impl Strategy<Value = SortKey> {
    prop_oneof![
        object_key().prop_map(|key| SortKey::Head { key }),
        (object_key(), any::<[u8; 16]>())
            .prop_map(|(key, version)| SortKey::Version { key, version }),
    ]
}

/// The listing order the encoding must reproduce.
fn model_order(a: &SortKey, b: &SortKey) -> std::cmp::Ordering {
    let rank = |k: &SortKey| match k {
        SortKey::Head { key } => (key.clone(), 0u8, [0u8; 16]),
        SortKey::Version { key, version } => (key.clone(), 1, version.map(|b| !b)),
    };
    rank(a).cmp(&rank(b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sort_keys_round_trip_and_order_like_the_model(a in sort_key(), b in sort_key()) {
        prop_assert_eq!(SortKey::decode(&a.encode()).unwrap(), a.clone());
        prop_assert_eq!(a.encode().cmp(&b.encode()), model_order(&a, &b));
    }

    #[test]
    fn prefix_range_holds_exactly_the_keys_with_that_prefix(k in sort_key(), prefix in object_key()) {
        let enc = k.encode();
        let start = encode_prefix(&prefix);
        let in_range = enc >= start && prefix_end(&prefix).is_none_or(|end| enc < end);
        prop_assert_eq!(in_range, k.object_key().starts_with(&prefix));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = SortKey::decode(&b);
        let _ = IndexEntry::decode(&b);
    }

    #[test]
    fn entries_round_trip_and_truncation_is_detected(
        flags in any::<(bool, bool, bool, bool, bool)>(), class in 0u8..8, size in any::<u64>(), mtime in any::<u64>(),
        expiry in any::<u64>(), etag in any::<[u8; 16]>(), parts in any::<u16>(),
        seg in any::<u64>(), off in any::<u64>(), len in any::<u32>(), version in any::<[u8; 16]>(),
        pending in proptest::collection::btree_set(any::<u64>(), 0..5), cut in any::<prop::sample::Index>(),
    ) {
        let pending: Vec<u64> = pending.into_iter().collect();
        let e = IndexEntry {
            placeholder: flags.2 && !pending.is_empty(),
            delete_marker: flags.0, current: flags.1, versioned: flags.3, expires_to_marker: flags.4, storage_class: class, size, mtime_nanos: mtime,
            expiry_slot: expiry, etag, etag_parts: parts,
            head: RecordLoc { segment: seg, offset: off, len }, version_id: version,
            pending,
            // A locked entry (flag bit 6) now and then.
            lock: match size % 4 {
                0 => shale::s3::object_lock::ObjectLock::default(),
                1 => shale::s3::object_lock::ObjectLock { retention: None, legal_hold: true },
                m => shale::s3::object_lock::ObjectLock {
                    retention: Some(shale::s3::object_lock::Retention {
                        mode: if m == 2 { shale::s3::object_lock::LockMode::Governance } else { shale::s3::object_lock::LockMode::Compliance },
                        until_secs: mtime.max(1),
                    }),
                    legal_hold: mtime % 2 == 0,
                },
            },
        };
        let mut b = Vec::new();
        e.encode(&mut b).unwrap();
        prop_assert_eq!(b.len(), e.encoded_len());
        prop_assert_eq!(IndexEntry::decode(&b).unwrap(), e);
        let is_truncated = matches!(IndexEntry::decode(&b[..cut.index(b.len())]), Err(EntryError::Truncated { .. }));
        prop_assert!(is_truncated);
    }
}

#[test]
fn malformed_entries_are_typed_errors() {
    let e = IndexEntry {
        pending: vec![5],
        ..IndexEntry::default()
    };
    let mut b = Vec::new();
    e.encode(&mut b).unwrap();
    let mut bad = b.clone();
    bad[0] &= !1; // pending flag cleared, tag still there
    assert_eq!(IndexEntry::decode(&bad), Err(EntryError::PendingMismatch));
    let mut bad = b.clone();
    bad[0] |= 0x80;
    assert_eq!(
        IndexEntry::decode(&bad),
        Err(EntryError::UnknownFlags(0x80))
    );
    let mut bad = b.clone();
    bad[1] = 9;
    assert_eq!(
        IndexEntry::decode(&bad),
        Err(EntryError::UnknownStorageClass(9))
    );
    let mut bad = b.clone();
    bad.push(0);
    assert_eq!(
        IndexEntry::decode(&bad),
        Err(EntryError::TrailingBytes { extra: 1 })
    );
    let too_many = IndexEntry {
        pending: (0..=PENDING_TAGS_MAX as u64).collect(),
        ..IndexEntry::default()
    };
    assert!(matches!(
        too_many.encode(&mut Vec::new()),
        Err(EntryError::TooManyPending(_))
    ));
    let unordered = IndexEntry {
        pending: vec![3, 2],
        ..IndexEntry::default()
    };
    assert_eq!(
        unordered.encode(&mut Vec::new()),
        Err(EntryError::PendingUnordered)
    );
}

#[test]
fn keys_with_nul_bytes_and_prefixes_sort_as_s3_lists_them() {
    let head = |k: &[u8]| SortKey::Head { key: k.to_vec() }.encode();
    let keys: [&[u8]; 5] = [b"a", b"a\0", b"a\0b", b"a\x01", b"ab"];
    for w in keys.windows(2) {
        assert!(head(w[0]) < head(w[1]), "{:?} < {:?}", w[0], w[1]);
    }
    let newer = SortKey::Version {
        key: b"k".to_vec(),
        version: [9; 16],
    }
    .encode();
    let older = SortKey::Version {
        key: b"k".to_vec(),
        version: [1; 16],
    }
    .encode();
    assert!(head(b"k") < newer && newer < older && older < head(b"k\x01"));
}

#[test]
fn shard_of_is_stable_and_in_range() {
    // The value itself is pinned by the vector in format-spec/index.md.
    for i in 0..1000u32 {
        assert!(shale::index::shard_of(&i.to_le_bytes(), 11) < 11);
    }
}
