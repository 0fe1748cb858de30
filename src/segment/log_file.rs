//! A log on disk: entries as `LogEntry` records in their own segment
//! directory (framing, group commit and crash recovery are the segment
//! store's, `format-spec/segment.md`). Markers are contiguous and only
//! grow; readers see only durable entries; the log is trimmed, by whole
//! sealed segments, only below the lowest marker every registered consumer
//! has confirmed. The bucket index logs (`format-spec/bilog.md`) and the
//! metadata log (`mdlog.md`) are two of these, with their own entries.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use thiserror::Error;

use super::recover::list_segments;
use super::scan::{self, Tail};
use super::{segment_path, RecordKind, SegmentError, SegmentOptions, SegmentStore};
use crate::io::{Io, OpenMode};

/// An entry a log holds: it has a marker and a byte encoding.
pub trait LogRecord: Sized {
    fn marker(&self) -> u64;
    fn to_bytes(&self) -> Result<Vec<u8>, String>;
    fn from_bytes(b: &[u8]) -> Result<Self, String>;
}

#[derive(Debug, Error)]
pub enum LogFileError {
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error("{}: log entry at offset {offset}: {reason}", path.display())]
    BadEntry {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("log entry {got} does not follow {last}")]
    MarkerNotNext { last: u64, got: u64 },
    #[error(transparent)]
    Append(Arc<LogFileError>),
    #[error("consumer {0} is not registered")]
    UnknownConsumer(String),
    #[error("consumer {name} confirmed {marker}, below its earlier {confirmed}")]
    MarkerWentBack {
        name: String,
        marker: u64,
        confirmed: u64,
    },
}

pub struct LogFile<E> {
    io: Io,
    dir: PathBuf,
    store: SegmentStore,
    /// The highest durable marker (0: empty log); shared with appends in
    /// flight, which raise it when they become durable.
    last: Arc<Mutex<u64>>,
    entries: PhantomData<fn() -> E>,
}

impl<E: LogRecord> LogFile<E> {
    /// Opens (creating if needed) the log in `dir`, recovering it; its
    /// segments roll at `segment_bytes` (small, so that trimming frees
    /// space in fine steps).
    pub fn open(io: &Io, dir: &Path, segment_bytes: u64) -> Result<LogFile<E>, LogFileError> {
        let options = SegmentOptions {
            segment_size_bytes_max: segment_bytes,
            ..SegmentOptions::default()
        };
        let (store, _report) = SegmentStore::open(io.clone(), dir, options)?;
        let log = LogFile {
            io: io.clone(),
            dir: dir.to_path_buf(),
            store,
            last: Arc::new(Mutex::new(0)),
            entries: PhantomData,
        };
        let last = log
            .scan(0, usize::MAX)?
            .last()
            .map_or(0, |e: &E| e.marker());
        *log.last.lock() = last;
        Ok(log)
    }

    /// The highest durable marker.
    pub fn last_marker(&self) -> u64 {
        *self.last.lock()
    }

    /// Continues the log after `marker` if it holds less: entries up to a
    /// checkpoint may all have been trimmed, and the next append must
    /// still follow the checkpoint.
    pub fn resume_after(&self, marker: u64) {
        let mut last = self.last.lock();
        *last = (*last).max(marker);
    }

    /// Appends entries whose markers continue the log; returns once they
    /// are durable. One appender at a time (the shard's writer).
    pub async fn append(&self, entries: &[E]) -> Result<(), LogFileError> {
        self.submit(entries)?.await
    }

    /// Hands entries whose markers continue the log to the writer at once
    /// and returns what resolves when they are durable (and raises the
    /// durable marker). The append happens even if the returned future is
    /// dropped unpolled, so an appender that may be abandoned keeps the
    /// future where someone else can finish it. One appender at a time,
    /// with one submitted append in flight: the next one's markers follow
    /// the durable marker only once this one resolved.
    pub fn submit(
        &self,
        entries: &[E],
    ) -> Result<
        impl std::future::Future<Output = Result<(), LogFileError>> + Send + 'static,
        LogFileError,
    > {
        let last = self.last_marker();
        let mut records = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let want = last + 1 + i as u64;
            if e.marker() != want {
                return Err(LogFileError::MarkerNotNext {
                    last: want - 1,
                    got: e.marker(),
                });
            }
            let b = e.to_bytes().map_err(|reason| LogFileError::BadEntry {
                path: self.dir.clone(),
                offset: 0,
                reason,
            })?;
            records.push((RecordKind::LogEntry, Bytes::from(b)));
        }
        let durable = self.store.submit_many(records)?;
        let new_last = entries.last().map(LogRecord::marker);
        let last = Arc::clone(&self.last);
        Ok(async move {
            durable.await?;
            if let Some(m) = new_last {
                let mut l = last.lock();
                *l = (*l).max(m);
            }
            Ok(())
        })
    }

    /// Up to `limit` durable entries with marker >= `from`, in order.
    pub fn read_from(&self, from: u64, limit: usize) -> Result<Vec<E>, LogFileError> {
        let last = self.last_marker();
        let mut out = self.scan(from, limit)?;
        out.retain(|e| e.marker() <= last);
        Ok(out)
    }

    fn scan(&self, from: u64, limit: usize) -> Result<Vec<E>, LogFileError> {
        let (ids, _) = list_segments(&self.io, &self.dir)?;
        let mut out = Vec::new();
        for id in ids {
            let path = segment_path(&self.dir, id);
            let file = self
                .io
                .open(&path, OpenMode::Read)
                .map_err(|e| SegmentError::io("opening", &path, e))?;
            let mut bad = None;
            let report = scan::scan_segment(&file, |info, payload| {
                if info.kind != RecordKind::LogEntry || bad.is_some() || out.len() >= limit {
                    return;
                }
                match E::from_bytes(payload) {
                    Ok(e) if e.marker() >= from => out.push(e),
                    Ok(_) => {}
                    Err(reason) => bad = Some((info.offset, reason)),
                }
            })
            .map_err(|e| crate::segment::recover::scan_error(&path, e))?;
            if let Some((offset, reason)) = bad {
                return Err(LogFileError::BadEntry {
                    path,
                    offset,
                    reason,
                });
            }
            // A torn tail is a batch being written (not yet durable, so
            // beyond `last`); corruption is an error, never skipped.
            if let Tail::Corrupt { offset, reason, .. } = report.tail {
                return Err(SegmentError::Corrupt {
                    path,
                    offset,
                    reason,
                }
                .into());
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Removes sealed log segments holding only entries below `marker`
    /// (pass the lowest marker every consumer confirmed). Returns how many
    /// segments were removed.
    pub fn trim_below(&self, marker: u64) -> Result<usize, LogFileError> {
        let (ids, _) = list_segments(&self.io, &self.dir)?;
        let mut removed = 0;
        // Never the newest segment: the writer appends there.
        for &id in ids.iter().rev().skip(1).rev() {
            let path = segment_path(&self.dir, id);
            let file = self
                .io
                .open(&path, OpenMode::Read)
                .map_err(|e| SegmentError::io("opening", &path, e))?;
            let mut max_marker = 0;
            scan::scan_segment(&file, |info, payload| {
                if info.kind == RecordKind::LogEntry {
                    if let Ok(e) = E::from_bytes(payload) {
                        max_marker = max_marker.max(e.marker());
                    }
                }
            })
            .map_err(|e| crate::segment::recover::scan_error(&path, e))?;
            if max_marker >= marker {
                break;
            }
            self.io
                .remove_file(&path)
                .map_err(|e| SegmentError::io("removing", &path, e))?;
            removed += 1;
        }
        if removed > 0 {
            self.io
                .sync_dir(&self.dir)
                .map_err(|e| SegmentError::io("syncing", &self.dir, e))?;
        }
        Ok(removed)
    }
}

/// An append's outcome, shareable by everyone who waits for it.
type Durable = futures_util::future::Shared<
    futures_util::future::BoxFuture<'static, Result<(), Arc<LogFileError>>>,
>;

/// Appends entries one at a time to a log whose table shows an entry once
/// it is durable (the metadata and job logs), such that an append whose
/// caller is dropped at the await (a request whose client left) is still
/// applied: the entry stays pending here and the next append applies it
/// first, before building its own on the table. Without this the table
/// would lag the log and the next entry would reuse the marker. Callers
/// serialize appends themselves (a commit lock).
pub struct SerialAppender<E> {
    pending: Mutex<Option<(E, Durable)>>,
}

impl<E> Default for SerialAppender<E> {
    fn default() -> Self {
        SerialAppender {
            pending: Mutex::new(None),
        }
    }
}

impl<E: LogRecord + Clone + Send + 'static> SerialAppender<E> {
    /// Applies (`apply`) the entry of an append whose caller was dropped,
    /// once it is durable; one that failed is forgotten (the log's marker
    /// did not move, so the next entry takes its place).
    pub async fn finish_pending(&self, apply: impl Fn(&E)) -> Result<(), LogFileError> {
        let Some(durable) = self.pending.lock().as_ref().map(|(_, d)| d.clone()) else {
            return Ok(());
        };
        let outcome = durable.await;
        if let Some((entry, _)) = self.pending.lock().take() {
            if outcome.is_ok() {
                apply(&entry);
            }
        }
        outcome.map_err(LogFileError::Append)
    }

    /// Appends `entry` (after finishing a pending one) and applies it once
    /// it is durable, even if this future is dropped before then.
    pub async fn append(
        &self,
        log: &LogFile<E>,
        entry: E,
        apply: impl Fn(&E),
    ) -> Result<(), LogFileError> {
        use futures_util::FutureExt;
        // A failed pending append does not stop this one.
        let _ = self.finish_pending(&apply).await;
        let durable: Durable = log
            .submit(std::slice::from_ref(&entry))?
            .map(|r| r.map_err(Arc::new))
            .boxed()
            .shared();
        *self.pending.lock() = Some((entry, durable));
        self.finish_pending(apply).await
    }
}

/// Who reads a log and how far each has confirmed: the shard checkpoint
/// today, each peer zone later. Confirmed markers only grow.
#[derive(Clone, Debug, Default)]
pub struct Consumers {
    confirmed: BTreeMap<String, u64>,
}

impl Consumers {
    pub fn register(&mut self, name: &str, at: u64) {
        self.confirmed.entry(name.to_string()).or_insert(at);
    }

    pub fn unregister(&mut self, name: &str) {
        self.confirmed.remove(name);
    }

    pub fn confirm(&mut self, name: &str, marker: u64) -> Result<(), LogFileError> {
        let c = self
            .confirmed
            .get_mut(name)
            .ok_or_else(|| LogFileError::UnknownConsumer(name.to_string()))?;
        if marker < *c {
            return Err(LogFileError::MarkerWentBack {
                name: name.to_string(),
                marker,
                confirmed: *c,
            });
        }
        *c = marker;
        Ok(())
    }

    /// How many consumers are registered.
    pub fn len(&self) -> usize {
        self.confirmed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.confirmed.is_empty()
    }

    /// The log may be trimmed below this (entries up to it are confirmed
    /// by everyone); 0 with no consumer keeps everything.
    pub fn trim_point(&self) -> u64 {
        self.confirmed.values().min().map_or(0, |m| m + 1)
    }
}
