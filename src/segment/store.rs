//! The shared handle: appends are placed on the tail the writer thread
//! drains, reads go straight to the file through a per-thread handle
//! cache.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::format::{self, RecordKind, RECORD_HEADER_LEN, RECORD_PAYLOAD_BYTES_MAX};
use super::recover::{self, RecoveryReport};
use super::tail::{BuildFollowUp, Position, Tail};
use super::types::{PayloadCrc, RecordLoc, SegmentOptions, SegmentStats};
use super::writer::{self, Shared as WriterShared};
use super::{segment_path, SegmentError};
use crate::io::{Io, IoFile, OpenMode};

/// A record read back and verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub kind: RecordKind,
    pub batch: u64,
    pub payload: Bytes,
}

/// Resolves once placed records are durable (or their batch failed). The
/// records are written whether or not it is ever polled.
pub type Durable =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SegmentError>> + Send + 'static>>;

/// A segment directory open for appending and reading. Cheap to clone;
/// `Send + Sync`. The writer thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct SegmentStore {
    shared: Arc<Shared>,
}

struct Shared {
    uid: u64,
    io: Io,
    dir: PathBuf,
    tail: Arc<WriterShared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stats: Arc<SegmentStats>,
    /// Bytes placed and not yet taken by the writer past which async
    /// appenders wait for room.
    pending_max: u64,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.tail.tail.lock().closed = true;
        self.tail.placed.notify_one();
        if let Some(t) = self.thread.lock().take() {
            // The writer finishes what is placed and exits; a panic there
            // has already been reported.
            let _ = t.join();
        }
    }
}

static NEXT_STORE_UID: AtomicU64 = AtomicU64::new(1);

/// Read handles kept open per thread before the cache is cleared.
const READ_HANDLES_MAX: usize = 1024;

thread_local! {
    static READ_HANDLES: RefCell<HashMap<(u64, u64), Rc<IoFile>>> = RefCell::new(HashMap::new());
}

impl SegmentStore {
    /// Opens (creating if needed) the segment directory `dir`, recovering
    /// from a crash, and starts the writer thread.
    pub fn open(
        io: Io,
        dir: &Path,
        options: SegmentOptions,
    ) -> Result<(SegmentStore, RecoveryReport), SegmentError> {
        let (resume, report) = recover::recover(&io, dir)?;
        let stats = Arc::new(SegmentStats::default());
        let durable = resume.last.map_or(Position::empty(), |l| Position {
            segment: l.id,
            end: l.end,
            records: l.records,
            sealed: l.sealed,
        });
        let tail = Tail::new(durable, options.segment_size_bytes_max);
        stats
            .last_segment
            .store(tail.placing_segment().max(1), Ordering::Release);
        let shared_tail = Arc::new(WriterShared {
            tail: parking_lot::Mutex::new(tail),
            placed: tokio::sync::Notify::new(),
            room: tokio::sync::Notify::new(),
        });
        let pending_max = (options.batch_bytes_max as u64).saturating_mul(4).max(1);
        let thread = writer::spawn(
            io.clone(),
            dir.to_path_buf(),
            resume,
            options,
            Arc::clone(&shared_tail),
            Arc::clone(&stats),
        )
        .map_err(|e| SegmentError::io("starting writer for", dir, e))?;
        let shared = Shared {
            uid: NEXT_STORE_UID.fetch_add(1, Ordering::Relaxed),
            io,
            dir: dir.to_path_buf(),
            tail: shared_tail,
            thread: Mutex::new(Some(thread)),
            stats,
            pending_max,
        };
        Ok((
            SegmentStore {
                shared: Arc::new(shared),
            },
            report,
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn stats(&self) -> &SegmentStats {
        &self.shared.stats
    }

    /// Where the next record would start (segment, offset): every record
    /// placed from now on lands at or after it.
    pub fn placed_end(&self) -> (u64, u64) {
        self.shared.tail.tail.lock().placed_end()
    }

    /// Appends one record; returns once it is durable (per the policy).
    pub async fn append(
        &self,
        kind: RecordKind,
        payload: Bytes,
    ) -> Result<RecordLoc, SegmentError> {
        let crc = PayloadCrc::of(&payload);
        let mut locs = self
            .append_many_checksummed(vec![(kind, payload, crc)])
            .await?;
        locs.pop().ok_or(SegmentError::Closed)
    }

    /// Appends records contiguously, in one batch; all or none succeed.
    /// Payloads are checksummed here, on the caller's thread.
    pub async fn append_many(
        &self,
        records: Vec<(RecordKind, Bytes)>,
    ) -> Result<Vec<RecordLoc>, SegmentError> {
        self.append_many_checksummed(checksummed(records)).await
    }

    /// Like [`SegmentStore::append_many`], with each payload's checksum
    /// already computed by the caller (in the pass that also hashes it for
    /// the ETag). A checksum of other bytes is refused.
    pub async fn append_many_checksummed(
        &self,
        records: Vec<(RecordKind, Bytes, PayloadCrc)>,
    ) -> Result<Vec<RecordLoc>, SegmentError> {
        Self::check_records(&records)?;
        self.wait_for_room().await;
        let (locs, durable) = self.place(records, None)?;
        durable.await?;
        Ok(locs)
    }

    /// Appends `records`, then, in the same batch and right after them,
    /// the records `build` makes from their locations (payload lengths
    /// `lens`, declared up front): an object head naming its last data
    /// chunk goes to disk with it, under one fdatasync. Returns the
    /// locations of all of them.
    pub async fn append_chained(
        &self,
        records: Vec<(RecordKind, Bytes, PayloadCrc)>,
        lens: Vec<usize>,
        build: impl FnOnce(&[RecordLoc]) -> Vec<(RecordKind, Bytes, PayloadCrc)> + Send + 'static,
    ) -> Result<Vec<RecordLoc>, SegmentError> {
        self.wait_for_room().await;
        let (locs, durable) = self.place_chained(records, lens, build)?;
        durable.await?;
        Ok(locs)
    }

    /// Like [`SegmentStore::append_chained`] without waiting: the records'
    /// locations now, and what resolves once they are durable.
    pub fn place_chained(
        &self,
        records: Vec<(RecordKind, Bytes, PayloadCrc)>,
        lens: Vec<usize>,
        build: impl FnOnce(&[RecordLoc]) -> Vec<(RecordKind, Bytes, PayloadCrc)> + Send + 'static,
    ) -> Result<(Vec<RecordLoc>, Durable), SegmentError> {
        Self::check_records(&records)?;
        if let Some(len) = lens
            .iter()
            .find(|l| **l > RECORD_PAYLOAD_BYTES_MAX as usize)
        {
            return Err(SegmentError::RecordTooLarge {
                len: *len,
                max: RECORD_PAYLOAD_BYTES_MAX,
            });
        }
        self.place(records, Some((lens, Box::new(build))))
    }

    /// Places `records` now, without waiting: their locations are fixed
    /// at once (so the caller can name them in what it appends next), and
    /// they are written whether or not the returned future is ever
    /// polled. A caller that may be abandoned (a request whose client
    /// left) places, records the pending append where others can finish
    /// it, and only then awaits. Never waits for room: for appenders that
    /// bound themselves (a log's single writer, one batch at a time).
    pub fn place_many(
        &self,
        records: Vec<(RecordKind, Bytes)>,
    ) -> Result<(Vec<RecordLoc>, Durable), SegmentError> {
        let records = checksummed(records);
        Self::check_records(&records)?;
        self.place(records, None)
    }

    /// Like [`SegmentStore::place_many`], returning only what resolves
    /// once the records are durable, with their locations.
    pub fn submit_many(
        &self,
        records: Vec<(RecordKind, Bytes)>,
    ) -> Result<
        impl std::future::Future<Output = Result<Vec<RecordLoc>, SegmentError>> + Send + 'static,
        SegmentError,
    > {
        let (locs, durable) = self.place_many(records)?;
        Ok(async move {
            durable.await?;
            Ok(locs)
        })
    }

    fn place(
        &self,
        records: Vec<(RecordKind, Bytes, PayloadCrc)>,
        then: Option<(Vec<usize>, BuildFollowUp)>,
    ) -> Result<(Vec<RecordLoc>, Durable), SegmentError> {
        let (reply, rx) = oneshot::channel();
        let locs = {
            let mut t = self.shared.tail.tail.lock();
            let locs = t.place(records, then, reply)?;
            self.shared
                .stats
                .last_segment
                .fetch_max(t.placing_segment(), Ordering::AcqRel);
            locs
        };
        self.shared.tail.placed.notify_one();
        let durable: Durable = Box::pin(async move { rx.await.map_err(|_| SegmentError::Closed)? });
        Ok((locs, durable))
    }

    /// Waits while more than `pending_max` bytes are placed and not yet
    /// taken by the writer (back-pressure on streaming appenders).
    async fn wait_for_room(&self) {
        loop {
            let room = self.shared.tail.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.shared.tail.tail.lock().pending_bytes() < self.shared.pending_max {
                return;
            }
            room.await;
        }
    }

    fn check_records(records: &[(RecordKind, Bytes, PayloadCrc)]) -> Result<(), SegmentError> {
        for (kind, payload, crc) in records {
            if crc.len() != payload.len() as u64 {
                return Err(SegmentError::ChecksumOfOtherBytes);
            }
            debug_assert_eq!(*crc, PayloadCrc::of(payload));
            if *kind == RecordKind::Seal {
                return Err(SegmentError::ReservedKind);
            }
            if payload.len() > RECORD_PAYLOAD_BYTES_MAX as usize {
                return Err(SegmentError::RecordTooLarge {
                    len: payload.len(),
                    max: RECORD_PAYLOAD_BYTES_MAX,
                });
            }
        }
        Ok(())
    }

    /// Reads the record at `loc` and verifies it before returning it.
    pub async fn read(&self, loc: RecordLoc) -> Result<StoredRecord, SegmentError> {
        let file = self.read_handle(loc.segment)?;
        let buf = Vec::with_capacity(loc.len as usize);
        let (res, buf) = file.read_exact_at(buf, loc.offset).await;
        let path = || segment_path(&self.shared.dir, loc.segment);
        res.map_err(|e| SegmentError::io("reading", path(), e))?;
        let bad = |source| SegmentError::BadRecord {
            segment: loc.segment,
            offset: loc.offset,
            source,
        };
        let rec = format::decode_record(loc.segment, &buf).map_err(bad)?;
        let (kind, batch, payload_len) = (rec.kind, rec.batch, rec.payload.len());
        if RECORD_HEADER_LEN + payload_len != loc.len as usize {
            return Err(bad(format::FormatError::Truncated {
                needed: u64::from(loc.len),
                have: (RECORD_HEADER_LEN + payload_len) as u64,
            }));
        }
        let payload = Bytes::from(buf).slice(RECORD_HEADER_LEN..RECORD_HEADER_LEN + payload_len);
        Ok(StoredRecord {
            kind,
            batch,
            payload,
        })
    }

    fn read_handle(&self, segment: u64) -> Result<Rc<IoFile>, SegmentError> {
        let key = (self.shared.uid, segment);
        if let Some(f) = READ_HANDLES.with(|c| c.borrow().get(&key).cloned()) {
            return Ok(f);
        }
        let path = segment_path(&self.shared.dir, segment);
        let file = self.shared.io.open(&path, OpenMode::Read).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SegmentError::NoSuchSegment(segment)
            } else {
                SegmentError::io("opening", &path, e)
            }
        })?;
        let file = Rc::new(file);
        READ_HANDLES.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= READ_HANDLES_MAX {
                c.clear();
            }
            c.insert(key, Rc::clone(&file));
        });
        Ok(file)
    }

    /// Stops the writer after it finishes queued appends, and waits for it.
    pub fn close(self) {
        drop(self);
    }
}

fn checksummed(records: Vec<(RecordKind, Bytes)>) -> Vec<(RecordKind, Bytes, PayloadCrc)> {
    records
        .into_iter()
        .map(|(kind, payload)| {
            let crc = PayloadCrc::of(&payload);
            (kind, payload, crc)
        })
        .collect()
}
