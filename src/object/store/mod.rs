//! The object layer: buckets (each with its bucket index) and objects
//! (data chunks and a head in the node's segment store), joined by the
//! index transaction: prepare on the key's shard (not waited for) -> data
//! chunks -> the last chunk and the head (one fsync) -> complete (the
//! commit point: its fsync carries the prepare too) -> acknowledge.
//!
//! Memory per upload is bounded: the body is cut into chunks of
//! [`CHUNK_BYTES`] and at most [`CHUNKS_IN_FLIGHT`] chunk appends are
//! outstanding, so a PUT holds at most about
//! `(CHUNKS_IN_FLIGHT + 1) * CHUNK_BYTES` of body whatever its size. Every
//! chunk buffer also holds a permit of a node-wide budget
//! ([`UPLOAD_BUFFER_CHUNKS_DEFAULT`] chunks unless `serve` sizes it), so
//! the number of concurrent uploads cannot raise memory past it either:
//! beyond it, uploads wait (and TCP pushes back on their clients). A
//! request's buffers also count against its user's share of the budget
//! ([`BodySource::owner`], `chunk_pool`), so one user cannot hold it all.
//!
//! Here: the store, its buckets, free space and the types the operations
//! share. The operations by area: [`buckets`], [`write`] (PUT, copy,
//! retag), [`read`] (GET, listings), [`delete`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use super::bucket_meta::BucketMeta;
use super::chunk_pool::{ChunkPool, PoolLimits};
use super::head::{Chunk, ObjectHead};
use super::versioning::{new_version_id, VersionId, Versioning, NULL_VERSION};
use crate::index::bucket::{BucketIndex, BucketIndexOptions, IndexHome, OpenShards};
use crate::index::entry::IndexEntry;
use crate::index::index_shard::IndexShard;
use crate::index::key::SortKey;
use crate::index::wal::IndexWal;
use crate::io::Io;
use crate::meta::mdlog::{BucketRecord, MdOp, Quota, CONFIG_LIFECYCLE};
use crate::meta::store::MetaStore;
use crate::s3::checksum::Expected;
use crate::s3::conditional::WriteCondition;
use crate::s3::lifecycle::Lifecycle;
use crate::s3::{S3Error, S3ErrorCode};
use crate::segment::{PayloadCrc, RecordLoc, SegmentError, SegmentStore};

mod buckets;
mod delete;
mod lock;
mod range;
mod read;
mod resolver;
mod sse;
mod write;

pub use range::ObjectRange;
pub use resolver::SegmentResolver;
pub use sse::{not_applicable, open_chunk, positions, SseWrite};

/// Bytes of object data per data record.
pub const CHUNK_BYTES: usize = 1024 * 1024;
/// Chunk appends one upload may have outstanding.
pub const CHUNKS_IN_FLIGHT: usize = 2;
/// Chunk buffers all uploads together may hold (256 MiB: most of a second
/// of this class of disk's write bandwidth).
pub const UPLOAD_BUFFER_CHUNKS_DEFAULT: usize = 256;
/// Whole-chunk buffers kept for reuse when no upload holds them (16 MiB
/// of idle memory at most).
pub const IDLE_CHUNK_BUFFERS_MAX: usize = 16;
/// Names whose path-style paths are the node's own endpoints (`/admin/`,
/// `/health`, `/ready`, `/metrics`).
pub const RESERVED_BUCKET_NAMES: [&str; 4] = ["admin", "health", "ready", "metrics"];
/// Largest single PUT (S3's limit).
pub const PUT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;

/// A request body, read frame by frame.
pub trait BodySource {
    /// The next bytes, `None` at the end.
    fn next(&mut self) -> impl std::future::Future<Output = Option<Result<Bytes, S3Error>>>;

    /// A trailer that came after the body (`x-amz-checksum-*` of an
    /// aws-chunked body), once `next` has returned `None`.
    fn trailer(&self, _name: &str) -> Option<&str> {
        None
    }

    /// The user whose share of the upload buffer budget the body's
    /// buffers count against (`None`: the node's own work, unshared).
    fn owner(&self) -> Option<&str> {
        None
    }
}

pub struct Bucket {
    pub name: String,
    /// As created; the versioning state is `versioning`.
    pub meta: BucketMeta,
    pub index: BucketIndex,
    dir: PathBuf,
    /// The bucket record's versioning byte, as last written.
    versioning: AtomicU8,
    /// Writers hold it shared; DeleteBucket holds it exclusively.
    gate: tokio::sync::RwLock<()>,
    /// The lifecycle configuration (the metadata log's, parsed).
    lifecycle: RwLock<Option<Arc<Lifecycle>>>,
    /// The lifecycle re-evaluation: its generation and progress.
    pub(crate) eval_generation: std::sync::atomic::AtomicU64,
    pub(crate) eval_progress: parking_lot::Mutex<super::lifecycle_eval::EvalProgress>,
}

impl Bucket {
    fn new(name: String, meta: BucketMeta, index: BucketIndex, dir: PathBuf) -> Bucket {
        Bucket {
            name,
            versioning: AtomicU8::new(meta.versioning),
            meta,
            index,
            dir,
            gate: tokio::sync::RwLock::new(()),
            lifecycle: RwLock::new(None),
            eval_generation: std::sync::atomic::AtomicU64::new(0),
            eval_progress: parking_lot::Mutex::new(super::lifecycle_eval::EvalProgress {
                state: "idle".into(),
                ..Default::default()
            }),
        }
    }

    /// How the lifecycle re-evaluation stands.
    pub fn lifecycle_progress(&self) -> super::lifecycle_eval::EvalProgress {
        self.eval_progress.lock().clone()
    }

    /// When a lifecycle Expiration rule expires an object of `key` with
    /// `size` bytes and `meta` (its tags) written at `mtime_nanos`, and by
    /// which rule. In a bucket with versioning the object is not removed
    /// then but becomes noncurrent under a delete marker (see
    /// [`entry_for`](Self::entry_for)).
    pub fn rule_expiry(
        &self,
        key: &[u8],
        size: u64,
        meta: &[(String, String)],
        mtime_nanos: u64,
    ) -> Option<(u64, String)> {
        let lc = self.lifecycle()?;
        let tags = crate::s3::tagging::tags_in(meta);
        let facts = crate::s3::lifecycle::ObjectFacts {
            key,
            size,
            tags: &tags,
            time_secs: mtime_nanos / 1_000_000_000,
        };
        lc.current_expiry(&facts).map(|(t, id)| (t, id.to_string()))
    }

    /// The index entry of an object head at `loc`, written as the key's
    /// current object: its own expiry (X-Delete-At: removed then) or a
    /// lifecycle rule's, whichever comes first. A rule's expiry in a
    /// bucket with versioning turns the object noncurrent under a delete
    /// marker instead (`expires_to_marker`), as S3 does.
    pub fn entry_for(&self, head: &ObjectHead, loc: RecordLoc) -> IndexEntry {
        let mut e = head_entry(head, loc);
        if head.delete_marker {
            return e;
        }
        if let Some((t, _)) = self.rule_expiry(&head.key, head.size, &head.meta, head.mtime_nanos) {
            if e.expiry_slot == 0 || t < e.expiry_slot {
                let to_marker = self.versioning() != Versioning::Never;
                // Expiring to a marker removes nothing: a lock does not
                // hold it back; a removal waits for the lock.
                e.expiry_slot = if to_marker {
                    t
                } else {
                    head.lock.defer_expiry(t)
                };
                e.expires_to_marker = to_marker;
            }
        }
        e
    }

    /// After a change of `key` in a bucket with versioning: gives its
    /// noncurrent versions (and a lone delete marker) the expiry the rules
    /// say. The change itself is durable already; a failure here is
    /// logged and mended by the next lifecycle re-evaluation.
    pub async fn settle_versions(&self, segments: &SegmentStore, key: &[u8]) {
        if self.versioning() == Versioning::Never || !super::noncurrent::needed(self) {
            return;
        }
        if let Err(e) = super::noncurrent::settle(segments, self, key).await {
            tracing::warn!(bucket = %self.name, error = %e.message, "settling noncurrent versions failed");
        }
    }

    /// The bucket's lifecycle rules, if it has any.
    pub fn lifecycle(&self) -> Option<Arc<Lifecycle>> {
        self.lifecycle.read().clone()
    }

    /// Where the bucket's index (trees and logs) lives.
    pub fn index_dir(&self) -> PathBuf {
        self.dir.join("index")
    }

    /// Held by writers while they write into the bucket.
    pub async fn gate_read(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().await
    }

    pub fn versioning(&self) -> Versioning {
        Versioning::from_code(self.versioning.load(Ordering::Acquire))
    }

    /// Where a new object (or delete marker) of `key` goes: whether its
    /// head is a version, its version id, and the index target. With
    /// versioning enabled, a new version; otherwise the key's logical head
    /// (the index makes that the null version of a versioned key).
    pub fn new_object_target(
        &self,
        key: &[u8],
        now_nanos: u64,
    ) -> Result<(bool, VersionId, SortKey), S3Error> {
        match self.versioning() {
            Versioning::Enabled => {
                let version = new_version_id(now_nanos)?;
                Ok((
                    true,
                    version,
                    SortKey::Version {
                        key: key.to_vec(),
                        version,
                    },
                ))
            }
            Versioning::Never | Versioning::Suspended => {
                Ok((false, NULL_VERSION, SortKey::Head { key: key.to_vec() }))
            }
        }
    }

    /// The version id a response shows for a write: none in a bucket that
    /// never had versioning, else the id (`null` when suspended).
    pub fn shown_version(&self, id: VersionId) -> Option<VersionId> {
        (self.versioning() != Versioning::Never).then_some(id)
    }

    /// The version id the response to a PUT or CompleteMultipartUpload
    /// shows: only with versioning enabled (a suspended bucket's writes
    /// make the null version, which AWS does not name:
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/AddingObjectstoVersionSuspendedBuckets.html>).
    pub fn written_version(&self, id: VersionId) -> Option<VersionId> {
        (self.versioning() == Versioning::Enabled).then_some(id)
    }
}

pub struct ObjectStore {
    /// Upload chunk buffers under the node-wide budget.
    chunk_pool: Arc<ChunkPool>,
    io: Io,
    data_dir: PathBuf,
    segments: SegmentStore,
    /// The node log the bucket indexes keep their entries in (on
    /// `segments`).
    wal: Arc<IndexWal>,
    buckets: RwLock<HashMap<String, Arc<Bucket>>>,
    index_options: BucketIndexOptions,
    /// Buckets (owner, versioning, quota) are records of the metadata log.
    meta: Arc<MetaStore>,
    /// Free space kept in reserve: writes that would eat into it are
    /// refused (`check_space`).
    reserve_bytes: std::sync::atomic::AtomicU64,
    /// (when measured, free bytes, bytes appended by then) of the data
    /// dir's filesystem.
    free_space: parking_lot::Mutex<Option<(std::time::Instant, u64, u64)>>,
    /// Writes in progress: token -> the newest segment when it started.
    write_pins: Arc<parking_lot::Mutex<std::collections::BTreeMap<u64, u64>>>,
    next_pin: std::sync::atomic::AtomicU64,
    /// Bucket removals and state changes one at a time (write), creations
    /// beside each other (read: a creation writes nothing but its record,
    /// so creations share the metadata log's group commit).
    bucket_changes: tokio::sync::RwLock<()>,
    /// Names being created now (a second creation of one waits for none:
    /// it is refused).
    creating: parking_lot::Mutex<std::collections::HashSet<String>>,
    /// The node's bound on open index shards, shared by every bucket.
    open_shards: Arc<OpenShards>,
    /// Per bucket: open multipart uploads and the bytes of their parts
    /// (counted in quotas; kept by `Uploads`).
    pub(super) upload_usage: super::quota::UploadUsageMap,
    /// The SSE-S3 master keys (`None` until `serve` sets them).
    master_keys: Option<Arc<super::sse::MasterKeys>>,
}

/// An index step that failed, as a request sees it: `SlowDown` when the
/// node has too many shards open to open another now, else internal.
pub(crate) fn index_failed(what: &str, e: crate::index::index_shard::IndexError) -> S3Error {
    match e {
        crate::index::index_shard::IndexError::Crowded => {
            S3Error::new(S3ErrorCode::SlowDown, format!("{what}: {e}"))
        }
        e => internal(what, e),
    }
}

/// New shard files a checkpoint publishes at a time (two filesystem
/// syncs each chunk).
const PUBLISH_CHUNK: usize = 1024;

fn internal(what: &str, e: impl std::fmt::Display) -> S3Error {
    S3Error::new(S3ErrorCode::InternalError, format!("{what}: {e}"))
}

fn no_bucket(name: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::NoSuchBucket,
        format!("The specified bucket does not exist: {name}"),
    )
}

/// What a DELETE did, for its response headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// The delete marker made, or the version removed.
    pub version_id: Option<VersionId>,
    /// A delete marker was made, or the version removed was one.
    pub delete_marker: bool,
}

/// What a PUT stored.
#[derive(Clone, Debug)]
pub struct PutOutcome {
    pub etag: [u8; 16],
    pub size: u64,
    pub mtime_nanos: u64,
    /// The additional checksum's digest, if one was asked for.
    pub checksum: Option<Vec<u8>>,
    /// The version written, if the bucket has (or had) versioning.
    pub version_id: Option<VersionId>,
    /// (when, rule id) of a lifecycle rule that expires it.
    pub expiration: Option<(u64, String)>,
}

/// An object found for GET/HEAD: its index entry and head.
#[derive(Clone, Debug)]
pub struct FoundObject {
    pub entry: IndexEntry,
    pub head: ObjectHead,
}

/// Hex of an ETag's bytes (and `-N` for multipart).
pub fn etag_string(etag: &[u8; 16], parts: u16) -> String {
    // One allocation: listings format one of these per entry.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(38);
    for b in etag {
        for nibble in [b >> 4, b & 15] {
            s.push(char::from(
                HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    if parts > 0 {
        s.push('-');
        s.push_str(&parts.to_string());
    }
    s
}

impl ObjectStore {
    /// Opens every bucket the metadata log lists. A directory under
    /// `<data_dir>/buckets` that it does not list is a create or delete
    /// that did not reach its commit point and is removed, unless it holds
    /// a bucket record from before the metadata log (`BUCKET`): that one
    /// is entered into the log, owned by `legacy_owner`.
    pub fn open(
        io: &Io,
        data_dir: &Path,
        wal: Arc<IndexWal>,
        index_options: BucketIndexOptions,
        meta: Arc<MetaStore>,
        legacy_owner: &str,
    ) -> Result<ObjectStore, String> {
        let segments = wal.store().clone();
        let bdir = data_dir.join("buckets");
        io.create_dir_all(&bdir)
            .map_err(|e| format!("creating {}: {e}", bdir.display()))?;
        io.sync_dir(data_dir)
            .map_err(|e| format!("syncing {}: {e}", data_dir.display()))?;
        let open_shards = OpenShards::new(index_options.open_shards_max);
        let dirs = io
            .list_dir(&bdir)
            .map_err(|e| format!("listing {}: {e}", bdir.display()))?;
        for name in &dirs {
            let dir = bdir.join(name);
            if meta.read(|t| !t.buckets.contains_key(name)) {
                let legacy = dir.join("BUCKET");
                // An error here must stop the open: guessing "absent" would
                // remove a live bucket.
                let exists = io
                    .exists(&legacy)
                    .map_err(|e| format!("checking {}: {e}", legacy.display()))?;
                if !exists {
                    // Nothing was acknowledged in it.
                    remove_tree(&dir);
                    continue;
                }
                let b = io
                    .read_file(&legacy)
                    .map_err(|e| format!("reading {}: {e}", legacy.display()))?;
                let old =
                    BucketMeta::decode(&b).map_err(|e| format!("{}: {e}", legacy.display()))?;
                let rec = BucketRecord {
                    name: name.clone(),
                    owner: legacy_owner.to_string(),
                    created_nanos: old.created_nanos,
                    shards: old.shards,
                    versioning: old.versioning,
                    quota: Quota::default(),
                    location: old.location,
                };
                let recorded = io
                    .block_on(meta.commit(|_| Ok::<_, ()>(MdOp::BucketPut(rec))))
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                if let Err(e) = recorded {
                    return Err(format!("recording bucket {name} in the metadata log: {e}"));
                }
                tracing::info!(bucket = %name, "upgrade: the bucket is now a record of the metadata log");
                // The record (and its temporary) of a bucket from before
                // the metadata log: the log holds the bucket now (a crash
                // before this leaves a stale file the log overrides).
                let _ = io.remove_file(&dir.join("BUCKET.tmp"));
                let _ = io.remove_file(&dir.join("BUCKET"));
            }
        }
        // Every bucket of the log; one whose directory does not exist has
        // had nothing checkpointed yet (its entries, if any, are in the
        // node log).
        let records: Vec<BucketRecord> = meta.read(|t| t.buckets.values().cloned().collect());
        let mut buckets = HashMap::with_capacity(records.len());
        for rec in records {
            let name = rec.name.clone();
            let dir = bdir.join(&name);
            let index = open_bucket_index(io, &wal, &open_shards, index_options, &rec, &dir)
                .map_err(|e| format!("opening the index of bucket {name}: {e}"))?;
            let bucket = Bucket::new(name.clone(), bucket_meta(&rec), index, dir);
            if let Some(doc) =
                meta.read(|t| t.bucket_config(&name, CONFIG_LIFECYCLE).map(<[u8]>::to_vec))
            {
                let lc = crate::s3::xml::parse_lifecycle(&doc).map_err(|e| {
                    format!(
                        "the lifecycle configuration of bucket {name} in the metadata log: {}",
                        e.message
                    )
                })?;
                *bucket.lifecycle.write() = Some(Arc::new(lc));
            }
            buckets.insert(name, Arc::new(bucket));
        }
        let orphaned = wal.drop_unclaimed();
        if orphaned > 0 {
            tracing::info!(
                entries = orphaned,
                "node log entries of removed buckets or replaced shard generations were dropped"
            );
        }
        Ok(ObjectStore {
            chunk_pool: ChunkPool::new(
                CHUNK_BYTES,
                UPLOAD_BUFFER_CHUNKS_DEFAULT,
                IDLE_CHUNK_BUFFERS_MAX,
            ),
            io: io.clone(),
            data_dir: data_dir.to_path_buf(),
            segments,
            wal,
            buckets: RwLock::new(buckets),
            index_options,
            meta,
            bucket_changes: tokio::sync::RwLock::new(()),
            creating: parking_lot::Mutex::default(),
            open_shards,
            write_pins: Arc::default(),
            next_pin: std::sync::atomic::AtomicU64::new(1),
            reserve_bytes: std::sync::atomic::AtomicU64::new(0),
            free_space: parking_lot::Mutex::new(None),
            upload_usage: Arc::default(),
            master_keys: None,
        })
    }

    pub fn segments(&self) -> &SegmentStore {
        &self.segments
    }

    /// Sizes the upload buffer budget and each user's share of it (before
    /// serving: buffers of the old pool stay counted against the old one).
    pub fn set_upload_limits(&mut self, limits: PoolLimits) {
        self.chunk_pool = ChunkPool::with_limits(CHUNK_BYTES, limits, IDLE_CHUNK_BUFFERS_MAX);
    }

    /// The upload buffers (for metrics).
    pub fn upload_pool(&self) -> &ChunkPool {
        &self.chunk_pool
    }

    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    /// Sets the free space kept in reserve (`storage.reserve_mib`).
    pub fn set_reserve(&self, bytes: u64) {
        self.reserve_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Free bytes on the data dir's filesystem, measured at most every
    /// 100 ms.
    /// What has been appended since it was measured counts as used.
    pub fn free_bytes(&self) -> u64 {
        let written = self.segments.stats().bytes_written.load(Ordering::Relaxed);
        let mut cached = self.free_space.lock();
        match *cached {
            Some((at, free, then)) if at.elapsed() < std::time::Duration::from_millis(100) => {
                free.saturating_sub(written.saturating_sub(then))
            }
            _ => {
                let free = crate::datadir::disk_space(&self.data_dir).map_or(u64::MAX, |(_, f)| f);
                *cached = Some((std::time::Instant::now(), free, written));
                free
            }
        }
    }

    /// Forgets the measured free space (space was just given back).
    pub fn forget_free_space(&self) {
        *self.free_space.lock() = None;
    }

    /// Refuses (InsufficientStorage, 507) a write of `incoming` bytes that
    /// would leave less than the reserve free: the disk never fills, so
    /// deletes, the logs and compaction always have room.
    pub fn check_space(&self, incoming: u64) -> Result<(), S3Error> {
        let reserve = self.reserve_bytes.load(Ordering::Relaxed);
        if reserve == 0 {
            return Ok(());
        }
        let free = self.free_bytes();
        if free.saturating_sub(incoming) < reserve {
            return Err(S3Error::new(
                S3ErrorCode::InsufficientStorage,
                format!(
                    "The node's disk is nearly full: {} MiB free, {} MiB kept in reserve. Delete objects (compaction gives the space back) or add space.",
                    free >> 20,
                    reserve >> 20
                ),
            ));
        }
        Ok(())
    }

    /// Registers a write about to start (see [`WritePin`]).
    pub fn pin_writes(&self) -> WritePin {
        let token = self.next_pin.fetch_add(1, Ordering::Relaxed);
        let floor = self.segments.stats().last_segment.load(Ordering::Acquire);
        self.write_pins.lock().insert(token, floor);
        WritePin {
            pins: Arc::clone(&self.write_pins),
            token,
        }
    }

    /// Segments below this id hold nothing a write in progress made:
    /// compaction may take them (if sealed).
    pub fn compaction_floor(&self) -> u64 {
        // Segments from the replay point on hold index log entries that
        // replay (or a log consumer) still needs.
        let newest = self
            .segments
            .stats()
            .last_segment
            .load(Ordering::Acquire)
            .min(self.wal.replay_from().0.max(1));
        self.write_pins
            .lock()
            .values()
            .copied()
            .min()
            .map_or(newest, |p| p.min(newest))
    }

    pub fn bucket(&self, name: &str) -> Result<Arc<Bucket>, S3Error> {
        self.buckets
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| no_bucket(name))
    }

    /// Every open bucket.
    pub fn all_buckets(&self) -> Vec<Arc<Bucket>> {
        let mut v: Vec<Arc<Bucket>> = self.buckets.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// (name, created) of the buckets `owner` owns (every bucket for
    /// `None`), by name.
    pub fn list_buckets(&self, owner: Option<&str>) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .buckets
            .read()
            .values()
            .filter(|b| owner.is_none_or(|o| b.meta.owner == o))
            .map(|b| (b.name.clone(), b.meta.created_nanos))
            .collect();
        v.sort();
        v
    }

    /// (objects, bytes) over every bucket `owner` owns.
    pub fn usage_of(&self, owner: &str) -> (u64, u64) {
        self.buckets
            .read()
            .values()
            .filter(|b| b.meta.owner == owner)
            .map(|b| b.index.stats())
            .fold((0, 0), |(o, s), (a, b)| {
                (o.saturating_add(a), s.saturating_add(b))
            })
    }

    /// A bucket's quota as the metadata log has it.
    pub fn bucket_quota(&self, name: &str) -> Quota {
        self.meta
            .read(|t| t.buckets.get(name).map(|b| b.quota))
            .unwrap_or_default()
    }

    /// The resolver dir suggest uses for `bucket`.
    pub fn resolver(&self, bucket: &str) -> SegmentResolver {
        SegmentResolver {
            io: self.io.clone(),
            dir: self.segments.dir().to_path_buf(),
            bucket: bucket.to_string(),
        }
    }

    /// Commits every bucket's index and trims its logs.
    /// Checkpoints every bucket index, then moves the node log's replay
    /// point up to the oldest entry any shard still needs (or to where
    /// the log ended when the round began).
    pub async fn checkpoint(&self) -> Result<(), String> {
        let end = self.segments.placed_end();
        let buckets: Vec<Arc<Bucket>> = self.buckets.read().values().cloned().collect();
        let mut first_error = None;
        // Shards checkpointed for the first time are written without a
        // sync each; one sync of the filesystem covers a chunk of them,
        // after which they can close (writers waiting for room go on
        // without waiting for the whole pass).
        let mut staged = Vec::new();
        let mut new_files = 0;
        let started = std::time::Instant::now();
        for b in &buckets {
            if let Err(e) = b.index.checkpoint_staged(&mut staged).await {
                first_error.get_or_insert(format!("checkpointing bucket {}: {e}", b.name));
            }
            if staged.len() >= PUBLISH_CHUNK {
                new_files += staged.len();
                if let Err(e) = self.publish_staged(&std::mem::take(&mut staged)).await {
                    first_error.get_or_insert(e);
                }
                self.open_shards.close_idle();
            }
        }
        // A shard left staged or unconfirmed keeps its log, so the
        // replay point below stays before its entries.
        new_files += staged.len();
        if let Err(e) = self.publish_staged(&staged).await {
            first_error.get_or_insert(e);
        }
        let secs = started.elapsed().as_secs_f64();
        if secs > 1.0 {
            tracing::info!(
                new_shard_files = new_files,
                secs,
                open_shards = self.open_shards.open_count(),
                "a slow checkpoint of the bucket indexes"
            );
        }
        let needed = buckets
            .iter()
            .filter_map(|b| b.index.log_needed_from())
            .map(|l| (l.segment, l.offset))
            .min()
            .map_or(end, |n| n.min(end));
        self.wal
            .advance_replay_point(needed)
            .map_err(|e| format!("moving the node log's replay point: {e}"))?;
        // Shards the checkpoint left idle can close now.
        self.open_shards.close_idle();
        first_error.map_or(Ok(()), Err)
    }

    /// Makes the staged files of `shards` theirs: one sync of the
    /// filesystem, the renames, another sync (each file and directory
    /// synced on its own where the filesystem cannot be synced at once).
    /// A shard whose publication fails stays staged, its log untrimmed.
    async fn publish_staged(&self, shards: &[Arc<IndexShard>]) -> Result<(), String> {
        if shards.is_empty() {
            return Ok(());
        }
        let synced = self
            .io
            .sync_filesystem(&self.data_dir)
            .map_err(|e| format!("syncing the data dir's filesystem: {e}"))?;
        let mut first_error = None;
        for s in shards {
            if let Err(e) = s.publish_staged(synced).await {
                first_error.get_or_insert(format!("publishing a shard's first checkpoint: {e}"));
            }
        }
        if synced {
            // The renames are durable only now: the shards' logs are
            // trimmed after this, never before.
            self.io
                .sync_filesystem(&self.data_dir)
                .map_err(|e| format!("syncing the data dir's filesystem: {e}"))?;
            for s in shards {
                if let Err(e) = s.confirm_published().await {
                    first_error.get_or_insert(format!("trimming a shard's log: {e}"));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Checkpoints so that the node log's replay point (below which
    /// compaction may take segments) is as far on as it can be. Best
    /// effort: a failure is logged, and the point stays where it was.
    pub async fn advance_log(&self) {
        if let Err(e) = self.checkpoint().await {
            tracing::warn!(error = %e, "a checkpoint before compaction failed; the node log's replay point stays behind");
        }
    }

    /// The node's open index shards (for metrics).
    pub fn open_shards(&self) -> &OpenShards {
        &self.open_shards
    }

    /// The node log (its replay point, for metrics and tools).
    pub fn wal(&self) -> &Arc<IndexWal> {
        &self.wal
    }
}

/// What `write_data` stored.
pub struct StoredData {
    pub size: u64,
    pub md5: [u8; 16],
    /// The digest of the algorithm asked for, if any.
    pub checksum: Option<Vec<u8>>,
    /// Appended already.
    pub chunks: Vec<Chunk>,
    /// The last chunk, not yet appended (see `stream_data`).
    pub tail: Option<HeldChunk>,
    /// Keeps compaction off the segments the chunks are in until this is
    /// dropped (after the head or manifest that references them).
    _pin: WritePin,
}

/// A write in progress: segments from `floor` on may hold chunks nothing
/// references yet, so compaction must not take them.
pub struct WritePin {
    pins: Arc<parking_lot::Mutex<std::collections::BTreeMap<u64, u64>>>,
    token: u64,
}

impl Drop for WritePin {
    fn drop(&mut self) {
        self.pins.lock().remove(&self.token);
    }
}

/// A data chunk held back to be appended with its head.
pub struct HeldChunk {
    /// Holds its share of the upload buffer budget until written.
    pub data: Bytes,
    pub crc: PayloadCrc,
    /// Object bytes in it (less than `data` when sealed).
    pub plain_len: u32,
}

async fn join_append(
    h: tokio::task::JoinHandle<Result<Vec<RecordLoc>, SegmentError>>,
) -> Result<Vec<RecordLoc>, S3Error> {
    match h.await {
        Ok(Ok(locs)) => Ok(locs),
        Ok(Err(e)) => Err(write_failed("writing object data", e)),
        Err(e) => Err(internal("writing object data", e)),
    }
}

/// A failed append: the disk being full is InsufficientStorage (507,
/// nothing stored, retry once space returns); anything else is internal.
/// A body cut off at `room` bytes because of a quota (not the size limit
/// `max`) is `QuotaExceeded`, not `EntityTooLarge`.
pub fn over_quota_if(e: S3Error, room: Option<u64>, max: u64) -> S3Error {
    match room {
        Some(r) if r < max && e.code == S3ErrorCode::EntityTooLarge => S3Error::new(
            S3ErrorCode::QuotaExceeded,
            "This write would exceed a quota (of its bucket or its owner).",
        ),
        _ => e,
    }
}

pub fn write_failed(what: &str, e: SegmentError) -> S3Error {
    if e.is_no_space() {
        S3Error::new(
            S3ErrorCode::InsufficientStorage,
            format!("{what}: the node's disk is full; delete objects (compaction gives the space back) or add space"),
        )
    } else {
        internal(what, e)
    }
}

/// The index entry for a head written at `loc`.
pub fn head_entry(head: &ObjectHead, loc: RecordLoc) -> IndexEntry {
    IndexEntry {
        size: head.size,
        mtime_nanos: head.mtime_nanos,
        etag: head.etag,
        etag_parts: head.etag_parts,
        head: loc,
        version_id: head.version_id,
        delete_marker: head.delete_marker,
        storage_class: head.storage_class,
        // A locked version is not removed before its lock lets it go.
        expiry_slot: head.lock.defer_expiry(u64::from(head.expiry_secs)),
        lock: head.lock,
        ..IndexEntry::default()
    }
}

/// What a PUT carries besides its bucket, key and body.
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    /// Content headers and `x-amz-meta-*`, stored and returned.
    pub meta: Vec<(String, String)>,
    /// Content-Length (or the decoded length of an aws-chunked body).
    pub expected_len: Option<u64>,
    pub content_md5: Option<[u8; 16]>,
    /// `If-None-Match: *` / `If-Match`, checked atomically at completion.
    pub condition: Option<WriteCondition>,
    /// An additional checksum to compute, check (if a value came) and
    /// store.
    pub checksum: Option<Expected>,
    /// When the object expires (`X-Delete-At` / `X-Delete-After`), seconds
    /// since the Unix epoch; 0 for never.
    pub expiry_secs: u32,
    /// The new version's Object Lock state (empty: none).
    pub lock: crate::s3::object_lock::ObjectLock,
    /// How the object is encrypted (`None`: stored as sent).
    pub sse: Option<SseWrite>,
}

/// The ETag (unquoted) of the object a logical head entry shows, if it
/// shows one (not a placeholder, not a delete marker).
pub fn current_etag(head: Option<&IndexEntry>) -> Option<String> {
    head.filter(|e| !e.placeholder && !e.delete_marker)
        .map(|e| etag_string(&e.etag, e.etag_parts))
}

/// Step 3 of a write, under `condition` if there is one: the condition is
/// checked against the key as it is when the completion is applied, under
/// the shard's writer lock, so of racing conditional writers exactly the
/// ones it allows win. A write it refuses is cancelled and answered with
/// the condition's error.
pub(crate) async fn complete_checked(
    index: &BucketIndex,
    txn: crate::index::bucket::Txn,
    target: SortKey,
    entry: IndexEntry,
    condition: Option<&WriteCondition>,
) -> Result<(), S3Error> {
    complete_under(
        index,
        txn,
        target,
        Some(entry),
        condition.map(|c| move |head: Option<&IndexEntry>| c.check(current_etag(head).as_deref())),
    )
    .await
}

/// Step 3 of a transaction under `check` if there is one: `check` sees the
/// key's logical head as the completion is applied (under the shard's
/// writer lock); what it refuses is cancelled and answered with its error.
/// Conditional writes and conditional deletes both complete this way.
pub(crate) async fn complete_under(
    index: &BucketIndex,
    txn: crate::index::bucket::Txn,
    target: SortKey,
    entry: Option<IndexEntry>,
    check: Option<impl Fn(Option<&IndexEntry>) -> Result<(), S3Error>>,
) -> Result<(), S3Error> {
    let Some(check) = check else {
        return index
            .complete(txn, target, entry)
            .await
            .map_err(|e| internal("completing the index", e));
    };
    let refused = std::cell::RefCell::new(None);
    let done = index
        .complete_if(txn, target, entry, |head| match check(head) {
            Ok(()) => true,
            Err(e) => {
                *refused.borrow_mut() = Some(e);
                false
            }
        })
        .await
        .map_err(|e| internal("completing the index", e))?;
    match (done, refused.into_inner()) {
        (true, _) => Ok(()),
        (false, Some(e)) => Err(e),
        (false, None) => Err(internal("completing the index", "refused without a reason")),
    }
}

/// How much a chunk buffer reserves when `taken` bytes of the body are
/// already in earlier chunks: what is left of a known length (a 4 KiB PUT
/// does not map a 1 MiB buffer, fault its pages in and unmap it), else a
/// whole chunk.
fn chunk_capacity(expected_len: Option<u64>, taken: u64) -> usize {
    match expected_len {
        Some(n) => n.saturating_sub(taken).clamp(1, CHUNK_BYTES as u64) as usize,
        None => CHUNK_BYTES,
    }
}

/// The in-memory view of a bucket's metadata log record.
/// Opens the index of the bucket `rec` in `dir` (which may not exist
/// yet): generation 0 of the record's shard count unless resharded.
fn open_bucket_index(
    io: &Io,
    wal: &Arc<IndexWal>,
    open_shards: &Arc<OpenShards>,
    options: BucketIndexOptions,
    rec: &BucketRecord,
    dir: &Path,
) -> Result<BucketIndex, crate::index::index_shard::IndexError> {
    let home = IndexHome {
        wal: Arc::clone(wal),
        bucket: Arc::from(rec.name.as_str()),
        instance: rec.created_nanos,
        open_shards: Arc::clone(open_shards),
    };
    let options = BucketIndexOptions {
        shards: rec.shards,
        ..options
    };
    BucketIndex::open(io, &dir.join("index"), options, home)
}

fn bucket_meta(r: &BucketRecord) -> BucketMeta {
    BucketMeta {
        created_nanos: r.created_nanos,
        shards: r.shards,
        versioning: r.versioning,
        location: r.location.clone(),
        owner: r.owner.clone(),
    }
}

fn remove_tree(dir: &Path) {
    // Best effort: what is left is removed again at the next start.
    let _ = std::fs::remove_dir_all(dir);
}
