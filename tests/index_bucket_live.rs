//! The bucket index under concurrency on real files:
//! - lock-free readers run against writers that overwrite and delete
//!   (freeing pages) and checkpoint: every entry a reader sees is whole
//!   and belongs to its key, a key that is never deleted is always found,
//!   every listing is ordered, and a reader never sees a key go back to
//!   an older value (so no page was reused under a reader);
//! - online resharding while writers and listers run: every acknowledged
//!   write stays visible to every listing started after it, the longest
//!   pause writers saw is measured and printed, and the result survives a
//!   reopen.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use shale::index::bucket::{BucketIndex, BucketIndexOptions, ListMode};
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;
use shale::index::listing::ListParams;
use shale::io::Io;

fn etag_for(key: &[u8], size: u64) -> [u8; 16] {
    let h = xxhash_rust::xxh64::xxh64(key, size);
    let mut e = [0u8; 16];
    e[..8].copy_from_slice(&h.to_le_bytes());
    e[8..].copy_from_slice(&size.to_le_bytes());
    e
}

fn entry(key: &[u8], size: u64) -> IndexEntry {
    IndexEntry {
        size,
        etag: etag_for(key, size),
        mtime_nanos: shale::clock::now_nanos(),
        ..IndexEntry::default()
    }
}

async fn put(index: &BucketIndex, key: &[u8], size: u64) {
    let txn = index.prepare(key).await.unwrap();
    index
        .complete(
            txn,
            SortKey::Head { key: key.to_vec() },
            Some(entry(key, size)),
        )
        .await
        .unwrap();
}

async fn delete(index: &BucketIndex, key: &[u8]) {
    let txn = index.prepare(key).await.unwrap();
    index
        .complete(txn, SortKey::Head { key: key.to_vec() }, None)
        .await
        .unwrap();
}

fn list_all(io: &Io, index: &BucketIndex, max_keys: usize) -> Vec<(Vec<u8>, IndexEntry)> {
    let mut out = Vec::new();
    let mut params = ListParams {
        max_keys,
        ..ListParams::default()
    };
    loop {
        let page = io
            .block_on(index.list(&params, ListMode::Current, None))
            .unwrap()
            .unwrap();
        out.extend(page.items);
        if !page.truncated {
            return out;
        }
        params.start_after = page.next_marker;
    }
}

fn key(i: u64) -> Vec<u8> {
    // Long keys: fewer per page, so the tree has branches and splits.
    format!("data/{:04}/{}", i, "x".repeat(60 + (i % 40) as usize)).into_bytes()
}

#[test]
fn lock_free_readers_never_see_reused_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let index = Arc::new(
        BucketIndex::open_standalone(
            &io,
            tmp.path(),
            BucketIndexOptions {
                shards: 2,
                ..BucketIndexOptions::default()
            },
        )
        .unwrap(),
    );
    const KEYS: u64 = 400;
    io.block_on(async {
        for i in 0..KEYS {
            put(&index, &key(i), 1).await;
        }
    })
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (index, stop, reads) = (Arc::clone(&index), Arc::clone(&stop), Arc::clone(&reads));
            std::thread::spawn(move || {
                let io = Io::portable();
                let mut last_seen: HashMap<u64, u64> = HashMap::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    if (n + r).is_multiple_of(50) {
                        let items = list_all(&io, &index, 1000);
                        assert!(
                            items.windows(2).all(|w| w[0].0 < w[1].0),
                            "listing out of order"
                        );
                        for (k, e) in &items {
                            assert_eq!(
                                e.etag,
                                etag_for(k, e.size),
                                "listed entry is not its key's"
                            );
                        }
                    } else {
                        let i = (n * 7 + r) % KEYS;
                        let k = key(i);
                        match index.current(&k).unwrap() {
                            Some(e) => {
                                assert_eq!(e.etag, etag_for(&k, e.size), "entry is not its key's");
                                let prev = last_seen.insert(i, e.size).unwrap_or(0);
                                assert!(
                                    e.size >= prev,
                                    "key {i} went back from {prev} to {}",
                                    e.size
                                );
                            }
                            None => {
                                assert!(i % 10 == 7, "key {i} is never deleted but was not found")
                            }
                        }
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let steps = io
        .block_on(async {
            let mut steps = 0u64;
            let mut size = 1u64;
            while started.elapsed() < Duration::from_secs(3) {
                size += 1;
                for j in 0..20 {
                    let i = (size * 13 + j * 31) % KEYS;
                    if i % 10 == 7 && j % 2 == 1 {
                        delete(&index, &key(i)).await;
                    } else {
                        put(&index, &key(i), size).await;
                    }
                    steps += 2;
                }
                if size.is_multiple_of(5) {
                    index.checkpoint().await.unwrap();
                }
            }
            steps
        })
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    eprintln!(
        "{steps} index steps with {} concurrent lock-free reads",
        reads.load(Ordering::Relaxed)
    );
    assert!(reads.load(Ordering::Relaxed) > 1000);
}

#[test]
fn resharding_under_load_keeps_every_acknowledged_write_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let options = BucketIndexOptions {
        shards: 3,
        reshard_threshold: 200,
        zone: 1,
        open_shards_max: 4,
    };
    let index = Arc::new(BucketIndex::open_standalone(&io, tmp.path(), options).unwrap());
    // Acknowledged writes: key -> size, and when each was acknowledged.
    type Acked = Arc<Mutex<BTreeMap<Vec<u8>, (u64, Instant)>>>;
    let acked: Acked = Arc::default();
    io.block_on(async {
        for i in 0..900 {
            put(&index, &key(i), 1).await;
            acked.lock().insert(key(i), (1, Instant::now()));
        }
    })
    .unwrap();
    let to = index
        .needs_reshard()
        .expect("900 keys over 3 shards pass a threshold of 200");
    assert!(to >= 7 && to % 2 == 1, "{to}");
    let stop = Arc::new(AtomicBool::new(false));
    let max_put = Arc::new(Mutex::new(Duration::ZERO));
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let (index, stop, acked, max_put) = (
                Arc::clone(&index),
                Arc::clone(&stop),
                Arc::clone(&acked),
                Arc::clone(&max_put),
            );
            std::thread::spawn(move || {
                let io = Io::portable();
                let mut n = 0u64;
                io.block_on(async {
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let k = key(1000 + w * 100_000 + n);
                        let t = Instant::now();
                        put(&index, &k, n + 1).await;
                        let took = t.elapsed();
                        let mut m = max_put.lock();
                        *m = (*m).max(took);
                        drop(m);
                        acked.lock().insert(k, (n + 1, Instant::now()));
                    }
                })
                .unwrap();
            })
        })
        .collect();
    let lists = Arc::new(AtomicU64::new(0));
    let listers: Vec<_> = (0..1)
        .map(|_| {
            let (index, stop, acked, lists) = (
                Arc::clone(&index),
                Arc::clone(&stop),
                Arc::clone(&acked),
                Arc::clone(&lists),
            );
            std::thread::spawn(move || {
                let io = Io::portable();
                while !stop.load(Ordering::Relaxed) {
                    let before = Instant::now();
                    let must: Vec<(Vec<u8>, u64)> = acked
                        .lock()
                        .iter()
                        .filter(|(_, (_, at))| *at < before)
                        .map(|(k, (s, _))| (k.clone(), *s))
                        .collect();
                    let got: BTreeMap<Vec<u8>, u64> = list_all(&io, &index, 1000)
                        .into_iter()
                        .map(|(k, e)| (k, e.size))
                        .collect();
                    for (k, s) in must {
                        assert_eq!(
                            got.get(&k),
                            Some(&s),
                            "acknowledged {:?} missing from a later listing",
                            String::from_utf8_lossy(&k)
                        );
                    }
                    lists.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let report = io
        .block_on(index.reshard_if_needed())
        .unwrap()
        .unwrap()
        .expect("a reshard was due");
    // Keys acknowledged by the time the reshard returned: at least all
    // that the new layout was sized for.
    let acked_at_cutover = acked.lock().len() as u64;
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in writers.into_iter().chain(listers) {
        t.join().unwrap();
    }
    eprintln!(
        "resharded {} -> {} shards: {} entries copied, {} log entries caught up live, {} while held; writers held {:?}; slowest PUT during the test {:?}; {} full listings",
        report.from_shards, report.to_shards, report.copied, report.caught_up, report.final_tail, report.pause, *max_put.lock(), lists.load(Ordering::Relaxed)
    );
    assert_eq!(index.layout().shard_count, report.to_shards);
    assert!(lists.load(Ordering::Relaxed) > 0);
    let want: BTreeMap<Vec<u8>, u64> = acked
        .lock()
        .iter()
        .map(|(k, (s, _))| (k.clone(), *s))
        .collect();
    let got: BTreeMap<Vec<u8>, u64> = list_all(&io, &index, 1000)
        .into_iter()
        .map(|(k, e)| (k, e.size))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        index.stats(),
        (want.len() as u64, want.values().sum::<u64>())
    );
    // Reopened: the new generation is what is on disk, the old one is gone.
    drop(index);
    let index = BucketIndex::open_standalone(&io, tmp.path(), options).unwrap();
    assert_eq!(index.layout().generation, 1);
    assert_eq!(index.layout().shard_count, report.to_shards);
    // The new layout was sized for what the bucket held when it was cut
    // over: no shard is past the threshold by more than what the writers
    // added after that (they kept going for a while, as fast as they could).
    let added_after = (want.len() as u64).saturating_sub(acked_at_cutover);
    let fullest = index
        .shards()
        .read_all()
        .unwrap()
        .into_iter()
        .flatten()
        .map(|s| s.stats().0)
        .max()
        .unwrap();
    assert!(
        fullest <= options.reshard_threshold + added_after,
        "a shard holds {fullest} entries: threshold {} and {added_after} written after the cutover",
        options.reshard_threshold
    );
    assert!(!Path::new(&tmp.path().join("g0")).exists());
    let got: BTreeMap<Vec<u8>, u64> = list_all(&io, &index, 1000)
        .into_iter()
        .map(|(k, e)| (k, e.size))
        .collect();
    assert_eq!(got, want);
    // Markers of the new generation continue above the old ones.
    for s in index.shards().read_all().unwrap().into_iter().flatten() {
        assert!(s.applied() >= index.layout().base_marker);
    }
}

#[test]
fn unordered_listing_visits_every_key_under_the_prefix_once() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let index = BucketIndex::open_standalone(
        &io,
        tmp.path(),
        BucketIndexOptions {
            shards: 5,
            ..BucketIndexOptions::default()
        },
    )
    .unwrap();
    io.block_on(async {
        for i in 0..300u64 {
            let k = format!("{}/{i:03}", if i % 3 == 0 { "logs" } else { "data" });
            put(&index, k.as_bytes(), i + 1).await;
        }
        // A placeholder (prepared, never completed) and a delete are not listed.
        let _open = index.prepare(b"data/zzz").await.unwrap();
        delete(&index, b"data/001").await;
    })
    .unwrap();
    for max_keys in [1, 7, 1000] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = index.list_unordered(b"data/", after, max_keys).unwrap();
            assert!(page.items.len() <= max_keys);
            seen.extend(
                page.items
                    .into_iter()
                    .map(|(k, e)| (String::from_utf8(k).unwrap(), e.size)),
            );
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        seen.sort();
        let want: Vec<(String, u64)> = (0..300u64)
            .filter(|i| i % 3 != 0 && *i != 1)
            .map(|i| (format!("data/{i:03}"), i + 1))
            .collect();
        assert_eq!(seen, want, "max_keys {max_keys}");
    }
}
