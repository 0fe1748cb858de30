//! A bucket index shard whose log append fails (EIO on write or fsync,
//! ENOSPC) keeps working: the failed step's caller gets `LogFailed` (not
//! acknowledged), the shard logs that batch again before taking anything
//! new, steps are refused without being applied while the log stays
//! unwritable, and once it is writable every acknowledged step — and the
//! retried one — is durable across a crash. No restart is needed.

use std::path::Path;
use std::sync::Arc;

use shale::index::entry::IndexEntry;
use shale::index::index_shard::{IndexError, IndexShard};
use shale::index::key::SortKey;
use shale::io::sim::{CrashMode, OpFilter};
use shale::io::{Io, SimDisk};

fn key(k: &str) -> SortKey {
    SortKey::Head {
        key: k.as_bytes().to_vec(),
    }
}

async fn put(s: &IndexShard, k: &str, size: u64) -> Result<(), IndexError> {
    let tag = s.prepare(k.as_bytes()).await?;
    let e = IndexEntry {
        size,
        current: true,
        ..IndexEntry::default()
    };
    s.complete(&key(k), tag, Some(e)).await
}

fn size_of(s: &IndexShard, k: &str) -> Option<u64> {
    s.get(&key(k))
        .unwrap()
        .filter(|e| !e.placeholder)
        .map(|e| e.size)
}

const DIR: &str = "/data/index/b1/0000";

#[test]
fn a_failed_sync_is_logged_again_before_the_next_step_and_survives_a_crash() {
    for filter in [OpFilter::Sync, OpFilter::Write] {
        let disk = SimDisk::new(17);
        let io = Io::sim(Arc::clone(&disk));
        let s = IndexShard::open_standalone(&io, Path::new(DIR), 0, 1, 1, 0).unwrap();
        io.block_on(async {
            put(&s, "a", 10).await.unwrap();
            disk.fail_nth(filter, 1, libc::EIO);
            let err = put(&s, "b", 20).await.unwrap_err();
            assert!(matches!(err, IndexError::LogFailed { .. }), "{err}");
            // Not acknowledged, not shown.
            assert_eq!(size_of(&s, "b"), None);
            // The next step goes through, after the failed one.
            put(&s, "c", 30).await.unwrap();
            assert_eq!(size_of(&s, "b"), Some(20), "{filter:?}");
            assert_eq!(size_of(&s, "c"), Some(30));
            s.checkpoint().await.unwrap();
            put(&s, "d", 40).await.unwrap();
        })
        .unwrap();
        drop(s);
        disk.crash(CrashMode::DropUnsynced);
        let s = IndexShard::open_standalone(&io, Path::new(DIR), 0, 1, 1, 0).unwrap();
        for (k, n) in [("a", 10), ("b", 20), ("c", 30), ("d", 40)] {
            assert_eq!(size_of(&s, k), Some(n), "{filter:?}: {k} after the crash");
        }
        assert_eq!(s.stats(), (4, 100));
    }
}

#[test]
fn while_the_disk_is_full_steps_are_refused_unapplied_and_work_resumes_when_it_frees() {
    let disk = SimDisk::new(5);
    let io = Io::sim(Arc::clone(&disk));
    let s = IndexShard::open_standalone(&io, Path::new(DIR), 0, 1, 1, 0).unwrap();
    io.block_on(async {
        put(&s, "a", 1).await.unwrap();
        disk.set_capacity(Some(disk.used_bytes()));
        let mut refused = 0;
        for i in 0..20 {
            match put(&s, &format!("full-{i}"), 5).await {
                Err(IndexError::LogFailed { cause }) => {
                    refused += 1;
                    assert!(
                        cause.contains("No space") || cause.contains("space"),
                        "{cause}"
                    );
                }
                other => panic!("step {i} on a full disk: {other:?}"),
            }
        }
        assert_eq!(refused, 20);
        // Only the first failed batch is in doubt; the others were never
        // applied. Nothing of it is shown.
        for i in 0..20 {
            assert_eq!(size_of(&s, &format!("full-{i}")), None);
        }
        assert!(s.checkpoint().await.is_err());
        disk.set_capacity(None);
        put(&s, "after", 7).await.unwrap();
        s.checkpoint().await.unwrap();
    })
    .unwrap();
    drop(s);
    disk.crash(CrashMode::DropUnsynced);
    let s = IndexShard::open_standalone(&io, Path::new(DIR), 0, 1, 1, 0).unwrap();
    assert_eq!(size_of(&s, "a"), Some(1));
    assert_eq!(size_of(&s, "after"), Some(7));
    let in_doubt: Vec<u64> = (0..20)
        .filter_map(|i| size_of(&s, &format!("full-{i}")))
        .collect();
    // The first refused PUT's complete may have been carried (its
    // prepare was); any later one never reached the tree.
    assert!(in_doubt.len() <= 1, "{in_doubt:?}");
    for i in 1..20 {
        assert_eq!(size_of(&s, &format!("full-{i}")), None);
    }
}
