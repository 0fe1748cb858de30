//! Space reclamation. A pass counts the live bytes of every sealed data
//! segment (the records that index entries — heads and versions — and
//! open multipart uploads reference), picks the mostly-dead ones, moves
//! their live records into the active segment, and points the index at
//! the new places with a conditional update (only where the entry still
//! names the old place; a version keeps its currency, see `index::txn`).
//! The emptied segments are marked first and removed only after a grace
//! period during which a reader may still hold an old location (seed
//! `smaug-checkpoint-leases-irc.txt`: mark first, destroy later), and only
//! if a fresh count still finds nothing live in them.
//!
//! It needs little free space: a segment's live bytes are moved before
//! the next segment is looked at, and a pass moves at most
//! `max_move_bytes`. Segments a write in progress may land in
//! (`ObjectStore::compaction_floor`) and segments holding parts of open
//! multipart uploads are left alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use super::head::ObjectHead;
use super::multipart::Uploads;
use super::references::Reference;
use super::store::{Bucket, ObjectStore};
use crate::index::entry::IndexEntry;
use crate::index::key::SortKey;
use crate::io::Io;
use crate::s3::{S3Error, S3ErrorCode};
use crate::segment::recover::list_segments;
use crate::segment::{segment_path, RecordKind, RecordLoc};

/// Settings of a pass.
#[derive(Clone, Copy, Debug)]
pub struct CompactOptions {
    /// A sealed segment whose live bytes are below this fraction of its
    /// size is compacted.
    pub live_fraction: f64,
    /// Live bytes one pass moves at most.
    pub max_move_bytes: u64,
    /// How long an emptied segment stays before it is removed.
    pub grace: Duration,
    /// Bytes moved per second at most (0: no limit), so foreground
    /// writes are not stuck behind the moves' group commits.
    pub max_bytes_per_sec: u64,
}

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CompactReport {
    /// Sealed segments counted.
    pub segments: u64,
    /// Their bytes on disk, and the live bytes in them.
    pub segment_bytes: u64,
    pub live_bytes: u64,
    /// Segments compacted this pass.
    pub compacted: u64,
    /// Objects (heads and their chunks) moved, and their bytes.
    pub moved_objects: u64,
    pub moved_bytes: u64,
    /// Moves skipped because the entry changed meanwhile (its old bytes
    /// are dead then anyway).
    pub skipped: u64,
    /// Segments removed (their grace period over), and the bytes freed.
    pub removed: u64,
    pub freed_bytes: u64,
    /// Segments waiting for their grace period.
    pub waiting: u64,
}

/// Compacted segments waiting to be removed.
#[derive(Default)]
pub struct Dying {
    segments: parking_lot::Mutex<BTreeMap<u64, Instant>>,
}

fn internal(what: &str, e: impl std::fmt::Display) -> S3Error {
    S3Error::new(S3ErrorCode::InternalError, format!("{what}: {e}"))
}

/// One entry that references a candidate segment.
struct Ref {
    bucket: Arc<Bucket>,
    key: SortKey,
    entry: IndexEntry,
}

/// Live bytes per segment, and who references the candidates.
struct Count {
    live: HashMap<u64, u64>,
    refs: HashMap<u64, Vec<usize>>,
    all: Vec<Ref>,
    /// Segments holding parts of open multipart uploads.
    with_parts: BTreeSet<u64>,
}

/// Counts what is live, remembering the references into `candidates`.
async fn count(
    store: &ObjectStore,
    uploads: &Uploads,
    candidates: &BTreeSet<u64>,
) -> Result<Count, S3Error> {
    let mut c = Count {
        live: HashMap::new(),
        refs: HashMap::new(),
        all: Vec::new(),
        with_parts: BTreeSet::new(),
    };
    super::references::walk(store, uploads, |r| {
        match r {
            Reference::Entry {
                bucket,
                key,
                entry: e,
                head,
            } => {
                let head = head.map_err(|err| internal("reading an object head", err))?;
                *c.live.entry(e.head.segment).or_default() += u64::from(e.head.len);
                let mut touches = candidates.contains(&e.head.segment);
                for ch in &head.chunks {
                    *c.live.entry(ch.loc.segment).or_default() += u64::from(ch.loc.len);
                    touches |= candidates.contains(&ch.loc.segment);
                }
                if touches {
                    let i = c.all.len();
                    let segs: BTreeSet<u64> = std::iter::once(e.head.segment)
                        .chain(head.chunks.iter().map(|ch| ch.loc.segment))
                        .filter(|s| candidates.contains(s))
                        .collect();
                    for s in segs {
                        c.refs.entry(s).or_default().push(i);
                    }
                    c.all.push(Ref {
                        bucket: Arc::clone(bucket),
                        key,
                        entry: e,
                    });
                }
            }
            Reference::Part(seg, _, len) => {
                *c.live.entry(seg).or_default() += u64::from(len);
                c.with_parts.insert(seg);
            }
        }
        Ok(())
    })
    .await?;
    Ok(c)
}

/// Sealed segments compaction may take: (id, bytes on disk).
fn sealed_candidates(store: &ObjectStore) -> Result<Vec<(u64, u64)>, S3Error> {
    let dir = store.segments().dir();
    let (ids, _) =
        list_segments(&Io::portable(), dir).map_err(|e| internal("listing segments", e))?;
    let floor = store.compaction_floor();
    Ok(ids
        .into_iter()
        .filter(|id| *id < floor)
        .filter_map(|id| {
            std::fs::metadata(segment_path(dir, id))
                .ok()
                .map(|m| (id, m.len()))
        })
        .collect())
}

/// One pass: remove what has served its grace, then compact.
pub async fn compact(
    store: &ObjectStore,
    uploads: &Uploads,
    dying: &Dying,
    opts: CompactOptions,
) -> Result<CompactReport, S3Error> {
    let mut report = CompactReport::default();
    store.advance_log().await;
    reap(store, uploads, dying, &mut report).await?;
    let sealed = sealed_candidates(store)?;
    let already: BTreeSet<u64> = dying.segments.lock().keys().copied().collect();
    let candidates: BTreeSet<u64> = sealed
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !already.contains(id))
        .collect();
    let c = count(store, uploads, &candidates).await?;
    report.segments = sealed.len() as u64;
    report.segment_bytes = sealed.iter().map(|(_, len)| len).sum();
    report.live_bytes = sealed
        .iter()
        .map(|(id, _)| c.live.get(id).copied().unwrap_or(0))
        .sum();
    // Mostly dead first.
    let mut victims: Vec<(u64, u64, u64)> = sealed
        .iter()
        .filter(|(id, _)| candidates.contains(id) && !c.with_parts.contains(id))
        .map(|(id, len)| (*id, *len, c.live.get(id).copied().unwrap_or(0)))
        .filter(|(_, len, live)| (*live as f64) < opts.live_fraction * (*len as f64))
        .collect();
    victims.sort_by_key(|(_, _, live)| *live);
    let mut moved_total = 0u64;
    let mut chosen = BTreeSet::new();
    // Moving needs room for what is moved (the old copies go only after
    // the grace period): never more than half of what is free.
    let room = store.free_bytes() / 2;
    for (id, _, live) in victims {
        if moved_total + live > room {
            break;
        }
        if moved_total > 0 && moved_total + live > opts.max_move_bytes {
            break;
        }
        moved_total += live;
        chosen.insert(id);
    }
    let mut done = BTreeSet::new();
    let started = Instant::now();
    for id in &chosen {
        for &i in c.refs.get(id).map(Vec::as_slice).unwrap_or_default() {
            if !done.insert(i) {
                continue;
            }
            let Some(r) = c.all.get(i) else { continue };
            match relocate(store, r, &chosen).await? {
                Some(bytes) => {
                    report.moved_objects += 1;
                    report.moved_bytes += bytes;
                }
                None => report.skipped += 1,
            }
            // The throttle: never ahead of the budget since the pass began.
            if opts.max_bytes_per_sec > 0 {
                let due = report.moved_bytes as f64 / opts.max_bytes_per_sec as f64;
                let ahead = due - started.elapsed().as_secs_f64();
                if ahead > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(ahead)).await;
                }
            }
        }
        report.compacted += 1;
    }
    let deadline = Instant::now() + opts.grace;
    {
        let mut d = dying.segments.lock();
        for id in chosen {
            d.insert(id, deadline);
        }
    }
    if opts.grace.is_zero() {
        reap(store, uploads, dying, &mut report).await?;
    }
    report.waiting = dying.segments.lock().len() as u64;
    Ok(report)
}

/// Moves the records of `r` that lie in `victims` (data chunks, the head)
/// and points its entry at the new head, if the entry is unchanged.
/// Returns the bytes moved, or `None` if the entry changed.
async fn relocate(
    store: &ObjectStore,
    r: &Ref,
    victims: &BTreeSet<u64>,
) -> Result<Option<u64>, S3Error> {
    let segments = store.segments();
    let rec = segments
        .read(r.entry.head)
        .await
        .map_err(|e| internal("reading an object head", e))?;
    let mut head = ObjectHead::decode(&rec.payload).map_err(|e| internal("object head", e))?;
    let mut moved = 0u64;
    // The new chunks must not be taken by a compaction before the head
    // that references them is in the index.
    let _pin = store.pin_writes();
    for ch in head.chunks.iter_mut() {
        if victims.contains(&ch.loc.segment) {
            let data = segments
                .read(ch.loc)
                .await
                .map_err(|e| internal("reading a data chunk", e))?;
            let loc: RecordLoc = segments
                .append(RecordKind::DataChunk, Bytes::from(data.payload.to_vec()))
                .await
                .map_err(|e| internal("writing a data chunk", e))?;
            moved += u64::from(loc.len);
            ch.loc = loc;
        }
    }
    let key = r.key.object_key().to_vec();
    let b = &r.bucket;
    let _gate = b.gate_read().await;
    let txn = b
        .index
        .prepare(&key)
        .await
        .map_err(|e| internal("preparing the index", e))?;
    head.tag = txn.tag();
    let (loc, txn) = store.write_head_or_cancel(&b.index, txn, &head).await?;
    moved += u64::from(loc.len);
    let entry = IndexEntry {
        head: loc,
        pending: Vec::new(),
        ..r.entry.clone()
    };
    let was = &r.entry;
    let done = b
        .index
        .complete_if_target(txn, r.key.clone(), Some(entry), |e| {
            // Unchanged, its expiry too (settling noncurrent versions
            // changes only that).
            e.is_some_and(|e| {
                e.head == was.head
                    && e.expiry_slot == was.expiry_slot
                    && e.expires_to_marker == was.expires_to_marker
            })
        })
        .await
        .map_err(|e| internal("completing the index", e))?;
    Ok(done.then_some(moved))
}

/// Removes the dying segments whose grace is over and in which a fresh
/// count finds nothing live (else they wait for the next pass to move
/// what is still there).
async fn reap(
    store: &ObjectStore,
    uploads: &Uploads,
    dying: &Dying,
    report: &mut CompactReport,
) -> Result<(), S3Error> {
    let now = Instant::now();
    let due: BTreeSet<u64> = dying
        .segments
        .lock()
        .iter()
        .filter(|(_, t)| **t <= now)
        .map(|(id, _)| *id)
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    let c = count(store, uploads, &due).await?;
    let dir = store.segments().dir().to_path_buf();
    for id in due {
        if c.live.get(&id).copied().unwrap_or(0) > 0 || c.with_parts.contains(&id) {
            // Still referenced: compact it again.
            dying.segments.lock().remove(&id);
            continue;
        }
        let path = segment_path(&dir, id);
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        // Cut to nothing first: read handles cached by threads may keep
        // the file open after the unlink, and its blocks with it.
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
            let _ = f.set_len(0);
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                report.removed += 1;
                report.freed_bytes += len;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(internal("removing a compacted segment", e)),
        }
        dying.segments.lock().remove(&id);
    }
    let _ = std::fs::File::open(&dir).and_then(|d| d.sync_all());
    store.forget_free_space();
    Ok(())
}
