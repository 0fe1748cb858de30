//! A shard's tree kept in step with its bucket index log: each log entry
//! becomes a transaction step on its key's entries (logical head and
//! versions); a checkpoint commits the tree with the log marker it
//! reflects; after a crash, replaying the log from the start skips what
//! the checkpoint holds and applies the rest.
//!
//! After every step the new tree is published ([`Published`]): readers
//! see each step whole, never a half-applied one, and never wait.

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use super::bilog::{BilogEntry, BilogOp};
use super::entry::{EntryError, IndexEntry};
use super::expiry::ExpiryIndex;
use super::key::{SortKey, VERSION_ID_LEN};
use super::shard_file::{ShardFile, ShardFileError};
use super::tree::{self, PageRead, TreeError};
use super::txn::{self, KeyUpdate, Outcome, TxnError, TxnStep};
use super::view::{Published, ShardView};
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

/// The transaction step a log entry stands for. A completion logged on a
/// version key writes or removes that version.
pub fn step_of(e: &BilogEntry) -> TxnStep {
    match e.op {
        BilogOp::Prepare => TxnStep::Prepare { tag: e.tag },
        BilogOp::Complete => TxnStep::Complete {
            tag: e.tag,
            outcome: match (&e.key, e.entry.clone()) {
                (SortKey::Head { .. }, Some(x)) => Outcome::Write(x),
                (SortKey::Head { .. }, None) => Outcome::Delete,
                (SortKey::Version { version, .. }, Some(x)) => Outcome::WriteVersion(IndexEntry {
                    version_id: *version,
                    ..x
                }),
                (SortKey::Version { version, .. }, None) => Outcome::DeleteVersion(*version),
            },
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
    store: &impl PageRead,
    root: Option<u64>,
    key: &SortKey,
) -> Result<Option<IndexEntry>, ShardError> {
    Ok(match tree::get(store, root, &key.encode())? {
        Some(b) => Some(IndexEntry::decode(&b)?),
        None => None,
    })
}

/// Every version entry of `key`, newest first.
pub fn versions_of(
    store: &impl PageRead,
    root: Option<u64>,
    key: &[u8],
) -> Result<Vec<IndexEntry>, ShardError> {
    let mut out = Vec::new();
    let mut start = SortKey::Version {
        key: key.to_vec(),
        version: [0xFF; VERSION_ID_LEN],
    }
    .encode();
    loop {
        let batch = tree::scan(store, root, &start, 64)?;
        let full = batch.len() == 64;
        for (k, v) in batch {
            match SortKey::decode(&k)? {
                SortKey::Version { key: ok, .. } if ok == key => out.push(IndexEntry::decode(&v)?),
                _ => return Ok(out),
            }
            start = k;
            start.push(0);
        }
        if !full {
            return Ok(out);
        }
    }
}

fn needs_versions(head: Option<&IndexEntry>, step: &TxnStep) -> bool {
    match step {
        TxnStep::Complete { outcome, .. } => match outcome {
            Outcome::WriteVersion(_) | Outcome::DeleteVersion(_) => true,
            Outcome::Write(_) | Outcome::Delete => head.is_some_and(|h| h.versioned),
        },
        _ => false,
    }
}

/// A shard's view at one marker, kept while its batch is being logged.
pub struct Snapshot {
    view: ShardView,
    /// The file's retiring mark at this view.
    retiring: usize,
}

impl Snapshot {
    pub fn applied(&self) -> u64 {
        self.view.applied
    }
}

/// One shard: its index file, where it stands in its log, and the view
/// its readers see.
pub struct Shard {
    file: ShardFile,
    applied: u64,
    /// The marker readers see.
    published_at: u64,
    objects: u64,
    bytes: u64,
    published: Arc<Published>,
    /// Entries with an expiry time, by that time (shared with readers for
    /// the stats; changed in the same step as the entries).
    expiring: Arc<parking_lot::Mutex<ExpiryIndex>>,
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

    /// A new, empty shard whose file its first checkpoint creates.
    pub fn deferred(
        io: &Io,
        path: &Path,
        shard: u32,
        shard_count: u32,
    ) -> Result<Shard, ShardError> {
        Ok(Shard::from_file(ShardFile::deferred(
            io,
            path,
            shard,
            shard_count,
        )?))
    }

    /// Whether its file exists.
    pub fn on_disk(&self) -> bool {
        self.file.on_disk()
    }

    /// Opens at the last checkpoint; feed it the log from there on.
    pub fn open(io: &Io, path: &Path) -> Result<Shard, ShardError> {
        let s = Shard::from_file(ShardFile::open(io, path)?);
        s.rebuild_expiry()?;
        Ok(s)
    }

    /// Fills the expiry index from the tree (a scan of every entry).
    fn rebuild_expiry(&self) -> Result<(), ShardError> {
        let mut x = ExpiryIndex::default();
        let mut from = Vec::new();
        loop {
            let batch = tree::scan(&self.file, self.file.root(), &from, 4096)?;
            let full = batch.len() == 4096;
            for (k, v) in &batch {
                let e = IndexEntry::decode(v)?;
                if e.expiry_slot != 0 {
                    x.update(&SortKey::decode(k)?, None, Some(&e));
                }
            }
            match batch.last() {
                Some((k, _)) if full => {
                    from = k.clone();
                    from.push(0);
                }
                _ => break,
            }
        }
        *self.expiring.lock() = x;
        Ok(())
    }

    /// The shard's expiry index (shared).
    pub fn expiring(&self) -> &Arc<parking_lot::Mutex<ExpiryIndex>> {
        &self.expiring
    }

    fn from_file(file: ShardFile) -> Shard {
        let m = file.meta();
        let view = ShardView {
            arena: Arc::clone(file.arena()),
            root: file.root(),
            applied: m.checkpoint_marker,
            objects: m.objects,
            bytes: m.bytes,
        };
        Shard {
            file,
            applied: m.checkpoint_marker,
            published_at: m.checkpoint_marker,
            objects: m.objects,
            bytes: m.bytes,
            published: Arc::new(Published::new(view)),
            expiring: Arc::default(),
        }
    }

    /// What readers load; shared with them.
    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }

    /// The last log marker applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The marker the last durable commit of the tree holds.
    pub fn checkpoint_marker(&self) -> u64 {
        self.file.meta().checkpoint_marker
    }

    /// (objects, bytes) counted in the bucket stats.
    pub fn stats(&self) -> (u64, u64) {
        (self.objects, self.bytes)
    }

    pub fn get(&self, key: &SortKey) -> Result<Option<IndexEntry>, ShardError> {
        lookup(&self.file, self.file.root(), key)
    }

    /// What `e` would do to its key, without doing it.
    pub fn plan(&self, e: &BilogEntry) -> Result<KeyUpdate, ShardError> {
        let object_key = e.key.object_key();
        let head = self.get(&SortKey::Head {
            key: object_key.to_vec(),
        })?;
        let step = step_of(e);
        let versions = if needs_versions(head.as_ref(), &step) {
            versions_of(&self.file, self.file.root(), object_key)?
        } else {
            Vec::new()
        };
        Ok(txn::apply_key(head.as_ref(), &versions, &step)?)
    }

    /// Applies the next log entry and publishes the result. Entries the
    /// shard already holds are skipped, so a replay may start anywhere
    /// before `applied`.
    pub fn apply(&mut self, e: &BilogEntry) -> Result<(), ShardError> {
        if e.marker <= self.applied {
            return Ok(());
        }
        self.apply_unpublished(e)?;
        self.publish();
        Ok(())
    }

    /// Applies the next log entry without publishing it: group commit
    /// applies a batch while its log append is in flight, and publishes
    /// the batch's [`snapshot`](Self::snapshot) once the log holds it.
    pub fn apply_unpublished(&mut self, e: &BilogEntry) -> Result<(), ShardError> {
        if e.marker != self.applied + 1 {
            return Err(ShardError::MarkerGap {
                applied: self.applied,
                got: e.marker,
            });
        }
        self.apply_step(e)?;
        self.applied = e.marker;
        Ok(())
    }

    /// The view as of the last applied entry, to publish later with
    /// [`publish_snapshot`](Self::publish_snapshot).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            view: ShardView {
                arena: Arc::clone(self.file.arena()),
                root: self.file.root(),
                applied: self.applied,
                objects: self.objects,
                bytes: self.bytes,
            },
            retiring: self.file.retiring_mark(),
        }
    }

    /// Publishes an earlier snapshot: readers see it, and the pages freed
    /// by the steps up to it (and only those: later steps' freed pages are
    /// still reachable from it) start their way back to reuse.
    /// A snapshot older than what readers already see is dropped (the
    /// newer one covers it).
    pub fn publish_snapshot(&mut self, snap: Snapshot) {
        if snap.view.applied <= self.published_at {
            return;
        }
        self.published_at = snap.view.applied;
        self.published.replace(snap.view);
        self.file.retire_through(snap.retiring);
    }

    /// Applies `e`'s step without the marker bookkeeping: resharding
    /// replays the old shards' logs into the new shards this way.
    pub fn apply_step(&mut self, e: &BilogEntry) -> Result<(), ShardError> {
        let up = self.plan(e)?;
        let object_key = e.key.object_key();
        let txn = self.file.meta().txn + 1;
        let encode = |n: &IndexEntry| -> Result<Vec<u8>, ShardError> {
            let mut b = Vec::with_capacity(n.encoded_len());
            n.encode(&mut b)?;
            Ok(b)
        };
        // The old entries matter to the expiry index only if it holds
        // something or a new entry expires.
        let track = !self.expiring.lock().is_empty()
            || up.head.as_ref().is_some_and(|h| h.expiry_slot != 0)
            || up
                .versions
                .iter()
                .any(|(_, e)| e.as_ref().is_some_and(|e| e.expiry_slot != 0));
        for (version, entry) in &up.versions {
            let k = SortKey::Version {
                key: object_key.to_vec(),
                version: *version,
            };
            if track {
                let old = self.get(&k)?;
                self.expiring
                    .lock()
                    .update(&k, old.as_ref(), entry.as_ref());
            }
            let value = entry.as_ref().map(encode).transpose()?;
            let root = self.file.root();
            let (root, _) = tree::upsert(&mut self.file, root, txn, &k.encode(), value.as_deref())?;
            self.file.set_root(root);
        }
        let head_key = SortKey::Head {
            key: object_key.to_vec(),
        };
        if track {
            let old = self.get(&head_key)?;
            self.expiring
                .lock()
                .update(&head_key, old.as_ref(), up.head.as_ref());
        }
        let value = up.head.as_ref().map(encode).transpose()?;
        let root = self.file.root();
        let (root, _) = tree::upsert(
            &mut self.file,
            root,
            txn,
            &head_key.encode(),
            value.as_deref(),
        )?;
        self.file.set_root(root);
        self.objects = self.objects.saturating_add_signed(up.delta.objects);
        self.bytes = self.bytes.saturating_add_signed(up.delta.bytes);
        Ok(())
    }

    /// Copies one entry as it is (resharding's bulk copy); stats follow.
    pub fn put_raw(&mut self, key: &SortKey, entry: &IndexEntry) -> Result<(), ShardError> {
        let mut b = Vec::with_capacity(entry.encoded_len());
        entry.encode(&mut b)?;
        let txn = self.file.meta().txn + 1;
        let root = self.file.root();
        let (root, _) = tree::upsert(&mut self.file, root, txn, &key.encode(), Some(&b))?;
        self.file.set_root(root);
        self.expiring.lock().update(key, None, Some(entry));
        let counts = !entry.placeholder
            && !entry.delete_marker
            && match key {
                SortKey::Head { .. } => !entry.versioned,
                SortKey::Version { .. } => true,
            };
        if counts {
            self.objects += 1;
            self.bytes = self.bytes.saturating_add(entry.size);
        }
        Ok(())
    }

    /// Starts the shard's markers after `marker` (a new generation
    /// continues above the old one's markers) and publishes.
    pub fn start_after(&mut self, marker: u64) {
        self.applied = self.applied.max(marker);
        self.publish();
    }

    fn publish(&mut self) {
        self.published_at = self.applied;
        self.published.replace(ShardView {
            arena: Arc::clone(self.file.arena()),
            root: self.file.root(),
            applied: self.applied,
            objects: self.objects,
            bytes: self.bytes,
        });
        self.file.retire_step();
    }

    /// Makes the tree durable as of `applied`: the log below may be
    /// trimmed once every other consumer has confirmed it too.
    pub fn checkpoint(&mut self) -> Result<u64, ShardError> {
        self.file.set_state(self.objects, self.bytes, self.applied);
        self.file.commit()?;
        Ok(self.applied)
    }

    /// [`checkpoint`](Self::checkpoint), leaving a new shard's file staged
    /// ([`ShardFile::commit_staged`]): durable only once published.
    pub fn checkpoint_staged(&mut self) -> Result<u64, ShardError> {
        self.file.set_state(self.objects, self.bytes, self.applied);
        self.file.commit_staged()?;
        Ok(self.applied)
    }

    /// See [`ShardFile::sync_dir`].
    pub fn sync_dir(&self) -> Result<(), ShardError> {
        Ok(self.file.sync_dir()?)
    }

    /// Whether a checkpoint waits to be published.
    pub fn is_staged(&self) -> bool {
        self.file.is_staged()
    }

    /// See [`ShardFile::publish_staged`].
    pub fn publish_staged(&mut self, synced: bool) -> Result<bool, ShardError> {
        Ok(self.file.publish_staged(synced)?)
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
