//! Meta pages round-trip, verify their slot, and any bit flip or torn
//! write of one slot leaves the shard on the other (the older commit):
//! `choose` never picks a meta that did not verify.

use proptest::prelude::*;
use shale::index::meta::{choose, Meta, MetaError};
use shale::index::page::PAGE_SIZE;

fn meta() -> impl Strategy<Value = Meta> {
    (
        any::<u64>(),
        3u64..1 << 40,
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        1u32..64,
        any::<u32>(),
    )
        .prop_flat_map(
            |(txn, page_count, marker, objects, bytes, shard_count, generation)| {
                (0..page_count, 0..page_count, 0..shard_count).prop_map(
                    move |(root, free, shard)| Meta {
                        shard,
                        txn,
                        root: if root < 2 { 0 } else { root },
                        page_count,
                        free_list: if free < 2 { 0 } else { free },
                        checkpoint_marker: marker,
                        objects,
                        bytes,
                        shard_count,
                        generation,
                    },
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn meta_round_trips_only_in_its_slot(m in meta()) {
        let b = m.encode();
        prop_assert_eq!(Meta::decode(&b, m.slot()).unwrap(), m);
        prop_assert!(Meta::decode(&b, 1 - m.slot()).is_err());
    }

    #[test]
    fn a_damaged_newer_meta_falls_back_to_the_older(m in meta(), bit in any::<prop::sample::Index>(), cut in 0usize..PAGE_SIZE) {
        prop_assume!(m.txn > 0);
        let older = Meta { txn: m.txn - 1, ..m };
        let mut newer = m.encode();
        let i = bit.index(PAGE_SIZE * 8);
        newer[i / 8] ^= 1 << (i % 8);
        let (s_new, s_old) = (m.slot(), older.slot());
        let pick = |new_bytes: &[u8]| {
            let new = Meta::decode(new_bytes, s_new);
            let old = Meta::decode(&older.encode(), s_old);
            if s_new == 0 { choose(new, old) } else { choose(old, new) }
        };
        prop_assert_eq!(pick(&newer).unwrap(), older);
        // Torn: only a prefix of the new meta reached the disk over zeros.
        let mut torn = vec![0u8; PAGE_SIZE];
        torn[..cut].copy_from_slice(&m.encode()[..cut]);
        // (A prefix that already holds every non-zero byte is the whole meta.)
        let want = if torn == m.encode() { m } else { older };
        prop_assert_eq!(pick(&torn).unwrap(), want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), PAGE_SIZE..=PAGE_SIZE)) {
        let _ = Meta::decode(&b, 0);
    }
}

#[test]
fn unknown_version_and_inconsistent_metas_are_refused() {
    let m = Meta {
        txn: 4,
        page_count: 10,
        root: 5,
        shard_count: 11,
        ..Meta::default()
    };
    let fix_crc = |b: &mut Vec<u8>| {
        let c = crc32c::crc32c_append(crc32c::crc32c(&b[8..]), &0u64.to_le_bytes());
        b[4..8].copy_from_slice(&c.to_le_bytes());
    };
    let mut b = m.encode();
    b[8] = 2;
    fix_crc(&mut b);
    assert_eq!(Meta::decode(&b, 0), Err(MetaError::UnknownVersion(2)));
    let mut b = Meta { root: 10, ..m }.encode();
    fix_crc(&mut b);
    assert!(matches!(
        Meta::decode(&b, 0),
        Err(MetaError::Inconsistent(_))
    ));
    assert!(choose(Err(MetaError::WrongSize(1)), Err(MetaError::WrongSize(2))).is_err());
}

proptest! {
    #[test]
    fn layout_round_trips_and_any_bit_flip_is_refused(
        generation in any::<u32>(), shard_count in 1u32..=65_521, base in any::<u64>(),
        prev in any::<u32>(), prev_count in any::<u32>(), created in any::<u64>(), bit in 0usize..48 * 8,
    ) {
        use shale::index::layout::Layout;
        let l = Layout { generation, shard_count, base_marker: base, prev_generation: prev, prev_shard_count: prev_count, created_nanos: created };
        let b = l.encode();
        prop_assert_eq!(Layout::decode(&b).unwrap(), l);
        let mut bad = b;
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(Layout::decode(&bad).is_err());
        prop_assert!(Layout::decode(&b[..47]).is_err());
    }
}
