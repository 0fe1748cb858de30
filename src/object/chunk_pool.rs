//! Upload chunk buffers: a node-wide budget of whole-chunk buffers, and a
//! few idle ones kept for reuse.
//!
//! Every buffer an upload fills holds a permit of the budget until the
//! last reference to its bytes is gone (the segment writer has written
//! them), so memory for request bodies stays bounded whatever the number
//! of uploads. A whole-chunk buffer is large enough that the allocator
//! maps it fresh each time (page faults, zeroing, an unmap with a TLB
//! shootdown: an eighth of the CPU of a 64 MiB PUT here); up to
//! `idle_max` of them go back to the pool instead, with their pages in.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct ChunkPool {
    chunk_bytes: usize,
    idle_max: usize,
    idle: Mutex<Vec<Vec<u8>>>,
    budget: Arc<Semaphore>,
}

impl ChunkPool {
    /// A pool of `budget` buffers of `chunk_bytes`, keeping at most
    /// `idle_max` idle ones.
    pub fn new(chunk_bytes: usize, budget: usize, idle_max: usize) -> Arc<ChunkPool> {
        Arc::new(ChunkPool {
            chunk_bytes,
            idle_max,
            idle: Mutex::new(Vec::new()),
            budget: Arc::new(Semaphore::new(budget)),
        })
    }

    /// A buffer for up to `want` bytes (at most a chunk); waits while the
    /// budget is spent. `None` if the pool is closed.
    pub async fn take(self: &Arc<Self>, want: usize) -> Option<ChunkBuf> {
        let permit = Arc::clone(&self.budget).acquire_owned().await.ok()?;
        let want = want.clamp(1, self.chunk_bytes);
        let vec = if want == self.chunk_bytes {
            self.idle
                .lock()
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(want))
        } else {
            Vec::with_capacity(want)
        };
        Some(ChunkBuf {
            vec,
            pool: Arc::clone(self),
            _permit: permit,
        })
    }

    /// Buffers not handed out (for tests and metrics).
    pub fn available(&self) -> usize {
        self.budget.available_permits()
    }

    /// Idle buffers kept for reuse.
    pub fn idle(&self) -> usize {
        self.idle.lock().len()
    }

    fn give_back(&self, mut vec: Vec<u8>) {
        if vec.capacity() != self.chunk_bytes {
            return;
        }
        vec.clear();
        let mut idle = self.idle.lock();
        if idle.len() < self.idle_max {
            idle.push(vec);
        }
    }
}

/// A buffer being filled; frozen into [`Bytes`] that keep the budget
/// permit until their last clone is dropped.
pub struct ChunkBuf {
    vec: Vec<u8>,
    pool: Arc<ChunkPool>,
    _permit: OwnedSemaphorePermit,
}

impl ChunkBuf {
    pub fn len(&self) -> usize {
        self.vec.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vec.is_empty()
    }

    /// Room left before the buffer holds a whole chunk.
    pub fn room(&self) -> usize {
        self.pool.chunk_bytes.saturating_sub(self.vec.len())
    }

    /// Appends bytes (growing past the reserved size if a body is longer
    /// than it declared).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.vec.extend_from_slice(bytes);
    }

    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for ChunkBuf {
    fn as_ref(&self) -> &[u8] {
        &self.vec
    }
}

impl Drop for ChunkBuf {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.vec));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    #[test]
    fn permits_last_as_long_as_the_bytes_and_whole_buffers_are_reused() {
        block_on(async {
            let pool = ChunkPool::new(16, 2, 1);
            let mut a = pool.take(16).await.unwrap_or_else(|| panic!("closed"));
            a.extend_from_slice(b"0123456789abcdef");
            assert_eq!(a.room(), 0);
            let bytes = a.freeze();
            let clone = bytes.clone();
            assert_eq!(pool.available(), 1);
            drop(bytes);
            assert_eq!(pool.available(), 1, "a clone still holds the buffer");
            assert_eq!(&clone[..], b"0123456789abcdef");
            drop(clone);
            assert_eq!((pool.available(), pool.idle()), (2, 1));
            // A short buffer is its own allocation and is not kept.
            let small = pool.take(4).await.unwrap_or_else(|| panic!("closed"));
            assert_eq!(small.room(), 16);
            drop(small);
            assert_eq!(pool.idle(), 1);
            // The idle one comes back empty.
            let again = pool.take(16).await.unwrap_or_else(|| panic!("closed"));
            assert!(again.is_empty() && again.vec.capacity() == 16);
            assert_eq!(pool.idle(), 0);
        });
    }

    #[test]
    fn the_budget_makes_takers_wait() {
        block_on(async {
            let pool = ChunkPool::new(8, 1, 1);
            let held = pool.take(8).await;
            let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), pool.take(8));
            assert!(waiting.await.is_err(), "a second buffer past the budget");
            drop(held);
            assert!(pool.take(8).await.is_some());
        });
    }
}
