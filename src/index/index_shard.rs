//! One live shard of a bucket index: its tree, its log, and the three-step
//! index transaction on top. Every step is made durable in the log first
//! and then applied to the tree; a checkpoint commits the tree and trims
//! the log below what every consumer has confirmed; opening replays the
//! log past the checkpoint.
//!
//! Steps on one shard are serialized (one writer per shard) and group
//! committed: a step is checked and applied to the writer's tree under the
//! lock, then waits while one of the waiting steps (the leader) logs
//! every step applied so far in one append and fsync and publishes the
//! tree as of the last of them. So concurrent writers of a shard share an
//! fsync, and readers only ever see logged steps. Different shards
//! proceed in parallel. Readers never take the writer's lock: they
//! read the view the last step published. A step that failed to reach the
//! log leaves the shard refusing further steps until it is reopened,
//! because the log may or may not hold it. A shard retired by resharding
//! refuses steps with [`IndexError::Retired`]; the caller retries on the
//! bucket's new layout.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::epoch;
use thiserror::Error;
use tokio::sync::{Mutex, MutexGuard};

use super::bilog::{BilogEntry, BilogOp};
use super::bilog_file::{BilogFile, BilogFileError, Consumers};
use super::entry::IndexEntry;
use super::key::SortKey;
use super::shard::{lookup, Shard, ShardError};
use super::txn;
use super::view::Published;
use crate::io::Io;

#[derive(Debug, Error)]
pub enum IndexError {
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(transparent)]
    Log(#[from] BilogFileError),
    #[error(transparent)]
    Txn(#[from] txn::TxnError),
    #[error("the shard failed to log a step and must be reopened")]
    Poisoned,
    #[error("the shard was retired by resharding; use the bucket's new layout")]
    Retired,
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

/// The consumer name of the shard's own checkpoint.
pub const CHECKPOINT_CONSUMER: &str = "checkpoint";

pub(crate) struct Inner {
    pub(crate) shard: Shard,
    poisoned: bool,
    retired: bool,
    consumers: Consumers,
    /// Applied to the writer's tree, not yet logged (nor published).
    unlogged: Vec<BilogEntry>,
    /// A leader is logging a batch.
    logging: bool,
    /// The last marker in the log (and published).
    logged: u64,
    /// The last tag handed to a prepare.
    last_tag: u64,
}

impl Inner {
    fn quiet(&self) -> bool {
        self.unlogged.is_empty() && !self.logging
    }
}

/// Whether a step returns once its batch is logged (fsynced), or at once,
/// to be carried to the log by the next batch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Durability {
    Logged,
    Carried,
}

pub struct IndexShard {
    log: BilogFile,
    published: Arc<Published>,
    inner: Mutex<Inner>,
    /// Woken when a batch has been logged (or failed).
    batch_done: tokio::sync::Notify,
    /// A leader was dropped mid-append: the shard is poisoned.
    abandoned: AtomicBool,
    zone: u64,
    generation: u32,
    /// The shard's expiry index (the `Shard` updates it in each step).
    expiring: Arc<parking_lot::Mutex<super::expiry::ExpiryIndex>>,
}

/// Poisons the shard if a leader's append is abandoned.
struct LeaderGuard<'a> {
    shard: &'a IndexShard,
    armed: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shard.abandoned.store(true, Ordering::Release);
            self.shard.batch_done.notify_waiters();
        }
    }
}

/// A shard held still: no step runs until it is dropped.
pub struct FrozenShard<'a> {
    guard: MutexGuard<'a, Inner>,
    log: &'a BilogFile,
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
    /// Opens (creating if needed) the shard in `dir` and replays its log
    /// past the last checkpoint.
    pub fn open(
        io: &Io,
        dir: &Path,
        shard: u32,
        shard_count: u32,
        zone: u64,
        generation: u32,
    ) -> Result<IndexShard, IndexError> {
        io.create_dir_all(dir).map_err(|source| IndexError::Io {
            op: "creating",
            path: dir.to_path_buf(),
            source,
        })?;
        let tree_path = dir.join("tree.idx");
        let mut s = if io.exists(&tree_path).unwrap_or(false) {
            Shard::open(io, &tree_path)?
        } else {
            Shard::create(io, &tree_path, shard, shard_count)?
        };
        let log = super::bilog_file::open(io, &dir.join("log"))?;
        for e in log.read_from(s.applied() + 1, usize::MAX)? {
            s.apply(&e)?;
        }
        log.resume_after(s.applied());
        Ok(IndexShard::new(s, log, zone, generation))
    }

    /// A shard over an already built tree (resharding): `s` is checkpointed
    /// and its log directory `log_dir` is new.
    pub fn adopt(
        io: &Io,
        s: Shard,
        log_dir: &Path,
        zone: u64,
        generation: u32,
    ) -> Result<IndexShard, IndexError> {
        let log = super::bilog_file::open(io, log_dir)?;
        log.resume_after(s.applied());
        Ok(IndexShard::new(s, log, zone, generation))
    }

    fn new(s: Shard, log: BilogFile, zone: u64, generation: u32) -> IndexShard {
        let mut consumers = Consumers::default();
        consumers.register(CHECKPOINT_CONSUMER, s.applied());
        IndexShard {
            log,
            expiring: Arc::clone(s.expiring()),
            published: Arc::clone(s.published()),
            inner: Mutex::new(Inner {
                logged: s.applied(),
                shard: s,
                poisoned: false,
                retired: false,
                consumers,
                unlogged: Vec::new(),
                logging: false,
                last_tag: 0,
            }),
            batch_done: tokio::sync::Notify::new(),
            abandoned: AtomicBool::new(false),
            zone,
            generation,
        }
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
        if g.poisoned {
            return Err(IndexError::Poisoned);
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
        // Refuse what the entry cannot take before logging it.
        g.shard.plan(&e)?;
        g.shard.apply_unpublished(&e)?;
        g.unlogged.push(e);
        if durability == Durability::Carried {
            return Ok(Some(tag));
        }
        loop {
            if g.logged >= marker {
                return Ok(Some(tag));
            }
            if g.poisoned || self.abandoned.load(Ordering::Acquire) {
                g.poisoned = true;
                return Err(IndexError::Poisoned);
            }
            g = if g.logging {
                self.wait_batch(g).await
            } else {
                self.lead(g).await
            };
        }
    }

    /// Waits (without the lock) until the batch being logged ends.
    async fn wait_batch<'a>(&'a self, g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        let done = self.batch_done.notified();
        let mut done = std::pin::pin!(done);
        done.as_mut().enable();
        drop(g);
        done.await;
        self.inner.lock().await
    }

    /// Logs every step applied so far in one append (one fsync), then
    /// publishes the tree as of the last of them. A failed append poisons
    /// the shard: the log may or may not hold the batch, and the writer's
    /// tree is ahead of it.
    async fn lead<'a>(&'a self, mut g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        g.logging = true;
        let batch = std::mem::take(&mut g.unlogged);
        let snap = g.shard.snapshot();
        drop(g);
        // If this future is dropped mid-append, nobody knows what the log
        // holds: the guard poisons the shard and wakes the waiters.
        let mut guard = LeaderGuard {
            shard: self,
            armed: true,
        };
        let r = self.log.append(&batch).await;
        guard.armed = false;
        let mut g = self.inner.lock().await;
        g.logging = false;
        match r {
            Ok(()) => {
                g.logged = snap.applied();
                g.shard.publish_snapshot(snap);
            }
            Err(_) => g.poisoned = true,
        }
        self.batch_done.notify_waiters();
        g
    }

    /// The writer's lock once every applied step is logged and published,
    /// so the tree is exactly what the log holds (checkpoint, freeze).
    async fn lock_quiet(&self) -> MutexGuard<'_, Inner> {
        let mut g = self.inner.lock().await;
        loop {
            if self.abandoned.load(Ordering::Acquire) {
                g.poisoned = true;
            }
            if g.quiet() || g.poisoned {
                return g;
            }
            g = if g.logging {
                self.wait_batch(g).await
            } else {
                self.lead(g).await
            };
        }
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
        self.step(BilogOp::Complete, key, Some(tag), entry)
            .await
            .map(|_| ())
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
        self.step_if(
            BilogOp::Complete,
            key,
            Some(tag),
            entry,
            Durability::Logged,
            |s| Ok(check(s.get(checked)?.as_ref())),
        )
        .await
        .map(|t| t.is_some())
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

    /// Commits the tree as of the last logged step and trims the log
    /// below what every consumer confirmed.
    pub async fn checkpoint(&self) -> Result<u64, IndexError> {
        let mut g = self.lock_quiet().await;
        if g.poisoned {
            return Err(IndexError::Poisoned);
        }
        let marker = g.shard.checkpoint()?;
        g.consumers.confirm(CHECKPOINT_CONSUMER, marker)?;
        let trim = g.consumers.trim_point();
        if trim > 0 {
            self.log.trim_below(trim)?;
        }
        Ok(marker)
    }

    /// Holds the shard still (resharding's final catch-up).
    pub async fn freeze(&self) -> FrozenShard<'_> {
        FrozenShard {
            guard: self.lock_quiet().await,
            log: &self.log,
        }
    }

    pub async fn entries(&self) -> Result<Vec<(SortKey, IndexEntry)>, IndexError> {
        Ok(self.lock_quiet().await.shard.entries()?)
    }
}
