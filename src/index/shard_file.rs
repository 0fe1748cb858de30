//! One shard's index file: meta pages, copy-on-write tree pages and the
//! free list, committed so that a crash at any point leaves the last
//! durable commit intact (`format-spec/index.md`, "Commit").
//!
//! Pages live in an [`Arena`]: the file mapped shared, so new pages are
//! copied straight into the page cache and readers borrow them without
//! locks (the simulator backend gets an anonymous copy that commit writes
//! back). A new page only ever goes to a page no durable commit and no
//! reader can reach:
//! - a page freed by a step is reusable once every reader that could see
//!   it has unpinned (crossbeam-epoch) and, if the durable commit reaches
//!   it, once the next commit is durable;
//! - the new free list goes to fresh pages past the end.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam::epoch;
use crossbeam::queue::SegQueue;
use thiserror::Error;

use super::arena::{Arena, ARENA_MIN_PAGES};
use super::meta::{self, Meta, MetaError, META_PAGES};
use super::page::PAGE_SIZE;
use super::tree::{PageRead, PageStore, TreeError};
use crate::io::{parent_dir, tmp_path, BlockingFile, Io, OpenMode};
use crate::le::put;

pub const FREE_MAGIC: [u8; 4] = *b"SIXF";
const FREE_HEADER_LEN: usize = 24;
/// Page ids one free-list page holds.
pub const FREE_IDS_PER_PAGE: usize = (PAGE_SIZE - FREE_HEADER_LEN) / 8;

#[derive(Debug, Error)]
pub enum ShardFileError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no valid meta page (page 0: {}; page 1: {})", path.display(), .reasons.0, .reasons.1)]
    NoValidMeta {
        path: PathBuf,
        reasons: Box<(MetaError, MetaError)>,
    },
    #[error("{}: free-list page {page} is corrupt: {reason}", path.display())]
    BadFreeList {
        path: PathBuf,
        page: u64,
        reason: String,
    },
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// An open shard file with at most one transaction in progress.
pub struct ShardFile {
    path: PathBuf,
    /// Mapped by the arena unless it is on the simulator or not created
    /// yet, where the arena is an anonymous copy and commit writes dirty
    /// pages through it. `None`: the file does not exist yet (a shard
    /// nothing was checkpointed in); the first commit creates it.
    file: Option<BlockingFile>,
    /// How to create the file at the first commit.
    io: Io,
    /// `file` is still the temporary (`tree.idx.tmp`), written but not
    /// known durable: [`publish_staged`](Self::publish_staged) makes it
    /// the shard's file.
    staged: bool,
    arena: Arc<Arena>,
    /// The last durable commit.
    meta: Meta,
    /// The commit being built (root, counts, page_count).
    next: Meta,
    /// Reusable now: unreachable from the durable commit and from readers.
    free: Vec<u64>,
    /// Reachable from the durable commit, freed since.
    freed_now: Vec<u64>,
    /// Written since the last commit (unreachable from the durable one).
    dirty: BTreeSet<u64>,
    /// Freed by the current step; retired when the step is published.
    retiring: Vec<u64>,
    /// How many freed pages have left `retiring` so far: with
    /// `retiring.len()` it makes an absolute mark a snapshot can keep.
    retired_count: usize,
    /// Retired, not yet back: a reader may still see them. Free as far as
    /// the durable free list is concerned.
    limbo: BTreeSet<u64>,
    /// Retired pages that no reader can see any more.
    reusable: Arc<SegQueue<u64>>,
    /// Free-list pages of the durable commit (freed by the next commit).
    free_list_pages: Vec<u64>,
}

fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ShardFileError + 'a {
    move |source| ShardFileError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn encode_free_page(id: u64, next: u64, ids: &[u64]) -> Vec<u8> {
    let mut b = vec![0u8; PAGE_SIZE];
    put(&mut b, 0, &FREE_MAGIC);
    put(&mut b, 8, &(ids.len() as u32).to_le_bytes());
    put(&mut b, 16, &next.to_le_bytes());
    for (i, v) in ids.iter().enumerate() {
        put(&mut b, FREE_HEADER_LEN + 8 * i, &v.to_le_bytes());
    }
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(b.get(8..).unwrap_or_default()),
        &id.to_le_bytes(),
    );
    put(&mut b, 4, &crc.to_le_bytes());
    b
}

/// (next page, ids) of a free-list page, verified.
fn decode_free_page(b: &[u8], id: u64, page_count: u64) -> Result<(u64, Vec<u64>), String> {
    let u32_at = |at: usize| {
        b.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |at: usize| {
        b.get(at..at + 8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if b.get(..4) != Some(&FREE_MAGIC[..]) {
        return Err("bad magic".into());
    }
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(b.get(8..).unwrap_or_default()),
        &id.to_le_bytes(),
    );
    if u32_at(4) != Some(crc) {
        return Err("checksum mismatch".into());
    }
    let count = u32_at(8).unwrap_or_default() as usize;
    if count > FREE_IDS_PER_PAGE {
        return Err(format!("{count} ids do not fit a page"));
    }
    let next = u64_at(16).unwrap_or_default();
    let ids: Vec<u64> = (0..count)
        .filter_map(|i| u64_at(FREE_HEADER_LEN + 8 * i))
        .collect();
    let valid = |p: u64| (META_PAGES..page_count).contains(&p);
    if ids.iter().any(|&p| !valid(p)) || (next != 0 && !valid(next)) {
        return Err("page id outside the file".into());
    }
    Ok((next, ids))
}

impl ShardFile {
    /// Creates a new, empty shard file; it is whole or absent after a crash.
    pub fn create(
        io: &Io,
        path: &Path,
        shard: u32,
        shard_count: u32,
    ) -> Result<ShardFile, ShardFileError> {
        let m = Meta {
            shard,
            shard_count,
            page_count: META_PAGES,
            ..Meta::default()
        };
        let tmp = tmp_path(path);
        let f = io
            .open_blocking(&tmp, OpenMode::CreateTruncate)
            .map_err(io_err("creating", &tmp))?;
        f.write_all_at(&m.encode(), 0)
            .and_then(|()| f.write_all_at(&[0u8; PAGE_SIZE], PAGE_SIZE as u64))
            .and_then(|()| f.sync_all())
            .map_err(io_err("writing", &tmp))?;
        drop(f);
        io.rename(&tmp, path).map_err(io_err("renaming", &tmp))?;
        io.sync_dir(&parent_dir(path))
            .map_err(io_err("syncing the directory of", path))?;
        ShardFile::open(io, path)
    }

    /// A new, empty shard whose file is made by its first commit: until
    /// then nothing is on disk (its entries are in the node log), so an
    /// idle shard costs no file, descriptor or fsync.
    pub fn deferred(
        io: &Io,
        path: &Path,
        shard: u32,
        shard_count: u32,
    ) -> Result<ShardFile, ShardFileError> {
        let meta = Meta {
            shard,
            shard_count,
            page_count: META_PAGES,
            ..Meta::default()
        };
        let arena = Arena::anon(ARENA_MIN_PAGES).map_err(io_err("mapping", path))?;
        Ok(ShardFile::at_commit(io, path, None, arena, meta))
    }

    /// A shard file at the durable commit `meta`, nothing in progress.
    fn at_commit(
        io: &Io,
        path: &Path,
        file: Option<BlockingFile>,
        arena: Arena,
        meta: Meta,
    ) -> ShardFile {
        ShardFile {
            path: path.to_path_buf(),
            file,
            io: io.clone(),
            staged: false,
            arena: Arc::new(arena),
            meta,
            next: meta,
            free: Vec::new(),
            freed_now: Vec::new(),
            dirty: BTreeSet::new(),
            retiring: Vec::new(),
            retired_count: 0,
            limbo: BTreeSet::new(),
            reusable: Arc::new(SegQueue::new()),
            free_list_pages: Vec::new(),
        }
    }

    /// Whether the file exists (a deferred shard's does once its first
    /// commit is published).
    pub fn on_disk(&self) -> bool {
        self.file.is_some() && !self.staged
    }

    /// Whether a commit waits in the temporary file to be published.
    pub fn is_staged(&self) -> bool {
        self.staged
    }

    /// Opens a shard file at its last durable commit.
    pub fn open(io: &Io, path: &Path) -> Result<ShardFile, ShardFileError> {
        let file = io
            .open_blocking(path, OpenMode::ReadWrite)
            .map_err(io_err("opening", path))?;
        let read_meta = |slot: u64| -> Result<Result<Meta, MetaError>, ShardFileError> {
            let mut b = vec![0u8; PAGE_SIZE];
            match file.read_exact_at(&mut b, slot * PAGE_SIZE as u64) {
                Ok(()) => Ok(Meta::decode(&b, slot)),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    Ok(Err(MetaError::WrongSize(0)))
                }
                Err(e) => Err(io_err("reading", path)(e)),
            }
        };
        let meta = meta::choose(read_meta(0)?, read_meta(1)?).map_err(|(a, b)| {
            ShardFileError::NoValidMeta {
                path: path.to_path_buf(),
                reasons: Box::new((a, b)),
            }
        })?;
        let capacity = meta.page_count.max(ARENA_MIN_PAGES);
        let arena = match file.std() {
            Some(f) => {
                grow_file(f, capacity).map_err(io_err("growing", path))?;
                Arena::file(f, capacity).map_err(io_err("mapping", path))?
            }
            None => {
                let a = Arena::anon(capacity).map_err(io_err("mapping", path))?;
                let mut b = vec![0u8; PAGE_SIZE];
                for id in META_PAGES..meta.page_count {
                    file.read_exact_at(&mut b, id * PAGE_SIZE as u64)
                        .map_err(io_err("reading", path))?;
                    // SAFETY: `a` is not published yet; nothing reads it.
                    unsafe { a.write_page(id, &b)? };
                    a.unverify(id);
                }
                a
            }
        };
        let mut sf = ShardFile::at_commit(io, path, Some(file), arena, meta);
        sf.load_free_list()?;
        Ok(sf)
    }

    fn load_free_list(&mut self) -> Result<(), ShardFileError> {
        let mut id = self.meta.free_list;
        while id != 0 {
            if self.free_list_pages.contains(&id)
                || self.free_list_pages.len() as u64 > self.meta.page_count
            {
                return Err(ShardFileError::BadFreeList {
                    path: self.path.clone(),
                    page: id,
                    reason: "loop".into(),
                });
            }
            let b = self.read_disk(id)?;
            let (next, ids) = decode_free_page(&b, id, self.meta.page_count).map_err(|reason| {
                ShardFileError::BadFreeList {
                    path: self.path.clone(),
                    page: id,
                    reason,
                }
            })?;
            self.free.extend(ids);
            self.free_list_pages.push(id);
            id = next;
        }
        Ok(())
    }

    fn read_disk(&self, id: u64) -> Result<Vec<u8>, ShardFileError> {
        let mut b = vec![0u8; PAGE_SIZE];
        let Some(file) = &self.file else {
            return Err(io_err("reading", &self.path)(
                std::io::ErrorKind::NotFound.into(),
            ));
        };
        file.read_exact_at(&mut b, id * PAGE_SIZE as u64)
            .map_err(io_err("reading", &self.path))?;
        Ok(b)
    }

    /// The last durable commit.
    pub fn meta(&self) -> Meta {
        self.meta
    }

    /// The root of the transaction in progress.
    pub fn root(&self) -> Option<u64> {
        (self.next.root != 0).then_some(self.next.root)
    }

    pub fn set_root(&mut self, root: Option<u64>) {
        self.next.root = root.unwrap_or(0);
    }

    /// Stats and bilog marker the commit records.
    pub fn set_state(&mut self, objects: u64, bytes: u64, checkpoint_marker: u64) {
        self.next.objects = objects;
        self.next.bytes = bytes;
        self.next.checkpoint_marker = checkpoint_marker;
    }

    /// Pages free for reuse now (for checks and tests).
    /// (Reusable now and waiting for readers.)
    pub fn free_pages(&self) -> Vec<u64> {
        let mut v = self.free.clone();
        v.extend(&self.limbo);
        v
    }

    /// The mapping readers of the current tree read from.
    pub fn arena(&self) -> &Arc<Arena> {
        &self.arena
    }

    /// The step whose pages were written is now published: pages it freed
    /// become reusable once every reader pinned before has unpinned.
    pub fn retire_step(&mut self) {
        if self.retiring.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.retiring);
        self.retired_count += ids.len();
        self.limbo.extend(&ids);
        retire(&self.reusable, ids);
    }

    /// An absolute mark of the pages freed by the steps applied so far.
    pub fn retiring_mark(&self) -> usize {
        self.retired_count + self.retiring.len()
    }

    /// Retires the pages freed up to `mark` (a [`retiring_mark`](Self::retiring_mark)
    /// taken earlier): their steps' view is published, later steps' is not.
    pub fn retire_through(&mut self, mark: usize) {
        let n = mark
            .saturating_sub(self.retired_count)
            .min(self.retiring.len());
        if n == 0 {
            return;
        }
        let ids: Vec<u64> = self.retiring.drain(..n).collect();
        self.retired_count += n;
        self.limbo.extend(&ids);
        retire(&self.reusable, ids);
    }

    /// Makes the transaction durable: tree pages and the new free list,
    /// fdatasync, then the meta in the other slot, fdatasync. A deferred
    /// shard's first commit writes its file whole under a temporary name,
    /// syncs it and renames it into place.
    pub fn commit(&mut self) -> Result<Meta, ShardFileError> {
        let m = self.commit_with(false)?;
        self.publish_staged(false)?;
        Ok(m)
    }

    /// [`commit`](Self::commit), except that a shard without a file gets
    /// its file written under the temporary name and not synced: the
    /// caller syncs the filesystem once for many such shards and then
    /// calls [`publish_staged`](Self::publish_staged) on each (a
    /// checkpoint of thousands of new buckets costs two syncs, not
    /// thousands). A shard with a file commits durably as usual.
    pub fn commit_staged(&mut self) -> Result<Meta, ShardFileError> {
        self.commit_with(true)
    }

    /// Makes a staged file the shard's: synced unless `synced` (the caller
    /// synced the filesystem since it was written), renamed into place,
    /// the directory synced unless `synced` (the caller syncs the
    /// filesystem again). `false` if nothing was staged.
    pub fn publish_staged(&mut self, synced: bool) -> Result<bool, ShardFileError> {
        if !self.staged {
            return Ok(false);
        }
        let Some(file) = &self.file else {
            return Ok(false);
        };
        if !synced {
            file.sync_all().map_err(io_err("syncing", &self.path))?;
        }
        let tmp = tmp_path(&self.path);
        self.io
            .rename(&tmp, &self.path)
            .map_err(io_err("renaming", &tmp))?;
        if !synced {
            self.io
                .sync_dir(&parent_dir(&self.path))
                .map_err(io_err("syncing the directory of", &self.path))?;
        }
        self.staged = false;
        Ok(true)
    }

    /// Makes the file's directory entry durable (a publication whose
    /// filesystem sync failed).
    pub fn sync_dir(&self) -> Result<(), ShardFileError> {
        self.io
            .sync_dir(&parent_dir(&self.path))
            .map_err(io_err("syncing the directory of", &self.path))
    }

    fn commit_with(&mut self, staging: bool) -> Result<Meta, ShardFileError> {
        self.retire_step();
        let mut next = self.next;
        next.txn = self.meta.txn + 1;
        // Everything free as of this commit, the old free-list pages and
        // pages still waiting for readers too (after a restart there are
        // no readers).
        let mut listed: Vec<u64> = self
            .free
            .iter()
            .chain(&self.freed_now)
            .chain(&self.free_list_pages)
            .chain(&self.limbo)
            .copied()
            .collect();
        listed.sort_unstable();
        // The new free list goes to fresh pages past the end, so it never
        // overwrites a page the durable commit still reaches.
        let chain_len = listed.len().div_ceil(FREE_IDS_PER_PAGE) as u64;
        let first_chain = next.page_count;
        next.page_count += chain_len;
        next.free_list = if chain_len == 0 { 0 } else { first_chain };
        // A deferred shard's file is written whole under a temporary name
        // and renamed into place once durable: whole or absent. Until it
        // is, every commit rewrites it the same way.
        let whole = self.file.is_none() || self.staged;
        if self.file.is_none() {
            self.file = Some(self.create_tmp(!staging)?);
            self.staged = true;
        }
        let Some(file) = &self.file else {
            return Err(io_err("creating", &self.path)(
                std::io::ErrorKind::NotFound.into(),
            ));
        };
        self.write_commit(file, next, &listed, first_chain, chain_len, whole, !staging)?;
        self.meta = next;
        self.next = next;
        self.dirty.clear();
        // Free-list pages were never visible to readers; pages freed from
        // the old durable tree may still be: they go through the epoch.
        let reader_visible = std::mem::take(&mut self.freed_now);
        self.limbo.extend(&reader_visible);
        retire(&self.reusable, reader_visible);
        self.free.append(&mut self.free_list_pages);
        self.free_list_pages = (first_chain..first_chain + chain_len).collect();
        Ok(next)
    }

    /// Creates the temporary file a deferred shard's first commit is
    /// written to, and the directories above it (`durable`: each synced
    /// in its parent; else the caller syncs the filesystem).
    fn create_tmp(&self, durable: bool) -> Result<BlockingFile, ShardFileError> {
        let dir = parent_dir(&self.path);
        if durable {
            self.io.create_dir_durable(&dir)
        } else {
            self.io.create_dir_all(&dir)
        }
        .map_err(io_err("creating", &dir))?;
        let tmp = tmp_path(&self.path);
        self.io
            .open_blocking(&tmp, OpenMode::CreateTruncate)
            .map_err(io_err("creating", &tmp))
    }

    /// Writes a commit's pages, free list and meta to `file`, each part
    /// durable before the next. A `whole` file (the temporary one of a
    /// new shard): everything, then one sync, none unless `sync`.
    #[allow(clippy::too_many_arguments)]
    fn write_commit(
        &self,
        file: &BlockingFile,
        next: Meta,
        listed: &[u64],
        first_chain: u64,
        chain_len: u64,
        whole: bool,
        sync: bool,
    ) -> Result<(), ShardFileError> {
        let write = |id: u64, b: &[u8]| file.write_all_at(b, id * PAGE_SIZE as u64);
        match file.std().filter(|_| !whole && self.arena.is_file()) {
            Some(_) => self.arena.flush().map_err(io_err("flushing", &self.path))?,
            None => {
                for &id in &self.dirty {
                    let b = self.arena.page(id)?;
                    write(id, b).map_err(io_err("writing", &self.path))?;
                }
            }
        }
        for (i, chunk) in listed.chunks(FREE_IDS_PER_PAGE).enumerate() {
            let id = first_chain + i as u64;
            let nxt = if (i as u64) + 1 < chain_len {
                id + 1
            } else {
                0
            };
            write(id, &encode_free_page(id, nxt, chunk)).map_err(io_err("writing", &self.path))?;
        }
        if whole {
            // The other meta slot is zeros: no valid commit there.
            let other = if next.slot() == 0 { 1 } else { 0 };
            write(other, &[0u8; PAGE_SIZE]).map_err(io_err("writing", &self.path))?;
        } else {
            file.sync_all().map_err(io_err("syncing", &self.path))?;
        }
        write(next.slot(), &next.encode()).map_err(io_err("writing meta of", &self.path))?;
        if whole && !sync {
            return Ok(());
        }
        file.sync_all()
            .map_err(io_err("syncing meta of", &self.path))
    }

    /// A page past the mapping: map a larger file (readers keep the old
    /// mapping alive as long as they use it).
    fn ensure_capacity(&mut self, id: u64) -> Result<(), TreeError> {
        if id < self.arena.capacity() {
            return Ok(());
        }
        let capacity = (self.arena.capacity() * 2).max(id + 1);
        let err = |e: std::io::Error| TreeError::Write {
            id,
            reason: e.to_string(),
        };
        let arena = match self
            .file
            .as_ref()
            .and_then(|f| f.std())
            .filter(|_| self.arena.is_file())
        {
            Some(f) => {
                grow_file(f, capacity).map_err(err)?;
                let a = Arena::file(f, capacity).map_err(err)?;
                a.inherit_verified(&self.arena);
                a
            }
            None => {
                let a = Arena::anon(capacity).map_err(err)?;
                a.fill_from(&self.arena, self.arena.capacity())?;
                a
            }
        };
        self.arena = Arc::new(arena);
        Ok(())
    }
}

/// Hands `ids` to the epoch collector: they land in `queue` once every
/// thread pinned now has unpinned.
fn retire(queue: &Arc<SegQueue<u64>>, ids: Vec<u64>) {
    if ids.is_empty() {
        return;
    }
    let q = Arc::clone(queue);
    let guard = epoch::pin();
    guard.defer(move || {
        for id in ids {
            q.push(id);
        }
    });
    guard.flush();
}

/// Grows `f` to hold `pages` pages (never shrinks it).
fn grow_file(f: &File, pages: u64) -> std::io::Result<()> {
    let want = pages * PAGE_SIZE as u64;
    if f.metadata()?.len() < want {
        f.set_len(want)?;
    }
    Ok(())
}

impl PageRead for ShardFile {
    fn page(&self, id: u64) -> Result<&[u8], TreeError> {
        if !(META_PAGES..self.next.page_count).contains(&id) {
            return Err(TreeError::Missing(id));
        }
        self.arena.page(id)
    }
}

impl PageStore for ShardFile {
    fn alloc(&mut self) -> u64 {
        while let Some(id) = self.reusable.pop() {
            self.limbo.remove(&id);
            self.free.push(id);
        }
        self.free.pop().unwrap_or_else(|| {
            self.next.page_count += 1;
            self.next.page_count - 1
        })
    }

    fn write(&mut self, id: u64, page: Vec<u8>) -> Result<(), TreeError> {
        self.ensure_capacity(id)?;
        // SAFETY: `id` came from `alloc`: a fresh page past the end or a
        // free one, which no durable commit reaches and no reader can see
        // (retired through the epoch). Only this writer writes.
        unsafe { self.arena.write_page(id, &page)? };
        self.dirty.insert(id);
        Ok(())
    }

    fn free(&mut self, id: u64) {
        // A page written since the last commit is not reachable from the
        // durable root: reusable once readers are done with it.
        if self.dirty.remove(&id) {
            self.retiring.push(id);
        } else {
            self.freed_now.push(id);
        }
    }
}
