//! Bucket index hot paths beside their baselines: point lookup in a
//! copy-on-write tree of 1,000,000 keys vs a `BTreeMap` of the same keys,
//! a full ordered listing of 1,000,000 keys over 11 shards (1000 per
//! page), and inserts. The `index`/`index_insert` groups keep trees in
//! memory (`MemPages`): the page format and algorithms alone. The
//! `bucket` group runs the real thing: a `BucketIndex` of 1,000,000 keys
//! in 11 mapped shard files (lock-free lookups and listings through the
//! published views), and durable index transactions (prepare + complete,
//! each logged with fdatasync).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;
use shale::index::listing::{list, ListParams, TreeSource};
use shale::index::shard_of;
use shale::index::tree::{self, MemPages};

const KEYS: u32 = 1_000_000;
const SHARDS: u32 = 11;

fn object_key(i: u32) -> Vec<u8> {
    format!(
        "photos/{:04}/{:08}.jpg",
        i % 1000,
        i.wrapping_mul(2_654_435_761)
    )
    .into_bytes()
}

fn entry_bytes(i: u32) -> Vec<u8> {
    let e = IndexEntry {
        size: u64::from(i),
        current: true,
        ..IndexEntry::default()
    };
    let mut b = Vec::new();
    e.encode(&mut b).unwrap();
    b
}

type Shards = Vec<(MemPages, Option<u64>)>;

fn build() -> (Shards, BTreeMap<Vec<u8>, Vec<u8>>) {
    let mut shards: Vec<BTreeMap<Vec<u8>, Vec<u8>>> =
        (0..SHARDS).map(|_| BTreeMap::new()).collect();
    let mut all = BTreeMap::new();
    for i in 0..KEYS {
        let k = object_key(i);
        let sk = SortKey::Head { key: k.clone() }.encode();
        shards[shard_of(&k, SHARDS) as usize].insert(sk.clone(), entry_bytes(i));
        all.insert(sk, entry_bytes(i));
    }
    let trees = shards
        .into_iter()
        .map(|m| {
            let mut store = MemPages::default();
            let mut root = None;
            for (k, v) in m {
                root = tree::upsert(&mut store, root, 1, &k, Some(&v)).unwrap().0;
            }
            (store, root)
        })
        .collect();
    (trees, all)
}

fn index(c: &mut Criterion) {
    let (trees, all) = build();
    let probes: Vec<Vec<u8>> = (0..1000u32)
        .map(|i| {
            SortKey::Head {
                key: object_key(i * 997 % KEYS),
            }
            .encode()
        })
        .collect();
    let mut g = c.benchmark_group("index");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(probes.len() as u64));
    g.bench_function("lookup_btreemap_1M", |b| {
        b.iter(|| probes.iter().filter(|p| all.contains_key(*p)).count())
    });
    g.bench_function("lookup_tree_1M", |b| {
        b.iter(|| {
            probes
                .iter()
                .filter(|p| {
                    let k = SortKey::decode(p).unwrap();
                    let (store, root) = &trees[shard_of(k.object_key(), SHARDS) as usize];
                    tree::get(store, *root, p).unwrap().is_some()
                })
                .count()
        })
    });
    g.throughput(Throughput::Elements(u64::from(KEYS)));
    g.bench_function("list_1M_over_11_shards_1000_per_page", |b| {
        let sources: Vec<TreeSource<'_, MemPages>> = trees
            .iter()
            .map(|(s, r)| TreeSource { store: s, root: *r })
            .collect();
        b.iter(|| {
            let mut p = ListParams {
                max_keys: 1000,
                ..ListParams::default()
            };
            let mut n = 0;
            loop {
                let page = list(&sources, &p, |_, v| Some(v.len())).unwrap();
                n += page.items.len();
                if !page.truncated {
                    break;
                }
                p.start_after = page.next_marker;
            }
            assert_eq!(n, KEYS as usize);
            black_box(n)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("index_insert");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("tree_insert_10k_random", |b| {
        b.iter(|| {
            let mut store = MemPages::default();
            let mut root = None;
            for i in 0..10_000u32 {
                let k = SortKey::Head { key: object_key(i) }.encode();
                root = tree::upsert(&mut store, root, 1, &k, Some(&entry_bytes(i)))
                    .unwrap()
                    .0;
            }
            black_box(root)
        })
    });
    g.throughput(Throughput::Elements(11 * 5_000));
    for threads in [1usize, 2] {
        // 11 shards, each written by one thread at a time (one writer per
        // shard); shards are spread over `threads` threads.
        g.bench_function(format!("insert_11_shards_x5k_{threads}_threads"), |b| {
            b.iter(|| {
                std::thread::scope(|scope| {
                    for t in 0..threads {
                        scope.spawn(move || {
                            for shard in (t..11).step_by(threads) {
                                let mut store = MemPages::default();
                                let mut root = None;
                                for i in 0..5_000u32 {
                                    let k = SortKey::Head {
                                        key: object_key(i * 11 + shard as u32),
                                    }
                                    .encode();
                                    root = tree::upsert(
                                        &mut store,
                                        root,
                                        1,
                                        &k,
                                        Some(&entry_bytes(i)),
                                    )
                                    .unwrap()
                                    .0;
                                }
                                black_box(root);
                            }
                        });
                    }
                });
            })
        });
    }
    g.finish();
}

/// A bucket index of `KEYS` keys in 11 shard files under `dir`, built
/// shard by shard (bulk, not through the log) and committed.
fn build_bucket(io: &shale::io::Io, dir: &std::path::Path) -> shale::index::bucket::BucketIndex {
    use shale::index::bucket::{BucketIndex, BucketIndexOptions};
    use shale::index::shard::Shard;
    let mut shards: Vec<Shard> = (0..SHARDS)
        .map(|i| {
            let d = dir.join("g0").join(i.to_string());
            std::fs::create_dir_all(&d).unwrap();
            Shard::create(io, &d.join("tree.idx"), i, SHARDS).unwrap()
        })
        .collect();
    let mut keys: Vec<(Vec<u8>, u32)> = (0..KEYS).map(|i| (object_key(i), i)).collect();
    keys.sort();
    for (k, i) in keys {
        let e = IndexEntry::decode(&entry_bytes(i)).unwrap();
        shards[shard_of(&k, SHARDS) as usize]
            .put_raw(&SortKey::Head { key: k }, &e)
            .unwrap();
    }
    for s in &mut shards {
        s.checkpoint().unwrap();
    }
    drop(shards);
    BucketIndex::open_standalone(
        io,
        dir,
        BucketIndexOptions {
            shards: SHARDS,
            reshard_threshold: u64::MAX,
            zone: 1,
            ..BucketIndexOptions::default()
        },
    )
    .unwrap()
}

fn bucket(c: &mut Criterion) {
    use shale::index::bucket::ListMode;
    let tmp = tempfile::tempdir().unwrap();
    let io = shale::io::Io::portable();
    let index = build_bucket(&io, tmp.path());
    let probes: Vec<Vec<u8>> = (0..1000u32).map(|i| object_key(i * 997 % KEYS)).collect();
    let mut g = c.benchmark_group("bucket");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(probes.len() as u64));
    g.bench_function("lookup_mapped_1M", |b| {
        b.iter(|| {
            probes
                .iter()
                .filter(|p| index.current(p).unwrap().is_some())
                .count()
        })
    });
    g.throughput(Throughput::Elements(u64::from(KEYS)));
    g.bench_function("list_mapped_1M_over_11_shards_1000_per_page", |b| {
        b.iter(|| {
            io.block_on(async {
                let mut p = ListParams {
                    max_keys: 1000,
                    ..ListParams::default()
                };
                let mut n = 0;
                loop {
                    let page = index.list(&p, ListMode::Current, None).await.unwrap();
                    n += page.items.len();
                    if !page.truncated {
                        break;
                    }
                    p.start_after = page.next_marker;
                }
                assert_eq!(n, KEYS as usize);
                black_box(n)
            })
            .unwrap()
        })
    });
    g.throughput(Throughput::Elements(100));
    let mut next = KEYS;
    g.bench_function("durable_put_txn_x100_1_writer", |b| {
        b.iter(|| {
            io.block_on(async {
                for _ in 0..100 {
                    next += 1;
                    let k = object_key(next);
                    let txn = index.prepare(&k).await.unwrap();
                    let e = IndexEntry::decode(&entry_bytes(next)).unwrap();
                    index
                        .complete(txn, SortKey::Head { key: k }, Some(e))
                        .await
                        .unwrap();
                }
            })
            .unwrap()
        })
    });
    g.finish();
}

/// A shard log of `n` entries in a node log of its own (no sync: the
/// bench measures reading by marker, not writing).
fn shard_log(dir: &std::path::Path, n: u64) -> shale::index::wal::ShardLog {
    use shale::index::bilog::{BilogEntry, BilogOp};
    use shale::index::key::SortKey;
    use shale::index::wal::{IndexWal, ShardLog, ShardName};
    use shale::segment::{SegmentOptions, SegmentStore, SyncPolicy};
    let io = shale::io::Io::portable();
    let options = SegmentOptions {
        sync: SyncPolicy::Never,
        ..SegmentOptions::default()
    };
    let (store, _) = SegmentStore::open(io.clone(), dir, options).unwrap();
    let wal = IndexWal::attach(&io, store).unwrap();
    let log = ShardLog::new(
        &wal,
        ShardName {
            bucket: std::sync::Arc::from("bench"),
            instance: 1,
            generation: 0,
            shard: 0,
        },
    );
    let mut marker = 0;
    while marker < n {
        let batch: Vec<BilogEntry> = (0..1000.min(n - marker))
            .map(|i| BilogEntry {
                op: BilogOp::Prepare,
                generation: 0,
                marker: marker + i + 1,
                tag: marker + i + 1,
                mtime_nanos: 1,
                source_zone: 0,
                key: SortKey::Head {
                    key: object_key((marker + i) as u32),
                },
                entry: None,
            })
            .collect();
        marker += batch.len() as u64;
        io.block_on(log.submit(&batch).unwrap()).unwrap().unwrap();
    }
    log
}

/// Reading 100 entries from the middle of a shard's log: the same cost
/// for a log of 10,000 entries and of 1,000,000.
fn bilog_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("bilog_read_from_middle");
    g.throughput(Throughput::Elements(100));
    for n in [10_000u64, 1_000_000] {
        let tmp = tempfile::tempdir().unwrap();
        let log = shard_log(tmp.path(), n);
        g.bench_function(format!("100_entries_of_{n}"), |b| {
            b.iter(|| {
                let got = log.read_from(n / 2, 100).unwrap();
                assert_eq!(got.len(), 100);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, index, bucket, bilog_read);
criterion_main!(benches);
