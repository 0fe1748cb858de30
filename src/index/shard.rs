//! A shard's tree kept in step with its bucket index log: each log entry
//! becomes a transaction step on its key's entry; a checkpoint commits the
//! tree with the log marker it reflects; after a crash, replaying the log
//! from the start skips what the checkpoint holds and applies the rest.
//! (The log file that feeds it is still to come.)

use std::path::Path;

use thiserror::Error;

use super::bilog::{BilogEntry, BilogOp};
use super::entry::{EntryError, IndexEntry};
use super::key::SortKey;
use super::shard_file::{ShardFile, ShardFileError};
use super::tree::{self, PageStore, TreeError};
use super::txn::{self, Outcome, TxnError, TxnStep};
use crate::io::Io;

#[derive(Debug, Error)]
pub enum ShardError {
    #[error(transparent)]
    File(#[from] ShardFileError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Txn(#[from] TxnError),
    #[error("stored index entry: {0}")]
    Entry(#[from] EntryError),
    #[error("stored sort key: {0}")]
    Key(#[from] super::key::KeyError),
    #[error("log entry {got} does not follow {applied}: the log has a gap")]
    MarkerGap { applied: u64, got: u64 },
}

/// The transaction step a log entry stands for.
pub fn step_of(e: &BilogEntry) -> TxnStep {
    match e.op {
        BilogOp::Prepare => TxnStep::Prepare { tag: e.tag },
        BilogOp::Complete => TxnStep::Complete {
            tag: e.tag,
            outcome: e.entry.clone().map_or(Outcome::Delete, Outcome::Write),
        },
        BilogOp::Cancel => TxnStep::Cancel { tag: e.tag },
        BilogOp::Suggest => TxnStep::Suggest {
            stale: if e.tag == 0 { Vec::new() } else { vec![e.tag] },
            resolved: e.entry.clone(),
        },
    }
}

/// A key's entry in the tree under `root`.
pub fn lookup(
    store: &impl PageStore,
    root: Option<u64>,
    key: &SortKey,
) -> Result<Option<IndexEntry>, ShardError> {
    Ok(match tree::get(store, root, &key.encode())? {
        Some(b) => Some(IndexEntry::decode(&b)?),
        None => None,
    })
}

/// One shard: its index file and where it stands in its log.
pub struct Shard {
    file: ShardFile,
    applied: u64,
    objects: u64,
    bytes: u64,
}

impl Shard {
    pub fn create(io: &Io, path: &Path, shard: u32, shard_count: u32) -> Result<Shard, ShardError> {
        Ok(Shard::from_file(ShardFile::create(
            io,
            path,
            shard,
            shard_count,
        )?))
    }

    /// Opens at the last checkpoint; feed it the log from there on.
    pub fn open(io: &Io, path: &Path) -> Result<Shard, ShardError> {
        Ok(Shard::from_file(ShardFile::open(io, path)?))
    }

    fn from_file(file: ShardFile) -> Shard {
        let m = file.meta();
        Shard {
            file,
            applied: m.checkpoint_marker,
            objects: m.objects,
            bytes: m.bytes,
        }
    }

    /// The last log marker applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// (objects, bytes) counted in the bucket stats.
    pub fn stats(&self) -> (u64, u64) {
        (self.objects, self.bytes)
    }

    pub fn get(&self, key: &SortKey) -> Result<Option<IndexEntry>, ShardError> {
        lookup(&self.file, self.file.root(), key)
    }

    /// Applies the next log entry. Entries the shard already holds are
    /// skipped, so a replay may start anywhere before `applied`.
    pub fn apply(&mut self, e: &BilogEntry) -> Result<(), ShardError> {
        if e.marker <= self.applied {
            return Ok(());
        }
        if e.marker != self.applied + 1 {
            return Err(ShardError::MarkerGap {
                applied: self.applied,
                got: e.marker,
            });
        }
        let current = self.get(&e.key)?;
        let (next, delta) = txn::apply(current.as_ref(), &step_of(e))?;
        let value = match &next {
            Some(n) => {
                let mut b = Vec::with_capacity(n.encoded_len());
                n.encode(&mut b)?;
                Some(b)
            }
            None => None,
        };
        let txn = self.file.meta().txn + 1;
        let root = self.file.root();
        let (root, _) = tree::upsert(&mut self.file, root, txn, &e.key.encode(), value.as_deref())?;
        self.file.set_root(root);
        self.objects = self.objects.saturating_add_signed(delta.objects);
        self.bytes = self.bytes.saturating_add_signed(delta.bytes);
        self.applied = e.marker;
        Ok(())
    }

    /// Makes the tree durable as of `applied`: the log below may be
    /// trimmed once every other consumer has confirmed it too.
    pub fn checkpoint(&mut self) -> Result<u64, ShardError> {
        self.file.set_state(self.objects, self.bytes, self.applied);
        self.file.commit()?;
        Ok(self.applied)
    }

    /// Every (sort key, entry) in order (tests, fsck).
    pub fn entries(&self) -> Result<Vec<(SortKey, IndexEntry)>, ShardError> {
        tree::scan(&self.file, self.file.root(), b"", usize::MAX)?
            .into_iter()
            .map(|(k, v)| {
                let key = SortKey::decode(&k)?;
                Ok((key, IndexEntry::decode(&v)?))
            })
            .collect()
    }
}
