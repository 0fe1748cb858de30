//! Listing a bucket: ordered pages merged from the shards with pending
//! entries of dead writers resolved on the way (dir suggest), the
//! resolved current entry of a key, unordered pages and head scans.

use crossbeam::epoch;

use super::*;
use crate::index::entry::IndexEntry;
use crate::index::expiry::{is_expired, marker_for};
use crate::index::index_shard::IndexError;
use crate::index::key::{encode_prefix, prefix_end, SortKey};
use crate::index::listing::{self, ListPage, ListParams, TreeSource};
use crate::index::shard;
use crate::index::tree;
use crate::index::view::ShardView;

/// A page of an unordered listing and where the next one starts.
pub struct UnorderedPage {
    pub items: Vec<(Vec<u8>, IndexEntry)>,
    /// (shard, sort key) to pass as `after`; `None` at the end.
    pub next: Option<(u32, Vec<u8>)>,
}

impl BucketIndex {
    /// Whether `tag` on `key` may belong to a writer of this process: a
    /// registered transaction, or any tag of a key whose prepare is under
    /// way (its tag is published before the prepare returns and is
    /// registered, and must not be taken for a dead writer's meanwhile).
    fn is_live(&self, key: &[u8], tag: u64) -> bool {
        self.live.lock().contains(&(key.to_vec(), tag)) || self.preparing.lock().contains_key(key)
    }

    /// One page of an ordered listing. Pending entries whose writer is
    /// gone are resolved with `resolver` (their head records decide) and
    /// the outcome is logged to the shard (dir suggest) before the page is
    /// read again, so what is returned is exactly what the index now says
    /// and the next listing finds plain entries. Without a resolver they
    /// show their last completed state.
    pub async fn list(
        &self,
        params: &ListParams,
        mode: ListMode,
        resolver: Option<&dyn HeadResolver>,
    ) -> Result<ListPage<IndexEntry>, IndexError> {
        self.cancel_abandoned().await;
        let mut dead: Vec<(Vec<u8>, u64)> = Vec::new();
        let page = self.list_once(params, mode, resolver.map(|_| &mut dead))?;
        let Some(resolver) = resolver.filter(|_| !dead.is_empty()) else {
            return Ok(page);
        };
        self.resolve_dead(dead, resolver).await?;
        self.list_once(params, mode, None)
    }

    /// Ends dead transactions `(key, tag)` with what their head records
    /// say (dir suggest).
    async fn resolve_dead(
        &self,
        dead: Vec<(Vec<u8>, u64)>,
        resolver: &dyn HeadResolver,
    ) -> Result<(), IndexError> {
        for (key, tag) in dead {
            let resolved = match resolver.resolve(&key, tag).map_err(IndexError::Resolve)? {
                Resolved::NotWritten => None,
                Resolved::Completed {
                    key,
                    entry,
                    mtime_nanos,
                } => Some((key, entry, mtime_nanos)),
            };
            self.on_shard(&key, |s| {
                let (k, resolved) = (key.clone(), resolved.clone());
                async move { s.suggest(&k, tag, resolved).await }
            })
            .await?;
        }
        Ok(())
    }

    /// [`current`](Self::current) after resolving the key's dead
    /// transactions with `resolver`, so GET and HEAD agree with a listing
    /// after a crash.
    pub async fn current_resolved(
        &self,
        key: &[u8],
        resolver: &dyn HeadResolver,
    ) -> Result<Option<IndexEntry>, IndexError> {
        let mut head = self.get(&SortKey::Head { key: key.to_vec() })?;
        if head.as_ref().is_some_and(|h| !h.pending.is_empty()) && !self.abandoned.lock().is_empty()
        {
            self.cancel_abandoned().await;
            head = self.get(&SortKey::Head { key: key.to_vec() })?;
        }
        let dead: Vec<(Vec<u8>, u64)> = head
            .iter()
            .flat_map(|e| e.pending.iter())
            .filter(|t| !self.is_live(key, **t))
            .map(|t| (key.to_vec(), *t))
            .collect();
        if dead.is_empty() {
            // The common case: one lookup.
            return Ok(head.filter(|e| !e.placeholder && !e.delete_marker));
        }
        self.resolve_dead(dead, resolver).await?;
        self.current(key)
    }

    /// One pass of [`list`](Self::list); collects the dead transactions
    /// of listed keys into `dead` if given.
    fn list_once(
        &self,
        params: &ListParams,
        mode: ListMode,
        mut dead: Option<&mut Vec<(Vec<u8>, u64)>>,
    ) -> Result<ListPage<IndexEntry>, IndexError> {
        let open: Vec<_> = self.shards().read_all()?.into_iter().flatten().collect();
        let guard = epoch::pin();
        let views: Vec<&ShardView> = open.iter().map(|s| s.published().load(&guard)).collect();
        let sources: Vec<TreeSource<'_, ShardView>> = views
            .iter()
            .map(|v| TreeSource {
                store: *v,
                root: v.root,
            })
            .collect();
        let now = crate::clock::expiry_now_secs();
        let page = listing::list(&sources, params, |sk, value| {
            let e = IndexEntry::decode(value).ok()?;
            if is_expired(&e, now) {
                // Gone (or, for a versioned key, giving way to an older
                // version, or under a delete marker); rare, so the lookups
                // here cost little.
                return match (mode, sk) {
                    (ListMode::Current, SortKey::Head { key }) => self
                        .effective_head(Some(e), key, now)
                        .ok()
                        .flatten()
                        .filter(|e| !e.placeholder && !e.delete_marker),
                    // The marker an expiry puts on top is the key's newest
                    // version: listed where the head sorts, right before
                    // the versions. An unversioned object stays listed as
                    // the null version under it.
                    (ListMode::Versions, SortKey::Head { key })
                        if e.expires_to_marker && !e.placeholder && !e.delete_marker =>
                    {
                        if e.versioned {
                            Some(marker_for(key, &e))
                        } else {
                            Some(e)
                        }
                    }
                    (ListMode::Versions, SortKey::Version { .. }) if e.expires_to_marker => Some(e),
                    _ => None,
                };
            }
            match (mode, sk) {
                (_, SortKey::Head { key }) => {
                    if let Some(dead) = dead.as_deref_mut() {
                        let gone = e.pending.iter().filter(|t| !self.is_live(key, **t));
                        dead.extend(gone.map(|t| (key.clone(), *t)));
                    }
                    match mode {
                        ListMode::Current => (!e.placeholder && !e.delete_marker).then_some(e),
                        // An unversioned key's object is its null version.
                        ListMode::Versions => (!e.placeholder && !e.versioned).then_some(e),
                    }
                }
                (ListMode::Versions, SortKey::Version { .. }) => Some(e),
                (ListMode::Current, SortKey::Version { .. }) => None,
            }
        })
        .map_err(shard::ShardError::from)?;
        Ok(page)
    }

    /// A page of an unordered listing: shard after shard, each in order.
    /// Cheaper than the merge (one shard scanned at a time); for clients
    /// that allow any order. `after` is the (shard, sort key) the previous
    /// page stopped at. No delimiter.
    pub fn list_unordered(
        &self,
        prefix: &[u8],
        after: Option<(u32, Vec<u8>)>,
        max_keys: usize,
    ) -> Result<UnorderedPage, IndexError> {
        self.scan_heads(prefix, after, max_keys, false)
    }

    /// [`list_unordered`](Self::list_unordered), or with `raw` every
    /// logical head that holds an object or a delete marker as stored,
    /// expired or not (lifecycle re-evaluation).
    pub fn scan_heads(
        &self,
        prefix: &[u8],
        after: Option<(u32, Vec<u8>)>,
        max_keys: usize,
        raw: bool,
    ) -> Result<UnorderedPage, IndexError> {
        let shards = self.shards();
        let max_keys = max_keys.min(listing::MAX_KEYS_MAX);
        let start = encode_prefix(prefix);
        let end = prefix_end(prefix);
        let (first, mut from) = match after {
            Some((s, k)) => {
                let mut k = k;
                k.push(0);
                (s, Some(k))
            }
            None => (0, None),
        };
        let mut out = Vec::new();
        let now = crate::clock::expiry_now_secs();
        let guard = epoch::pin();
        for (i, s) in shards.slots.iter().enumerate().skip(first as usize) {
            let mut at = from.take().unwrap_or_else(|| start.clone());
            let Some(s) = s.read()? else { continue };
            let view = s.published().load(&guard);
            loop {
                let batch = tree::scan(view, view.root, &at, listing::SCAN_BATCH)
                    .map_err(shard::ShardError::from)?;
                let full = batch.len() == listing::SCAN_BATCH;
                for (k, v) in batch {
                    if end.as_ref().is_some_and(|e| k >= *e) {
                        break;
                    }
                    at = k.clone();
                    at.push(0);
                    let Ok(SortKey::Head { key }) = SortKey::decode(&k) else {
                        continue;
                    };
                    let e = IndexEntry::decode(&v).map_err(shard::ShardError::from)?;
                    let e = if is_expired(&e, now) && !raw {
                        match self.effective_head(Some(e), &key, now)? {
                            Some(e) => e,
                            None => continue,
                        }
                    } else {
                        e
                    };
                    if e.placeholder || (e.delete_marker && !raw) {
                        continue;
                    }
                    out.push((key, e));
                    if out.len() == max_keys {
                        return Ok(UnorderedPage {
                            items: out,
                            next: Some((i as u32, k)),
                        });
                    }
                }
                if !full || end.as_ref().is_some_and(|e| at >= *e) {
                    break;
                }
            }
        }
        Ok(UnorderedPage {
            items: out,
            next: None,
        })
    }
}
