//! The shared handle: appends go to the writer thread, reads go straight
//! to the file through a per-thread handle cache.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::format::{self, RecordKind, RECORD_HEADER_LEN, RECORD_PAYLOAD_BYTES_MAX};
use super::recover::{self, RecoveryReport};
use super::types::{PayloadCrc, RecordLoc, SegmentOptions, SegmentStats};
use super::writer::{self, AppendRequest, FollowUp};
use super::{segment_path, SegmentError};
use crate::io::{Io, IoFile, OpenMode};

/// A record read back and verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub kind: RecordKind,
    pub batch: u64,
    pub payload: Bytes,
}

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
    /// `None` only while dropping: closing it stops the writer.
    tx: Option<mpsc::Sender<AppendRequest>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stats: Arc<SegmentStats>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.lock().take() {
            // The writer finishes queued work and exits once the channel
            // closes; a panic there has already been reported.
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
        let (tx, rx) = mpsc::channel(options.append_queue_max.max(1));
        let stats = Arc::new(SegmentStats::default());
        let thread = writer::spawn(
            io.clone(),
            dir.to_path_buf(),
            resume,
            options,
            rx,
            Arc::clone(&stats),
        )
        .map_err(|e| SegmentError::io("starting writer for", dir, e))?;
        let shared = Shared {
            uid: NEXT_STORE_UID.fetch_add(1, Ordering::Relaxed),
            io,
            dir: dir.to_path_buf(),
            tx: Some(tx),
            thread: Mutex::new(Some(thread)),
            stats,
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
        let records = records
            .into_iter()
            .map(|(kind, payload)| {
                let crc = PayloadCrc::of(&payload);
                (kind, payload, crc)
            })
            .collect();
        self.append_many_checksummed(records).await
    }

    /// Like [`SegmentStore::append_many`], with each payload's checksum
    /// already computed by the caller (in the pass that also hashes it for
    /// the ETag). A checksum of other bytes is refused.
    pub async fn append_many_checksummed(
        &self,
        records: Vec<(RecordKind, Bytes, PayloadCrc)>,
    ) -> Result<Vec<RecordLoc>, SegmentError> {
        Self::check_records(&records)?;
        self.send(records, None).await
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
        let then = FollowUp {
            lens,
            build: Box::new(build),
        };
        self.send(records, Some(then)).await
    }

    /// Hands `records` to the writer now, without waiting, and returns
    /// what resolves once they are durable. The append happens whether or
    /// not the returned future is ever polled: a caller that may be
    /// abandoned (a request whose client left) submits, records the
    /// pending append where others can finish it, and only then awaits.
    /// For an appender that has at most a few appends queued at a time
    /// (a log's single writer): a full queue is refused with
    /// [`SegmentError::QueueFull`] rather than waited for.
    pub fn submit_many(
        &self,
        records: Vec<(RecordKind, Bytes)>,
    ) -> Result<
        impl std::future::Future<Output = Result<Vec<RecordLoc>, SegmentError>> + Send + 'static,
        SegmentError,
    > {
        let records: Vec<_> = records
            .into_iter()
            .map(|(kind, payload)| {
                let crc = PayloadCrc::of(&payload);
                (kind, payload, crc)
            })
            .collect();
        Self::check_records(&records)?;
        let tx = self.shared.tx.as_ref().ok_or(SegmentError::Closed)?;
        let (reply, rx) = oneshot::channel();
        tx.try_send(AppendRequest {
            records,
            then: None,
            reply,
        })
        .map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SegmentError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => SegmentError::Closed,
        })?;
        Ok(async move { rx.await.map_err(|_| SegmentError::Closed)? })
    }

    async fn send(
        &self,
        records: Vec<(RecordKind, Bytes, PayloadCrc)>,
        then: Option<FollowUp>,
    ) -> Result<Vec<RecordLoc>, SegmentError> {
        let tx = self.shared.tx.as_ref().ok_or(SegmentError::Closed)?;
        let (reply, rx) = oneshot::channel();
        tx.send(AppendRequest {
            records,
            then,
            reply,
        })
        .await
        .map_err(|_| SegmentError::Closed)?;
        rx.await.map_err(|_| SegmentError::Closed)?
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
