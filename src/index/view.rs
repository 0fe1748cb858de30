//! What readers of a shard see: the tree as of the last applied step,
//! swapped in atomically after every step. Readers pin an epoch, load
//! the current view and walk its pages in the mapping without taking a
//! lock or waiting for the writer; the view (and the pages it reaches)
//! stays valid until they unpin.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam::epoch::{self, Atomic, Guard, Owned};

use super::arena::Arena;
use super::tree::{PageRead, TreeError};

/// One published state of a shard.
pub struct ShardView {
    pub arena: Arc<Arena>,
    pub root: Option<u64>,
    /// The last bilog marker applied.
    pub applied: u64,
    pub objects: u64,
    pub bytes: u64,
}

impl PageRead for ShardView {
    fn page(&self, id: u64) -> Result<&[u8], TreeError> {
        self.arena.page(id)
    }
}

/// The current view of a shard, replaced by its writer.
pub struct Published {
    current: Atomic<ShardView>,
}

impl Published {
    pub fn new(view: ShardView) -> Published {
        Published {
            current: Atomic::new(view),
        }
    }

    /// The current view, valid while `guard` is pinned.
    pub fn load<'g>(&'g self, guard: &'g Guard) -> &'g ShardView {
        let shared = self.current.load(Ordering::Acquire, guard);
        // SAFETY: `current` is never null (set in `new`, only ever swapped
        // for another `Owned`), and a replaced view is destroyed through
        // `defer_destroy`, i.e. after every guard pinned before the swap
        // (this one included) is dropped, or by `drop(self)`, which the
        // borrow of `self` for 'g rules out.
        unsafe { shared.deref() }
    }

    /// Publishes `view`. The writer calls this after each step, then
    /// retires the pages the step freed (so a reader that still holds the
    /// old view keeps them).
    pub fn replace(&self, view: ShardView) {
        let guard = epoch::pin();
        let old = self
            .current
            .swap(Owned::new(view), Ordering::AcqRel, &guard);
        // SAFETY: `old` was just unlinked, so no new reader can load it;
        // readers that loaded it are pinned and the destructor waits for
        // them.
        unsafe { guard.defer_destroy(old) };
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader holds a reference into `current`
        // through this `Published` (they borrow it with a guard), and the
        // pointer is non-null and owned.
        unsafe {
            let guard = epoch::unprotected();
            let p = self.current.load(Ordering::Acquire, guard);
            drop(p.into_owned());
        }
    }
}
