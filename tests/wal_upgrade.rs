//! A shard directory from before the node log (its entries in `log/`, a
//! segment directory of its own, written by the previous release's log
//! writer) opens with every entry past its checkpoint replayed; the old
//! directory is gone afterwards, new steps go to the node log, and a crash
//! after the upgrade loses nothing either.

use std::path::Path;
use std::sync::Arc;

use shale::index::bilog::{BilogEntry, BilogOp};
use shale::index::bilog_file;
use shale::index::entry::IndexEntry;
use shale::index::index_shard::IndexShard;
use shale::index::key::SortKey;
use shale::index::shard::Shard;
use shale::io::sim::CrashMode;
use shale::io::{Io, SimDisk};

const DIR: &str = "/data/buckets/b/index/g0/0";

fn key(k: &str) -> SortKey {
    SortKey::Head {
        key: k.as_bytes().to_vec(),
    }
}

fn entry(size: u64) -> IndexEntry {
    IndexEntry {
        size,
        mtime_nanos: 1_000 + size,
        ..IndexEntry::default()
    }
}

/// Writes a shard the way the previous release did: a tree checkpointed
/// after the first `checkpointed` keys, and every step in `log/`.
fn old_release_shard(io: &Io, keys: &[(&str, u64)], checkpointed: usize) {
    let dir = Path::new(DIR);
    io.create_dir_all(dir).unwrap();
    let mut tree = Shard::create(io, &dir.join("tree.idx"), 0, 1).unwrap();
    let log = bilog_file::open(io, &dir.join("log")).unwrap();
    let mut marker = 0;
    for (i, (k, size)) in keys.iter().enumerate() {
        for (op, e) in [
            (BilogOp::Prepare, None),
            (BilogOp::Complete, Some(entry(*size))),
        ] {
            marker += 1;
            let step = BilogEntry {
                op,
                generation: 0,
                marker,
                tag: 100 + i as u64,
                mtime_nanos: 1,
                source_zone: 0,
                key: key(k),
                entry: e,
            };
            io.block_on(log.append(std::slice::from_ref(&step)))
                .unwrap()
                .unwrap();
            tree.apply(&step).unwrap();
        }
        if i + 1 == checkpointed {
            tree.checkpoint().unwrap();
        }
    }
}

fn size_of(s: &IndexShard, k: &str) -> Option<u64> {
    s.get(&key(k))
        .unwrap()
        .filter(|e| !e.placeholder)
        .map(|e| e.size)
}

#[test]
fn a_shard_with_an_old_log_directory_is_replayed_and_moves_to_the_node_log() {
    let disk = SimDisk::new(3);
    let io = Io::sim(Arc::clone(&disk));
    let keys = [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)];
    old_release_shard(&io, &keys, 2);
    disk.crash(CrashMode::DropUnsynced);

    let dir = Path::new(DIR);
    assert!(io.exists(&dir.join("log")).unwrap());
    let s = IndexShard::open_standalone(&io, dir, 0, 1, 0, 0).unwrap();
    for (k, n) in keys {
        assert_eq!(size_of(&s, k), Some(n), "{k} after the upgrade");
    }
    assert_eq!(s.stats(), (5, 15));
    assert!(
        !io.exists(&dir.join("log")).unwrap(),
        "the old log directory is removed"
    );
    // New steps continue at the next marker, in the node log.
    io.block_on(async {
        let tag = s.prepare(b"f").await.unwrap();
        s.complete(&key("f"), tag, Some(entry(6))).await.unwrap();
    })
    .unwrap();
    assert_eq!(s.applied(), 12);
    let tail = s.read_log(11, 10).unwrap();
    assert_eq!(
        tail.iter().map(|e| e.marker).collect::<Vec<_>>(),
        vec![11, 12]
    );
    drop(s);
    disk.crash(CrashMode::DropUnsynced);

    let s = IndexShard::open_standalone(&io, dir, 0, 1, 0, 0).unwrap();
    for (k, n) in keys.iter().copied().chain([("f", 6)]) {
        assert_eq!(
            size_of(&s, k),
            Some(n),
            "{k} after a crash past the upgrade"
        );
    }
    assert_eq!(s.stats(), (6, 21));
}
