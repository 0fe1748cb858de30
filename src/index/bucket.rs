//! A bucket's index: N shards (a key's shard is `xxh64(key) % N`), the
//! index transaction routed to the key's shard, listing as a merge of the
//! shards with pending entries resolved on the way (dir suggest), exact
//! stats, and online resharding into a new generation of shards.
//!
//! On disk (`format-spec/index.md`, "Bucket directory"):
//! ```text
//! <dir>/LAYOUT               the live generation (layout.rs)
//! <dir>/g<gen>/<shard>/      tree.idx + log/ of each shard
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::epoch;
use parking_lot::{Mutex, RwLock};

use super::entry::IndexEntry;
use super::expiry::{is_expired, is_gone, marker_for};
use super::index_shard::{IndexError, IndexShard};
use super::key::{encode_prefix, prefix_end, SortKey};
use super::layout::{next_shard_count, Layout};
use super::listing::{self, ListPage, ListParams, TreeSource};
use super::shard::Shard;
use super::shard_of;
use super::tree;
use super::view::ShardView;
use crate::io::Io;

/// Shards of a new bucket unless configured otherwise (the seed's 11).
pub const DEFAULT_SHARDS: u32 = 11;
/// Entries per shard above which a bucket is resharded.
pub const DEFAULT_RESHARD_THRESHOLD: u64 = 100_000;

const LAYOUT_FILE: &str = "LAYOUT";

#[derive(Clone, Copy, Debug)]
pub struct BucketIndexOptions {
    /// Shards of a new bucket index (an existing one keeps its layout).
    pub shards: u32,
    /// Entries per shard that trigger resharding.
    pub reshard_threshold: u64,
    /// This node's zone id (recorded in every log entry).
    pub zone: u64,
}

impl Default for BucketIndexOptions {
    fn default() -> Self {
        BucketIndexOptions {
            shards: DEFAULT_SHARDS,
            reshard_threshold: DEFAULT_RESHARD_THRESHOLD,
            zone: 0,
        }
    }
}

/// What a pending transaction whose writer is gone turned out to do,
/// according to its head record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// No head record: the transaction wrote nothing.
    NotWritten,
    /// It wrote this head (`entry` `None`: a delete) for this sort key
    /// (the logical head, or a version).
    Completed {
        key: SortKey,
        entry: Option<IndexEntry>,
        /// When the head was written: a found outcome older than what the
        /// key shows now is dropped (it was never acknowledged and must not
        /// hide a newer acknowledged write), deletes included.
        mtime_nanos: u64,
    },
}

/// Finds the head record a transaction wrote (the object layer knows
/// where heads live and that they carry their transaction's tag).
pub trait HeadResolver {
    fn resolve(&self, key: &[u8], tag: u64) -> Result<Resolved, String>;
}

/// Which entries a listing returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListMode {
    /// The current version of each key (ListObjects): delete markers and
    /// keys with nothing completed are left out.
    Current,
    /// Every version, newest first within a key, delete markers included
    /// (ListObjectVersions); unversioned keys appear as their null
    /// version.
    Versions,
}

/// (object key, tag) of transactions whose writer is at work.
type LiveTxns = Arc<Mutex<HashSet<(Vec<u8>, u64)>>>;

/// Keys with a prepare under way, and how many.
type PreparingKeys = Mutex<std::collections::HashMap<Vec<u8>, usize>>;

/// Marks a key as being prepared until dropped (also when the prepare's
/// future is dropped).
struct Preparing<'a> {
    keys: &'a PreparingKeys,
    key: Vec<u8>,
}

impl<'a> Preparing<'a> {
    fn start(keys: &'a PreparingKeys, key: &[u8]) -> Preparing<'a> {
        *keys.lock().entry(key.to_vec()).or_insert(0) += 1;
        Preparing {
            keys,
            key: key.to_vec(),
        }
    }
}

impl Drop for Preparing<'_> {
    fn drop(&mut self) {
        let mut keys = self.keys.lock();
        if let Some(n) = keys.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                keys.remove(&self.key);
            }
        }
    }
}

/// A page of an unordered listing and where the next one starts.
pub struct UnorderedPage {
    pub items: Vec<(Vec<u8>, IndexEntry)>,
    /// (shard, sort key) to pass as `after`; `None` at the end.
    pub next: Option<(u32, Vec<u8>)>,
}

/// One generation of shards.
pub struct Shards {
    pub layout: Layout,
    pub shards: Vec<Arc<IndexShard>>,
}

impl Shards {
    pub fn shard_for(&self, key: &[u8]) -> Option<&Arc<IndexShard>> {
        self.shards
            .get(shard_of(key, self.layout.shard_count) as usize)
    }
}

/// (object key, tag) of transactions dropped unfinished (a request whose
/// client left): cancelled, if still pending, by the bucket's next prepare
/// or listing, so a client that keeps vanishing mid-PUT cannot pile
/// pending tags on a key (nor make readers scan segments for them).
type AbandonedTxns = Arc<Mutex<Vec<(Vec<u8>, u64)>>>;

/// Abandoned transactions remembered at most; past it they are left to
/// dir suggest (resolved from their head records by a listing).
const ABANDONED_TXNS_MAX: usize = 65_536;

/// Abandoned transactions one prepare or listing cancels at most.
const ABANDONED_DRAIN_MAX: usize = 64;

/// An open transaction. Dropping it without `complete` or `cancel` (its
/// writer was abandoned, or its step failed) queues it to be cancelled if
/// it is still pending; an acknowledged write was completed, so nothing
/// acknowledged is undone.
pub struct Txn {
    key: Vec<u8>,
    tag: u64,
    live: LiveTxns,
    abandoned: AbandonedTxns,
    /// Completed or cancelled.
    ended: bool,
}

impl Txn {
    pub fn key(&self) -> &[u8] {
        &self.key
    }
    pub fn tag(&self) -> u64 {
        self.tag
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        let key = std::mem::take(&mut self.key);
        self.live.lock().remove(&(key.clone(), self.tag));
        if !self.ended {
            let mut q = self.abandoned.lock();
            if q.len() < ABANDONED_TXNS_MAX {
                q.push((key, self.tag));
            }
        }
    }
}

/// What [`BucketIndex::reshard`] did.
#[derive(Clone, Debug)]
pub struct ReshardReport {
    pub from_shards: u32,
    pub to_shards: u32,
    pub generation: u32,
    /// Entries copied from the frozen snapshot.
    pub copied: u64,
    /// Log entries replayed while writes kept flowing.
    pub caught_up: u64,
    /// Log entries replayed while writes were held.
    pub final_tail: u64,
    /// How long writers were held (the longest pause they saw).
    pub pause: Duration,
}

pub struct BucketIndex {
    io: Io,
    dir: PathBuf,
    options: BucketIndexOptions,
    current: RwLock<Arc<Shards>>,
    /// Transactions whose writer is still at work (this process).
    live: LiveTxns,
    /// Transactions dropped unfinished, to cancel.
    abandoned: AbandonedTxns,
    /// Keys with a prepare under way (see `is_live`).
    preparing: PreparingKeys,
    /// One reshard at a time.
    resharding: tokio::sync::Mutex<()>,
}

fn io_error<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> IndexError + 'a {
    move |source| IndexError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn generation_dir(dir: &Path, generation: u32) -> PathBuf {
    dir.join(format!("g{generation}"))
}

fn open_generation(
    io: &Io,
    dir: &Path,
    layout: Layout,
    zone: u64,
) -> Result<Vec<Arc<IndexShard>>, IndexError> {
    let gdir = generation_dir(dir, layout.generation);
    (0..layout.shard_count)
        .map(|i| {
            IndexShard::open(
                io,
                &gdir.join(i.to_string()),
                i,
                layout.shard_count,
                zone,
                layout.generation,
            )
            .map(Arc::new)
        })
        .collect()
}

impl BucketIndex {
    /// Opens the bucket index in `dir`, creating it with
    /// `options.shards` shards if there is none. Generations other than
    /// the live one (an interrupted or finished reshard) are removed.
    pub fn open(
        io: &Io,
        dir: &Path,
        options: BucketIndexOptions,
    ) -> Result<BucketIndex, IndexError> {
        io.create_dir_all(dir).map_err(io_error("creating", dir))?;
        let layout_path = dir.join(LAYOUT_FILE);
        let layout = if io
            .exists(&layout_path)
            .map_err(io_error("checking", &layout_path))?
        {
            let b = io
                .read_file(&layout_path)
                .map_err(io_error("reading", &layout_path))?;
            Layout::decode(&b).map_err(|e| IndexError::BadLayout {
                path: layout_path.clone(),
                reason: e.to_string(),
            })?
        } else {
            let l = Layout {
                generation: 0,
                shard_count: options.shards.clamp(1, super::layout::SHARDS_MAX),
                base_marker: 0,
                prev_generation: 0,
                prev_shard_count: 0,
                created_nanos: crate::clock::now_nanos(),
            };
            io.write_file_atomic(&layout_path, &l.encode(), 0o600)
                .map_err(io_error("writing", &layout_path))?;
            l
        };
        remove_other_generations(io, dir, layout.generation)?;
        let shards = open_generation(io, dir, layout, options.zone)?;
        Ok(BucketIndex {
            io: io.clone(),
            dir: dir.to_path_buf(),
            options,
            current: RwLock::new(Arc::new(Shards { layout, shards })),
            live: Arc::new(Mutex::new(HashSet::new())),
            abandoned: Arc::default(),
            preparing: Mutex::new(std::collections::HashMap::new()),
            resharding: tokio::sync::Mutex::new(()),
        })
    }

    /// The live generation of shards.
    pub fn shards(&self) -> Arc<Shards> {
        Arc::clone(&self.current.read())
    }

    pub fn layout(&self) -> Layout {
        self.current.read().layout
    }

    /// Runs `op` on the key's shard, again on the new layout if the shard
    /// was retired by a reshard meanwhile.
    async fn on_shard<T, F, Fut>(&self, key: &[u8], op: F) -> Result<T, IndexError>
    where
        F: Fn(Arc<IndexShard>) -> Fut,
        Fut: std::future::Future<Output = Result<T, IndexError>>,
    {
        loop {
            let shards = self.shards();
            let shard = shards
                .shard_for(key)
                .cloned()
                .ok_or_else(|| IndexError::Resolve("no shard for key".into()))?;
            match op(shard).await {
                Err(IndexError::Retired) => continue,
                r => return r,
            }
        }
    }

    /// Cancels (if still pending) some transactions dropped unfinished.
    /// An entry leaves the queue only once its step ran, so dropping this
    /// future loses nothing; a step that fails leaves the tag to dir
    /// suggest.
    async fn cancel_abandoned(&self) {
        for _ in 0..ABANDONED_DRAIN_MAX {
            let Some((key, tag)) = self.abandoned.lock().last().cloned() else {
                return;
            };
            let _ = self
                .on_shard(&key, |s| {
                    let key = key.clone();
                    async move { s.suggest(&key, tag, None).await }
                })
                .await;
            let mut q = self.abandoned.lock();
            if let Some(i) = q.iter().rposition(|e| e.0 == key && e.1 == tag) {
                q.swap_remove(i);
            }
        }
    }

    /// Step 1 of a write or delete of `key`.
    pub async fn prepare(&self, key: &[u8]) -> Result<Txn, IndexError> {
        self.cancel_abandoned().await;
        let preparing = Preparing::start(&self.preparing, key);
        let tag = self
            .on_shard(key, |s| async move { s.prepare(key).await })
            .await?;
        self.live.lock().insert((key.to_vec(), tag));
        drop(preparing);
        Ok(Txn {
            key: key.to_vec(),
            tag,
            live: Arc::clone(&self.live),
            abandoned: Arc::clone(&self.abandoned),
            ended: false,
        })
    }

    /// Step 3: `target` is the key's logical head (unversioned) or the
    /// version written or removed; `entry` `None` is a delete.
    pub async fn complete(
        &self,
        mut txn: Txn,
        target: SortKey,
        entry: Option<IndexEntry>,
    ) -> Result<(), IndexError> {
        let (key, tag) = (txn.key.clone(), txn.tag);
        let r = self
            .on_shard(&key, |s| {
                let (target, entry) = (target.clone(), entry.clone());
                async move { s.complete(&target, tag, entry).await }
            })
            .await;
        txn.ended = r.is_ok();
        drop(txn);
        r
    }

    /// Step 3 of a conditional write (see [`IndexShard::complete_if`]):
    /// `check` sees the key's logical head; if it says no, nothing is
    /// logged but the cancel, and `false` is returned.
    pub async fn complete_if(
        &self,
        txn: Txn,
        target: SortKey,
        entry: Option<IndexEntry>,
        check: impl Fn(Option<&IndexEntry>) -> bool,
    ) -> Result<bool, IndexError> {
        let head = SortKey::Head {
            key: txn.key.clone(),
        };
        self.complete_checking(txn, target, entry, head, check)
            .await
    }

    /// Step 3 of a write that holds only if the stored entry of `target`
    /// (raw: expired or not) passes `check`; else the transaction is
    /// cancelled and `false` returned. The expiry pass, lifecycle
    /// re-evaluation, retagging and compaction complete with it.
    pub async fn complete_if_target(
        &self,
        txn: Txn,
        target: SortKey,
        entry: Option<IndexEntry>,
        check: impl Fn(Option<&IndexEntry>) -> bool,
    ) -> Result<bool, IndexError> {
        let checked = target.clone();
        self.complete_checking(txn, target, entry, checked, check)
            .await
    }

    /// Completes `txn` if `check` passes on the stored entry of `checked`
    /// (under the shard's writer lock); cancels it otherwise.
    async fn complete_checking(
        &self,
        mut txn: Txn,
        target: SortKey,
        entry: Option<IndexEntry>,
        checked: SortKey,
        check: impl Fn(Option<&IndexEntry>) -> bool,
    ) -> Result<bool, IndexError> {
        let (key, tag) = (txn.key.clone(), txn.tag);
        let (check, checked) = (&check, &checked);
        let done = self
            .on_shard(&key, |s| {
                let (target, entry) = (target.clone(), entry.clone());
                async move {
                    s.complete_if_entry(&target, tag, entry, checked, check)
                        .await
                }
            })
            .await?;
        if done {
            txn.ended = true;
            drop(txn);
            return Ok(true);
        }
        self.cancel(txn).await?;
        Ok(false)
    }

    /// Step 3 when the head write failed.
    pub async fn cancel(&self, mut txn: Txn) -> Result<(), IndexError> {
        let (key, tag) = (txn.key.clone(), txn.tag);
        let r = self
            .on_shard(&key, |s| {
                let key = key.clone();
                async move { s.cancel(&key, tag).await }
            })
            .await;
        txn.ended = r.is_ok();
        drop(txn);
        r
    }

    /// The entry of `key` (logical head or a version) as of the last
    /// acknowledged step, as readers see it at the expiry clock: an
    /// expired version is gone, and an expired head reads as what the
    /// expiry pass will leave (nothing, or for a versioned key the version
    /// that becomes current). Lock-free.
    pub fn get(&self, key: &SortKey) -> Result<Option<IndexEntry>, IndexError> {
        let now = crate::clock::expiry_now_secs();
        let raw = self.get_raw(key)?;
        match key {
            SortKey::Version { .. } if raw.is_some() => Ok(raw.filter(|e| !is_gone(e, now))),
            // Perhaps the delete marker an expiry puts on top, before the
            // expiry pass has written it.
            SortKey::Version { key, version } => Ok(self
                .effective_head(self.get_raw(&SortKey::Head { key: key.clone() })?, key, now)?
                .filter(|h| h.delete_marker && h.head == crate::segment::RecordLoc::default())
                .filter(|h| h.version_id == *version)
                .map(|h| IndexEntry {
                    current: false,
                    versioned: false,
                    pending: Vec::new(),
                    ..h
                })),
            SortKey::Head { key } => self.effective_head(raw, key, now),
        }
    }

    /// The entry as stored, expired or not (the expiry pass).
    pub fn get_raw(&self, key: &SortKey) -> Result<Option<IndexEntry>, IndexError> {
        let shards = self.shards();
        match shards.shard_for(key.object_key()) {
            Some(s) => s.get(key),
            None => Ok(None),
        }
    }

    /// What a logical head reads as at `now`: itself unless it expired;
    /// an expired unversioned head is nothing, an expired versioned head
    /// gives way to the most recently written version that has not
    /// expired (the one the expiry pass's removals leave current; a
    /// delete marker reads as one). Pending tags stay on it.
    fn effective_head(
        &self,
        head: Option<IndexEntry>,
        key: &[u8],
        now: u64,
    ) -> Result<Option<IndexEntry>, IndexError> {
        let Some(h) = head else { return Ok(None) };
        if !is_expired(&h, now) {
            return Ok(Some(h));
        }
        if h.expires_to_marker && !h.placeholder && !h.delete_marker {
            // The version stays, noncurrent, under a delete marker.
            return Ok(Some(IndexEntry {
                pending: h.pending.clone(),
                ..marker_for(key, &h)
            }));
        }
        let pending_only = |pending: Vec<u64>| {
            (!pending.is_empty()).then(|| IndexEntry {
                placeholder: true,
                pending,
                mtime_nanos: h.mtime_nanos,
                ..IndexEntry::default()
            })
        };
        if !h.versioned {
            return Ok(pending_only(h.pending.clone()));
        }
        let next = self
            .versions_raw(key)?
            .into_iter()
            .filter(|v| !is_gone(v, now))
            .max_by_key(|v| (v.mtime_nanos, v.version_id));
        Ok(match next {
            Some(v) => Some(IndexEntry {
                versioned: true,
                current: true,
                pending: h.pending.clone(),
                ..v
            }),
            None => pending_only(h.pending.clone()),
        })
    }

    /// What GET and HEAD without a version id see: the current version,
    /// `None` if the key has none or it is a delete marker.
    pub fn current(&self, key: &[u8]) -> Result<Option<IndexEntry>, IndexError> {
        Ok(self
            .get(&SortKey::Head { key: key.to_vec() })?
            .filter(|e| !e.placeholder && !e.delete_marker))
    }

    /// Every version of `key` that has not expired, newest first.
    pub fn versions(&self, key: &[u8]) -> Result<Vec<IndexEntry>, IndexError> {
        let now = crate::clock::expiry_now_secs();
        let mut v = self.versions_raw(key)?;
        v.retain(|e| !is_gone(e, now));
        Ok(v)
    }

    /// Every version of `key`, newest first, expired or not.
    pub fn versions_raw(&self, key: &[u8]) -> Result<Vec<IndexEntry>, IndexError> {
        let shards = self.shards();
        let Some(s) = shards.shard_for(key) else {
            return Ok(Vec::new());
        };
        let guard = epoch::pin();
        let view = s.published().load(&guard);
        Ok(super::shard::versions_of(view, view.root, key)?)
    }

    /// (objects, bytes) of the bucket as of the expiry clock: the sum of
    /// the shards' exact stats without what has expired (even if the
    /// expiry pass has not deleted it yet).
    pub fn stats(&self) -> (u64, u64) {
        self.stats_at(crate::clock::expiry_now_secs())
    }

    /// [`stats`](Self::stats) at `now_secs`.
    pub fn stats_at(&self, now_secs: u64) -> (u64, u64) {
        self.shards()
            .shards
            .iter()
            .map(|s| {
                let (o, b) = s.stats();
                let (eo, eb) = s.due_totals(now_secs);
                (o.saturating_sub(eo), b.saturating_sub(eb))
            })
            .fold((0, 0), |(o, b), (o1, b1)| (o + o1, b + b1))
    }

    /// Verifies every page of every shard's published tree again (the
    /// scrub); `(pages checked, problems as (shard, text))`.
    pub fn scrub_pages(&self) -> (u64, Vec<(u32, String)>) {
        let shards = self.shards();
        let guard = epoch::pin();
        let mut checked = 0u64;
        let mut problems = Vec::new();
        for (i, s) in shards.shards.iter().enumerate() {
            let view = s.published().load(&guard);
            match tree::pages(view, view.root) {
                Ok(ids) => {
                    for id in ids {
                        checked += 1;
                        if let Err(e) = view.arena.reverify(id) {
                            problems.push((i as u32, format!("page {id}: {e}")));
                        }
                    }
                }
                Err(e) => problems.push((i as u32, e.to_string())),
            }
        }
        (checked, problems)
    }

    /// Up to `limit` entries of every kind (heads and versions), shard
    /// after shard, as stored (expired or not), after `after`; and where
    /// the next page starts (compaction's liveness scan).
    #[allow(clippy::type_complexity)]
    pub fn scan_raw(
        &self,
        after: Option<(u32, Vec<u8>)>,
        limit: usize,
    ) -> Result<(Vec<(SortKey, IndexEntry)>, Option<(u32, Vec<u8>)>), IndexError> {
        let shards = self.shards();
        let (first, mut from) = match after {
            Some((s, mut k)) => {
                k.push(0);
                (s, Some(k))
            }
            None => (0, None),
        };
        let guard = epoch::pin();
        let mut out = Vec::new();
        for (i, s) in shards.shards.iter().enumerate().skip(first as usize) {
            let view = s.published().load(&guard);
            let at = from.take().unwrap_or_default();
            let batch = tree::scan(view, view.root, &at, limit.saturating_sub(out.len()).max(1))
                .map_err(super::shard::ShardError::from)?;
            let full = out.len() + batch.len() >= limit;
            let mut last = None;
            for (k, v) in batch {
                let key = SortKey::decode(&k).map_err(super::shard::ShardError::from)?;
                let e = IndexEntry::decode(&v).map_err(super::shard::ShardError::from)?;
                out.push((key, e));
                last = Some(k);
            }
            if full {
                return Ok((out, last.map(|k| (i as u32, k))));
            }
        }
        Ok((out, None))
    }

    /// How many entries are due at `now_secs` (not yet deleted).
    pub fn due_count(&self, now_secs: u64) -> usize {
        self.shards()
            .shards
            .iter()
            .map(|s| s.due_count(now_secs))
            .sum()
    }

    /// Up to `limit` (shard, expiry, sort key) due at `now_secs`.
    pub fn due(&self, now_secs: u64, limit: usize) -> Vec<(u32, u64, SortKey)> {
        let mut out = Vec::new();
        for (i, s) in self.shards().shards.iter().enumerate() {
            if out.len() >= limit {
                break;
            }
            out.extend(
                s.due(now_secs, limit - out.len())
                    .into_iter()
                    .map(|(t, k)| (i as u32, t, k)),
            );
        }
        out
    }

    /// Whether `tag` on `key` may belong to a writer of this process: a
    /// registered transaction, or any tag of a key whose prepare is under
    /// way (its tag is published before the prepare returns and is
    /// registered, and must not be taken for a dead writer's meanwhile).
    fn is_live(&self, key: &[u8], tag: u64) -> bool {
        self.live.lock().contains(&(key.to_vec(), tag)) || self.preparing.lock().contains_key(key)
    }

    /// One page of an ordered listing. Pending entries whose writer is
    /// gone are resolved with `resolver` (their head records decide) and
    /// the outcome is logged to the shard (dir suggest) before the page is
    /// read again, so what is returned is exactly what the index now says
    /// and the next listing finds plain entries. Without a resolver they
    /// show their last completed state.
    pub async fn list(
        &self,
        params: &ListParams,
        mode: ListMode,
        resolver: Option<&dyn HeadResolver>,
    ) -> Result<ListPage<IndexEntry>, IndexError> {
        self.cancel_abandoned().await;
        let mut dead: Vec<(Vec<u8>, u64)> = Vec::new();
        let page = self.list_once(params, mode, resolver.map(|_| &mut dead))?;
        let Some(resolver) = resolver.filter(|_| !dead.is_empty()) else {
            return Ok(page);
        };
        self.resolve_dead(dead, resolver).await?;
        self.list_once(params, mode, None)
    }

    /// Ends dead transactions `(key, tag)` with what their head records
    /// say (dir suggest).
    async fn resolve_dead(
        &self,
        dead: Vec<(Vec<u8>, u64)>,
        resolver: &dyn HeadResolver,
    ) -> Result<(), IndexError> {
        for (key, tag) in dead {
            let resolved = match resolver.resolve(&key, tag).map_err(IndexError::Resolve)? {
                Resolved::NotWritten => None,
                Resolved::Completed {
                    key,
                    entry,
                    mtime_nanos,
                } => Some((key, entry, mtime_nanos)),
            };
            self.on_shard(&key, |s| {
                let (k, resolved) = (key.clone(), resolved.clone());
                async move { s.suggest(&k, tag, resolved).await }
            })
            .await?;
        }
        Ok(())
    }

    /// [`current`](Self::current) after resolving the key's dead
    /// transactions with `resolver`, so GET and HEAD agree with a listing
    /// after a crash.
    pub async fn current_resolved(
        &self,
        key: &[u8],
        resolver: &dyn HeadResolver,
    ) -> Result<Option<IndexEntry>, IndexError> {
        let mut head = self.get(&SortKey::Head { key: key.to_vec() })?;
        if head.as_ref().is_some_and(|h| !h.pending.is_empty()) && !self.abandoned.lock().is_empty()
        {
            self.cancel_abandoned().await;
            head = self.get(&SortKey::Head { key: key.to_vec() })?;
        }
        let dead: Vec<(Vec<u8>, u64)> = head
            .iter()
            .flat_map(|e| e.pending.iter())
            .filter(|t| !self.is_live(key, **t))
            .map(|t| (key.to_vec(), *t))
            .collect();
        if dead.is_empty() {
            // The common case: one lookup.
            return Ok(head.filter(|e| !e.placeholder && !e.delete_marker));
        }
        self.resolve_dead(dead, resolver).await?;
        self.current(key)
    }

    /// One pass of [`list`](Self::list); collects the dead transactions
    /// of listed keys into `dead` if given.
    fn list_once(
        &self,
        params: &ListParams,
        mode: ListMode,
        mut dead: Option<&mut Vec<(Vec<u8>, u64)>>,
    ) -> Result<ListPage<IndexEntry>, IndexError> {
        let shards = self.shards();
        let guard = epoch::pin();
        let views: Vec<&ShardView> = shards
            .shards
            .iter()
            .map(|s| s.published().load(&guard))
            .collect();
        let sources: Vec<TreeSource<'_, ShardView>> = views
            .iter()
            .map(|v| TreeSource {
                store: *v,
                root: v.root,
            })
            .collect();
        let now = crate::clock::expiry_now_secs();
        let page = listing::list(&sources, params, |sk, value| {
            let e = IndexEntry::decode(value).ok()?;
            if is_expired(&e, now) {
                // Gone (or, for a versioned key, giving way to an older
                // version, or under a delete marker); rare, so the lookups
                // here cost little.
                return match (mode, sk) {
                    (ListMode::Current, SortKey::Head { key }) => self
                        .effective_head(Some(e), key, now)
                        .ok()
                        .flatten()
                        .filter(|e| !e.placeholder && !e.delete_marker),
                    // The marker an expiry puts on top is the key's newest
                    // version: listed where the head sorts, right before
                    // the versions. An unversioned object stays listed as
                    // the null version under it.
                    (ListMode::Versions, SortKey::Head { key })
                        if e.expires_to_marker && !e.placeholder && !e.delete_marker =>
                    {
                        if e.versioned {
                            Some(marker_for(key, &e))
                        } else {
                            Some(e)
                        }
                    }
                    (ListMode::Versions, SortKey::Version { .. }) if e.expires_to_marker => Some(e),
                    _ => None,
                };
            }
            match (mode, sk) {
                (_, SortKey::Head { key }) => {
                    if let Some(dead) = dead.as_deref_mut() {
                        let gone = e.pending.iter().filter(|t| !self.is_live(key, **t));
                        dead.extend(gone.map(|t| (key.clone(), *t)));
                    }
                    match mode {
                        ListMode::Current => (!e.placeholder && !e.delete_marker).then_some(e),
                        // An unversioned key's object is its null version.
                        ListMode::Versions => (!e.placeholder && !e.versioned).then_some(e),
                    }
                }
                (ListMode::Versions, SortKey::Version { .. }) => Some(e),
                (ListMode::Current, SortKey::Version { .. }) => None,
            }
        })
        .map_err(super::shard::ShardError::from)?;
        Ok(page)
    }

    /// A page of an unordered listing: shard after shard, each in order.
    /// Cheaper than the merge (one shard scanned at a time); for clients
    /// that allow any order. `after` is the (shard, sort key) the previous
    /// page stopped at. No delimiter.
    pub fn list_unordered(
        &self,
        prefix: &[u8],
        after: Option<(u32, Vec<u8>)>,
        max_keys: usize,
    ) -> Result<UnorderedPage, IndexError> {
        self.scan_heads(prefix, after, max_keys, false)
    }

    /// [`list_unordered`](Self::list_unordered), or with `raw` every
    /// logical head that holds an object or a delete marker as stored,
    /// expired or not (lifecycle re-evaluation).
    pub fn scan_heads(
        &self,
        prefix: &[u8],
        after: Option<(u32, Vec<u8>)>,
        max_keys: usize,
        raw: bool,
    ) -> Result<UnorderedPage, IndexError> {
        let shards = self.shards();
        let max_keys = max_keys.min(listing::MAX_KEYS_MAX);
        let start = encode_prefix(prefix);
        let end = prefix_end(prefix);
        let (first, mut from) = match after {
            Some((s, k)) => {
                let mut k = k;
                k.push(0);
                (s, Some(k))
            }
            None => (0, None),
        };
        let mut out = Vec::new();
        let now = crate::clock::expiry_now_secs();
        let guard = epoch::pin();
        for (i, s) in shards.shards.iter().enumerate().skip(first as usize) {
            let view = s.published().load(&guard);
            let mut at = from.take().unwrap_or_else(|| start.clone());
            loop {
                let batch = tree::scan(view, view.root, &at, listing::SCAN_BATCH)
                    .map_err(super::shard::ShardError::from)?;
                let full = batch.len() == listing::SCAN_BATCH;
                for (k, v) in batch {
                    if end.as_ref().is_some_and(|e| k >= *e) {
                        break;
                    }
                    at = k.clone();
                    at.push(0);
                    let Ok(SortKey::Head { key }) = SortKey::decode(&k) else {
                        continue;
                    };
                    let e = IndexEntry::decode(&v).map_err(super::shard::ShardError::from)?;
                    let e = if is_expired(&e, now) && !raw {
                        match self.effective_head(Some(e), &key, now)? {
                            Some(e) => e,
                            None => continue,
                        }
                    } else {
                        e
                    };
                    if e.placeholder || (e.delete_marker && !raw) {
                        continue;
                    }
                    out.push((key, e));
                    if out.len() == max_keys {
                        return Ok(UnorderedPage {
                            items: out,
                            next: Some((i as u32, k)),
                        });
                    }
                }
                if !full || end.as_ref().is_some_and(|e| at >= *e) {
                    break;
                }
            }
        }
        Ok(UnorderedPage {
            items: out,
            next: None,
        })
    }

    /// Checkpoints every shard (commits its tree, trims its log).
    pub async fn checkpoint(&self) -> Result<(), IndexError> {
        for s in &self.shards().shards {
            s.checkpoint().await?;
        }
        Ok(())
    }

    /// The shard count to reshard to, if a shard holds more entries than
    /// the threshold.
    pub fn needs_reshard(&self) -> Option<u32> {
        let shards = self.shards();
        let fullest = shards.shards.iter().map(|s| s.stats().0).max()?;
        (fullest > self.options.reshard_threshold).then(|| {
            let (objects, _) = self.stats();
            next_shard_count(
                shards.layout.shard_count,
                objects,
                self.options.reshard_threshold,
            )
        })
    }

    /// Reshards if a shard passed the threshold and no reshard is running;
    /// `None` if nothing was done. The node calls this in the background
    /// after writes (it takes as long as copying the bucket's entries;
    /// writers are held only for the final switch).
    pub async fn reshard_if_needed(&self) -> Result<Option<ReshardReport>, IndexError> {
        let Ok(one) = self.resharding.try_lock() else {
            return Ok(None);
        };
        match self.needs_reshard() {
            Some(to) => self.reshard_locked(to, one).await.map(Some),
            None => Ok(None),
        }
    }

    /// Reshards online into `to` shards: copies a snapshot of every shard
    /// into a new generation, replays what the shards logged meanwhile
    /// (writes keep flowing), then holds writers only to replay the last
    /// few entries, commit the new shards and switch the layout.
    pub async fn reshard(&self, to: u32) -> Result<ReshardReport, IndexError> {
        let one = self.resharding.lock().await;
        self.reshard_locked(to, one).await
    }

    async fn reshard_locked(
        &self,
        to: u32,
        _one: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<ReshardReport, IndexError> {
        let old = self.shards();
        let generation = old.layout.generation + 1;
        let gdir = generation_dir(&self.dir, generation);
        // A leftover of an interrupted attempt.
        remove_dir_all(&self.io, &gdir)?;
        const CONSUMER: &str = "reshard";
        let mut new: Vec<Shard> = (0..to)
            .map(|i| {
                let d = gdir.join(i.to_string());
                self.io
                    .create_dir_all(&d)
                    .map_err(io_error("creating", &d))?;
                Ok(Shard::create(&self.io, &d.join("tree.idx"), i, to)?)
            })
            .collect::<Result<_, IndexError>>()?;
        // 1. Copy each shard's snapshot; its log keeps what follows.
        let mut from = Vec::with_capacity(old.shards.len());
        let mut copied = 0u64;
        for s in &old.shards {
            // Registered before the snapshot is taken, so a checkpoint
            // cannot trim what the snapshot lacks.
            s.unregister_consumer(CONSUMER).await;
            s.register_consumer(CONSUMER, s.applied()).await;
            let guard = epoch::pin();
            let view = s.published().load(&guard);
            from.push(view.applied + 1);
            let mut at = Vec::new();
            loop {
                let batch = tree::scan(view, view.root, &at, 1024)
                    .map_err(super::shard::ShardError::from)?;
                let full = batch.len() == 1024;
                for (k, v) in &batch {
                    let sk = SortKey::decode(k).map_err(super::shard::ShardError::from)?;
                    let e = IndexEntry::decode(v).map_err(super::shard::ShardError::from)?;
                    let dst = shard_of(sk.object_key(), to) as usize;
                    if let Some(n) = new.get_mut(dst) {
                        n.put_raw(&sk, &e)?;
                    }
                    copied += 1;
                }
                match batch.last() {
                    Some((k, _)) if full => {
                        at = k.clone();
                        at.push(0);
                    }
                    _ => break,
                }
            }
        }
        // 2. Catch up from the logs while writers go on; twice, so the
        // held tail is what arrived during one short pass.
        let mut caught_up = 0u64;
        for _ in 0..2 {
            for (i, s) in old.shards.iter().enumerate() {
                let start = from.get(i).copied().unwrap_or(1);
                let entries = s.read_log(start, usize::MAX)?;
                caught_up += replay_into(&mut new, to, &entries)?;
                if let (Some(f), Some(last)) = (from.get_mut(i), entries.last()) {
                    *f = last.marker + 1;
                }
            }
            for n in &mut new {
                n.checkpoint()?;
            }
        }
        // 3. Hold every old shard, replay the rest, commit, switch.
        let held_at = Instant::now();
        let mut frozen = Vec::with_capacity(old.shards.len());
        for s in &old.shards {
            frozen.push(s.freeze().await?);
        }
        let mut final_tail = 0u64;
        let mut base = 0u64;
        for (i, f) in frozen.iter().enumerate() {
            let start = from.get(i).copied().unwrap_or(1);
            let entries = f.read_log(start)?;
            final_tail += replay_into(&mut new, to, &entries)?;
            base = base.max(f.applied()).max(old.layout.base_marker);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = new
                .iter_mut()
                .map(|n| {
                    scope.spawn(move || {
                        n.start_after(base);
                        n.checkpoint()
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| match h.join() {
                Ok(r) => r.map(|_| ()).map_err(IndexError::from),
                Err(_) => Err(IndexError::Resolve(
                    "a checkpoint thread of the new shards panicked".into(),
                )),
            })
        })?;
        let layout = Layout {
            generation,
            shard_count: to,
            base_marker: base,
            prev_generation: old.layout.generation,
            prev_shard_count: old.layout.shard_count,
            created_nanos: crate::clock::now_nanos(),
        };
        let shards: Vec<Arc<IndexShard>> = new
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let d = gdir.join(i.to_string()).join("log");
                IndexShard::adopt(&self.io, n, &d, self.options.zone, generation).map(Arc::new)
            })
            .collect::<Result<_, _>>()?;
        let layout_path = self.dir.join(LAYOUT_FILE);
        self.io
            .write_file_atomic(&layout_path, &layout.encode(), 0o600)
            .map_err(io_error("writing", &layout_path))?;
        *self.current.write() = Arc::new(Shards { layout, shards });
        for f in &mut frozen {
            f.retire();
        }
        drop(frozen);
        let pause = held_at.elapsed();
        // The old generation has no consumer left (peers would be one:
        // they follow its logs to their end before the new ones).
        remove_dir_all(&self.io, &generation_dir(&self.dir, old.layout.generation))?;
        Ok(ReshardReport {
            from_shards: old.layout.shard_count,
            to_shards: to,
            generation,
            copied,
            caught_up,
            final_tail,
            pause,
        })
    }
}

/// Applies old-generation log entries to the new shards; returns how many.
fn replay_into(
    new: &mut [Shard],
    to: u32,
    entries: &[super::bilog::BilogEntry],
) -> Result<u64, IndexError> {
    for e in entries {
        let dst = shard_of(e.key.object_key(), to) as usize;
        if let Some(n) = new.get_mut(dst) {
            n.apply_step(e)?;
        }
    }
    Ok(entries.len() as u64)
}

fn remove_other_generations(io: &Io, dir: &Path, live: u32) -> Result<(), IndexError> {
    for name in io.list_dir(dir).map_err(io_error("listing", dir))? {
        let Some(g) = name.strip_prefix('g').and_then(|g| g.parse::<u32>().ok()) else {
            continue;
        };
        if g != live {
            remove_dir_all(io, &dir.join(&name))?;
        }
    }
    Ok(())
}

fn remove_dir_all(io: &Io, dir: &Path) -> Result<(), IndexError> {
    if io.sim_disk().is_some() {
        // The simulator has no directory removal; its files are dropped.
        for name in io.list_dir(dir).unwrap_or_default() {
            let p = dir.join(&name);
            if io.remove_file(&p).is_err() {
                remove_dir_all(io, &p)?;
            }
        }
        return Ok(());
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("removing", dir)(e)),
    }
}

// Shared by every connection thread of the server.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<BucketIndex>();
    shared::<IndexShard>();
};
