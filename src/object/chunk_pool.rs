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
//!
//! The budget is shared fairly: a buffer taken for a user also holds a
//! permit of that user's share (`user_max` buffers), taken first, so one
//! user's uploads (say hundreds of bodies trickling a byte at a time)
//! never hold more than its share and the rest stays for everyone else.
//! A user past its share waits up to `user_wait` for one of its own
//! buffers to come back, then is told to slow down: waiting smooths a
//! legitimate burst (buffers turn over at disk speed), the bound keeps a
//! hog's queued requests from waiting forever.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How the budget is sized and shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolLimits {
    /// Buffers all uploads together may hold.
    pub budget: usize,
    /// Buffers one user's uploads may hold at once.
    pub user_max: usize,
    /// How long a user past its share waits for one of its buffers.
    pub user_wait: Duration,
}

impl PoolLimits {
    /// `budget` buffers, a user's share `percent` of them (at least one).
    pub fn with_share(budget: usize, percent: u64, user_wait: Duration) -> PoolLimits {
        let percent = usize::try_from(percent.clamp(1, 100)).unwrap_or(100);
        PoolLimits {
            budget,
            user_max: budget.saturating_mul(percent).div_ceil(100).max(1),
            user_wait,
        }
    }
}

/// Why no buffer was handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeError {
    /// The pool is closed.
    Closed,
    /// The user's uploads held their whole share for `user_wait`.
    UserShareSpent,
}

pub struct ChunkPool {
    chunk_bytes: usize,
    idle_max: usize,
    idle: Mutex<Vec<Vec<u8>>>,
    budget: Arc<Semaphore>,
    user_max: usize,
    user_wait: Duration,
    /// A semaphore per user holding or waiting for buffers (dropped when
    /// the user has none and waits for none).
    users: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl ChunkPool {
    /// A pool of `budget` buffers of `chunk_bytes`, keeping at most
    /// `idle_max` idle ones; a user may hold all of it.
    pub fn new(chunk_bytes: usize, budget: usize, idle_max: usize) -> Arc<ChunkPool> {
        Self::with_limits(
            chunk_bytes,
            PoolLimits {
                budget,
                user_max: budget.max(1),
                user_wait: Duration::from_secs(3600),
            },
            idle_max,
        )
    }

    pub fn with_limits(chunk_bytes: usize, limits: PoolLimits, idle_max: usize) -> Arc<ChunkPool> {
        Arc::new(ChunkPool {
            chunk_bytes,
            idle_max,
            idle: Mutex::new(Vec::new()),
            budget: Arc::new(Semaphore::new(limits.budget)),
            user_max: limits.user_max.max(1),
            user_wait: limits.user_wait,
            users: Mutex::new(HashMap::new()),
        })
    }

    /// A buffer for up to `want` bytes (at most a chunk); waits while the
    /// budget is spent. `None` if the pool is closed.
    pub async fn take(self: &Arc<Self>, want: usize) -> Option<ChunkBuf> {
        self.take_for(None, want).await.ok()
    }

    /// Like [`take`](Self::take), counted against `user`'s share when
    /// there is a user: its own permit first (so a user waiting for its
    /// share holds nothing of the budget), then the budget's.
    pub async fn take_for(
        self: &Arc<Self>,
        user: Option<&str>,
        want: usize,
    ) -> Result<ChunkBuf, TakeError> {
        let share = match user {
            Some(u) => Some(self.user_permit(u).await?),
            None => None,
        };
        let permit = Arc::clone(&self.budget)
            .acquire_owned()
            .await
            .map_err(|_| TakeError::Closed)?;
        let want = want.clamp(1, self.chunk_bytes);
        let vec = if want == self.chunk_bytes {
            self.idle
                .lock()
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(want))
        } else {
            Vec::with_capacity(want)
        };
        Ok(ChunkBuf {
            vec,
            pool: Arc::clone(self),
            _permit: permit,
            _share: share,
        })
    }

    async fn user_permit(self: &Arc<Self>, user: &str) -> Result<UserShare, TakeError> {
        // Declared first so it is dropped last, after the semaphore's
        // clones: then a wait given up removes an entry nobody uses.
        let mut share = UserShare {
            pool: Arc::clone(self),
            user: user.to_owned(),
            permit: None,
        };
        let sem = Arc::clone(
            self.users
                .lock()
                .entry(user.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.user_max))),
        );
        let got = tokio::time::timeout(self.user_wait, sem.acquire_owned()).await;
        share.permit = Some(match got {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(TakeError::Closed),
            Err(_) => return Err(TakeError::UserShareSpent),
        });
        Ok(share)
    }

    /// Buffers `user` holds (for tests and metrics).
    pub fn user_held(&self, user: &str) -> usize {
        self.users
            .lock()
            .get(user)
            .map_or(0, |s| self.user_max.saturating_sub(s.available_permits()))
    }

    /// Users holding or waiting for buffers.
    pub fn users(&self) -> usize {
        self.users.lock().len()
    }

    fn forget_user_if_unused(&self, user: &str) {
        let mut users = self.users.lock();
        // Only the map's own reference left: no permit, no waiter.
        if users.get(user).is_some_and(|s| Arc::strong_count(s) == 1) {
            users.remove(user);
        }
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
    _share: Option<UserShare>,
}

/// A permit of one user's share; the user's entry goes when unused.
struct UserShare {
    pool: Arc<ChunkPool>,
    user: String,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for UserShare {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.pool.forget_user_if_unused(&self.user);
    }
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

impl AsMut<[u8]> for ChunkBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.vec
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

    #[test]
    fn a_user_holds_at_most_its_share_and_the_rest_stays_for_others() {
        block_on(async {
            let limits = PoolLimits::with_share(4, 50, Duration::from_millis(30));
            assert_eq!(limits.user_max, 2);
            let pool = ChunkPool::with_limits(8, limits, 0);
            let a1 = pool.take_for(Some("a"), 8).await;
            let a2 = pool.take_for(Some("a"), 8).await;
            assert!(a1.is_ok() && a2.is_ok());
            assert_eq!(pool.user_held("a"), 2);
            // A third for `a` waits out its bound and is refused ...
            let a3 = pool.take_for(Some("a"), 8).await;
            assert_eq!(a3.err(), Some(TakeError::UserShareSpent));
            // ... while `b` gets the other half at once.
            let b1 = pool.take_for(Some("b"), 8).await;
            let b2 = pool.take_for(Some("b"), 8).await;
            assert!(b1.is_ok() && b2.is_ok());
            assert_eq!(pool.available(), 0);
            // One of `a`'s coming back lets `a` take one again.
            drop(a1);
            let again = pool.take_for(Some("a"), 8).await;
            assert!(again.is_ok());
            drop((again, a2, b1, b2));
            assert_eq!(
                (pool.available(), pool.users()),
                (4, 0),
                "entries of users with nothing held go"
            );
        });
    }

    #[test]
    fn a_user_waiting_for_its_share_gets_the_next_buffer_it_gives_back() {
        block_on(async {
            let pool =
                ChunkPool::with_limits(8, PoolLimits::with_share(4, 25, Duration::from_secs(5)), 0);
            let held = pool.take_for(Some("a"), 8).await;
            let p = Arc::clone(&pool);
            let waiter = async move { p.take_for(Some("a"), 8).await.is_ok() };
            let release = async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(held);
            };
            let (got, ()) = tokio::join!(waiter, release);
            assert!(got);
            assert_eq!(pool.users(), 0);
        });
    }
}
