//! The bucket index's part of the node's write-ahead log
//! (`format-spec/wal.md`): every shard's log entries are records of the
//! node's one segment store, group-committed with the object data and
//! heads they describe, so a PUT is durable after one fdatasync and no
//! shard owns a thread, a file descriptor or an fsync stream.
//!
//! - [`WalStep`] is the record payload: which shard (bucket, bucket
//!   instance, generation, shard) and the bilog entry (`bilog.md`).
//! - [`IndexWal`] reads the log past the node's replay point once at
//!   start and hands each shard its entries when the shard opens; it keeps
//!   the replay point (a small file beside the segments).
//! - [`ShardLog`] is one shard's view: it places the shard's batches and
//!   remembers where each retained entry lives, so reading from a marker
//!   costs O(log n + entries), whatever the log's length.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use thiserror::Error;

use super::bilog::BilogEntry;
use crate::io::{Io, OpenMode};
use crate::le::{put, u16_at, u32_at, u64_at};
use crate::segment::{RecordKind, RecordLoc, SegmentError, SegmentOptions, SegmentStore};

pub const WAL_STEP_MAGIC: [u8; 4] = *b"SWIX";
pub const WAL_STEP_VERSION: u8 = 1;
/// Fixed bytes before the bucket name.
pub const WAL_STEP_FIXED_LEN: usize = 24;
pub const REPLAY_MAGIC: [u8; 4] = *b"SWRP";
pub const REPLAY_VERSION: u16 = 1;
pub const REPLAY_LEN: usize = 32;
/// The replay point's file, in the segment directory.
pub const REPLAY_FILE: &str = "REPLAY";
/// Longest bucket name a step may carry.
pub const BUCKET_NAME_MAX: usize = 255;

#[derive(Debug, Error)]
pub enum WalError {
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error("write-ahead log step: {0}")]
    BadStep(String),
    #[error("{}: {reason}", path.display())]
    BadReplayPoint { path: PathBuf, reason: String },
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the log record at segment {segment:016x} offset {offset} is not this shard's entry {marker}")]
    Misplaced {
        segment: u64,
        offset: u64,
        marker: u64,
    },
}

/// Which shard a log entry belongs to. `instance` tells apart buckets of
/// one name (a bucket deleted and created again): its creation time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardName {
    pub bucket: Arc<str>,
    pub instance: u64,
    pub generation: u32,
    pub shard: u32,
}

/// A record of the write-ahead log holding one shard's log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalStep {
    pub shard: ShardName,
    pub entry: BilogEntry,
}

impl WalStep {
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WalError> {
        let name = self.shard.bucket.as_bytes();
        if name.is_empty() || name.len() > BUCKET_NAME_MAX {
            return Err(WalError::BadStep(format!(
                "bucket name of {} bytes",
                name.len()
            )));
        }
        let mut fixed = [0u8; WAL_STEP_FIXED_LEN];
        put(&mut fixed, 0, &WAL_STEP_MAGIC);
        put(&mut fixed, 4, &[WAL_STEP_VERSION, 0]);
        put(&mut fixed, 6, &(name.len() as u16).to_le_bytes());
        put(&mut fixed, 8, &self.shard.instance.to_le_bytes());
        put(&mut fixed, 16, &self.shard.generation.to_le_bytes());
        put(&mut fixed, 20, &self.shard.shard.to_le_bytes());
        out.extend_from_slice(&fixed);
        out.extend_from_slice(name);
        self.entry
            .encode(out)
            .map_err(|e| WalError::BadStep(e.to_string()))
    }

    pub fn decode(b: &[u8]) -> Result<WalStep, WalError> {
        let bad = |m: &str| WalError::BadStep(m.to_string());
        if b.get(..4) != Some(&WAL_STEP_MAGIC[..]) {
            return Err(bad("bad magic"));
        }
        match b.get(4..6) {
            Some([WAL_STEP_VERSION, 0]) => {}
            Some([WAL_STEP_VERSION, _]) => return Err(bad("reserved byte is not zero")),
            Some([v, _]) => return Err(bad(&format!("unknown version {v}"))),
            _ => return Err(bad("cut short")),
        }
        let name_len = u16_at(b, 6).ok_or_else(|| bad("cut short"))? as usize;
        if name_len == 0 || name_len > BUCKET_NAME_MAX {
            return Err(bad("bucket name length out of range"));
        }
        let name = b
            .get(WAL_STEP_FIXED_LEN..WAL_STEP_FIXED_LEN + name_len)
            .ok_or_else(|| bad("cut short"))?;
        let bucket = std::str::from_utf8(name).map_err(|_| bad("bucket name is not UTF-8"))?;
        let rest = b
            .get(WAL_STEP_FIXED_LEN + name_len..)
            .ok_or_else(|| bad("cut short"))?;
        let entry = BilogEntry::decode(rest).map_err(|e| WalError::BadStep(e.to_string()))?;
        Ok(WalStep {
            shard: ShardName {
                bucket: Arc::from(bucket),
                instance: u64_at(b, 8).ok_or_else(|| bad("cut short"))?,
                generation: u32_at(b, 16).ok_or_else(|| bad("cut short"))?,
                shard: u32_at(b, 20).ok_or_else(|| bad("cut short"))?,
            },
            entry,
        })
    }
}

/// Where replay starts: every shard's entries that its checkpoint does not
/// hold are at or after this (segment, offset).
pub fn encode_replay_point(segment: u64, offset: u64) -> [u8; REPLAY_LEN] {
    let mut b = [0u8; REPLAY_LEN];
    put(&mut b, 0, &REPLAY_MAGIC);
    put(&mut b, 4, &REPLAY_VERSION.to_le_bytes());
    put(&mut b, 8, &segment.to_le_bytes());
    put(&mut b, 16, &offset.to_le_bytes());
    let crc = crc32c::crc32c(b.get(..28).unwrap_or_default());
    put(&mut b, 28, &crc.to_le_bytes());
    b
}

pub fn decode_replay_point(b: &[u8]) -> Result<(u64, u64), String> {
    if b.len() != REPLAY_LEN {
        return Err(format!("{} bytes, not {REPLAY_LEN}", b.len()));
    }
    if b.get(..4) != Some(&REPLAY_MAGIC[..]) {
        return Err("bad magic".into());
    }
    if crc32c::crc32c(b.get(..28).unwrap_or_default()) != u32_at(b, 28).unwrap_or_default() {
        return Err("checksum mismatch".into());
    }
    let version = u16_at(b, 4).unwrap_or_default();
    if version != REPLAY_VERSION {
        return Err(format!("unknown version {version}"));
    }
    if u16_at(b, 6) != Some(0) || u32_at(b, 24) != Some(0) {
        return Err("reserved bytes are not zero".into());
    }
    Ok((
        u64_at(b, 8).unwrap_or_default(),
        u64_at(b, 16).unwrap_or_default(),
    ))
}

/// Entries read at start for one shard, in log order.
type Replayed = Vec<(RecordLoc, BilogEntry)>;

/// The index's handle on the node's write-ahead log.
pub struct IndexWal {
    io: Io,
    store: SegmentStore,
    replay: Mutex<HashMap<ShardName, Replayed>>,
    /// The persisted replay point.
    replay_from: Mutex<(u64, u64)>,
    /// What the replay at start read: (entries, bytes read).
    replayed: (u64, u64),
}

impl IndexWal {
    /// Attaches to the node's segment store (just opened, nothing placed
    /// yet) and reads the index entries past the replay point. A store
    /// without a replay point has never held index entries (a new data
    /// dir, or one from before the node log): its end becomes the point.
    pub fn attach(io: &Io, store: SegmentStore) -> Result<Arc<IndexWal>, WalError> {
        let path = store.dir().join(REPLAY_FILE);
        let exists = io.exists(&path).map_err(|source| WalError::Io {
            op: "checking",
            path: path.clone(),
            source,
        })?;
        let from = if exists {
            let b = io.read_file(&path).map_err(|source| WalError::Io {
                op: "reading",
                path: path.clone(),
                source,
            })?;
            decode_replay_point(&b).map_err(|reason| WalError::BadReplayPoint {
                path: path.clone(),
                reason,
            })?
        } else {
            let end = store.placed_end();
            write_replay_point(io, &path, end)?;
            end
        };
        let mut replay: HashMap<ShardName, Replayed> = HashMap::new();
        let mut entries = 0u64;
        let bytes = crate::segment::follow::records_from(
            io,
            store.dir(),
            from,
            RecordKind::LogEntry,
            |loc, payload| {
                let step = WalStep::decode(payload).map_err(|e| e.to_string())?;
                entries += 1;
                replay
                    .entry(step.shard)
                    .or_default()
                    .push((loc, step.entry));
                Ok(())
            },
        )?;
        Ok(Arc::new(IndexWal {
            io: io.clone(),
            store,
            replay: Mutex::new(replay),
            replay_from: Mutex::new(from),
            replayed: (entries, bytes),
        }))
    }

    /// A log of its own in `dir` (tests, tools): a segment store there.
    pub fn open_in(io: &Io, dir: &Path) -> Result<Arc<IndexWal>, WalError> {
        let (store, _) = SegmentStore::open(io.clone(), dir, SegmentOptions::default())?;
        IndexWal::attach(io, store)
    }

    pub fn store(&self) -> &SegmentStore {
        &self.store
    }

    /// Entries and bytes the replay at start read.
    pub fn replayed(&self) -> (u64, u64) {
        self.replayed
    }

    /// Takes the entries read at start for `name` (once).
    pub fn take_replay(&self, name: &ShardName) -> Replayed {
        self.replay.lock().remove(name).unwrap_or_default()
    }

    /// Whether the start read entries for `name` that it has not taken.
    pub fn has_replay(&self, name: &ShardName) -> bool {
        self.replay.lock().contains_key(name)
    }

    /// Shards with entries read at start that no shard has taken.
    pub fn unclaimed(&self) -> Vec<ShardName> {
        self.replay.lock().keys().cloned().collect()
    }

    /// Forgets entries no shard took (buckets removed, generations
    /// replaced): once every live shard is open, they belong to nothing.
    pub fn drop_unclaimed(&self) -> usize {
        let mut r = self.replay.lock();
        let n = r.values().map(Vec::len).sum();
        r.clear();
        n
    }

    pub fn replay_from(&self) -> (u64, u64) {
        *self.replay_from.lock()
    }

    /// Moves the replay point forward to `to` (never back) and makes it
    /// durable. Everything a shard needs for replay must be at or after
    /// it: the caller checkpointed every shard with entries before it.
    pub fn advance_replay_point(&self, to: (u64, u64)) -> Result<(), WalError> {
        let mut g = self.replay_from.lock();
        if to <= *g {
            return Ok(());
        }
        write_replay_point(&self.io, &self.store.dir().join(REPLAY_FILE), to)?;
        *g = to;
        Ok(())
    }
}

fn write_replay_point(io: &Io, path: &Path, at: (u64, u64)) -> Result<(), WalError> {
    io.write_file_atomic(path, &encode_replay_point(at.0, at.1), 0o600)
        .map_err(|source| WalError::Io {
            op: "writing",
            path: path.to_path_buf(),
            source,
        })
}

#[derive(Default)]
struct LogState {
    /// Where each retained entry lives (placed ones included: readers see
    /// only those up to `last`).
    locs: BTreeMap<u64, RecordLoc>,
    /// The highest durable marker.
    last: u64,
}

/// One shard's entries in the node log.
pub struct ShardLog {
    wal: Arc<IndexWal>,
    name: ShardName,
    state: Arc<Mutex<LogState>>,
}

impl ShardLog {
    pub fn new(wal: &Arc<IndexWal>, name: ShardName) -> ShardLog {
        ShardLog {
            wal: Arc::clone(wal),
            name,
            state: Arc::default(),
        }
    }

    pub fn name(&self) -> &ShardName {
        &self.name
    }

    /// Remembers entries read at start (they are durable).
    pub fn adopt_replayed(&self, replayed: &[(RecordLoc, BilogEntry)]) {
        let mut s = self.state.lock();
        for (loc, e) in replayed {
            s.locs.insert(e.marker, *loc);
            s.last = s.last.max(e.marker);
        }
    }

    /// Continues after `marker` (the shard's tree holds everything up to
    /// it).
    pub fn resume_after(&self, marker: u64) {
        let mut s = self.state.lock();
        s.last = s.last.max(marker);
    }

    pub fn last_marker(&self) -> u64 {
        self.state.lock().last
    }

    /// Places `batch` (contiguous markers) in the node log now; returns
    /// what resolves once it is durable. Placed whether or not that is
    /// polled.
    pub fn submit(
        &self,
        batch: &[BilogEntry],
    ) -> Result<impl std::future::Future<Output = Result<(), WalError>> + Send + 'static, WalError>
    {
        let mut records = Vec::with_capacity(batch.len());
        for e in batch {
            let mut b = Vec::new();
            WalStep {
                shard: self.name.clone(),
                entry: e.clone(),
            }
            .encode(&mut b)?;
            records.push((RecordKind::LogEntry, Bytes::from(b)));
        }
        let (locs, durable) = self.wal.store.place_many(records)?;
        let last = batch.last().map_or(0, |e| e.marker);
        {
            let mut s = self.state.lock();
            for (e, loc) in batch.iter().zip(&locs) {
                s.locs.insert(e.marker, *loc);
            }
        }
        let state = Arc::clone(&self.state);
        Ok(async move {
            durable.await?;
            let mut s = state.lock();
            s.last = s.last.max(last);
            Ok(())
        })
    }

    /// Durable entries from `from` on, at most `limit`, read from the node
    /// log by their locations.
    pub fn read_from(&self, from: u64, limit: usize) -> Result<Vec<BilogEntry>, WalError> {
        let wanted: Vec<(u64, RecordLoc)> = {
            let s = self.state.lock();
            if from > s.last {
                return Ok(Vec::new());
            }
            s.locs
                .range(from..=s.last)
                .take(limit)
                .map(|(m, l)| (*m, *l))
                .collect()
        };
        let dir = self.wal.store.dir();
        let mut out = Vec::with_capacity(wanted.len());
        let mut open: Option<(u64, crate::io::IoFile)> = None;
        for (marker, loc) in wanted {
            if open.as_ref().map(|(id, _)| *id) != Some(loc.segment) {
                let path = crate::segment::segment_path(dir, loc.segment);
                let f = self
                    .wal
                    .io
                    .open(&path, OpenMode::Read)
                    .map_err(|source| WalError::Io {
                        op: "opening",
                        path: path.clone(),
                        source,
                    })?;
                open = Some((loc.segment, f));
            }
            let Some((_, f)) = open.as_ref() else {
                continue;
            };
            let mut b = vec![0u8; loc.len as usize];
            f.read_exact_at_blocking(&mut b, loc.offset)
                .map_err(|source| WalError::Io {
                    op: "reading",
                    path: crate::segment::segment_path(dir, loc.segment),
                    source,
                })?;
            let rec = crate::segment::format::decode_record(loc.segment, &b).map_err(|e| {
                WalError::Segment(SegmentError::BadRecord {
                    segment: loc.segment,
                    offset: loc.offset,
                    source: e,
                })
            })?;
            let step = WalStep::decode(rec.payload)?;
            if step.shard != self.name || step.entry.marker != marker {
                return Err(WalError::Misplaced {
                    segment: loc.segment,
                    offset: loc.offset,
                    marker,
                });
            }
            out.push(step.entry);
        }
        Ok(out)
    }

    /// Forgets entries below `marker` (every consumer has them).
    pub fn trim_below(&self, marker: u64) {
        let mut s = self.state.lock();
        let keep = s.locs.split_off(&marker);
        s.locs = keep;
    }

    /// Where the oldest retained entry lives: the node log must keep it.
    pub fn first_retained(&self) -> Option<RecordLoc> {
        self.state.lock().locs.values().next().copied()
    }

    /// Where the oldest entry above `marker` lives (what replay needs
    /// if the shard's checkpoint is at `marker`).
    pub fn first_after(&self, marker: u64) -> Option<RecordLoc> {
        self.state
            .lock()
            .locs
            .range(marker + 1..)
            .next()
            .map(|(_, l)| *l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::bilog::BilogOp;
    use crate::index::key::SortKey;

    #[test]
    fn steps_and_replay_points_round_trip() {
        let step = WalStep {
            shard: ShardName {
                bucket: Arc::from("photos"),
                instance: 7,
                generation: 2,
                shard: 5,
            },
            entry: BilogEntry {
                op: BilogOp::Prepare,
                generation: 2,
                marker: 9,
                tag: 11,
                mtime_nanos: 12,
                source_zone: 1,
                key: SortKey::Head { key: b"k".to_vec() },
                entry: None,
            },
        };
        let mut b = Vec::new();
        step.encode(&mut b).unwrap();
        assert_eq!(WalStep::decode(&b).unwrap(), step);
        for cut in 0..b.len() {
            assert!(WalStep::decode(&b[..cut]).is_err());
        }
        let p = encode_replay_point(3, 4096);
        assert_eq!(decode_replay_point(&p).unwrap(), (3, 4096));
        let mut bad = p;
        bad[9] ^= 1;
        assert!(decode_replay_point(&bad).is_err());
    }
}
