//! Model-based test of the copy-on-write B+tree: random inserts,
//! overwrites and deletes (keys and values up to the size limits, so pages
//! split into 2 or 3 pieces) against a BTreeMap. After every step point
//! lookups and ordered scans from random starts agree with the model; the
//! previous root still reads as the previous state (copy-on-write); and no
//! page leaks (live pages stay bounded by what the entries need).

use std::collections::BTreeMap;

use proptest::prelude::*;
use shale::index::tree::{self, MemPages, PageRead};

#[derive(Clone, Debug)]
enum Op {
    Put(Vec<u8>, usize),
    Delete(Vec<u8>),
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(0u8..8, 1..6),
        1 => (0u8..8, 1000usize..2100).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (key(), prop_oneof![8 => 0usize..100, 1 => 100usize..337]).prop_map(|(k, n)| Op::Put(k, n)),
        1 => key().prop_map(Op::Delete),
    ]
}

fn snapshot(store: &MemPages, root: Option<u64>) -> Vec<(Vec<u8>, Vec<u8>)> {
    tree::scan(store, root, b"", usize::MAX).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn tree_matches_a_btreemap(ops in proptest::collection::vec(op(), 1..300), probes in proptest::collection::vec(key(), 5)) {
        let mut store = MemPages::default();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut root = None;
        for (txn, op) in ops.iter().enumerate() {
            let before_root = root;
            let before: Vec<_> = model.clone().into_iter().collect();
            let (new_root, _) = match op {
                Op::Put(k, n) => {
                    let v = vec![txn as u8; *n];
                    model.insert(k.clone(), v.clone());
                    let r = tree::upsert(&mut store, root, txn as u64, k, Some(&v)).unwrap();
                    prop_assert!(r.1, "a put always writes");
                    r
                }
                Op::Delete(k) => {
                    let existed = model.remove(k).is_some();
                    let r = tree::upsert(&mut store, root, txn as u64, k, None).unwrap();
                    prop_assert_eq!(r.1, existed);
                    r
                }
            };
            root = new_root;
            // Copy-on-write: freed pages are not reused by this store, so
            // the old root must still read as the old state.
            prop_assert_eq!(snapshot(&store, before_root), before);
        }
        let all: Vec<_> = model.clone().into_iter().collect();
        prop_assert_eq!(snapshot(&store, root), all);
        for p in &probes {
            prop_assert_eq!(tree::get(&store, root, p).unwrap(), model.get(p).cloned());
            let want: Vec<_> = model.range(p.clone()..).take(7).map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(tree::scan(&store, root, p, 7).unwrap(), want);
        }
        // No leak: every live page is reachable (bounded by entry bytes).
        let bytes: usize = model.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
        prop_assert!(store.live_pages() <= 4 * (bytes / 2000 + 1) + 8, "{} live pages for {} bytes", store.live_pages(), bytes);
        if model.is_empty() {
            prop_assert_eq!(root, None);
        }
    }
}

#[test]
fn a_hundred_thousand_sequential_keys_build_a_shallow_tree() {
    let mut store = MemPages::default();
    let mut root = None;
    for i in 0..100_000u32 {
        let k = format!("photos/{i:08}.jpg");
        root = tree::upsert(
            &mut store,
            root,
            u64::from(i),
            k.as_bytes(),
            Some(&[7u8; 81]),
        )
        .unwrap()
        .0;
    }
    assert_eq!(
        tree::get(&store, root, b"photos/00054321.jpg").unwrap(),
        Some(vec![7u8; 81])
    );
    let page = shale::index::page::Page::decode(store.page(root.unwrap()).unwrap(), root.unwrap())
        .unwrap()
        .level;
    assert!(page <= 3, "depth {page}");
    assert_eq!(
        tree::scan(&store, root, b"photos/00099998", 10)
            .unwrap()
            .len(),
        2
    );
}
