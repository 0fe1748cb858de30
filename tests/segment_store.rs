//! The segment store on the real backends (portable and io_uring) and the
//! simulator: appends read back, survive reopening, roll over into sealed
//! segments, share fdatasyncs, and corrupted bytes are errors, not data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::FileExt;

use bytes::Bytes;
use shale::io::Io;
use shale::segment::{recover, RecordKind, RecordLoc, SegmentError, SegmentOptions, SegmentStore};

fn small_segments() -> SegmentOptions {
    SegmentOptions {
        segment_size_bytes_max: 16 * 1024,
        ..SegmentOptions::default()
    }
}

async fn append_n(store: &SegmentStore, writer: u64, n: u64) -> Vec<(RecordLoc, Bytes)> {
    let mut out = Vec::new();
    for seq in 0..n {
        let p = common::payload(writer, seq, (seq as usize * 37) % 3000 + 16);
        let loc = store
            .append(RecordKind::DataChunk, p.clone())
            .await
            .unwrap();
        out.push((loc, p));
    }
    out
}

async fn verify(store: &SegmentStore, written: &[(RecordLoc, Bytes)]) {
    for (loc, p) in written {
        let r = store.read(*loc).await.unwrap();
        assert_eq!(r.kind, RecordKind::DataChunk);
        assert_eq!(&r.payload, p);
    }
}

fn each_backend(f: impl Fn(&str, Io, std::path::PathBuf)) {
    for (name, io) in common::real_backends() {
        let tmp = tempfile::tempdir().unwrap();
        f(name, io, tmp.path().join("segments"));
    }
    let (_disk, io) = common::sim(7);
    f("sim", io, common::sim_dir());
}

#[test]
fn appended_records_read_back_after_reopen_on_every_backend() {
    each_backend(|name, io, dir| {
        let (store, report) =
            SegmentStore::open(io.clone(), &dir, SegmentOptions::default()).unwrap();
        assert_eq!(report.segments, 0, "{name}");
        let first = io.block_on(append_n(&store, 1, 50)).unwrap();
        io.block_on(verify(&store, &first)).unwrap();
        drop(store);
        let (store, report) =
            SegmentStore::open(io.clone(), &dir, SegmentOptions::default()).unwrap();
        assert!(report.truncated.is_empty(), "{name}: {report:?}");
        let second = io.block_on(append_n(&store, 2, 50)).unwrap();
        io.block_on(verify(&store, &first)).unwrap();
        io.block_on(verify(&store, &second)).unwrap();
        assert!(
            second[0].0.offset > first[49].0.offset,
            "{name}: appends resume at the end"
        );
    });
}

#[test]
fn segments_roll_over_and_older_ones_are_sealed() {
    each_backend(|name, io, dir| {
        let (store, _) = SegmentStore::open(io.clone(), &dir, small_segments()).unwrap();
        let written = io.block_on(append_n(&store, 3, 200)).unwrap();
        drop(store);
        let (ids, _) = recover::list_segments(&io, &dir).unwrap();
        assert!(ids.len() > 5, "{name}: expected rollover, got {ids:?}");
        for id in &ids[..ids.len() - 1] {
            recover::check_sealed(&io, &dir, *id).unwrap();
        }
        let (store, report) = SegmentStore::open(io.clone(), &dir, small_segments()).unwrap();
        assert_eq!(report.segments, ids.len());
        io.block_on(verify(&store, &written)).unwrap();
        let segs: std::collections::BTreeSet<u64> =
            written.iter().map(|(l, _)| l.segment).collect();
        assert_eq!(segs.len(), ids.len(), "{name}");
    });
}

#[test]
fn one_request_of_many_records_lands_contiguously() {
    each_backend(|_, io, dir| {
        let (store, _) = SegmentStore::open(io.clone(), &dir, SegmentOptions::default()).unwrap();
        let recs = vec![
            (RecordKind::DataChunk, common::payload(1, 1, 100)),
            (RecordKind::DataChunk, common::payload(1, 2, 7)),
            (RecordKind::ObjectHead, Bytes::from_static(b"head")),
        ];
        let locs = io
            .block_on(store.append_many(recs.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(locs.len(), 3);
        assert_eq!(locs[1].offset, locs[0].offset + 128);
        for (loc, (kind, p)) in locs.iter().zip(&recs) {
            let r = io.block_on(store.read(*loc)).unwrap().unwrap();
            assert_eq!((&r.kind, &r.payload), (kind, p));
        }
    });
}

#[test]
fn a_chained_record_names_where_the_first_ones_landed() {
    use shale::segment::PayloadCrc;
    each_backend(|name, io, dir| {
        let (store, _) = SegmentStore::open(io.clone(), &dir, small_segments()).unwrap();
        // Fill part of a segment first, so the chain does not start at 0
        // and (with small segments) some chains roll over.
        io.block_on(append_n(&store, 9, 5)).unwrap();
        for i in 0..20u64 {
            let data = common::payload(2, i, 1000 + i as usize * 50);
            let crc = PayloadCrc::of(&data);
            let locs = io
                .block_on(store.append_chained(
                    vec![(RecordKind::DataChunk, data.clone(), crc)],
                    vec![16],
                    |locs| {
                        let l = locs[0];
                        let mut b = l.segment.to_le_bytes().to_vec();
                        b.extend_from_slice(&l.offset.to_le_bytes());
                        let b = Bytes::from(b);
                        let crc = PayloadCrc::of(&b);
                        vec![(RecordKind::ObjectHead, b, crc)]
                    },
                ))
                .unwrap()
                .unwrap();
            assert_eq!(locs.len(), 2, "{name}");
            let head = io.block_on(store.read(locs[1])).unwrap().unwrap();
            let seg = u64::from_le_bytes(head.payload[..8].try_into().unwrap());
            let off = u64::from_le_bytes(head.payload[8..].try_into().unwrap());
            assert_eq!((seg, off), (locs[0].segment, locs[0].offset), "{name}");
            let chunk = io.block_on(store.read(locs[0])).unwrap().unwrap();
            assert_eq!(chunk.payload, data, "{name}");
        }
        // A builder that breaks its declared length fails the request.
        let data = Bytes::from_static(b"x");
        let r = io
            .block_on(store.append_chained(
                vec![(RecordKind::DataChunk, data.clone(), PayloadCrc::of(&data))],
                vec![4],
                |_| {
                    let b = Bytes::from_static(b"toolong");
                    let crc = PayloadCrc::of(&b);
                    vec![(RecordKind::ObjectHead, b, crc)]
                },
            ))
            .unwrap();
        assert!(
            matches!(r, Err(SegmentError::FollowUpMismatch)),
            "{name}: {r:?}"
        );
    });
}

#[test]
fn concurrent_appenders_share_fdatasyncs() {
    each_backend(|name, io, dir| {
        let (store, _) = SegmentStore::open(io.clone(), &dir, SegmentOptions::default()).unwrap();
        let written = io
            .block_on(async {
                let mut tasks = Vec::new();
                for w in 0..64u64 {
                    let s = store.clone();
                    tasks.push(tokio::task::spawn_local(async move {
                        append_n(&s, w, 10).await
                    }));
                }
                let mut all = Vec::new();
                for t in tasks {
                    all.extend(t.await.unwrap());
                }
                all
            })
            .unwrap();
        io.block_on(verify(&store, &written)).unwrap();
        let stats = store.stats();
        let appends = stats.appends.load(std::sync::atomic::Ordering::Relaxed);
        let syncs = stats.syncs.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(appends, 640);
        assert!(
            syncs < appends / 4,
            "{name}: {syncs} syncs for {appends} appends"
        );
    });
}

#[test]
fn oversized_and_seal_records_are_refused() {
    let (_d, io) = common::sim(1);
    let (store, _) =
        SegmentStore::open(io.clone(), &common::sim_dir(), SegmentOptions::default()).unwrap();
    let big = Bytes::from(vec![0u8; 16 * 1024 * 1024 + 1]);
    let r = io
        .block_on(store.append(RecordKind::DataChunk, big))
        .unwrap();
    assert!(matches!(r, Err(SegmentError::RecordTooLarge { .. })));
    let r = io
        .block_on(store.append(RecordKind::Seal, Bytes::new()))
        .unwrap();
    assert!(matches!(r, Err(SegmentError::ReservedKind)));
}

#[test]
fn a_corrupted_record_is_an_error_never_data() {
    for (name, io) in common::real_backends() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("segments");
        let (store, _) = SegmentStore::open(io.clone(), &dir, SegmentOptions::default()).unwrap();
        let written = io.block_on(append_n(&store, 1, 3)).unwrap();
        let (loc, _) = written[1];
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(shale::segment::segment_path(&dir, loc.segment))
            .unwrap();
        f.write_all_at(&[0xFF], loc.offset + 30).unwrap();
        f.sync_all().unwrap();
        let r = io.block_on(store.read(loc)).unwrap();
        assert!(
            matches!(r, Err(SegmentError::BadRecord { .. })),
            "{name}: {r:?}"
        );
    }
}

#[test]
fn corruption_before_the_tail_stops_open_and_deletes_nothing() {
    for (name, io) in common::real_backends() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("segments");
        let (store, _) = SegmentStore::open(io.clone(), &dir, SegmentOptions::default()).unwrap();
        let written = io.block_on(append_n(&store, 1, 5)).unwrap();
        drop(store);
        let (loc, _) = written[1];
        let path = shale::segment::segment_path(&dir, loc.segment);
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0xAB], loc.offset + 25).unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = SegmentStore::open(io.clone(), &dir, SegmentOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{name}: open must fail"));
        match &err {
            SegmentError::Corrupt {
                path: p, offset, ..
            } => {
                assert_eq!(p, &path);
                assert_eq!(*offset, loc.offset);
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(err.to_string().contains(&path.display().to_string()));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "{name}: nothing changed"
        );
    }
}

#[test]
fn torn_tail_on_a_real_file_is_truncated_on_open() {
    for (name, io) in common::real_backends() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("segments");
        let (store, _) = SegmentStore::open(io.clone(), &dir, SegmentOptions::default()).unwrap();
        let written = io.block_on(append_n(&store, 1, 5)).unwrap();
        drop(store);
        let path = shale::segment::segment_path(&dir, written[0].0.segment);
        let good_len = std::fs::metadata(&path).unwrap().len();
        // Half of a record: what a crash mid-write leaves.
        let mut half = Vec::new();
        shale::segment::format::encode_record(&mut half, 1, RecordKind::DataChunk, 99, &[7u8; 500]);
        half.truncate(200);
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut &f, &half).unwrap();
        let (store, report) =
            SegmentStore::open(io.clone(), &dir, SegmentOptions::default()).unwrap();
        assert_eq!(report.truncated.len(), 1, "{name}");
        assert_eq!(report.truncated[0].offset, good_len);
        assert_eq!(report.truncated[0].bytes_dropped, 200);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
        io.block_on(verify(&store, &written)).unwrap();
    }
}

#[test]
fn caller_checksummed_appends_read_back_and_a_wrong_length_is_refused() {
    use shale::segment::PayloadCrc;
    let (_d, io) = common::sim(2);
    let (store, _) =
        SegmentStore::open(io.clone(), &common::sim_dir(), SegmentOptions::default()).unwrap();
    let p = common::payload(4, 4, 5000);
    // Hashed in pieces, as a streaming PUT does.
    let crc = PayloadCrc::of(&p[..1000]).update(&p[1000..]);
    assert_eq!(crc, PayloadCrc::of(&p));
    let locs = io
        .block_on(store.append_many_checksummed(vec![(RecordKind::DataChunk, p.clone(), crc)]))
        .unwrap()
        .unwrap();
    let r = io.block_on(store.read(locs[0])).unwrap().unwrap();
    assert_eq!(r.payload, p);
    let short = PayloadCrc::of(&p[..10]);
    let r = io
        .block_on(store.append_many_checksummed(vec![(RecordKind::DataChunk, p, short)]))
        .unwrap();
    assert!(matches!(r, Err(SegmentError::ChecksumOfOtherBytes)));
}
