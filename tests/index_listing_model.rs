//! Listing across shards against a naive model: for random keys spread
//! over 1–11 shards and random prefix / delimiter / start-after / max-keys,
//! the k-way merge with prefix skipping returns exactly what S3's rules
//! give over one sorted map; and paging with next_marker walks every key
//! and common prefix exactly once.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shale::index::key::SortKey;
use shale::index::listing::{list, ListPage, ListParams, OrderedSource, RawEntry};
use shale::index::shard_of;
use shale::index::tree::TreeError;

struct Shard(BTreeMap<Vec<u8>, Vec<u8>>);

impl OrderedSource for Shard {
    fn scan(&self, start: &[u8], limit: usize) -> Result<Vec<RawEntry>, TreeError> {
        Ok(self
            .0
            .range(start.to_vec()..)
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// Each object key gets a head entry (listed) and a version (not listed).
fn shards_of(keys: &[Vec<u8>], n: u32) -> Vec<Shard> {
    let mut shards: Vec<Shard> = (0..n).map(|_| Shard(BTreeMap::new())).collect();
    for k in keys {
        let s = &mut shards[shard_of(k, n) as usize].0;
        s.insert(SortKey::Head { key: k.clone() }.encode(), k.clone());
        s.insert(
            SortKey::Version {
                key: k.clone(),
                version: [7; 16],
            }
            .encode(),
            b"v".to_vec(),
        );
    }
    shards
}

fn pick(sk: &SortKey, v: &[u8]) -> Option<Vec<u8>> {
    matches!(sk, SortKey::Head { .. }).then(|| v.to_vec())
}

/// S3's rules applied naively to the sorted set of object keys.
fn model(keys: &[Vec<u8>], p: &ListParams) -> ListPage<Vec<u8>> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut page = ListPage {
        items: Vec::new(),
        common_prefixes: Vec::new(),
        truncated: false,
        next_marker: None,
    };
    let max = p.max_keys.min(1000);
    for k in sorted {
        if !k.starts_with(&p.prefix) || p.start_after.as_ref().is_some_and(|m| k <= *m) {
            continue;
        }
        let rest = &k[p.prefix.len()..];
        let cp = p
            .delimiter
            .as_ref()
            .filter(|d| !d.is_empty())
            .and_then(|d| {
                rest.windows(d.len())
                    .position(|w| w == d.as_slice())
                    .map(|at| k[..p.prefix.len() + at + d.len()].to_vec())
            });
        match cp {
            Some(cp) => {
                if page.common_prefixes.last() == Some(&cp)
                    || p.start_after.as_ref().is_some_and(|m| cp <= *m)
                {
                    continue;
                }
                if page.items.len() + page.common_prefixes.len() == max {
                    page.truncated = true;
                    break;
                }
                page.next_marker = Some(cp.clone());
                page.common_prefixes.push(cp);
            }
            None => {
                if page.items.len() + page.common_prefixes.len() == max {
                    page.truncated = true;
                    break;
                }
                page.next_marker = Some(k.clone());
                page.items.push((k.clone(), k));
            }
        }
    }
    page
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(b'a'), Just(b'b'), Just(b'/'), Just(0u8), Just(b'-')],
        0..7,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn merged_listing_equals_the_model(keys in proptest::collection::vec(key(), 0..300), n in 1u32..12,
            prefix in key(), delimiter in proptest::option::of(prop_oneof![Just(b"/".to_vec()), Just(b"a/".to_vec()), Just(vec![0u8])]),
            start_after in proptest::option::of(key()), max_keys in 0usize..40) {
        let p = ListParams { prefix: prefix.iter().take(2).copied().collect(), delimiter, start_after, start_after_version: None, max_keys };
        let shards = shards_of(&keys, n);
        let got = list(&shards, &p, pick).unwrap();
        prop_assert_eq!(got, model(&keys, &p));
    }

    #[test]
    fn paging_visits_everything_once(keys in proptest::collection::vec(key(), 0..600), n in 1u32..12, page_size in 1usize..50) {
        let shards = shards_of(&keys, n);
        let mut p = ListParams { prefix: Vec::new(), delimiter: Some(b"/".to_vec()), start_after: None, start_after_version: None, max_keys: page_size };
        let mut seen = Vec::new();
        loop {
            let page = list(&shards, &p, pick).unwrap();
            seen.extend(page.items.iter().map(|(k, _)| k.clone()));
            seen.extend(page.common_prefixes.iter().cloned());
            if !page.truncated {
                break;
            }
            p.start_after = page.next_marker;
        }
        let all = model(&keys, &ListParams { max_keys: usize::MAX, ..ListParams { delimiter: Some(b"/".to_vec()), ..ListParams::default() } });
        let mut want: Vec<Vec<u8>> = all.items.into_iter().map(|(k, _)| k).chain(all.common_prefixes).collect();
        want.sort();
        seen.sort();
        prop_assert_eq!(seen, want);
    }
}

#[test]
fn listing_over_shard_trees_equals_listing_over_maps() {
    use shale::index::listing::TreeSource;
    use shale::index::tree::{self, MemPages};
    let keys: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| format!("dir{}/file{i:05}", i % 7).into_bytes())
        .collect();
    let maps = shards_of(&keys, 11);
    let trees: Vec<(MemPages, Option<u64>)> = maps
        .iter()
        .map(|m| {
            let mut store = MemPages::default();
            let mut root = None;
            for (k, v) in &m.0 {
                root = tree::upsert(&mut store, root, 1, k, Some(v)).unwrap().0;
            }
            (store, root)
        })
        .collect();
    let sources: Vec<TreeSource<'_, MemPages>> = trees
        .iter()
        .map(|(s, r)| TreeSource { store: s, root: *r })
        .collect();
    for p in [
        ListParams {
            max_keys: 1000,
            ..ListParams::default()
        },
        ListParams {
            prefix: b"dir3/".to_vec(),
            max_keys: 100,
            start_after: Some(b"dir3/file00500".to_vec()),
            ..ListParams::default()
        },
        ListParams {
            delimiter: Some(b"/".to_vec()),
            max_keys: 5,
            ..ListParams::default()
        },
    ] {
        assert_eq!(
            list(&sources, &p, pick).unwrap(),
            list(&maps, &p, pick).unwrap()
        );
    }
}
