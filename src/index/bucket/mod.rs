//! A bucket's index: N shards (a key's shard is `xxh64(key) % N`), the
//! index transaction routed to the key's shard, listing as a merge of the
//! shards with pending entries resolved on the way (dir suggest), exact
//! stats, and online resharding into a new generation of shards.
//!
//! On disk (`format-spec/index.md`, "Bucket directory"):
//! ```text
//! <dir>/LAYOUT               the live generation (layout.rs); absent
//!                            until the first reshard: generation 0 of
//!                            the bucket record's shard count
//! <dir>/g<gen>/<shard>/      tree.idx of each shard, made by its first
//!                            checkpoint (its entries are in the node log)
//! ```
//!
//! Shards are opened on first use and closed when idle (`slots`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam::epoch;
use parking_lot::{Mutex, RwLock};

use super::entry::IndexEntry;
use super::expiry::{is_expired, is_gone, marker_for};
use super::index_shard::{IndexError, IndexShard};
use super::key::SortKey;
use super::layout::Layout;
use super::shard_of;
use super::tree;
use super::wal::{IndexWal, ShardName};
use crate::io::Io;

mod list;
mod reshard;
mod slots;
mod txn;

pub use list::UnorderedPage;
pub use reshard::ReshardReport;
use slots::SlotHome;
pub use slots::{OpenShards, ShardSlot, OPEN_SHARDS_DEFAULT};
pub use txn::Txn;
use txn::{AbandonedTxns, LiveTxns, PreparingKeys};

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
    /// Shards the node holds open at most (the object store makes one
    /// [`OpenShards`] of it for all buckets).
    pub open_shards_max: usize,
}

impl Default for BucketIndexOptions {
    fn default() -> Self {
        BucketIndexOptions {
            shards: DEFAULT_SHARDS,
            reshard_threshold: DEFAULT_RESHARD_THRESHOLD,
            zone: 0,
            open_shards_max: OPEN_SHARDS_DEFAULT,
        }
    }
}

/// Where a bucket index keeps its log entries: the node log, under the
/// bucket's name and instance (its creation time, which tells apart
/// buckets of one name); and the node's bound on open shards.
#[derive(Clone)]
pub struct IndexHome {
    pub wal: Arc<IndexWal>,
    pub bucket: Arc<str>,
    pub instance: u64,
    pub open_shards: Arc<OpenShards>,
}

impl IndexHome {
    pub fn shard_name(&self, generation: u32, shard: u32) -> ShardName {
        ShardName {
            bucket: Arc::clone(&self.bucket),
            instance: self.instance,
            generation,
            shard,
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

/// One generation of shards.
pub struct Shards {
    pub layout: Layout,
    pub slots: Vec<Arc<ShardSlot>>,
}

impl Shards {
    pub fn slot_for(&self, key: &[u8]) -> Option<&Arc<ShardSlot>> {
        self.slots
            .get(shard_of(key, self.layout.shard_count) as usize)
    }

    /// Every shard for reading (`None`: absent, so empty), opened if
    /// closed.
    pub fn read_all(&self) -> Result<Vec<Option<Arc<IndexShard>>>, IndexError> {
        self.slots.iter().map(|s| s.read()).collect()
    }

    /// Every shard, made if absent (resharding).
    pub fn write_all(&self) -> Result<Vec<Arc<IndexShard>>, IndexError> {
        self.slots.iter().map(|s| s.write()).collect()
    }
}

pub struct BucketIndex {
    io: Io,
    dir: PathBuf,
    options: BucketIndexOptions,
    home: IndexHome,
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

/// What the slots of a generation of `shard_count` shards open with.
fn slot_home(io: &Io, home: &IndexHome, zone: u64, layout: Layout, dir: &Path) -> Arc<SlotHome> {
    Arc::new(SlotHome {
        gdir: generation_dir(dir, layout.generation),
        shard_count: layout.shard_count,
        io: io.clone(),
        wal: Arc::clone(&home.wal),
        cache: Arc::clone(&home.open_shards),
        zone,
    })
}

/// The slots of a generation: closed if the generation has a directory
/// (whether a shard has a file is found out on its first use, so a start
/// with 100,000 buckets lists nothing more), else absent; a shard the
/// node log has entries for that the start read is opened (they must
/// reach its tree).
fn open_generation(
    layout: Layout,
    home: &IndexHome,
    slot_home: &Arc<SlotHome>,
    listed: bool,
) -> Result<Vec<Arc<ShardSlot>>, IndexError> {
    (0..layout.shard_count)
        .map(|i| {
            let slot = Arc::new(ShardSlot::new(
                slot_home,
                home.shard_name(layout.generation, i),
                listed,
            ));
            slot.open_if_replay_pending()?;
            Ok(slot)
        })
        .collect()
}

impl BucketIndex {
    /// Opens the bucket index in `dir`; one that has no layout yet has
    /// `options.shards` shards in generation 0 (nothing is written: a new
    /// bucket costs no file). Generations other than the live one (an
    /// interrupted or finished reshard) are removed. Shards open on first
    /// use.
    pub fn open(
        io: &Io,
        dir: &Path,
        options: BucketIndexOptions,
        home: IndexHome,
    ) -> Result<BucketIndex, IndexError> {
        // One listing says what is there (a new bucket: nothing at all).
        let names = match io.list_dir(dir) {
            Ok(names) => names,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error("listing", dir)(e)),
        };
        let layout_path = dir.join(LAYOUT_FILE);
        let layout = if names.iter().any(|n| n == LAYOUT_FILE) {
            let b = io
                .read_file(&layout_path)
                .map_err(io_error("reading", &layout_path))?;
            Layout::decode(&b).map_err(|e| IndexError::BadLayout {
                path: layout_path.clone(),
                reason: e.to_string(),
            })?
        } else {
            Layout {
                generation: 0,
                shard_count: options.shards.clamp(1, super::layout::SHARDS_MAX),
                base_marker: 0,
                prev_generation: 0,
                prev_shard_count: 0,
                created_nanos: home.instance,
            }
        };
        remove_other_generations(io, dir, &names, layout.generation)?;
        let live_dir = format!("g{}", layout.generation);
        let generation_listed = names.contains(&live_dir);
        let slot_home = slot_home(io, &home, options.zone, layout, dir);
        let slots = open_generation(layout, &home, &slot_home, generation_listed)?;
        Ok(BucketIndex {
            io: io.clone(),
            dir: dir.to_path_buf(),
            options,
            home,
            current: RwLock::new(Arc::new(Shards { layout, slots })),
            live: Arc::new(Mutex::new(HashSet::new())),
            abandoned: Arc::default(),
            preparing: Mutex::new(std::collections::HashMap::new()),
            resharding: tokio::sync::Mutex::new(()),
        })
    }

    /// A bucket index with a node log of its own in `dir/wal` (tests,
    /// tools): bucket `b`, instance 1.
    pub fn open_standalone(
        io: &Io,
        dir: &Path,
        options: BucketIndexOptions,
    ) -> Result<BucketIndex, IndexError> {
        let home = IndexHome {
            wal: IndexWal::open_in(io, &dir.join("wal"))?,
            bucket: Arc::from("b"),
            instance: 1,
            open_shards: OpenShards::new(options.open_shards_max),
        };
        BucketIndex::open(io, dir, options, home)
    }

    /// The node's bound on open shards this index shares.
    pub fn open_shards(&self) -> &Arc<OpenShards> {
        &self.home.open_shards
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
                .slot_for(key)
                .ok_or_else(|| IndexError::Resolve("no shard for key".into()))?
                .write_when_room()
                .await?;
            match op(shard).await {
                Err(IndexError::Retired) => continue,
                r => return r,
            }
        }
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
        match shards
            .slot_for(key.object_key())
            .map(|s| s.read())
            .transpose()?
            .flatten()
        {
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
        let Some(s) = shards
            .slot_for(key)
            .map(|s| s.read())
            .transpose()?
            .flatten()
        else {
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
    /// A shard that cannot be opened counts as empty (and is logged): the
    /// open that needs it reports the error.
    pub fn stats_at(&self, now_secs: u64) -> (u64, u64) {
        self.shards()
            .slots
            .iter()
            .map(|s| match s.stats_at(now_secs) {
                Ok([(o, b), (eo, eb)]) => (o.saturating_sub(eo), b.saturating_sub(eb)),
                Err(e) => {
                    tracing::warn!(error = %e, "a bucket index shard could not be opened for its stats");
                    (0, 0)
                }
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
        for (i, s) in shards.slots.iter().enumerate() {
            let s = match s.read() {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    problems.push((i as u32, e.to_string()));
                    continue;
                }
            };
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
        for (i, s) in shards.slots.iter().enumerate().skip(first as usize) {
            let at = from.take().unwrap_or_default();
            let Some(s) = s.read()? else { continue };
            let view = s.published().load(&guard);
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
            .slots
            .iter()
            .map(|s| s.due_count(now_secs).unwrap_or_default())
            .sum()
    }

    /// [`due_count`](Self::due_count) without opening shards (metrics: a
    /// scrape must not open every shard of the node).
    pub fn due_count_known(&self, now_secs: u64) -> usize {
        self.shards()
            .slots
            .iter()
            .map(|s| s.due_count_known(now_secs))
            .sum()
    }

    /// Up to `limit` (shard, expiry, sort key) due at `now_secs`.
    pub fn due(&self, now_secs: u64, limit: usize) -> Vec<(u32, u64, SortKey)> {
        let mut out = Vec::new();
        for (i, s) in self.shards().slots.iter().enumerate() {
            if out.len() >= limit {
                break;
            }
            out.extend(
                s.due(now_secs, limit - out.len())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(t, k)| (i as u32, t, k)),
            );
        }
        out
    }

    /// The live generation's shards that are open now (a closed one has
    /// nothing past its checkpoint).
    fn open_now(&self) -> Vec<Arc<IndexShard>> {
        self.shards()
            .slots
            .iter()
            .filter_map(|s| s.if_open())
            .collect()
    }

    /// Checkpoints every open shard (commits its tree, trims its log); a
    /// closed shard has nothing past its checkpoint.
    pub async fn checkpoint(&self) -> Result<(), IndexError> {
        let mut first_error = None;
        for s in self.open_now() {
            if let Err(e) = s.checkpoint().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// [`checkpoint`](Self::checkpoint), leaving the files of shards that
    /// had none staged (see `IndexShard::checkpoint_staged`); those shards
    /// are added to `staged` for the caller to publish.
    pub async fn checkpoint_staged(
        &self,
        staged: &mut Vec<Arc<IndexShard>>,
    ) -> Result<(), IndexError> {
        let mut first_error = None;
        for s in self.open_now() {
            match s.checkpoint_staged().await {
                Ok((_, true)) => staged.push(s),
                Ok((_, false)) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Where the oldest node-log entry any shard of the bucket still needs
    /// lives (`None`: none).
    pub fn log_needed_from(&self) -> Option<crate::segment::RecordLoc> {
        self.shards()
            .slots
            .iter()
            .filter_map(|s| s.if_open()?.log_needed_from())
            .min_by_key(|l| (l.segment, l.offset))
    }
}

fn remove_other_generations(
    io: &Io,
    dir: &Path,
    names: &[String],
    live: u32,
) -> Result<(), IndexError> {
    for name in names {
        let Some(g) = name.strip_prefix('g').and_then(|g| g.parse::<u32>().ok()) else {
            continue;
        };
        if g != live {
            remove_dir_all(io, &dir.join(name))?;
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
