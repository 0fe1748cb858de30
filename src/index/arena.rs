//! The memory a shard's pages are read from: the index file mapped
//! shared (memmap2), or an anonymous mapping loaded from the file when
//! the I/O backend is the simulator. Readers borrow pages straight from
//! it without locks or copies; the shard's single writer copies new pages
//! into it.
//!
//! Two rules make that sound (see `ShardFile`): the writer only writes
//! pages that no published tree reaches (copy-on-write, and freed pages
//! come back only after every reader that could see them is gone —
//! crossbeam-epoch); and the mapping is never shrunk (a grown file gets a
//! new, larger mapping; readers of the old one keep it alive).
//!
//! Every page is verified (`Page::decode`: magic, id, checksum, layout)
//! the first time it is read from a mapping; a bit per page remembers it,
//! so hot paths read trusted pages. Pages the writer wrote are trusted.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use super::page::{Page, PAGE_SIZE};
use super::tree::TreeError;

/// Pages a new mapping has room for at least (1 MiB).
pub const ARENA_MIN_PAGES: u64 = 256;

pub struct Arena {
    map: MmapRaw,
    pages: u64,
    /// A mapping of the shard's file (else anonymous: commit writes the
    /// dirty pages to the file).
    file_backed: bool,
    /// Bit `id` set: page `id` passed `Page::decode` or was written here.
    verified: Box<[AtomicU64]>,
}

fn bits_for(pages: u64) -> Box<[AtomicU64]> {
    (0..pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect()
}

impl Arena {
    /// Maps `file`, whose length must be at least `pages` pages.
    pub fn file(file: &File, pages: u64) -> std::io::Result<Arena> {
        let len = usize::try_from(pages * PAGE_SIZE as u64)
            .map_err(|_| std::io::Error::other("index file too large to map"))?;
        let map = MmapOptions::new().len(len).map_raw(file)?;
        Ok(Arena {
            map,
            pages,
            file_backed: true,
            verified: bits_for(pages),
        })
    }

    /// An anonymous mapping of `pages` zero pages.
    pub fn anon(pages: u64) -> std::io::Result<Arena> {
        let len = usize::try_from(pages * PAGE_SIZE as u64)
            .map_err(|_| std::io::Error::other("index too large to map"))?;
        let map = MmapRaw::from(MmapOptions::new().len(len).map_anon()?);
        Ok(Arena {
            map,
            pages,
            file_backed: false,
            verified: bits_for(pages),
        })
    }

    /// Whether this maps the shard's file.
    pub fn is_file(&self) -> bool {
        self.file_backed
    }

    /// Pages the mapping holds.
    pub fn capacity(&self) -> u64 {
        self.pages
    }

    fn bit(&self, id: u64) -> (Option<&AtomicU64>, u64) {
        (self.verified.get((id / 64) as usize), 1u64 << (id % 64))
    }

    /// The bytes of page `id` without checking them.
    fn raw(&self, id: u64) -> Result<&[u8], TreeError> {
        if id >= self.pages {
            return Err(TreeError::Missing(id));
        }
        // SAFETY: `id < pages`, so the range lies inside the mapping, which
        // lives as long as `&self`. The bytes are not written while this
        // borrow is alive: the writer writes only pages that no published
        // tree reaches, and a reader only follows a published tree it has
        // pinned (module docs). No other process writes the file: the data
        // directory is locked.
        Ok(unsafe {
            std::slice::from_raw_parts(self.map.as_ptr().add(id as usize * PAGE_SIZE), PAGE_SIZE)
        })
    }

    /// Page `id`, verified the first time it is read.
    pub fn page(&self, id: u64) -> Result<&[u8], TreeError> {
        let bytes = self.raw(id)?;
        let (word, mask) = self.bit(id);
        let Some(word) = word else {
            return Err(TreeError::Missing(id));
        };
        if word.load(Ordering::Acquire) & mask == 0 {
            Page::decode(bytes, id).map_err(|source| TreeError::Page { id, source })?;
            word.fetch_or(mask, Ordering::Release);
        }
        Ok(bytes)
    }

    /// Verifies page `id` again, whatever it was found to be before (the
    /// scrub: bits can rot after a page was first read).
    pub fn reverify(&self, id: u64) -> Result<(), TreeError> {
        let bytes = self.raw(id)?;
        Page::decode(bytes, id).map_err(|source| TreeError::Page { id, source })?;
        Ok(())
    }

    /// Copies `bytes` (one page) into page `id` and marks it verified.
    ///
    /// # Safety
    /// No reader may be able to reach page `id`: it is not part of any
    /// published tree, and every reader that could see it when it was
    /// freed has unpinned. Only the shard's single writer calls this.
    pub unsafe fn write_page(&self, id: u64, bytes: &[u8]) -> Result<(), TreeError> {
        if id >= self.pages || bytes.len() != PAGE_SIZE {
            return Err(TreeError::Missing(id));
        }
        // SAFETY: in bounds (checked above); exclusive per the caller's
        // contract, so no `&[u8]` to these bytes exists.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().add(id as usize * PAGE_SIZE),
                PAGE_SIZE,
            );
        }
        let (word, mask) = self.bit(id);
        if let Some(w) = word {
            w.fetch_or(mask, Ordering::Release);
        }
        Ok(())
    }

    /// Copies the first `pages` pages of `from` (and what is known about
    /// them) into this arena, which must not be published yet.
    pub fn fill_from(&self, from: &Arena, pages: u64) -> Result<(), TreeError> {
        for id in 0..pages.min(from.pages).min(self.pages) {
            let src = from.raw(id)?;
            // SAFETY: this arena is not published: nothing reads it.
            unsafe { self.write_page(id, src)? };
            let (w, mask) = self.bit(id);
            let known = from
                .bit(id)
                .0
                .map(|x| x.load(Ordering::Acquire) & mask != 0);
            if let (Some(w), Some(false)) = (w, known) {
                w.fetch_and(!mask, Ordering::Release);
            }
        }
        Ok(())
    }

    /// Copies verification state for the first `pages` pages of `from`
    /// (a remap of the same file).
    pub fn inherit_verified(&self, from: &Arena) {
        for (dst, src) in self.verified.iter().zip(from.verified.iter()) {
            dst.store(src.load(Ordering::Acquire), Ordering::Release);
        }
    }

    /// Writes dirty mapped pages back to the file (msync) and waits.
    pub fn flush(&self) -> std::io::Result<()> {
        self.map.flush()
    }

    /// Forgets that page `id` was verified (it will be re-read).
    pub fn unverify(&self, id: u64) {
        let (word, mask) = self.bit(id);
        if let Some(w) = word {
            w.fetch_and(!mask, Ordering::Release);
        }
    }
}
