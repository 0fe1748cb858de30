//! Where the next record goes: the append tail that appenders place
//! records on and the writer thread drains.
//!
//! Placing is synchronous and cheap (a lock, offsets added up): an
//! appender learns where its records will land before anything is
//! written, so it can name them in what it appends next (a bucket index
//! step naming the object head placed a moment before) and both go to
//! disk under one fdatasync. The writer takes everything placed so far as
//! one batch, writes and syncs it, and answers the batch's waiters.
//!
//! A batch that fails (EIO, ENOSPC) rewinds the tail to the durable end:
//! every record placed after that end, in the failed batch or placed
//! while it was being written, fails with the same error, so no record is
//! ever written at an offset that assumed a failed batch landed.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::format::{self, RecordKind, Seal, HEADER_LEN, RECORD_HEADER_LEN, SEAL_FOOTPRINT};
use super::types::{PayloadCrc, RecordLoc};
use super::SegmentError;

/// A record to append: kind, payload, the payload's CRC32C.
pub(crate) type Checksummed = (RecordKind, Bytes, PayloadCrc);

/// Answers one placement once its batch is durable (or failed).
pub(crate) type Waiter = oneshot::Sender<Result<(), SegmentError>>;

/// One thing the writer writes, at the offset it was placed at.
pub(crate) enum Item {
    Record {
        loc: RecordLoc,
        kind: RecordKind,
        payload: Bytes,
        crc: u32,
    },
    /// Ends `segment` (offset `seal.data_end`); the next item starts the
    /// segment after it.
    Seal { segment: u64, seal: Seal },
}

impl Item {
    pub fn segment(&self) -> u64 {
        match self {
            Item::Record { loc, .. } => loc.segment,
            Item::Seal { segment, .. } => *segment,
        }
    }

    pub fn offset(&self) -> u64 {
        match self {
            Item::Record { loc, .. } => loc.offset,
            Item::Seal { seal, .. } => seal.data_end,
        }
    }
}

/// A position in the store: the segment records go to, its end, the
/// records in it, and whether it is sealed (then the next record starts
/// segment `segment + 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    pub segment: u64,
    pub end: u64,
    pub records: u64,
    pub sealed: bool,
}

impl Position {
    /// The position of an empty store (segment 1 is created by the first
    /// write).
    pub fn empty() -> Position {
        Position {
            segment: 0,
            end: 0,
            records: 0,
            sealed: true,
        }
    }
}

/// What the writer takes: items in placement order and their waiters.
pub(crate) struct Taken {
    pub items: Vec<Item>,
    pub waiters: Vec<Waiter>,
    pub bytes: u64,
}

/// The tail's state (under the store's lock).
pub(crate) struct Tail {
    /// Where the next record is placed.
    placed: Position,
    /// The end of what is durable; a failed batch rewinds `placed` here.
    durable: Position,
    segment_size_max: u64,
    items: Vec<Item>,
    waiters: Vec<Waiter>,
    /// Bytes placed and not yet taken by the writer.
    pending_bytes: u64,
    /// Set when the store closes: nothing more is placed.
    pub closed: bool,
    /// Placement requests so far (statistics).
    pub placements: u64,
}

impl Tail {
    pub fn new(durable: Position, segment_size_max: u64) -> Tail {
        Tail {
            placed: durable,
            durable,
            segment_size_max,
            items: Vec::new(),
            waiters: Vec::new(),
            pending_bytes: 0,
            closed: false,
            placements: 0,
        }
    }

    /// Bytes placed and not yet taken.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    /// The segment the next record goes to.
    pub fn placing_segment(&self) -> u64 {
        if self.placed.sealed {
            self.placed.segment + 1
        } else {
            self.placed.segment
        }
    }

    /// Where the next record would start (segment, offset).
    pub fn placed_end(&self) -> (u64, u64) {
        if self.placed.sealed {
            (self.placed.segment + 1, HEADER_LEN as u64)
        } else {
            (self.placed.segment, self.placed.end)
        }
    }

    /// Places `records`, then the records `then` builds from their
    /// locations (declared lengths `then_lens`), contiguously in one
    /// segment; `waiter` is answered once they are durable. Returns all
    /// their locations.
    pub fn place(
        &mut self,
        records: Vec<Checksummed>,
        then: Option<(Vec<usize>, BuildFollowUp)>,
        waiter: Waiter,
    ) -> Result<Vec<RecordLoc>, SegmentError> {
        if self.closed {
            return Err(SegmentError::Closed);
        }
        let then_lens = then.as_ref().map(|(l, _)| l.as_slice()).unwrap_or(&[]);
        let need: u64 = records
            .iter()
            .map(|(_, p, _)| format::record_footprint(p.len() as u32))
            .chain(
                then_lens
                    .iter()
                    .map(|l| format::record_footprint(*l as u32)),
            )
            .sum();
        if self.placed.sealed {
            self.placed = Position {
                segment: self.placed.segment + 1,
                end: HEADER_LEN as u64,
                records: 0,
                sealed: false,
            };
        } else if self.placed.records > 0
            && self.placed.end + need + SEAL_FOOTPRINT > self.segment_size_max
        {
            // Roll over: the seal ends this segment, the records start the
            // next one (a request never spans two segments).
            self.items.push(Item::Seal {
                segment: self.placed.segment,
                seal: Seal {
                    record_count: self.placed.records,
                    data_end: self.placed.end,
                },
            });
            self.pending_bytes += SEAL_FOOTPRINT;
            self.placed = Position {
                segment: self.placed.segment + 1,
                end: HEADER_LEN as u64,
                records: 0,
                sealed: false,
            };
        }
        let mut locs = Vec::with_capacity(records.len() + then_lens.len());
        for (kind, payload, crc) in records {
            locs.push(self.push(kind, payload, crc.value()));
        }
        if let Some((lens, build)) = then {
            let first = locs.clone();
            let more = build(&first);
            let fits = more.len() == lens.len()
                && more.iter().zip(&lens).all(|((kind, p, crc), l)| {
                    p.len() == *l && crc.len() == *l as u64 && *kind != RecordKind::Seal
                });
            if !fits {
                // The first records are placed already; unreferenced, they
                // are garbage for compaction. The caller learns it failed.
                return Err(SegmentError::FollowUpMismatch);
            }
            for (kind, payload, crc) in more {
                locs.push(self.push(kind, payload, crc.value()));
            }
        }
        self.placements += 1;
        self.waiters.push(waiter);
        Ok(locs)
    }

    fn push(&mut self, kind: RecordKind, payload: Bytes, crc: u32) -> RecordLoc {
        let len = payload.len() as u32;
        let loc = RecordLoc {
            segment: self.placed.segment,
            offset: self.placed.end,
            len: RECORD_HEADER_LEN as u32 + len,
        };
        let footprint = format::record_footprint(len);
        self.placed.end += footprint;
        self.placed.records += 1;
        self.pending_bytes += footprint;
        self.items.push(Item::Record {
            loc,
            kind,
            payload,
            crc,
        });
        loc
    }

    /// Everything placed so far, for the writer (`None` if nothing is).
    pub fn take(&mut self) -> Option<Taken> {
        if self.items.is_empty() && self.waiters.is_empty() {
            return None;
        }
        let bytes = std::mem::take(&mut self.pending_bytes);
        Some(Taken {
            items: std::mem::take(&mut self.items),
            waiters: std::mem::take(&mut self.waiters),
            bytes,
        })
    }

    /// Part of a batch is durable up to `p`.
    pub fn durable_at(&mut self, p: Position) {
        self.durable = p;
    }

    /// The batch being written failed: everything placed after the
    /// durable end fails with `e` (returned: their waiters) and the next
    /// record is placed at the durable end again.
    pub fn rewind(&mut self) -> Vec<Waiter> {
        self.items.clear();
        self.pending_bytes = 0;
        self.placed = self.durable;
        std::mem::take(&mut self.waiters)
    }
}

/// Makes the follow-up records from the first records' locations.
pub(crate) type BuildFollowUp = Box<dyn FnOnce(&[RecordLoc]) -> Vec<Checksummed> + Send>;

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(len: usize) -> Checksummed {
        let p = Bytes::from(vec![1u8; len]);
        let crc = PayloadCrc::of(&p);
        (RecordKind::DataChunk, p, crc)
    }

    fn waiter() -> Waiter {
        oneshot::channel().0
    }

    #[test]
    fn placements_are_contiguous_and_roll_before_the_limit() {
        let mut t = Tail::new(Position::empty(), 64 + 3 * 32 + SEAL_FOOTPRINT);
        let a = t.place(vec![rec(5), rec(8)], None, waiter()).unwrap();
        assert_eq!(
            a[0],
            RecordLoc {
                segment: 1,
                offset: 64,
                len: 29
            }
        );
        assert_eq!(
            a[1],
            RecordLoc {
                segment: 1,
                offset: 96,
                len: 32
            }
        );
        // One more 32-byte footprint fits; the next does not.
        let b = t.place(vec![rec(8)], None, waiter()).unwrap();
        assert_eq!(b[0].offset, 128);
        let c = t.place(vec![rec(8)], None, waiter()).unwrap();
        assert_eq!(
            c[0],
            RecordLoc {
                segment: 2,
                offset: 64,
                len: 32
            }
        );
        let taken = t.take().unwrap();
        assert_eq!(taken.waiters.len(), 3);
        let kinds: Vec<_> = taken
            .items
            .iter()
            .map(|i| (i.segment(), i.offset()))
            .collect();
        assert_eq!(kinds, vec![(1, 64), (1, 96), (1, 128), (1, 160), (2, 64)]);
        assert!(matches!(
            taken.items[3],
            Item::Seal {
                seal: Seal {
                    record_count: 3,
                    data_end: 160
                },
                ..
            }
        ));
        assert!(t.take().is_none());
    }

    #[test]
    fn a_failed_batch_rewinds_to_the_durable_end() {
        let mut t = Tail::new(Position::empty(), 1 << 20);
        t.place(vec![rec(5)], None, waiter()).unwrap();
        let _ = t.take();
        t.durable_at(Position {
            segment: 1,
            end: 96,
            records: 1,
            sealed: false,
        });
        t.place(vec![rec(5)], None, waiter()).unwrap();
        let _batch = t.take();
        // Placed while the batch was being written: fails with it.
        t.place(vec![rec(5)], None, waiter()).unwrap();
        assert_eq!(t.rewind().len(), 1);
        let again = t.place(vec![rec(5)], None, waiter()).unwrap();
        assert_eq!(again[0].offset, 96);
    }

    #[test]
    fn follow_ups_name_the_records_before_them() {
        let mut t = Tail::new(Position::empty(), 1 << 20);
        let locs = t
            .place(
                vec![rec(3)],
                Some((
                    vec![8],
                    Box::new(|l: &[RecordLoc]| {
                        let p = Bytes::copy_from_slice(&l[0].offset.to_le_bytes());
                        let crc = PayloadCrc::of(&p);
                        vec![(RecordKind::ObjectHead, p, crc)]
                    }),
                )),
                waiter(),
            )
            .unwrap();
        assert_eq!(locs.len(), 2);
        assert_eq!(locs[1].offset, locs[0].offset + 32);
        let bad = t.place(
            vec![rec(3)],
            Some((vec![9], Box::new(|_: &[RecordLoc]| vec![rec(3)]))),
            waiter(),
        );
        assert!(matches!(bad, Err(SegmentError::FollowUpMismatch)));
    }
}
