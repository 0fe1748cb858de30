//! Buckets cost what they hold open: a new bucket index writes nothing,
//! a shard's file appears with its first checkpoint, idle shards past
//! the node's bound are closed and reopen on use with everything they
//! held, and entries of shards that never had a file survive a restart
//! (replayed from the node log).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use shale::index::bucket::{BucketIndex, BucketIndexOptions, ListMode};
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;
use shale::index::listing::ListParams;
use shale::io::Io;

const SHARDS: u32 = 8;
const OPEN_MAX: usize = 2;

fn options() -> BucketIndexOptions {
    BucketIndexOptions {
        shards: SHARDS,
        open_shards_max: OPEN_MAX,
        ..BucketIndexOptions::default()
    }
}

async fn put(index: &BucketIndex, key: &[u8], size: u64) {
    let txn = index.prepare(key).await.unwrap();
    let e = IndexEntry {
        size,
        mtime_nanos: shale::clock::now_nanos(),
        ..IndexEntry::default()
    };
    index
        .complete(txn, SortKey::Head { key: key.to_vec() }, Some(e))
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

fn listed(io: &Io, index: &BucketIndex) -> BTreeMap<Vec<u8>, u64> {
    let page = io
        .block_on(index.list(
            &ListParams {
                max_keys: 1000,
                ..ListParams::default()
            },
            ListMode::Current,
            None,
        ))
        .unwrap()
        .unwrap();
    page.items.into_iter().map(|(k, e)| (k, e.size)).collect()
}

fn tree_files(dir: &Path) -> usize {
    (0..SHARDS)
        .filter(|i| dir.join("g0").join(i.to_string()).join("tree.idx").exists())
        .count()
}

fn check(io: &Io, index: &BucketIndex, want: &BTreeMap<Vec<u8>, u64>) {
    for (k, size) in want {
        let got = index.current(k).unwrap().map(|e| e.size);
        assert_eq!(got, Some(*size), "{}", String::from_utf8_lossy(k));
        assert!(
            index.open_shards().open_count() <= OPEN_MAX,
            "{} shards open, bound {OPEN_MAX}",
            index.open_shards().open_count()
        );
    }
    assert_eq!(index.current(b"never-written").unwrap(), None);
    assert_eq!(&listed(io, index), want);
    assert_eq!(
        index.stats(),
        (want.len() as u64, want.values().sum::<u64>())
    );
}

#[test]
fn a_new_bucket_index_writes_nothing_until_it_holds_something() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let index = BucketIndex::open_standalone(&io, tmp.path(), options()).unwrap();
    assert_eq!(index.current(b"a").unwrap(), None);
    assert!(listed(&io, &index).is_empty());
    assert_eq!(index.stats(), (0, 0));
    io.block_on(index.checkpoint()).unwrap().unwrap();
    // Only the node log of the standalone index: no layout, no shard.
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["wal"]);
    assert_eq!(index.open_shards().open_count(), 0);
}

#[test]
fn idle_shards_close_past_the_bound_and_reopen_with_what_they_held() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let mut want = BTreeMap::new();
    {
        let index = BucketIndex::open_standalone(&io, tmp.path(), options()).unwrap();
        io.block_on(async {
            for i in 0..200u64 {
                let k = format!("k{i:03}").into_bytes();
                put(&index, &k, i + 1).await;
                want.insert(k, i + 1);
            }
        })
        .unwrap();
        // Logged, not checkpointed: every shard is open (none is idle) and
        // none has a file yet.
        assert_eq!(index.open_shards().open_count(), SHARDS as usize);
        assert_eq!(tree_files(tmp.path()), 0);
        io.block_on(index.checkpoint()).unwrap().unwrap();
        assert_eq!(tree_files(tmp.path()), SHARDS as usize);
        index.open_shards().close_idle();
        assert!(index.open_shards().open_count() <= OPEN_MAX);
        // Reads reopen closed shards; the bound holds throughout.
        check(&io, &index, &want);
        // Writes to closed shards reopen them; their markers go on.
        io.block_on(async {
            for i in (0..200u64).step_by(2) {
                let k = format!("k{i:03}").into_bytes();
                delete(&index, &k).await;
                want.remove(&k);
            }
            for i in 200..260u64 {
                let k = format!("k{i:03}").into_bytes();
                put(&index, &k, i + 1).await;
                want.insert(k, i + 1);
            }
        })
        .unwrap();
        io.block_on(index.checkpoint()).unwrap().unwrap();
        index.open_shards().close_idle();
        check(&io, &index, &want);
    }
    // Reopened: shards start closed, but for those the start replays
    // node-log entries into (the standalone index never moves its replay
    // point); those already hold them and close again at once.
    let index = BucketIndex::open_standalone(&io, tmp.path(), options()).unwrap();
    assert!(index.open_shards().open_count() <= OPEN_MAX);
    check(&io, &index, &want);
}

#[test]
fn entries_of_shards_without_a_file_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let mut want = BTreeMap::new();
    {
        let index = BucketIndex::open_standalone(&io, tmp.path(), options()).unwrap();
        io.block_on(async {
            for i in 0..50u64 {
                let k = format!("x{i:02}").into_bytes();
                put(&index, &k, i + 7).await;
                want.insert(k, i + 7);
            }
        })
        .unwrap();
        // No checkpoint: the entries are only in the node log.
        assert_eq!(tree_files(tmp.path()), 0);
    }
    let index = BucketIndex::open_standalone(&io, tmp.path(), options()).unwrap();
    // The start opened the shards it had entries for (they cannot close
    // before a checkpoint).
    assert_eq!(index.open_shards().open_count(), SHARDS as usize);
    check_without_bound(&io, &index, &want);
    io.block_on(index.checkpoint()).unwrap().unwrap();
    assert_eq!(tree_files(tmp.path()), SHARDS as usize);
    index.open_shards().close_idle();
    check(&io, &index, &want);
}

fn check_without_bound(io: &Io, index: &BucketIndex, want: &BTreeMap<Vec<u8>, u64>) {
    for (k, size) in want {
        assert_eq!(index.current(k).unwrap().map(|e| e.size), Some(*size));
    }
    assert_eq!(&listed(io, index), want);
}

#[test]
fn a_staged_first_checkpoint_counts_only_once_published() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let mut want = BTreeMap::new();
    {
        let index = BucketIndex::open_standalone(&io, tmp.path(), options()).unwrap();
        io.block_on(async {
            for i in 0..40u64 {
                let k = format!("s{i:02}").into_bytes();
                put(&index, &k, i + 3).await;
                want.insert(k, i + 3);
            }
        })
        .unwrap();
        let mut staged = Vec::new();
        io.block_on(index.checkpoint_staged(&mut staged))
            .unwrap()
            .unwrap();
        assert_eq!(staged.len(), SHARDS as usize);
        // Written under the temporary name only; the shards cannot close
        // (their log is all there is) and still need the node log.
        assert_eq!(tree_files(tmp.path()), 0);
        index.open_shards().close_idle();
        assert_eq!(index.open_shards().open_count(), SHARDS as usize);
        assert!(index.log_needed_from().is_some());
        // Dropped unpublished (a crash before the filesystem sync).
    }
    {
        let index = BucketIndex::open_standalone(&io, tmp.path(), options()).unwrap();
        check_without_bound(&io, &index, &want);
        let mut staged = Vec::new();
        io.block_on(index.checkpoint_staged(&mut staged))
            .unwrap()
            .unwrap();
        assert!(io.sync_filesystem(tmp.path()).unwrap());
        for s in &staged {
            io.block_on(s.publish_staged(true)).unwrap().unwrap();
        }
        assert_eq!(tree_files(tmp.path()), SHARDS as usize);
        // Renamed but not confirmed durable: the log stays.
        assert!(index.log_needed_from().is_some());
        assert!(io.sync_filesystem(tmp.path()).unwrap());
        for s in &staged {
            io.block_on(s.confirm_published()).unwrap().unwrap();
        }
        assert!(index.log_needed_from().is_none());
        drop(staged);
        index.open_shards().close_idle();
        check(&io, &index, &want);
    }
}

#[test]
fn steps_to_closed_shards_wait_while_the_node_is_crowded_with_uncheckpointed_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    // Crowded past 4 × the bound of 2: 8 open shards.
    let options = BucketIndexOptions {
        shards: 16,
        open_shards_max: OPEN_MAX,
        ..BucketIndexOptions::default()
    };
    let index =
        std::sync::Arc::new(BucketIndex::open_standalone(&io, tmp.path(), options).unwrap());
    // Keys in 16 different shards, written without a checkpoint.
    let mut keys: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    for i in 0.. {
        let k = format!("c{i}").into_bytes();
        keys.entry(shale::index::shard_of(&k, 16)).or_insert(k);
        if keys.len() == 16 {
            break;
        }
    }
    let keys: Vec<Vec<u8>> = keys.into_values().collect();
    io.block_on(async {
        for k in &keys[..9] {
            put(&index, k, 1).await;
        }
    })
    .unwrap();
    assert_eq!(index.open_shards().open_count(), 9);
    // The next new shard waits until a checkpoint lets shards close.
    let checkpointer = {
        let (index, io) = (std::sync::Arc::clone(&index), io.clone());
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            io.block_on(index.checkpoint()).unwrap().unwrap();
            index.open_shards().close_idle();
        })
    };
    let started = std::time::Instant::now();
    io.block_on(async {
        for k in &keys[9..] {
            put(&index, k, 2).await;
        }
    })
    .unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(400),
        "the step did not wait for room"
    );
    checkpointer.join().unwrap();
    for (i, k) in keys.iter().enumerate() {
        let want = if i < 9 { 1 } else { 2 };
        assert_eq!(index.current(k).unwrap().map(|e| e.size), Some(want));
    }
}
