//! The writer thread: the only code that writes segment files.
//!
//! Appenders place records on the shared [`Tail`] (their offsets are fixed
//! at once); the writer takes everything placed as one batch, writes it
//! with one vectored call per segment it touches and makes it durable with
//! one fdatasync (group commit), then answers the batch's waiters. It
//! never starts a batch before the previous one is synced; recovery relies
//! on that.
//!
//! After a failed write or sync the file may hold a partial batch, so the
//! writer cuts the file back to its last durable end before writing again,
//! and the tail is rewound there (everything placed past it fails).

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::batch::BatchBuilder;
use super::format::{self, RecordKind, SegmentHeader, HEADER_LEN};
use super::recover::Resume;
use super::tail::{Item, Position, Taken};
use super::types::{SegmentOptions, SegmentStats, SyncPolicy};
use super::{segment_path, SegmentError};
use crate::io::{tmp_path, Io, IoFile, OpenMode};

/// What the store's handle and the writer share.
pub(crate) struct Shared {
    pub tail: parking_lot::Mutex<super::tail::Tail>,
    /// Wakes the writer: something was placed, or the store closes.
    pub placed: tokio::sync::Notify,
    /// Wakes appenders waiting for room: the writer took a batch.
    pub room: tokio::sync::Notify,
}

pub(crate) fn spawn(
    io: Io,
    dir: PathBuf,
    resume: Resume,
    options: SegmentOptions,
    shared: Arc<Shared>,
    stats: Arc<SegmentStats>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("shale-segment-writer".into())
        .spawn(move || {
            let rt_io = io.clone();
            let mut w = Writer {
                io,
                dir,
                options,
                stats,
                active: None,
                next_batch: resume.next_batch,
                resume: resume.last.filter(|l| !l.sealed),
            };
            if rt_io.block_on(w.run(&shared)).is_err() {
                // No runtime: fail everything placed and refuse the rest.
                let mut t = shared.tail.lock();
                t.closed = true;
                for w in t.rewind() {
                    let _ = w.send(Err(SegmentError::Closed));
                }
            }
        })
}

struct Active {
    id: u64,
    file: IoFile,
    /// Durable end: where the next batch goes.
    end: u64,
    records: u64,
    /// Set after a failed write or sync: the file must be cut back to
    /// `end` before anything else is written.
    dirty: bool,
}

struct Writer {
    io: Io,
    dir: PathBuf,
    options: SegmentOptions,
    stats: Arc<SegmentStats>,
    active: Option<Active>,
    next_batch: u64,
    /// The unsealed newest segment found by recovery, opened lazily.
    resume: Option<super::recover::LastSegment>,
}

impl Writer {
    async fn run(&mut self, shared: &Shared) {
        loop {
            let taken = {
                let mut t = shared.tail.lock();
                match t.take() {
                    Some(taken) => Some(taken),
                    None if t.closed => return,
                    None => None,
                }
            };
            let Some(taken) = taken else {
                shared.placed.notified().await;
                continue;
            };
            shared.room.notify_waiters();
            self.commit(shared, taken).await;
        }
    }

    /// Writes one batch and answers its waiters.
    async fn commit(&mut self, shared: &Shared, taken: Taken) {
        let Taken {
            items,
            waiters,
            bytes,
        } = taken;
        let records = items
            .iter()
            .filter(|i| matches!(i, Item::Record { .. }))
            .count() as u64;
        let res = self.write_items(shared, items).await;
        self.next_batch += 1;
        match res {
            Ok(()) => {
                self.stats
                    .appends
                    .fetch_add(waiters.len() as u64, Ordering::Relaxed);
                self.stats.records.fetch_add(records, Ordering::Relaxed);
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                crate::metrics::SYNC
                    .batch_appends
                    .observe(waiters.len() as f64);
                crate::metrics::SYNC.batch_bytes.observe(bytes as f64);
                for w in waiters {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => {
                let later = shared.tail.lock().rewind();
                for w in waiters.into_iter().chain(later) {
                    let _ = w.send(Err(e.clone()));
                }
            }
        }
    }

    /// Writes the batch's items, segment by segment: the part before a
    /// seal is written and synced (with the seal) before the next segment
    /// is created. Publishes each durable position to the tail.
    async fn write_items(&mut self, shared: &Shared, items: Vec<Item>) -> Result<(), SegmentError> {
        let mut batch = BatchBuilder::default();
        let mut current: Option<(u64, u64)> = None; // (segment, start offset)
        let mut records_in_piece = 0u64;
        for item in items {
            let segment = item.segment();
            if current.is_none() {
                self.ensure_active(segment).await?;
                let end = self.active.as_ref().map_or(0, |a| a.end);
                if item.offset() != end {
                    return Err(SegmentError::Corrupt {
                        path: segment_path(&self.dir, segment),
                        offset: item.offset(),
                        reason: format!(
                            "a record was placed at {} but the segment ends at {end}",
                            item.offset()
                        ),
                    });
                }
                current = Some((segment, end));
            }
            match item {
                Item::Record {
                    kind, payload, crc, ..
                } => {
                    batch.push(segment, kind, self.next_batch, &payload, crc);
                    records_in_piece += 1;
                }
                Item::Seal { seal, .. } => {
                    let b = format::encode_seal(&seal);
                    batch.push(
                        segment,
                        RecordKind::Seal,
                        self.next_batch,
                        &Bytes::copy_from_slice(&b),
                        crc32c::crc32c(&b),
                    );
                    self.write_piece(&mut batch, records_in_piece).await?;
                    self.active = None;
                    shared.tail.lock().durable_at(Position {
                        segment,
                        end: seal.data_end + format::SEAL_FOOTPRINT,
                        records: seal.record_count,
                        sealed: true,
                    });
                    current = None;
                    records_in_piece = 0;
                }
            }
        }
        if current.is_some() {
            self.write_piece(&mut batch, records_in_piece).await?;
            if let Some(a) = &self.active {
                shared.tail.lock().durable_at(Position {
                    segment: a.id,
                    end: a.end,
                    records: a.records,
                    sealed: false,
                });
            }
        }
        Ok(())
    }

    /// Writes the assembled piece at the active end with one vectored
    /// write and syncs it; advances the end on success.
    async fn write_piece(
        &mut self,
        batch: &mut BatchBuilder,
        records: u64,
    ) -> Result<(), SegmentError> {
        let sync = self.options.sync == SyncPolicy::Always;
        let len = batch.len();
        let bufs = batch.take();
        let a = self.active.as_mut().ok_or(SegmentError::NoActiveSegment)?;
        let path = segment_path(&self.dir, a.id);
        debug_assert!(
            a.end % format::RECORD_ALIGN == 0 && len.is_multiple_of(format::RECORD_ALIGN)
        );
        let (res, bufs) = a.file.write_vectored_all_at(bufs, a.end).await;
        // Payload buffers go back to their owners' reference counts now.
        drop(bufs);
        let res = match res {
            Ok(()) if sync => {
                let started = std::time::Instant::now();
                let r = a.file.sync_data().await.map(|()| true);
                crate::metrics::SYNC
                    .sync_seconds
                    .observe(started.elapsed().as_secs_f64());
                r
            }
            Ok(()) => Ok(false),
            Err(e) => Err(e),
        };
        match res {
            Ok(synced) => {
                a.end += len;
                a.records += records;
                self.stats.bytes_written.fetch_add(len, Ordering::Relaxed);
                if synced {
                    self.stats.syncs.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(e) => {
                a.dirty = true;
                Err(SegmentError::io("appending to", path, e))
            }
        }
    }

    /// Makes sure segment `id` is open and clean to write to: the one
    /// recovery left unsealed, or a new one.
    async fn ensure_active(&mut self, id: u64) -> Result<(), SegmentError> {
        if self.active.as_ref().is_some_and(|a| a.id != id) {
            self.active = None;
        }
        if self.active.is_none() {
            // `resume` is cleared only once the segment is open: after a
            // failed open the next attempt must reopen it, not start anew.
            let active = match self.resume {
                Some(last) if last.id == id => {
                    let path = segment_path(&self.dir, last.id);
                    let file = self
                        .io
                        .open(&path, OpenMode::ReadWrite)
                        .map_err(|e| SegmentError::io("opening", &path, e))?;
                    Active {
                        id: last.id,
                        file,
                        end: last.end,
                        records: last.records,
                        dirty: false,
                    }
                }
                _ => self.create_segment(id)?,
            };
            self.resume = None;
            self.active = Some(active);
        }
        if let Some(a) = self.active.as_mut() {
            if a.dirty {
                let path = segment_path(&self.dir, a.id);
                a.file
                    .set_len(a.end)
                    .and_then(|()| a.file.sync_all_blocking())
                    .map_err(|e| SegmentError::io("cutting back a failed write in", path, e))?;
                a.dirty = false;
            }
        }
        Ok(())
    }

    /// Creates segment `id` so that it is either absent or whole after a
    /// crash: header into a temporary file, fsync, rename, fsync the dir.
    fn create_segment(&self, id: u64) -> Result<Active, SegmentError> {
        let path = segment_path(&self.dir, id);
        let tmp = tmp_path(&path);
        let header = format::encode_header(&SegmentHeader {
            segment_id: id,
            base_batch: self.next_batch,
            created_nanos: crate::clock::now_nanos(),
        });
        let file = self
            .io
            .open(&tmp, OpenMode::CreateTruncate)
            .map_err(|e| SegmentError::io("creating", &tmp, e))?;
        file.write_all_at_blocking(&header, 0)
            .and_then(|()| file.sync_all_blocking())
            .map_err(|e| SegmentError::io("writing header of", &tmp, e))?;
        self.io
            .rename(&tmp, &path)
            .map_err(|e| SegmentError::io("renaming", &tmp, e))?;
        self.io
            .sync_dir(&self.dir)
            .map_err(|e| SegmentError::io("syncing", &self.dir, e))?;
        self.stats.last_segment.fetch_max(id, Ordering::AcqRel);
        Ok(Active {
            id,
            file,
            end: HEADER_LEN as u64,
            records: 0,
            dirty: false,
        })
    }
}
