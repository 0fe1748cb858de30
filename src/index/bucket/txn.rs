//! The index transaction of a bucket: `prepare`, `complete` (plain, if
//! unchanged, if on target) and `cancel` routed to the key's shard, the
//! `Txn` handle, and the queue of transactions dropped unfinished
//! (abandoned) that the next prepare or listing cancels.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;

use super::*;
use crate::index::entry::IndexEntry;
use crate::index::index_shard::IndexError;
use crate::index::key::SortKey;

/// (object key, tag) of transactions whose writer is at work.
pub(super) type LiveTxns = Arc<Mutex<HashSet<(Vec<u8>, u64)>>>;

/// Keys with a prepare under way, and how many.
pub(super) type PreparingKeys = Mutex<std::collections::HashMap<Vec<u8>, usize>>;

/// Marks a key as being prepared until dropped (also when the prepare's
/// future is dropped).
struct Preparing<'a> {
    keys: &'a PreparingKeys,
    key: Vec<u8>,
}

impl<'a> Preparing<'a> {
    fn start(keys: &'a PreparingKeys, key: &[u8]) -> Preparing<'a> {
        *keys.lock().entry(key.to_vec()).or_insert(0) += 1;
        Preparing {
            keys,
            key: key.to_vec(),
        }
    }
}

impl Drop for Preparing<'_> {
    fn drop(&mut self) {
        let mut keys = self.keys.lock();
        if let Some(n) = keys.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                keys.remove(&self.key);
            }
        }
    }
}

/// (object key, tag) of transactions dropped unfinished (a request whose
/// client left): cancelled, if still pending, by the bucket's next prepare
/// or listing, so a client that keeps vanishing mid-PUT cannot pile
/// pending tags on a key (nor make readers scan segments for them).
pub(super) type AbandonedTxns = Arc<Mutex<Vec<(Vec<u8>, u64)>>>;

/// Abandoned transactions remembered at most; past it they are left to
/// dir suggest (resolved from their head records by a listing).
const ABANDONED_TXNS_MAX: usize = 65_536;

/// Abandoned transactions one prepare or listing cancels at most.
const ABANDONED_DRAIN_MAX: usize = 64;

/// An open transaction. Dropping it without `complete` or `cancel` (its
/// writer was abandoned, or its step failed) queues it to be cancelled if
/// it is still pending; an acknowledged write was completed, so nothing
/// acknowledged is undone.
pub struct Txn {
    key: Vec<u8>,
    tag: u64,
    live: LiveTxns,
    abandoned: AbandonedTxns,
    /// Completed or cancelled.
    ended: bool,
}

impl Txn {
    pub fn key(&self) -> &[u8] {
        &self.key
    }
    pub fn tag(&self) -> u64 {
        self.tag
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        let key = std::mem::take(&mut self.key);
        self.live.lock().remove(&(key.clone(), self.tag));
        if !self.ended {
            let mut q = self.abandoned.lock();
            if q.len() < ABANDONED_TXNS_MAX {
                q.push((key, self.tag));
            }
        }
    }
}

impl BucketIndex {
    /// Cancels (if still pending) some transactions dropped unfinished.
    /// An entry leaves the queue only once its step ran, so dropping this
    /// future loses nothing; a step that fails leaves the tag to dir
    /// suggest.
    pub(super) async fn cancel_abandoned(&self) {
        for _ in 0..ABANDONED_DRAIN_MAX {
            let Some((key, tag)) = self.abandoned.lock().last().cloned() else {
                return;
            };
            let _ = self
                .on_shard(&key, |s| {
                    let key = key.clone();
                    async move { s.suggest(&key, tag, None).await }
                })
                .await;
            let mut q = self.abandoned.lock();
            if let Some(i) = q.iter().rposition(|e| e.0 == key && e.1 == tag) {
                q.swap_remove(i);
            }
        }
    }

    /// Step 1 of a write or delete of `key`.
    pub async fn prepare(&self, key: &[u8]) -> Result<Txn, IndexError> {
        self.cancel_abandoned().await;
        let preparing = Preparing::start(&self.preparing, key);
        let tag = self
            .on_shard(key, |s| async move { s.prepare(key).await })
            .await?;
        self.live.lock().insert((key.to_vec(), tag));
        drop(preparing);
        Ok(Txn {
            key: key.to_vec(),
            tag,
            live: Arc::clone(&self.live),
            abandoned: Arc::clone(&self.abandoned),
            ended: false,
        })
    }

    /// Step 3: `target` is the key's logical head (unversioned) or the
    /// version written or removed; `entry` `None` is a delete.
    pub async fn complete(
        &self,
        mut txn: Txn,
        target: SortKey,
        entry: Option<IndexEntry>,
    ) -> Result<(), IndexError> {
        let (key, tag) = (txn.key.clone(), txn.tag);
        let r = self
            .on_shard(&key, |s| {
                let (target, entry) = (target.clone(), entry.clone());
                async move { s.complete(&target, tag, entry).await }
            })
            .await;
        txn.ended = r.is_ok();
        drop(txn);
        r
    }

    /// Step 3 of a conditional write (see [`IndexShard::complete_if`]):
    /// `check` sees the key's logical head; if it says no, nothing is
    /// logged but the cancel, and `false` is returned.
    pub async fn complete_if(
        &self,
        txn: Txn,
        target: SortKey,
        entry: Option<IndexEntry>,
        check: impl Fn(Option<&IndexEntry>) -> bool,
    ) -> Result<bool, IndexError> {
        let head = SortKey::Head {
            key: txn.key.clone(),
        };
        self.complete_checking(txn, target, entry, head, check)
            .await
    }

    /// Step 3 of a write that holds only if the stored entry of `target`
    /// (raw: expired or not) passes `check`; else the transaction is
    /// cancelled and `false` returned. The expiry pass, lifecycle
    /// re-evaluation, retagging and compaction complete with it.
    pub async fn complete_if_target(
        &self,
        txn: Txn,
        target: SortKey,
        entry: Option<IndexEntry>,
        check: impl Fn(Option<&IndexEntry>) -> bool,
    ) -> Result<bool, IndexError> {
        let checked = target.clone();
        self.complete_checking(txn, target, entry, checked, check)
            .await
    }

    /// Completes `txn` if `check` passes on the stored entry of `checked`
    /// (under the shard's writer lock); cancels it otherwise.
    async fn complete_checking(
        &self,
        mut txn: Txn,
        target: SortKey,
        entry: Option<IndexEntry>,
        checked: SortKey,
        check: impl Fn(Option<&IndexEntry>) -> bool,
    ) -> Result<bool, IndexError> {
        let (key, tag) = (txn.key.clone(), txn.tag);
        let (check, checked) = (&check, &checked);
        let done = self
            .on_shard(&key, |s| {
                let (target, entry) = (target.clone(), entry.clone());
                async move {
                    s.complete_if_entry(&target, tag, entry, checked, check)
                        .await
                }
            })
            .await?;
        if done {
            txn.ended = true;
            drop(txn);
            return Ok(true);
        }
        self.cancel(txn).await?;
        Ok(false)
    }

    /// Step 3 when the head write failed.
    pub async fn cancel(&self, mut txn: Txn) -> Result<(), IndexError> {
        let (key, tag) = (txn.key.clone(), txn.tag);
        let r = self
            .on_shard(&key, |s| {
                let key = key.clone();
                async move { s.cancel(&key, tag).await }
            })
            .await;
        txn.ended = r.is_ok();
        drop(txn);
        r
    }
}
