//! The writer thread: the only code that writes segment files.
//!
//! It takes every append request that is waiting, lays them out as one
//! batch, writes it with one vectored call and makes it durable with one
//! fdatasync (group commit), then answers all of them. It never starts a
//! batch before the previous one is synced; recovery relies on that.
//!
//! After a failed write or sync the file may hold a partial batch, so the
//! writer cuts the file back to its last durable end before writing again.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::batch::BatchBuilder;
use super::format::{
    self, RecordKind, Seal, SegmentHeader, HEADER_LEN, RECORD_HEADER_LEN, SEAL_FOOTPRINT,
};
use super::recover::Resume;
use super::types::{PayloadCrc, RecordLoc, SegmentOptions, SegmentStats, SyncPolicy};
use super::{segment_path, SegmentError};
use crate::io::{tmp_path, Io, IoFile, OpenMode};

pub(crate) struct AppendRequest {
    /// Kind, payload, and the payload's own CRC32C (computed by the
    /// appender, so checksumming runs in parallel, off this thread: the
    /// writer only lays out headers and does I/O).
    pub records: Vec<(RecordKind, Bytes, PayloadCrc)>,
    /// Records that name where `records` landed (an object head naming
    /// its last data chunk), laid out right after them in the same batch.
    pub then: Option<FollowUp>,
    pub reply: oneshot::Sender<Result<Vec<RecordLoc>, SegmentError>>,
}

/// Builds the follow-up records from the locations of the first ones.
/// Their payload lengths are declared up front (`lens`), so room is made
/// before the locations are known; a builder that returns other lengths
/// fails the request.
pub(crate) struct FollowUp {
    pub lens: Vec<usize>,
    pub build: BuildFollowUp,
}

/// Makes the follow-up records from the first records' locations.
pub(crate) type BuildFollowUp = Box<dyn FnOnce(&[RecordLoc]) -> Vec<Checksummed> + Send>;

/// A record to append: kind, payload, the payload's CRC32C.
pub(crate) type Checksummed = (RecordKind, Bytes, PayloadCrc);

impl AppendRequest {
    fn footprint(&self) -> u64 {
        let first: u64 = self
            .records
            .iter()
            .map(|(_, p, _)| format::record_footprint(p.len() as u32))
            .sum();
        let then: u64 = self.then.as_ref().map_or(0, |t| {
            t.lens
                .iter()
                .map(|l| format::record_footprint(*l as u32))
                .sum()
        });
        first + then
    }
}

pub(crate) fn spawn(
    io: Io,
    dir: PathBuf,
    resume: Resume,
    options: SegmentOptions,
    rx: mpsc::Receiver<AppendRequest>,
    stats: Arc<SegmentStats>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("shale-segment-writer".into())
        .spawn(move || {
            let rt_io = io.clone();
            // Until the first append opens one: the next id is the newest.
            stats.last_segment.store(
                resume
                    .last
                    .map_or(1, |l| if l.sealed { l.id + 1 } else { l.id }),
                Ordering::Release,
            );
            let mut w = Writer {
                io,
                dir,
                options,
                stats,
                active: None,
                last_id: resume.last.map_or(0, |l| l.id),
                next_batch: resume.next_batch,
                resume: resume.last.filter(|l| !l.sealed),
                batch: BatchBuilder::default(),
            };
            // If no runtime can start, dropping `rx` answers every appender
            // with `Closed`.
            let _ = rt_io.block_on(w.run(rx));
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
    last_id: u64,
    next_batch: u64,
    /// The unsealed newest segment found by recovery, opened lazily.
    resume: Option<super::recover::LastSegment>,
    /// The batch being assembled.
    batch: BatchBuilder,
}

/// Requests staged in the current batch, with their locations.
type Staged = Vec<(
    oneshot::Sender<Result<Vec<RecordLoc>, SegmentError>>,
    Vec<RecordLoc>,
)>;

impl Writer {
    async fn run(&mut self, mut rx: mpsc::Receiver<AppendRequest>) {
        while let Some(first) = rx.recv().await {
            let mut bytes = first.footprint();
            let mut reqs = vec![first];
            while bytes < self.options.batch_bytes_max as u64 {
                match rx.try_recv() {
                    Ok(r) => {
                        bytes += r.footprint();
                        reqs.push(r);
                    }
                    Err(_) => break,
                }
            }
            self.commit(reqs).await;
        }
    }

    /// Writes the requests in as few batches as segment boundaries allow.
    async fn commit(&mut self, reqs: Vec<AppendRequest>) {
        let mut staged: Staged = Vec::new();
        let mut queue = reqs.into_iter();
        let mut failure = None;
        for req in queue.by_ref() {
            if let Err(e) = self.make_room(req.footprint(), &mut staged).await {
                let _ = req.reply.send(Err(e.clone()));
                failure = Some(e);
                break;
            }
            self.encode(req, &mut staged);
        }
        if failure.is_none() {
            if let Err(e) = self.flush(&mut staged).await {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            for (reply, _) in staged.drain(..) {
                let _ = reply.send(Err(e.clone()));
            }
            for req in queue {
                let _ = req.reply.send(Err(e.clone()));
            }
        }
    }

    /// Makes room for `need` bytes in the active segment: flushes what is
    /// staged and rolls over first if they would not fit.
    async fn make_room(&mut self, need: u64, staged: &mut Staged) -> Result<(), SegmentError> {
        self.ensure_active().await?;
        let (end, records) = self.active_pos();
        let used = end + self.batch.len();
        let has_data = records > 0 || !self.batch.is_empty();
        if has_data && used + need + SEAL_FOOTPRINT > self.options.segment_size_bytes_max {
            self.flush(staged).await?;
            self.roll().await?;
            self.ensure_active().await?;
        }
        Ok(())
    }

    /// Stages a request's records in the batch, in the active segment.
    fn encode(&mut self, req: AppendRequest, staged: &mut Staged) {
        let (end, _) = self.active_pos();
        let segment = self.active.as_ref().map_or(0, |a| a.id);
        let mut locs = Vec::with_capacity(req.records.len());
        for (kind, payload, crc) in &req.records {
            locs.push(self.push_record(segment, end, *kind, payload, crc.value()));
        }
        if let Some(then) = req.then {
            let first = locs.clone();
            let more = (then.build)(&first);
            let fits = more.len() == then.lens.len()
                && more.iter().zip(&then.lens).all(|((kind, p, crc), l)| {
                    p.len() == *l && crc.len() == *l as u64 && *kind != RecordKind::Seal
                });
            if !fits {
                // The first records are staged already; unreferenced, they
                // are garbage for compaction. The caller learns it failed.
                let _ = req.reply.send(Err(SegmentError::FollowUpMismatch));
                return;
            }
            for (kind, payload, crc) in &more {
                locs.push(self.push_record(segment, end, *kind, payload, crc.value()));
            }
        }
        staged.push((req.reply, locs));
    }

    /// Adds one record to the batch; where it will be (`end`: the active
    /// segment's end before the batch).
    fn push_record(
        &mut self,
        segment: u64,
        end: u64,
        kind: RecordKind,
        payload: &Bytes,
        crc: u32,
    ) -> RecordLoc {
        let offset = end + self.batch.len();
        self.batch
            .push(segment, kind, self.next_batch, payload, crc);
        RecordLoc {
            segment,
            offset,
            len: (RECORD_HEADER_LEN + payload.len()) as u32,
        }
    }

    fn active_pos(&self) -> (u64, u64) {
        self.active
            .as_ref()
            .map_or((HEADER_LEN as u64, 0), |a| (a.end, a.records))
    }

    /// Writes and syncs the staged batch, then answers its requests.
    async fn flush(&mut self, staged: &mut Staged) -> Result<(), SegmentError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let res = self.write_batch().await;
        self.next_batch += 1;
        res?;
        let n: usize = staged.iter().map(|(_, l)| l.len()).sum();
        if let Some(a) = self.active.as_mut() {
            a.records += n as u64;
        }
        self.stats
            .appends
            .fetch_add(staged.len() as u64, Ordering::Relaxed);
        self.stats.records.fetch_add(n as u64, Ordering::Relaxed);
        crate::metrics::SYNC
            .batch_appends
            .observe(staged.len() as f64);
        for (reply, locs) in staged.drain(..) {
            let _ = reply.send(Ok(locs));
        }
        Ok(())
    }

    /// Writes the assembled batch at the active end with one vectored
    /// write and syncs it; advances the end on success.
    async fn write_batch(&mut self) -> Result<(), SegmentError> {
        let sync = self.options.sync == SyncPolicy::Always;
        let len = self.batch.len();
        let bufs = self.batch.take();
        let a = self.active.as_mut().ok_or(SegmentError::NoActiveSegment)?;
        let path = segment_path(&self.dir, a.id);
        debug_assert!(a.end % format::RECORD_ALIGN == 0 && len % format::RECORD_ALIGN == 0);
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
                crate::metrics::SYNC.batch_bytes.observe(len as f64);
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
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

    /// Makes sure there is an active, clean segment to write to.
    async fn ensure_active(&mut self) -> Result<(), SegmentError> {
        if self.active.is_none() {
            // `resume` is cleared only once the segment is open: after a
            // failed open the next attempt must reopen it, not start anew.
            let active = match self.resume {
                Some(last) => {
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
                None => self.create_segment(self.last_id + 1)?,
            };
            self.last_id = active.id;
            self.stats.last_segment.store(active.id, Ordering::Release);
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

    /// Seals the active segment; the next write starts a new one.
    async fn roll(&mut self) -> Result<(), SegmentError> {
        let Some(a) = self.active.as_ref() else {
            return Ok(());
        };
        let seal = format::encode_seal(&Seal {
            record_count: a.records,
            data_end: a.end,
        });
        let id = a.id;
        self.batch.push(
            id,
            RecordKind::Seal,
            self.next_batch,
            &Bytes::copy_from_slice(&seal),
            crc32c::crc32c(&seal),
        );
        let res = self.write_batch().await;
        self.next_batch += 1;
        res?;
        self.active = None;
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
        Ok(Active {
            id,
            file,
            end: HEADER_LEN as u64,
            records: 0,
            dirty: false,
        })
    }
}
