//! Fault injection on the simulated disk: torn tails are truncated on
//! recovery, ENOSPC and EIO surface as errors without losing acknowledged
//! records, and appends work again once the fault is gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use shale::io::sim::{CrashMode, OpFilter};
use shale::io::{Io, OpenMode};
use shale::segment::{RecordKind, RecordLoc, SegmentError, SegmentOptions, SegmentStore};

fn open(io: &Io) -> (SegmentStore, shale::segment::recover::RecoveryReport) {
    SegmentStore::open(io.clone(), &common::sim_dir(), SegmentOptions::default()).unwrap()
}

fn append(
    io: &Io,
    store: &SegmentStore,
    seq: u64,
    len: usize,
) -> Result<(RecordLoc, Bytes), SegmentError> {
    let p = common::payload(1, seq, len);
    let loc = io
        .block_on(store.append(RecordKind::DataChunk, p.clone()))
        .unwrap()?;
    Ok((loc, p))
}

fn verify(io: &Io, store: &SegmentStore, acked: &[(RecordLoc, Bytes)]) {
    for (loc, p) in acked {
        let r = io.block_on(store.read(*loc)).unwrap().unwrap();
        assert_eq!(&r.payload, p);
    }
}

#[test]
fn torn_tail_is_truncated_on_recovery() {
    let (_disk, io) = common::sim(11);
    let (store, _) = open(&io);
    let acked: Vec<_> = (0..10)
        .map(|i| append(&io, &store, i, 300).unwrap())
        .collect();
    let end = acked.last().map(|(l, _)| l.offset + 328).unwrap();
    drop(store);
    // A record cut short, as a crash mid-write leaves it.
    let path = shale::segment::segment_path(&common::sim_dir(), 1);
    let f = io.open(&path, OpenMode::ReadWrite).unwrap();
    let mut rec = Vec::new();
    shale::segment::format::encode_record(&mut rec, 1, RecordKind::DataChunk, 99, &[5u8; 1000]);
    f.write_all_at_blocking(&rec[..700], end).unwrap();
    drop(f);
    let (store, report) = open(&io);
    assert_eq!(report.truncated.len(), 1);
    assert_eq!(report.truncated[0].offset, end);
    assert_eq!(report.truncated[0].bytes_dropped, 700);
    verify(&io, &store, &acked);
    let more = append(&io, &store, 100, 50).unwrap();
    assert_eq!(more.0.offset, end);
}

#[test]
fn unsynced_batch_torn_by_a_crash_never_costs_acknowledged_records() {
    for seed in 0..60 {
        let (disk, io) = common::sim(seed);
        let (store, _) = open(&io);
        let acked: Vec<_> = (0..8)
            .map(|i| append(&io, &store, i, 200 + i as usize * 50).unwrap())
            .collect();
        // The next batch is written but its fdatasync fails: not acked.
        disk.fail_nth(OpFilter::Sync, 1, libc::EIO);
        let err = append(&io, &store, 50, 4000).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
        drop(store);
        disk.crash(CrashMode::Tear);
        let (store, _report) = open(&io);
        verify(&io, &store, &acked);
        append(&io, &store, 60, 10).unwrap();
    }
}

#[test]
fn enospc_surfaces_and_appends_resume_when_space_returns() {
    let (disk, io) = common::sim(3);
    let (store, _) = open(&io);
    let mut acked: Vec<_> = (0..5)
        .map(|i| append(&io, &store, i, 1000).unwrap())
        .collect();
    disk.set_capacity(Some(disk.used_bytes() + 10_000));
    let mut seq = 100;
    let err = loop {
        match append(&io, &store, seq, 4000) {
            Ok(r) => acked.push(r),
            Err(e) => break e,
        }
        seq += 1;
    };
    assert!(err.is_no_space(), "{err}");
    // Still full: still a clear error, nothing acknowledged is lost.
    assert!(append(&io, &store, 500, 4000).unwrap_err().is_no_space());
    verify(&io, &store, &acked);
    disk.set_capacity(None);
    for i in 0..5 {
        acked.push(append(&io, &store, 600 + i, 4000).unwrap());
    }
    verify(&io, &store, &acked);
    drop(store);
    disk.crash(CrashMode::DropUnsynced);
    let (store, report) = open(&io);
    assert!(report.truncated.is_empty(), "{report:?}");
    verify(&io, &store, &acked);
}

#[test]
fn eio_on_write_or_sync_surfaces_and_the_store_stays_consistent() {
    let (disk, io) = common::sim(5);
    let (store, _) = open(&io);
    let mut acked = vec![append(&io, &store, 0, 100).unwrap()];
    for (filter, seq) in [
        (OpFilter::Write, 1),
        (OpFilter::Sync, 2),
        (OpFilter::Write, 3),
    ] {
        disk.fail_nth(filter, 1, libc::EIO);
        let err = append(&io, &store, seq, 2000).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{filter:?}: {err}");
        acked.push(append(&io, &store, seq + 10, 300).unwrap());
    }
    verify(&io, &store, &acked);
    drop(store);
    disk.crash(CrashMode::Tear);
    let (store, _) = open(&io);
    verify(&io, &store, &acked);
}

#[test]
fn appends_fail_until_a_failed_write_can_be_cut_back() {
    let (disk, io) = common::sim(9);
    let (store, _) = open(&io);
    let first = append(&io, &store, 0, 100).unwrap();
    // The write fails, and so does the truncate that must follow it.
    disk.fail_nth(OpFilter::Write, 1, libc::EIO);
    disk.fail_nth(OpFilter::Write, 2, libc::EIO);
    assert!(append(&io, &store, 1, 100).is_err());
    assert!(append(&io, &store, 2, 100).is_err());
    let ok = append(&io, &store, 3, 100).unwrap();
    assert_eq!(
        ok.0.offset,
        first.0.offset + 128,
        "the failed bytes were cut back"
    );
    verify(&io, &store, &[first, ok]);
}
