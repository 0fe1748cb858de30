//! A shard's bucket index log on disk: bilog entries as `LogEntry` records
//! in their own segment directory (framing, group commit and crash
//! recovery are the segment store's, `format-spec/segment.md`). Markers
//! are contiguous and only grow; readers see only durable entries; the
//! log is trimmed, by whole sealed segments, only below the lowest marker
//! every registered consumer has confirmed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use parking_lot::Mutex;
use thiserror::Error;

use super::bilog::{BilogEntry, BilogError};
use crate::io::{Io, OpenMode};
use crate::segment::recover::list_segments;
use crate::segment::scan::{self, Tail};
use crate::segment::{segment_path, RecordKind, SegmentError, SegmentOptions, SegmentStore};

#[derive(Debug, Error)]
pub enum BilogFileError {
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error("{}: log entry at offset {offset}: {source}", path.display())]
    BadEntry {
        path: PathBuf,
        offset: u64,
        source: BilogError,
    },
    #[error("log entry {got} does not follow {last}")]
    MarkerNotNext { last: u64, got: u64 },
    #[error("consumer {0} is not registered")]
    UnknownConsumer(String),
    #[error("consumer {name} confirmed {marker}, below its earlier {confirmed}")]
    MarkerWentBack {
        name: String,
        marker: u64,
        confirmed: u64,
    },
}

/// Log segments are small so that trimming frees space in fine steps.
pub const BILOG_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

pub struct BilogFile {
    io: Io,
    dir: PathBuf,
    store: SegmentStore,
    /// The highest durable marker (0: empty log).
    last: Mutex<u64>,
}

impl BilogFile {
    /// Opens (creating if needed) the log in `dir`, recovering it.
    pub fn open(io: &Io, dir: &Path) -> Result<BilogFile, BilogFileError> {
        let options = SegmentOptions {
            segment_size_bytes_max: BILOG_SEGMENT_BYTES,
            ..SegmentOptions::default()
        };
        let (store, _report) = SegmentStore::open(io.clone(), dir, options)?;
        let log = BilogFile {
            io: io.clone(),
            dir: dir.to_path_buf(),
            store,
            last: Mutex::new(0),
        };
        let last = log.scan(0, usize::MAX)?.last().map_or(0, |e| e.marker);
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
    pub async fn append(&self, entries: &[BilogEntry]) -> Result<(), BilogFileError> {
        let last = self.last_marker();
        let mut records = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let want = last + 1 + i as u64;
            if e.marker != want {
                return Err(BilogFileError::MarkerNotNext {
                    last: want - 1,
                    got: e.marker,
                });
            }
            let mut b = Vec::new();
            e.encode(&mut b)
                .map_err(|source| BilogFileError::BadEntry {
                    path: self.dir.clone(),
                    offset: 0,
                    source,
                })?;
            records.push((RecordKind::LogEntry, Bytes::from(b)));
        }
        self.store.append_many(records).await?;
        if let Some(e) = entries.last() {
            *self.last.lock() = e.marker;
        }
        Ok(())
    }

    /// Up to `limit` durable entries with marker >= `from`, in order.
    pub fn read_from(&self, from: u64, limit: usize) -> Result<Vec<BilogEntry>, BilogFileError> {
        let last = self.last_marker();
        let mut out = self.scan(from, limit)?;
        out.retain(|e| e.marker <= last);
        Ok(out)
    }

    fn scan(&self, from: u64, limit: usize) -> Result<Vec<BilogEntry>, BilogFileError> {
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
                match BilogEntry::decode(payload) {
                    Ok(e) if e.marker >= from => out.push(e),
                    Ok(_) => {}
                    Err(source) => bad = Some((info.offset, source)),
                }
            })
            .map_err(|e| crate::segment::recover::scan_error(&path, e))?;
            if let Some((offset, source)) = bad {
                return Err(BilogFileError::BadEntry {
                    path,
                    offset,
                    source,
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
    pub fn trim_below(&self, marker: u64) -> Result<usize, BilogFileError> {
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
                    if let Ok(e) = BilogEntry::decode(payload) {
                        max_marker = max_marker.max(e.marker);
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

    pub fn confirm(&mut self, name: &str, marker: u64) -> Result<(), BilogFileError> {
        let c = self
            .confirmed
            .get_mut(name)
            .ok_or_else(|| BilogFileError::UnknownConsumer(name.to_string()))?;
        if marker < *c {
            return Err(BilogFileError::MarkerWentBack {
                name: name.to_string(),
                marker,
                confirmed: *c,
            });
        }
        *c = marker;
        Ok(())
    }

    /// The log may be trimmed below this (entries up to it are confirmed
    /// by everyone); 0 with no consumer keeps everything.
    pub fn trim_point(&self) -> u64 {
        self.confirmed.values().min().map_or(0, |m| m + 1)
    }
}
