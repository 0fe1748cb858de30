//! The bucket index log on disk: appends are durable and survive crashes
//! (simulated power loss and reopen), markers must continue the log,
//! reading from a marker returns exactly the durable entries from there,
//! and trimming removes only whole sealed segments below the lowest marker
//! every consumer confirmed.

use std::path::Path;
use std::sync::Arc;

use shale::index::bilog::{BilogEntry, BilogOp};
use shale::index::bilog_file::{BilogFileError, Consumers};
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;
use shale::io::sim::{CrashMode, OpFilter};
use shale::io::{Io, SimDisk};

fn entry(marker: u64) -> BilogEntry {
    BilogEntry {
        op: if marker % 2 == 1 {
            BilogOp::Prepare
        } else {
            BilogOp::Complete
        },
        generation: 0,
        marker,
        tag: marker.div_ceil(2),
        mtime_nanos: marker * 1000,
        source_zone: 1,
        key: SortKey::Head {
            key: format!("some/fairly/long/object/key/{marker:08}").into_bytes(),
        },
        entry: marker.is_multiple_of(2).then(|| IndexEntry {
            size: marker,
            current: true,
            ..IndexEntry::default()
        }),
    }
}

fn setup() -> (Arc<SimDisk>, Io) {
    let disk = SimDisk::new(5);
    let io = Io::sim(Arc::clone(&disk));
    io.create_dir_all(Path::new("/log")).unwrap();
    (disk, io)
}

#[test]
fn appended_entries_survive_a_crash_and_read_back_from_any_marker() {
    let (disk, io) = setup();
    let dir = Path::new("/log/shard-0");
    let log = shale::index::bilog_file::open(&io, dir).unwrap();
    let all: Vec<BilogEntry> = (1..=500).map(entry).collect();
    for chunk in all.chunks(7) {
        io.block_on(log.append(chunk)).unwrap().unwrap();
    }
    // An append that fails to sync is not acknowledged and not readable.
    disk.fail_nth(OpFilter::Sync, 1, libc::EIO);
    assert!(io.block_on(log.append(&[entry(501)])).unwrap().is_err());
    assert_eq!(log.last_marker(), 500);
    assert_eq!(log.read_from(1, usize::MAX).unwrap(), all);
    drop(log);
    disk.crash(CrashMode::Tear);
    let log = shale::index::bilog_file::open(&io, dir).unwrap();
    let last = log.last_marker();
    assert!(last == 500 || last == 501, "{last}");
    assert_eq!(log.read_from(1, 500).unwrap(), all);
    assert_eq!(log.read_from(250, 10).unwrap(), all[249..259].to_vec());
    let next = last + 1;
    let err = io
        .block_on(log.append(&[entry(next + 1)]))
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, BilogFileError::MarkerNotNext { .. }), "{err}");
    io.block_on(log.append(&[entry(next)])).unwrap().unwrap();
}

#[test]
fn trimming_follows_the_slowest_consumer_and_keeps_unconfirmed_entries() {
    let (_disk, io) = setup();
    let dir = Path::new("/log/shard-1");
    let log = shale::index::bilog_file::open(&io, dir).unwrap();
    // Enough entries for several 8 MiB log segments.
    let big = |m: u64| {
        let mut e = entry(m);
        e.key = SortKey::Head {
            key: vec![b'k'; 2000],
        };
        e
    };
    let total = 12_000u64;
    let all: Vec<BilogEntry> = (1..=total).map(big).collect();
    for chunk in all.chunks(500) {
        io.block_on(log.append(chunk)).unwrap().unwrap();
    }
    let mut consumers = Consumers::default();
    consumers.register("checkpoint", 0);
    consumers.register("zone-b", 0);
    consumers.confirm("checkpoint", 9000).unwrap();
    consumers.confirm("zone-b", 5000).unwrap();
    assert!(
        consumers.confirm("zone-b", 2000).is_err(),
        "markers only grow"
    );
    let removed = log.trim_below(consumers.trim_point()).unwrap();
    assert!(removed >= 1, "some segments held only entries <= 5000");
    let left = log.read_from(1, usize::MAX).unwrap();
    let first = left.first().unwrap().marker;
    assert!(first <= 5001 && first > 1, "first kept marker {first}");
    assert_eq!(left, all[(first - 1) as usize..].to_vec());
    // Reopen after trimming: the log still recovers and continues.
    drop(log);
    let log = shale::index::bilog_file::open(&io, dir).unwrap();
    assert_eq!(log.last_marker(), total);
    io.block_on(log.append(&[big(total + 1)])).unwrap().unwrap();
}
