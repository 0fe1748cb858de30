//! One live shard of a bucket index: its tree, its log, and the three-step
//! index transaction on top. Every step is made durable in the log first
//! and then applied to the tree; a checkpoint commits the tree and trims
//! the log below what every consumer has confirmed; opening replays the
//! log past the checkpoint.
//!
//! Steps on one shard are serialized (one writer per shard) and group
//! committed: a step is checked and applied to the writer's tree under the
//! lock, then the steps applied so far go to the log in one append (one
//! fsync) and the tree as of the last of them is published. So concurrent
//! writers of a shard share an fsync, and readers only ever see logged
//! steps. Different shards proceed in parallel. Readers never take the
//! writer's lock: they read the view the last logged batch published.
//!
//! A batch belongs to the shard, not to the request that happened to
//! submit it: it is handed to the log writer synchronously, under the
//! lock, and the pending append is kept in the shard, so any waiter (or
//! the next step, or the checkpoint) finishes and publishes it. A request
//! dropped at any await (its client left) leaves nothing half done. An
//! append that fails (EIO, ENOSPC) is logged with its cause; its steps
//! stay applied in the writer's tree and go to the log again before any
//! new step is taken (the segment writer first cuts the log back to its
//! durable end, so the log ends up exactly as a reopen would read it);
//! their callers get [`IndexError::LogFailed`]: not acknowledged, so the
//! steps may still take effect. A log whose writer stopped is reopened
//! from disk. A shard retired by resharding refuses steps with
//! [`IndexError::Retired`]; the caller retries on the bucket's new layout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam::epoch;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use thiserror::Error;
use tokio::sync::{Mutex, MutexGuard};

use super::bilog::{BilogEntry, BilogOp};
use super::bilog_file::{BilogFileError, Consumers};
use super::entry::IndexEntry;
use super::key::SortKey;
use super::shard::{lookup, Shard, ShardError};
use super::txn;
use super::view::Published;
use super::wal::{IndexWal, ShardLog, ShardName, WalError};
use crate::io::Io;

#[derive(Debug, Error)]
pub enum IndexError {
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(transparent)]
    Log(#[from] BilogFileError),
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Txn(#[from] txn::TxnError),
    #[error("the shard's log could not be written ({cause}); the step may or may not take effect")]
    LogFailed { cause: Arc<str> },
    #[error("the shard was retired by resharding; use the bucket's new layout")]
    Retired,
    #[error("too many bucket index shards are open and waiting for a checkpoint; retry")]
    Crowded,
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("bucket index layout {}: {reason}", path.display())]
    BadLayout {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("resolving a pending entry: {0}")]
    Resolve(String),
}

/// What an idle shard leaves behind when it is closed.
pub enum ShardAtRest {
    /// It has no file and nothing logged: nothing.
    Empty,
    /// Its stats and expiry index (unchanged while it is closed).
    OnDisk {
        objects: u64,
        bytes: u64,
        expiring: Arc<parking_lot::Mutex<super::expiry::ExpiryIndex>>,
    },
}

/// The consumer name of the shard's own checkpoint.
pub const CHECKPOINT_CONSUMER: &str = "checkpoint";

pub(crate) struct Inner {
    pub(crate) shard: Shard,
    retired: bool,
    consumers: Consumers,
    /// Applied to the writer's tree, not yet logged (nor published); after
    /// a failed append, that batch first.
    unlogged: Vec<BilogEntry>,
    /// The batch handed to the log, not yet finished.
    in_flight: Option<InFlight>,
    /// The last marker in the log (and published).
    logged: u64,
    /// The last tag handed to a prepare.
    last_tag: u64,
    /// Batches handed to the log so far (names the one in flight).
    batches: u64,
    /// Failed appends so far: a waiter whose batch failed sees it change.
    failures: u64,
    /// Why the last append failed, until one succeeds again.
    failure: Option<Arc<str>>,
    /// The marker the last checkpoint committed.
    checkpointed: u64,
    /// The file was published (renamed into place) but the sync that
    /// makes the rename durable has not been confirmed.
    rename_unsynced: bool,
}

impl Inner {
    fn quiet(&self) -> bool {
        self.unlogged.is_empty() && self.in_flight.is_none()
    }

    fn log_failed(&self) -> IndexError {
        IndexError::LogFailed {
            cause: self
                .failure
                .clone()
                .unwrap_or_else(|| Arc::from("an earlier append failed")),
        }
    }
}

/// An append's outcome, shareable by everyone who waits for it.
type Durable = Shared<BoxFuture<'static, Result<(), Arc<WalError>>>>;

/// A batch handed to the log writer: it is written whether or not anyone
/// waits, and whoever takes the lock after it resolved finishes it.
struct InFlight {
    seq: u64,
    /// Kept to log again if the append fails.
    batch: Vec<BilogEntry>,
    /// The tree as of the batch's last step, published once it is logged.
    snap: super::shard::Snapshot,
    durable: Durable,
}

/// Whether a step returns once its batch is logged (fsynced), or at once,
/// to be carried to the log by the next batch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Durability {
    Logged,
    Carried,
}

pub struct IndexShard {
    /// The shard's directory (for messages).
    dir: PathBuf,
    /// The shard's entries in the node log.
    log: ShardLog,
    published: Arc<Published>,
    inner: Mutex<Inner>,
    zone: u64,
    generation: u32,
    /// The shard's expiry index (the `Shard` updates it in each step).
    expiring: Arc<parking_lot::Mutex<super::expiry::ExpiryIndex>>,
}

/// A shard held still: no step runs until it is dropped.
pub struct FrozenShard<'a> {
    guard: MutexGuard<'a, Inner>,
    log: &'a ShardLog,
}

impl FrozenShard<'_> {
    /// The last marker applied (and durable).
    pub fn applied(&self) -> u64 {
        self.guard.shard.applied()
    }

    /// Log entries from `from` on (all of them are applied).
    pub fn read_log(&self, from: u64) -> Result<Vec<BilogEntry>, IndexError> {
        Ok(self.log.read_from(from, usize::MAX)?)
    }

    /// From now on every step is refused with [`IndexError::Retired`].
    pub fn retire(&mut self) {
        self.guard.retired = true;
    }
}

impl IndexShard {
    /// Opens the shard `name` in `dir` (a new one in memory only, if it
    /// has no file yet) and replays
    /// its entries in the node log past the last checkpoint. A shard log
    /// directory from before the node log is replayed, checkpointed and
    /// removed first.
    pub fn open(
        io: &Io,
        dir: &Path,
        name: ShardName,
        shard_count: u32,
        zone: u64,
        wal: &Arc<IndexWal>,
    ) -> Result<IndexShard, IndexError> {
        let tree_path = dir.join("tree.idx");
        let exists = io.exists(&tree_path).map_err(|source| IndexError::Io {
            op: "checking",
            path: tree_path.clone(),
            source,
        })?;
        let mut s = if exists {
            Shard::open(io, &tree_path)?
        } else {
            // Nothing on disk until there is something to checkpoint.
            Shard::deferred(io, &tree_path, name.shard, shard_count)?
        };
        upgrade_legacy_log(io, dir, &mut s)?;
        let log = ShardLog::new(wal, name);
        let replayed = wal.take_replay(log.name());
        for (_, e) in &replayed {
            if e.marker > s.applied() {
                s.apply(e)?;
            }
        }
        log.adopt_replayed(&replayed);
        log.resume_after(s.applied());
        log.trim_below(s.checkpoint_marker() + 1);
        Ok(IndexShard::new(dir, s, log, zone))
    }

    /// A shard with a node log of its own in `dir/wal` (tests, tools):
    /// bucket `b`, instance 1.
    pub fn open_standalone(
        io: &Io,
        dir: &Path,
        shard: u32,
        shard_count: u32,
        zone: u64,
        generation: u32,
    ) -> Result<IndexShard, IndexError> {
        let wal = IndexWal::open_in(io, &dir.join("wal"))?;
        let name = ShardName {
            bucket: Arc::from("b"),
            instance: 1,
            generation,
            shard,
        };
        IndexShard::open(io, dir, name, shard_count, zone, &wal)
    }

    /// A shard over an already built and checkpointed tree (resharding).
    pub fn adopt(
        dir: &Path,
        s: Shard,
        wal: &Arc<IndexWal>,
        name: ShardName,
        zone: u64,
    ) -> Result<IndexShard, IndexError> {
        let log = ShardLog::new(wal, name);
        log.resume_after(s.applied());
        Ok(IndexShard::new(dir, s, log, zone))
    }

    fn new(dir: &Path, s: Shard, log: ShardLog, zone: u64) -> IndexShard {
        let mut consumers = Consumers::default();
        consumers.register(CHECKPOINT_CONSUMER, s.checkpoint_marker());
        let generation = log.name().generation;
        IndexShard {
            dir: dir.to_path_buf(),
            log,
            expiring: Arc::clone(s.expiring()),
            published: Arc::clone(s.published()),
            inner: Mutex::new(Inner {
                logged: s.applied(),
                checkpointed: s.checkpoint_marker(),
                shard: s,
                retired: false,
                consumers,
                unlogged: Vec::new(),
                in_flight: None,
                last_tag: 0,
                batches: 0,
                failures: 0,
                failure: None,
                rename_unsynced: false,
            }),
            zone,
            generation,
        }
    }

    /// The shard's name in the node log.
    pub fn name(&self) -> &ShardName {
        self.log.name()
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }

    async fn step(
        &self,
        op: BilogOp,
        key: &SortKey,
        tag: Option<u64>,
        entry: Option<IndexEntry>,
    ) -> Result<u64, IndexError> {
        self.step_if(op, key, tag, entry, Durability::Logged, |_| Ok(true))
            .await
            .map(|t| t.unwrap_or_default())
    }

    /// A step taken only if `check` (run under the writer's lock on the
    /// shard as it is) says so; `None` if it was not taken.
    async fn step_if(
        &self,
        op: BilogOp,
        key: &SortKey,
        tag: Option<u64>,
        entry: Option<IndexEntry>,
        durability: Durability,
        check: impl FnOnce(&Shard) -> Result<bool, IndexError>,
    ) -> Result<Option<u64>, IndexError> {
        let mut g = self.inner.lock().await;
        if g.retired {
            return Err(IndexError::Retired);
        }
        if g.failure.is_some() {
            // What failed goes to the log before anything new is taken,
            // so only that batch is ever in doubt.
            g = self.settle(g).await?;
        }
        if !check(&g.shard)? {
            return Ok(None);
        }
        let marker = g.shard.applied() + 1;
        let now = crate::clock::now_nanos();
        // A prepare's tag is the time it was taken, made strictly
        // increasing within the shard. Not its marker: a prepare is carried
        // to the log by a later batch (see `prepare`), so a crash can lose
        // it while a head record naming its tag is durable, and the next
        // process would hand the same marker out again; a time-based tag
        // is never reused across restarts (as long as the clock does not
        // step back over the downtime), so a dead transaction is never
        // resolved to an older process's orphan head.
        let tag = tag.unwrap_or_else(|| {
            g.last_tag = now.max(g.last_tag + 1);
            g.last_tag
        });
        let e = BilogEntry {
            op,
            generation: self.generation,
            marker,
            tag,
            mtime_nanos: now,
            source_zone: self.zone,
            key: key.clone(),
            entry,
        };
        // Refuse what the entry cannot take, or what the log could not
        // encode, before applying it: once applied it must reach the log.
        g.shard.plan(&e)?;
        e.encode(&mut Vec::new())
            .map_err(|err| IndexError::Resolve(format!("encoding a log entry: {err}")))?;
        g.shard.apply_unpublished(&e)?;
        g.unlogged.push(e);
        if durability == Durability::Carried {
            return Ok(Some(tag));
        }
        let failures_at = g.failures;
        loop {
            if g.logged >= marker {
                return Ok(Some(tag));
            }
            if g.failures != failures_at {
                return Err(g.log_failed());
            }
            g = self.drive(g).await;
        }
    }

    /// Moves the log one round forward: finishes the batch in flight
    /// (waiting for it without the lock), or hands the unlogged steps to
    /// the log as the next batch. Dropping the returned future at its
    /// await leaves the batch in flight for the next caller.
    async fn drive<'a>(&'a self, mut g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        if let Some(f) = &g.in_flight {
            let (seq, durable) = (f.seq, f.durable.clone());
            drop(g);
            let outcome = durable.await;
            g = self.inner.lock().await;
            if g.in_flight.as_ref().is_some_and(|f| f.seq == seq) {
                if let Some(f) = g.in_flight.take() {
                    self.finish(&mut g, f, outcome);
                }
            }
        } else if !g.unlogged.is_empty() {
            self.submit(&mut g);
        }
        g
    }

    /// Hands every unlogged step to the log in one append (one fsync).
    fn submit(&self, g: &mut Inner) {
        let batch = std::mem::take(&mut g.unlogged);
        let snap = g.shard.snapshot();
        match self.log.submit(&batch) {
            Ok(durable) => {
                g.batches += 1;
                g.in_flight = Some(InFlight {
                    seq: g.batches,
                    batch,
                    snap,
                    durable: durable.map(|r| r.map_err(Arc::new)).boxed().shared(),
                });
            }
            Err(e) => self.failed(g, batch, Arc::new(e)),
        }
    }

    /// A batch's append resolved: publish it, or keep it to log again.
    fn finish(&self, g: &mut Inner, f: InFlight, outcome: Result<(), Arc<WalError>>) {
        match outcome {
            Ok(()) => {
                g.logged = f.snap.applied();
                g.shard.publish_snapshot(f.snap);
                if g.failure.take().is_some() {
                    tracing::info!(shard = %self.dir.display(), "a bucket index shard's log entries are written again");
                }
            }
            Err(e) => self.failed(g, f.batch, e),
        }
    }

    /// Records a failed append: its steps stay applied and go first in the
    /// next batch; its waiters learn it failed. The cause is logged once
    /// per change of cause, here, where it is decided.
    fn failed(&self, g: &mut Inner, mut batch: Vec<BilogEntry>, e: Arc<WalError>) {
        batch.append(&mut g.unlogged);
        g.unlogged = batch;
        g.failures += 1;
        let cause: Arc<str> = Arc::from(e.to_string());
        if g.failure.as_deref() != Some(&*cause) {
            tracing::error!(shard = %self.dir.display(), error = %cause, "a bucket index shard's log append failed; its steps will be logged again before new ones");
        }
        g.failure = Some(cause);
    }

    /// Drives the log until every applied step is logged and published;
    /// an append that fails on the way ends it with that failure.
    async fn settle<'a>(
        &'a self,
        mut g: MutexGuard<'a, Inner>,
    ) -> Result<MutexGuard<'a, Inner>, IndexError> {
        let failures_at = g.failures;
        loop {
            if g.quiet() {
                return Ok(g);
            }
            if g.failures != failures_at {
                return Err(g.log_failed());
            }
            g = self.drive(g).await;
        }
    }

    /// The writer's lock once every applied step is logged and published,
    /// so the tree is exactly what the log holds (checkpoint, freeze).
    async fn lock_quiet(&self) -> Result<MutexGuard<'_, Inner>, IndexError> {
        let g = self.inner.lock().await;
        self.settle(g).await
    }

    /// Step 1: a write or delete of `key` (an object key) begins; returns
    /// its tag. The tag is pending on the key's logical head.
    ///
    /// The prepare is not waited for: it reaches the log with the next
    /// batch, at the latest with its own complete or cancel (same log,
    /// after it), whose fsync covers both. A crash before then loses an
    /// unacknowledged write only: a head record with no logged prepare is
    /// never found (an orphan for the space reclaimer), and one with a
    /// logged prepare is resolved by the dir suggest as before.
    pub async fn prepare(&self, key: &[u8]) -> Result<u64, IndexError> {
        let head = SortKey::Head { key: key.to_vec() };
        self.step_if(
            BilogOp::Prepare,
            &head,
            None,
            None,
            Durability::Carried,
            |_| Ok(true),
        )
        .await
        .map(|t| t.unwrap_or_default())
    }

    /// Step 3: the head record was written (`Some`) or the object deleted
    /// (`None`). `key` is the logical head for an unversioned write, or
    /// the version written or removed.
    pub async fn complete(
        &self,
        key: &SortKey,
        tag: u64,
        entry: Option<IndexEntry>,
    ) -> Result<(), IndexError> {
        self.step(BilogOp::Complete, key, Some(tag), entry).await?;
        crate::metrics::WAL.completions.inc();
        Ok(())
    }

    /// Step 3 of a conditional write: taken only if `check`, given the
    /// key's logical head as it is at this instant (every step before it
    /// applied, under the writer's lock), says so. Returns whether it was
    /// taken; if not, the transaction is still open (cancel it). Among
    /// racing conditional writers of one key the checks run one at a
    /// time, each seeing the writes that passed before it.
    pub async fn complete_if(
        &self,
        key: &SortKey,
        tag: u64,
        entry: Option<IndexEntry>,
        check: impl FnOnce(Option<&IndexEntry>) -> bool,
    ) -> Result<bool, IndexError> {
        let head = SortKey::Head {
            key: key.object_key().to_vec(),
        };
        self.complete_if_entry(key, tag, entry, &head, check).await
    }

    /// Like [`complete_if`](Self::complete_if), with `check` seeing the
    /// stored entry of `checked` (a version, or the head).
    pub async fn complete_if_entry(
        &self,
        key: &SortKey,
        tag: u64,
        entry: Option<IndexEntry>,
        checked: &SortKey,
        check: impl FnOnce(Option<&IndexEntry>) -> bool,
    ) -> Result<bool, IndexError> {
        let taken = self
            .step_if(
                BilogOp::Complete,
                key,
                Some(tag),
                entry,
                Durability::Logged,
                |s| Ok(check(s.get(checked)?.as_ref())),
            )
            .await?
            .is_some();
        if taken {
            crate::metrics::WAL.completions.inc();
        }
        Ok(taken)
    }

    /// Step 3 when step 2 failed.
    pub async fn cancel(&self, key: &[u8], tag: u64) -> Result<(), IndexError> {
        let head = SortKey::Head { key: key.to_vec() };
        self.step(BilogOp::Cancel, &head, Some(tag), None)
            .await
            .map(|_| ())
    }

    /// Dir suggest: ends transaction `tag` on `key`, whose writer is gone,
    /// with what a listing found its head record says. `resolved` is the
    /// completion it would have logged (`None`: it wrote nothing, so the
    /// tag is just dropped). Nothing happens unless the tag is still
    /// pending; a found write older than what the key already shows is
    /// dropped too (it was never acknowledged, and must not hide a newer
    /// acknowledged write). Returns whether a step was logged.
    pub async fn suggest(
        &self,
        key: &[u8],
        tag: u64,
        resolved: Option<(SortKey, Option<IndexEntry>, u64)>,
    ) -> Result<bool, IndexError> {
        let head_key = SortKey::Head { key: key.to_vec() };
        let still_pending = |s: &Shard| -> Result<Option<IndexEntry>, IndexError> {
            Ok(s.get(&head_key)?.filter(|h| h.pending.contains(&tag)))
        };
        // A placeholder's time is when the key was last deleted (0 if it
        // never held data): a write found from before it stays dead.
        let newer = |head: &IndexEntry, found_mtime: u64| found_mtime > head.mtime_nanos;
        // Drops the tag (a cancel) if it is still pending.
        let cancel_if_pending = || {
            self.step_if(
                BilogOp::Cancel,
                &head_key,
                Some(tag),
                None,
                Durability::Logged,
                |s| Ok(still_pending(s)?.is_some()),
            )
        };
        let done = match resolved {
            Some((sk, found, found_mtime)) => {
                // A delete of the logical head is logged with its time.
                let found = match (&sk, found) {
                    (SortKey::Head { .. }, None) => Some(IndexEntry {
                        placeholder: true,
                        mtime_nanos: found_mtime,
                        ..IndexEntry::default()
                    }),
                    (_, f) => f,
                };
                let stale = std::cell::Cell::new(false);
                let logged = self
                    .step_if(
                        BilogOp::Complete,
                        &sk,
                        Some(tag),
                        found.clone(),
                        Durability::Logged,
                        |s| {
                            Ok(match still_pending(s)? {
                                Some(h) if newer(&h, found_mtime) => true,
                                Some(_) => {
                                    stale.set(true);
                                    false
                                }
                                None => false,
                            })
                        },
                    )
                    .await?;
                if stale.get() {
                    return cancel_if_pending().await.map(|t| t.is_some());
                }
                logged
            }
            None => cancel_if_pending().await?,
        };
        Ok(done.is_some())
    }

    /// The entry for `key` as of the last step, read without waiting for
    /// the writer.
    pub fn get(&self, key: &SortKey) -> Result<Option<IndexEntry>, IndexError> {
        let guard = epoch::pin();
        let view = self.published.load(&guard);
        Ok(lookup(view, view.root, key)?)
    }

    /// (objects, bytes) as of the last step.
    pub fn stats(&self) -> (u64, u64) {
        let guard = epoch::pin();
        let view = self.published.load(&guard);
        (view.objects, view.bytes)
    }

    /// (objects, bytes) of entries whose expiry is at or before `now_secs`
    /// and that are still in the shard.
    pub fn due_totals(&self, now_secs: u64) -> (u64, u64) {
        self.expiring.lock().due_totals(now_secs)
    }

    /// How many entries are due at `now_secs`.
    pub fn due_count(&self, now_secs: u64) -> usize {
        self.expiring.lock().due_count(now_secs)
    }

    /// Up to `limit` sort keys due at `now_secs`, earliest first.
    pub fn due(&self, now_secs: u64, limit: usize) -> Vec<(u64, SortKey)> {
        self.expiring.lock().due(now_secs, limit)
    }

    /// The last marker applied (readers' view).
    pub fn applied(&self) -> u64 {
        let guard = epoch::pin();
        self.published.load(&guard).applied
    }

    /// What readers load (listing pins several shards under one guard).
    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }

    /// Durable log entries from marker `from` on, at most `limit`: the
    /// API log consumers (replication, resharding) follow the shard with.
    pub fn read_log(&self, from: u64, limit: usize) -> Result<Vec<BilogEntry>, IndexError> {
        Ok(self.log.read_from(from, limit)?)
    }

    /// Registers a log consumer at `at`: nothing above `at` is trimmed
    /// until it confirms.
    pub async fn register_consumer(&self, name: &str, at: u64) {
        self.inner.lock().await.consumers.register(name, at);
    }

    /// A consumer has processed everything up to `marker`.
    pub async fn confirm_consumer(&self, name: &str, marker: u64) -> Result<(), IndexError> {
        Ok(self.inner.lock().await.consumers.confirm(name, marker)?)
    }

    pub async fn unregister_consumer(&self, name: &str) {
        self.inner.lock().await.consumers.unregister(name);
    }

    /// Commits the tree as of the last logged step (unless nothing
    /// changed since the last checkpoint) and trims the log below what
    /// every consumer confirmed.
    pub async fn checkpoint(&self) -> Result<u64, IndexError> {
        self.checkpoint_with(false).await.map(|(m, _)| m)
    }

    /// [`checkpoint`](Self::checkpoint), but a shard without a file yet
    /// leaves it staged (see `ShardFile::commit_staged`); `true` with the
    /// marker if it is staged now: the caller syncs the filesystem and
    /// calls [`publish_staged`](Self::publish_staged) before it counts on
    /// the checkpoint (moving the node log's replay point past it).
    pub async fn checkpoint_staged(&self) -> Result<(u64, bool), IndexError> {
        self.checkpoint_with(true).await
    }

    /// Makes a staged checkpoint the shard's file (see
    /// `ShardFile::publish_staged`). Unless `synced`, it is durable now
    /// and the log is trimmed; with `synced`, the caller syncs the
    /// filesystem once more and then calls
    /// [`confirm_published`](Self::confirm_published).
    pub async fn publish_staged(&self, synced: bool) -> Result<(), IndexError> {
        let mut g = self.inner.lock().await;
        if g.shard.publish_staged(synced)? {
            if synced {
                g.rename_unsynced = true;
            } else {
                let marker = g.shard.checkpoint_marker();
                self.confirm_checkpoint(&mut g, marker)?;
            }
        }
        Ok(())
    }

    /// The published file's rename is durable: the log below its
    /// checkpoint may go.
    pub async fn confirm_published(&self) -> Result<(), IndexError> {
        let mut g = self.inner.lock().await;
        if g.shard.on_disk() {
            g.rename_unsynced = false;
            let marker = g.shard.checkpoint_marker();
            self.confirm_checkpoint(&mut g, marker)?;
        }
        Ok(())
    }

    async fn checkpoint_with(&self, staging: bool) -> Result<(u64, bool), IndexError> {
        let mut g = self.lock_quiet().await?;
        let marker = if g.shard.applied() == g.checkpointed {
            g.checkpointed
        } else {
            let m = if staging {
                g.shard.checkpoint_staged()?
            } else {
                g.shard.checkpoint()?
            };
            g.checkpointed = m;
            m
        };
        if !staging && g.shard.is_staged() {
            // Left staged by a checkpoint whose publication failed.
            g.shard.publish_staged(false)?;
        }
        if g.shard.is_staged() {
            // Not durable yet: the log keeps everything until published.
            return Ok((marker, true));
        }
        if g.rename_unsynced {
            // The filesystem sync after its publication failed.
            g.shard.sync_dir()?;
            g.rename_unsynced = false;
        }
        self.confirm_checkpoint(&mut g, marker)?;
        Ok((marker, false))
    }

    /// The tree is durable up to `marker`: trims the log below what every
    /// consumer has confirmed.
    fn confirm_checkpoint(&self, g: &mut Inner, marker: u64) -> Result<(), IndexError> {
        g.consumers.confirm(CHECKPOINT_CONSUMER, marker)?;
        let trim = g.consumers.trim_point();
        if trim > 0 {
            self.log.trim_below(trim);
        }
        Ok(())
    }

    /// If the shard is idle — nothing waits to be logged, everything is
    /// checkpointed (so the node log holds nothing it needs), no consumer
    /// but the checkpoint, not retired — what closing it leaves behind.
    pub fn at_rest(&self) -> Option<ShardAtRest> {
        let g = self.inner.try_lock().ok()?;
        let idle = g.quiet()
            && g.failure.is_none()
            && !g.retired
            && g.checkpointed == g.shard.applied()
            && g.consumers.len() == 1
            && self.log.first_retained().is_none();
        if !idle {
            return None;
        }
        if !g.shard.on_disk() {
            return (g.shard.applied() == 0).then_some(ShardAtRest::Empty);
        }
        let (objects, bytes) = g.shard.stats();
        Some(ShardAtRest::OnDisk {
            objects,
            bytes,
            expiring: Arc::clone(&self.expiring),
        })
    }

    /// Where the oldest entry the node log must keep for this shard lives
    /// (replay past its checkpoint, or a consumer behind): `None` if it
    /// needs none.
    pub fn log_needed_from(&self) -> Option<crate::segment::RecordLoc> {
        self.log.first_retained()
    }

    /// Holds the shard still (resharding's final catch-up).
    pub async fn freeze(&self) -> Result<FrozenShard<'_>, IndexError> {
        Ok(FrozenShard {
            guard: self.lock_quiet().await?,
            log: &self.log,
        })
    }

    pub async fn entries(&self) -> Result<Vec<(SortKey, IndexEntry)>, IndexError> {
        Ok(self.lock_quiet().await?.shard.entries()?)
    }
}

/// A shard directory from before the node log keeps its entries in
/// `log/` (a segment directory of its own): replay them into the tree,
/// checkpoint it, and remove the directory.
fn upgrade_legacy_log(io: &Io, dir: &Path, s: &mut Shard) -> Result<(), IndexError> {
    let log_dir = dir.join("log");
    if !io.exists(&log_dir).unwrap_or(false) {
        return Ok(());
    }
    {
        let log = super::bilog_file::open(io, &log_dir)?;
        for e in log.read_from(s.applied() + 1, usize::MAX)? {
            s.apply(&e)?;
        }
    }
    s.checkpoint()?;
    io.remove_dir_of_files(&log_dir)
        .and_then(|()| io.sync_dir(dir))
        .map_err(|source| IndexError::Io {
            op: "removing the old log",
            path: log_dir.clone(),
            source,
        })?;
    tracing::info!(shard = %dir.display(), "upgrade: the shard's log entries are in the node log now");
    Ok(())
}
