//! Model-based test of the segment store on the simulated disk: random
//! appends, injected faults (EIO, ENOSPC at any operation), crashes that
//! drop or tear unsynced writes, and reopens, checked against a model of
//! what was acknowledged. After every crash every acknowledged record reads
//! back intact, recovery never reports corruption, and every record a scan
//! finds is whole.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use bytes::Bytes;
use proptest::prelude::*;
use shale::io::sim::{CrashMode, OpFilter};
use shale::io::{Io, OpenMode};
use shale::segment::{
    recover, scan, RecordKind, RecordLoc, SegmentError, SegmentOptions, SegmentStore,
};

#[derive(Clone, Debug)]
enum Op {
    Append { records: u8, len: u16 },
    Concurrent { tasks: u8, len: u16 },
    Fault { filter: u8, nth: u8, enospc: bool },
    Full { room: u16 },
    SpaceBack,
    Crash { tear: bool },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..4, 0u16..3000).prop_map(|(records, len)| Op::Append { records, len }),
        2 => (2u8..12, 0u16..2000).prop_map(|(tasks, len)| Op::Concurrent { tasks, len }),
        2 => (0u8..4, 1u8..6, any::<bool>()).prop_map(|(filter, nth, enospc)| Op::Fault { filter, nth, enospc }),
        1 => (0u16..8000).prop_map(|room| Op::Full { room }),
        1 => Just(Op::SpaceBack),
        2 => any::<bool>().prop_map(|tear| Op::Crash { tear }),
        1 => Just(Op::Reopen),
    ]
}

fn options() -> SegmentOptions {
    SegmentOptions {
        segment_size_bytes_max: 12 * 1024,
        ..SegmentOptions::default()
    }
}

struct Harness {
    disk: std::sync::Arc<shale::io::SimDisk>,
    io: Io,
    store: Option<SegmentStore>,
    acked: Vec<(RecordLoc, Bytes)>,
    /// Every payload ever submitted, by (writer, seq).
    submitted: HashMap<(u64, u64), Bytes>,
    next_seq: u64,
}

impl Harness {
    fn open(&mut self) {
        self.store = None;
        let store = match SegmentStore::open(self.io.clone(), &common::sim_dir(), options()) {
            Ok((s, _)) => s,
            Err(e) => {
                // Only an injected fault may fail an open, never corruption.
                assert!(matches!(e, SegmentError::Io { .. }), "open failed: {e}");
                self.disk.clear_faults();
                SegmentStore::open(self.io.clone(), &common::sim_dir(), options())
                    .unwrap()
                    .0
            }
        };
        self.store = Some(store);
    }

    fn next_payload(&mut self, writer: u64, len: usize) -> Bytes {
        self.next_seq += 1;
        let p = common::payload(writer, self.next_seq, len.max(16));
        self.submitted.insert((writer, self.next_seq), p.clone());
        p
    }

    fn record_result(&mut self, r: Result<Vec<RecordLoc>, SegmentError>, payloads: Vec<Bytes>) {
        match r {
            Ok(locs) => self.acked.extend(locs.into_iter().zip(payloads)),
            Err(e) => assert!(
                matches!(e, SegmentError::Io { .. } | SegmentError::Closed),
                "append failed oddly: {e}"
            ),
        }
    }

    fn apply(&mut self, op: &Op) {
        let store = self.store.clone().unwrap();
        match *op {
            Op::Append { records, len } => {
                let payloads: Vec<Bytes> = (0..records)
                    .map(|_| self.next_payload(0, len as usize))
                    .collect();
                let recs = payloads
                    .iter()
                    .map(|p| (RecordKind::DataChunk, p.clone()))
                    .collect();
                let r = self.io.block_on(store.append_many(recs)).unwrap();
                self.record_result(r, payloads);
            }
            Op::Concurrent { tasks, len } => {
                let payloads: Vec<Bytes> = (0..tasks)
                    .map(|t| self.next_payload(u64::from(t) + 1, len as usize))
                    .collect();
                let results = self
                    .io
                    .block_on(async {
                        let handles: Vec<_> = payloads
                            .iter()
                            .map(|p| {
                                let s = store.clone();
                                let p = p.clone();
                                tokio::task::spawn_local(async move {
                                    s.append(RecordKind::DataChunk, p).await
                                })
                            })
                            .collect();
                        let mut out = Vec::new();
                        for h in handles {
                            out.push(h.await.unwrap());
                        }
                        out
                    })
                    .unwrap();
                for (r, p) in results.into_iter().zip(payloads) {
                    self.record_result(r.map(|l| vec![l]), vec![p]);
                }
            }
            Op::Fault {
                filter,
                nth,
                enospc,
            } => {
                let filter = [
                    OpFilter::Any,
                    OpFilter::Write,
                    OpFilter::Sync,
                    OpFilter::Read,
                ][filter as usize % 4];
                let errno = if enospc { libc::ENOSPC } else { libc::EIO };
                self.disk.fail_nth(filter, u64::from(nth), errno);
            }
            Op::Full { room } => self
                .disk
                .set_capacity(Some(self.disk.used_bytes() + u64::from(room))),
            Op::SpaceBack => self.disk.set_capacity(None),
            Op::Crash { tear } => {
                self.store = None;
                self.disk.crash(if tear {
                    CrashMode::Tear
                } else {
                    CrashMode::DropUnsynced
                });
                self.disk.set_capacity(None);
                self.open();
                self.check();
            }
            Op::Reopen => {
                self.store = None;
                self.open();
            }
        }
    }

    /// Every acknowledged record reads back; every record on disk is whole.
    fn check(&mut self) {
        self.disk.clear_faults();
        let store = self.store.clone().unwrap();
        for (loc, p) in &self.acked {
            let r = self.io.block_on(store.read(*loc)).unwrap();
            let r = r.unwrap_or_else(|e| panic!("acknowledged record at {loc:?} lost: {e}"));
            assert_eq!(&r.payload, p, "acknowledged record at {loc:?} changed");
        }
        let dir = common::sim_dir();
        let (ids, _) = recover::list_segments(&self.io, &dir).unwrap();
        for id in ids {
            let f = self
                .io
                .open(&shale::segment::segment_path(&dir, id), OpenMode::Read)
                .unwrap();
            let mut bad = None;
            let report = scan::scan_segment(&f, |info, payload| {
                if info.kind != RecordKind::DataChunk {
                    return;
                }
                let writer = u64::from_le_bytes(payload[..8].try_into().unwrap());
                let seq = u64::from_le_bytes(payload[8..16].try_into().unwrap());
                if self.submitted.get(&(writer, seq)).map(|b| &b[..]) != Some(payload) {
                    bad = Some(info.offset);
                }
            })
            .unwrap();
            assert_eq!(
                bad, None,
                "a partial or foreign record is visible in segment {id}"
            );
            assert_eq!(
                report.tail,
                scan::Tail::Clean,
                "segment {id} after recovery"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_records_survive_faults_and_crashes(seed in any::<u64>(),
                                                       ops in proptest::collection::vec(op(), 1..40)) {
        let (disk, io) = common::sim(seed);
        let mut h = Harness { disk, io, store: None, acked: Vec::new(), submitted: HashMap::new(), next_seq: 0 };
        h.open();
        for op in &ops {
            h.apply(op);
        }
        h.apply(&Op::Crash { tear: true });
    }
}
