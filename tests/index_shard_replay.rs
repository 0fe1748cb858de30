//! A shard fed by its bucket index log: random transactions (prepare,
//! complete as write or delete, cancel, suggest) on a few keys, with
//! checkpoints at random points and simulated crashes that lose everything
//! after the last checkpoint. Reopening and replaying the whole log (the
//! log is durable; entries the checkpoint holds are skipped) always ends
//! equal to a shard that never crashed, stats included, and the stats
//! equal a recount of the entries.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use shale::index::bilog::{BilogEntry, BilogOp};
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;
use shale::index::shard::{Shard, ShardError};
use shale::io::sim::CrashMode;
use shale::io::{Io, SimDisk};

/// A valid log: each key's transactions open and close in a sane order.
fn log(script: &[(u8, u8, u16)]) -> Vec<BilogEntry> {
    let mut out = Vec::new();
    let mut open: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); 4];
    let mut tag = 0u64;
    for &(k, what, size) in script {
        let k = usize::from(k % 4);
        let key = SortKey::Head {
            key: format!("key{k}").into_bytes(),
        };
        let first_open = open[k].iter().next().copied();
        let (op, t, entry) = match (what % 5, first_open) {
            (0, _) | (_, None) => {
                tag += 1;
                open[k].insert(tag);
                (BilogOp::Prepare, tag, None)
            }
            (1, Some(t)) => {
                open[k].remove(&t);
                (
                    BilogOp::Complete,
                    t,
                    Some(IndexEntry {
                        size: u64::from(size),
                        current: true,
                        ..IndexEntry::default()
                    }),
                )
            }
            (2, Some(t)) => {
                open[k].remove(&t);
                (BilogOp::Complete, t, None)
            }
            (3, Some(t)) => {
                open[k].remove(&t);
                (BilogOp::Cancel, t, None)
            }
            (_, Some(t)) => {
                open[k].remove(&t);
                let found = (size % 2 == 0).then(|| IndexEntry {
                    size: u64::from(size),
                    ..IndexEntry::default()
                });
                (BilogOp::Suggest, t, found)
            }
        };
        out.push(BilogEntry {
            op,
            generation: 0,
            marker: out.len() as u64 + 1,
            tag: t,
            mtime_nanos: 0,
            source_zone: 0,
            key,
            entry,
        });
    }
    out
}

fn sim() -> (Arc<SimDisk>, Io) {
    let disk = SimDisk::new(3);
    let io = Io::sim(Arc::clone(&disk));
    io.create_dir_all(Path::new("/idx")).unwrap();
    (disk, io)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn replay_after_a_crash_equals_no_crash(script in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u16>()), 1..120),
                                             checkpoints in proptest::collection::btree_set(0usize..120, 0..6),
                                             crash_at in 0usize..120) {
        let entries = log(&script);
        let (_d, io) = sim();
        let mut clean = Shard::create(&io, Path::new("/idx/clean"), 0, 1).unwrap();
        for e in &entries {
            clean.apply(e).unwrap();
        }
        let (disk, io) = sim();
        let path = Path::new("/idx/s");
        let mut s = Shard::create(&io, path, 0, 1).unwrap();
        for (i, e) in entries.iter().enumerate().take(crash_at) {
            s.apply(e).unwrap();
            if checkpoints.contains(&i) {
                s.checkpoint().unwrap();
            }
        }
        drop(s);
        disk.crash(CrashMode::Tear);
        let mut s = Shard::open(&io, path).unwrap();
        for e in &entries {
            s.apply(e).unwrap();
        }
        prop_assert_eq!(s.entries().unwrap(), clean.entries().unwrap());
        prop_assert_eq!(s.stats(), clean.stats());
        let recount = clean.entries().unwrap().iter().filter(|(_, e)| !e.placeholder && !e.delete_marker)
            .fold((0u64, 0u64), |(o, b), (_, e)| (o + 1, b + e.size));
        prop_assert_eq!(clean.stats(), recount);
    }
}

#[test]
fn a_gap_in_the_log_is_an_error() {
    let (_d, io) = sim();
    let mut s = Shard::create(&io, Path::new("/idx/g"), 0, 1).unwrap();
    let entries = log(&[(0, 0, 0), (0, 1, 5), (1, 0, 0)]);
    s.apply(&entries[0]).unwrap();
    assert!(matches!(
        s.apply(&entries[2]),
        Err(ShardError::MarkerGap { applied: 1, got: 3 })
    ));
    s.apply(&entries[1]).unwrap();
    s.apply(&entries[1]).unwrap(); // replayed: skipped
    assert_eq!(s.stats(), (1, 5));
}
