//! One live shard of a bucket index: its tree, its log, and the three-step
//! index transaction on top. Every step is made durable in the log first
//! and then applied to the tree; a checkpoint commits the tree and trims
//! the log below it; opening replays the log past the checkpoint.
//!
//! Steps on one shard are serialized (one writer per shard); different
//! shards proceed in parallel. A step that failed to reach the log leaves
//! the shard refusing further steps until it is reopened, because the log
//! may or may not hold it.

use std::path::Path;
use std::sync::Arc;

use crossbeam::epoch;
use thiserror::Error;
use tokio::sync::Mutex;

use super::bilog::{BilogEntry, BilogOp};
use super::bilog_file::{BilogFile, BilogFileError};
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
}

struct Inner {
    shard: Shard,
    poisoned: bool,
}

pub struct IndexShard {
    log: BilogFile,
    published: Arc<Published>,
    inner: Mutex<Inner>,
    zone: u64,
    generation: u32,
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
    ) -> Result<IndexShard, IndexError> {
        io.create_dir_all(dir).map_err(|e| {
            BilogFileError::Segment(crate::segment::SegmentError::io("creating", dir, e))
        })?;
        let tree_path = dir.join("tree.idx");
        let mut s = if io.exists(&tree_path).unwrap_or(false) {
            Shard::open(io, &tree_path)?
        } else {
            Shard::create(io, &tree_path, shard, shard_count)?
        };
        let log = BilogFile::open(io, &dir.join("log"))?;
        for e in log.read_from(s.applied() + 1, usize::MAX)? {
            s.apply(&e)?;
        }
        log.resume_after(s.applied());
        Ok(IndexShard {
            log,
            published: Arc::clone(s.published()),
            inner: Mutex::new(Inner {
                shard: s,
                poisoned: false,
            }),
            zone,
            generation: 0,
        })
    }

    async fn step(
        &self,
        op: BilogOp,
        key: &SortKey,
        tag: Option<u64>,
        entry: Option<IndexEntry>,
    ) -> Result<u64, IndexError> {
        let mut g = self.inner.lock().await;
        if g.poisoned {
            return Err(IndexError::Poisoned);
        }
        let marker = g.shard.applied() + 1;
        let e = BilogEntry {
            op,
            generation: self.generation,
            marker,
            // A prepare's tag is its own marker: unique for ever.
            tag: tag.unwrap_or(marker),
            mtime_nanos: crate::clock::now_nanos(),
            source_zone: self.zone,
            key: key.clone(),
            entry,
        };
        // Refuse what the entry cannot take before logging it.
        g.shard.plan(&e)?;
        if let Err(err) = self.log.append(std::slice::from_ref(&e)).await {
            g.poisoned = true;
            return Err(err.into());
        }
        g.shard.apply(&e)?;
        Ok(e.tag)
    }

    /// Step 1: a write or delete of `key` begins; returns its tag.
    pub async fn prepare(&self, key: &SortKey) -> Result<u64, IndexError> {
        self.step(BilogOp::Prepare, key, None, None).await
    }

    /// Step 3: the head record was written (`Some`) or the object deleted.
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

    /// Step 3 when step 2 failed.
    pub async fn cancel(&self, key: &SortKey, tag: u64) -> Result<(), IndexError> {
        self.step(BilogOp::Cancel, key, Some(tag), None)
            .await
            .map(|_| ())
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

    /// What readers load (listing pins several shards under one guard).
    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }

    /// Commits the tree as of the last logged step and trims the log below
    /// it (the checkpoint is, for now, the log's only consumer).
    pub async fn checkpoint(&self) -> Result<u64, IndexError> {
        let mut g = self.inner.lock().await;
        let marker = g.shard.checkpoint()?;
        self.log.trim_below(marker + 1)?;
        Ok(marker)
    }

    pub async fn entries(&self) -> Result<Vec<(SortKey, IndexEntry)>, IndexError> {
        Ok(self.inner.lock().await.shard.entries()?)
    }
}
