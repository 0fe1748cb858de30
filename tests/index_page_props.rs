//! Property tests of B+tree node pages: leaves and branches round-trip,
//! search agrees with a sorted model, and any bit flip, a page read at the
//! wrong position, or arbitrary bytes are typed errors, never a panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shale::index::page::{encode_branch, encode_leaf, Page, PageError, PageKind, PAGE_SIZE};

fn leaf_model() -> impl Strategy<Value = BTreeMap<Vec<u8>, Vec<u8>>> {
    proptest::collection::btree_map(
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 0..80),
        0..30,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn leaves_round_trip_and_search_like_the_model(model in leaf_model(), probe in proptest::collection::vec(any::<u8>(), 0..40),
                                                   id in any::<u64>(), txn in any::<u64>()) {
        let cells: Vec<(&[u8], &[u8])> = model.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let bytes = encode_leaf(id, txn, &cells).unwrap();
        let page = Page::decode(&bytes, id).unwrap();
        prop_assert_eq!((page.kind, page.count, page.txn, page.level), (PageKind::Leaf, model.len(), txn, 0));
        for (i, (k, v)) in model.iter().enumerate() {
            prop_assert_eq!(page.key(i), &k[..]);
            prop_assert_eq!(page.value(i), &v[..]);
        }
        let want = model.keys().position(|k| k == &probe).ok_or(model.range(..probe.clone()).count());
        prop_assert_eq!(page.search(&probe), want);
    }

    #[test]
    fn any_bit_flip_or_wrong_position_is_detected(model in leaf_model(), bit in any::<prop::sample::Index>(), id in any::<u64>()) {
        let cells: Vec<(&[u8], &[u8])> = model.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let mut bytes = encode_leaf(id, 1, &cells).unwrap();
        prop_assert!(Page::decode(&bytes, id.wrapping_add(1)).is_err());
        let i = bit.index(PAGE_SIZE * 8);
        bytes[i / 8] ^= 1 << (i % 8);
        prop_assert!(Page::decode(&bytes, id).is_err());
    }

    #[test]
    fn branches_route_keys_to_the_right_child(seps in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 1..20), 0..40),
                                              probe in proptest::collection::vec(any::<u8>(), 0..20)) {
        let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
        keys.extend(seps);
        let cells: Vec<(&[u8], u64)> = keys.iter().enumerate().map(|(i, k)| (&k[..], 100 + i as u64)).collect();
        let bytes = encode_branch(7, 1, 1, &cells).unwrap();
        let page = Page::decode(&bytes, 7).unwrap();
        let want = keys.iter().rposition(|k| k.as_slice() <= probe.as_slice()).unwrap();
        prop_assert_eq!(page.child(page.child_for(&probe)), 100 + want as u64);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut b in proptest::collection::vec(any::<u8>(), PAGE_SIZE..=PAGE_SIZE), fix_header in any::<bool>()) {
        if fix_header {
            // Get past magic and checksum so the cell checks are exercised.
            b[..4].copy_from_slice(b"SIXP");
            b[24..32].copy_from_slice(&9u64.to_le_bytes());
            let c = crc32c::crc32c_append(crc32c::crc32c(&b[8..]), &9u64.to_le_bytes());
            b[4..8].copy_from_slice(&c.to_le_bytes());
        }
        if let Ok(p) = Page::decode(&b, 9) {
            for i in 0..p.count {
                let _ = (p.key(i), p.value(i));
            }
        }
    }
}

#[test]
fn oversized_or_unordered_cells_are_refused() {
    let big = vec![0u8; 3000];
    let r = encode_leaf(1, 1, &[(b"a", &big[..]), (b"b", &big[..])]);
    assert!(matches!(r, Err(PageError::DoesNotFit { .. })));
    let r = encode_leaf(1, 1, &[(b"b", b""), (b"a", b"")]);
    assert_eq!(r, Err(PageError::Unordered { index: 1 }));
    let r = encode_branch(1, 1, 1, &[(b"x", 5)]);
    assert!(matches!(r, Err(PageError::BadCell { index: 0 })));
}
