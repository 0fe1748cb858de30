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

/// The records at `loc` in the shard's own node log (`DIR/wal`), read
/// back and verified.
fn record_at(io: &Io, loc: shale::segment::RecordLoc) -> Vec<u8> {
    let path = shale::segment::segment_path(&Path::new(DIR).join("wal"), loc.segment);
    let f = io.open(&path, shale::io::OpenMode::Read).unwrap();
    let mut b = vec![0u8; loc.len as usize];
    f.read_exact_at_blocking(&mut b, loc.offset).unwrap();
    shale::segment::format::decode_record(loc.segment, &b)
        .unwrap()
        .payload
        .to_vec()
}

/// A completion that carries its data chunk and head: the head names the
/// chunk, the entry names the head.
async fn put_attached(s: &IndexShard, k: &str, data: &'static [u8]) -> Result<(), IndexError> {
    use shale::index::wal::Attached;
    use shale::segment::{PayloadCrc, RecordKind};
    let tag = s.prepare(k.as_bytes()).await?;
    let chunk = bytes::Bytes::from_static(data);
    let attached = Arc::new(Attached {
        first: vec![(RecordKind::DataChunk, chunk.clone(), PayloadCrc::of(&chunk))],
        head_kind: RecordKind::ObjectHead,
        head_len: 16,
        // The "head": where the chunk is.
        build_head: Box::new(|locs| {
            let mut b = Vec::new();
            b.extend_from_slice(&locs[0].segment.to_le_bytes());
            b.extend_from_slice(&locs[0].offset.to_le_bytes());
            bytes::Bytes::from(b)
        }),
    });
    let e = IndexEntry {
        size: data.len() as u64,
        current: true,
        ..IndexEntry::default()
    };
    let taken = s.complete_attached(&key(k), tag, e, attached, None).await?;
    assert!(taken);
    Ok(())
}

/// What `k`'s entry names: its head, then the chunk the head names.
fn data_of(io: &Io, s: &IndexShard, k: &str) -> Vec<u8> {
    let e = s.get(&key(k)).unwrap().unwrap();
    let head = record_at(io, e.head);
    let seg = u64::from_le_bytes(head[..8].try_into().unwrap());
    let off = u64::from_le_bytes(head[8..16].try_into().unwrap());
    let len = 24 + e.size as u32;
    record_at(
        io,
        shale::segment::RecordLoc {
            segment: seg,
            offset: off,
            len,
        },
    )
}

#[test]
fn a_failed_batch_carrying_chunks_and_heads_is_placed_again_and_its_entries_name_the_new_places() {
    for filter in [OpFilter::Sync, OpFilter::Write] {
        let disk = SimDisk::new(23);
        let io = Io::sim(Arc::clone(&disk));
        let s = IndexShard::open_standalone(&io, Path::new(DIR), 0, 1, 1, 0).unwrap();
        io.block_on(async {
            put_attached(&s, "a", b"alpha").await.unwrap();
            assert_eq!(data_of(&io, &s, "a"), b"alpha");
            disk.fail_nth(filter, 1, libc::EIO);
            let err = put_attached(&s, "b", b"bravo").await.unwrap_err();
            assert!(matches!(err, IndexError::LogFailed { .. }), "{err}");
            assert!(s.get(&key("b")).unwrap().is_none(), "not shown before it is logged");
            // The next step logs the failed one again first, chunk and
            // head included, at new places.
            put_attached(&s, "c", b"charlie").await.unwrap();
            for (k, d) in [("a", &b"alpha"[..]), ("b", b"bravo"), ("c", b"charlie")] {
                assert_eq!(data_of(&io, &s, k), d, "{filter:?}: {k}");
            }
        })
        .unwrap();
        drop(s);
        disk.crash(CrashMode::DropUnsynced);
        let s = IndexShard::open_standalone(&io, Path::new(DIR), 0, 1, 1, 0).unwrap();
        for (k, d) in [("a", &b"alpha"[..]), ("b", b"bravo"), ("c", b"charlie")] {
            assert_eq!(data_of(&io, &s, k), d, "{filter:?}: {k} after the crash");
        }
    }
}
