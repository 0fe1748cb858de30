//! Ordered listing of a bucket: a k-way merge of the shards' ordered
//! scans, with S3's prefix, delimiter and start-after rules. A common
//! prefix is emitted once and every shard then seeks past its whole range
//! (`key::prefix_end`) instead of walking the keys under it. Pure logic
//! over [`OrderedSource`]s.

use std::collections::VecDeque;

use super::key::{encode_prefix, prefix_end, SortKey, VERSION_ID_LEN};
use super::tree::TreeError;

/// Entries read from one shard per refill.
pub const SCAN_BATCH: usize = 256;
/// Largest page of results a listing returns (S3's max-keys limit).
pub const MAX_KEYS_MAX: usize = 1000;

/// A (sort key, value) pair as a shard stores it.
pub type RawEntry = (Vec<u8>, Vec<u8>);

/// One shard's entries in sort-key order.
pub trait OrderedSource {
    /// Up to `limit` entries with sort key >= `start`.
    fn scan(&self, start: &[u8], limit: usize) -> Result<Vec<RawEntry>, TreeError>;
}

#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub prefix: Vec<u8>,
    pub delimiter: Option<Vec<u8>>,
    /// Only object keys after this one (marker, start-after, or the key a
    /// continuation token stands for).
    pub start_after: Option<Vec<u8>>,
    /// With `start_after`, in a versions listing: resume after this
    /// version of that key (ListObjectVersions' version-id-marker) instead
    /// of after the whole key.
    pub start_after_version: Option<[u8; VERSION_ID_LEN]>,
    /// Items plus common prefixes to return, at most [`MAX_KEYS_MAX`].
    pub max_keys: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage<T> {
    /// (object key, what `pick` made of its entry), in order.
    pub items: Vec<(Vec<u8>, T)>,
    pub common_prefixes: Vec<Vec<u8>>,
    /// More results follow; continue after `next_marker`.
    pub truncated: bool,
    /// The last key or common prefix returned.
    pub next_marker: Option<Vec<u8>>,
}

struct Cursor<'a, S> {
    source: &'a S,
    buf: VecDeque<RawEntry>,
    /// Where the next refill starts (inclusive); `None` when exhausted.
    next: Option<Vec<u8>>,
}

impl<'a, S: OrderedSource> Cursor<'a, S> {
    fn head(&mut self) -> Result<Option<&RawEntry>, TreeError> {
        if self.buf.is_empty() {
            if let Some(start) = self.next.take() {
                let batch = self.source.scan(&start, SCAN_BATCH)?;
                if batch.len() == SCAN_BATCH {
                    // Resume just after the last key returned.
                    self.next = batch.last().map(|(k, _)| {
                        let mut k = k.clone();
                        k.push(0);
                        k
                    });
                }
                self.buf.extend(batch);
            }
        }
        Ok(self.buf.front())
    }

    /// Drops everything below `to`.
    fn seek(&mut self, to: &[u8]) {
        while self.buf.front().is_some_and(|(k, _)| k.as_slice() < to) {
            self.buf.pop_front();
        }
        if self.buf.is_empty() {
            if let Some(n) = self.next.as_mut() {
                if n.as_slice() < to {
                    *n = to.to_vec();
                }
            }
        }
    }
}

/// The first sort key of any object key after `key`.
fn after_object_key(key: &[u8]) -> Vec<u8> {
    let mut s = encode_prefix(key);
    s.extend_from_slice(&[0x00, 0x02]);
    s
}

/// Lists one page. `pick` turns an entry into a listed item, or `None` to
/// leave it out (other versions, delete markers, expired entries, ...).
pub fn list<S, T, F>(shards: &[S], p: &ListParams, mut pick: F) -> Result<ListPage<T>, TreeError>
where
    S: OrderedSource,
    F: FnMut(&SortKey, &[u8]) -> Option<T>,
{
    let max_keys = p.max_keys.min(MAX_KEYS_MAX);
    let mut start = encode_prefix(&p.prefix);
    if let Some(m) = &p.start_after {
        let after = match p.start_after_version {
            // Versions of a key sort after its head, newest first; a
            // null version (all zero) sorts last.
            Some(version) => {
                let mut s = SortKey::Version {
                    key: m.clone(),
                    version,
                }
                .encode();
                s.push(0);
                s
            }
            None => after_object_key(m),
        };
        start = start.max(after);
    }
    let end = prefix_end(&p.prefix);
    let mut cursors: Vec<Cursor<'_, S>> = shards
        .iter()
        .map(|source| Cursor {
            source,
            buf: VecDeque::new(),
            next: Some(start.clone()),
        })
        .collect();
    let mut page = ListPage {
        items: Vec::new(),
        common_prefixes: Vec::new(),
        truncated: false,
        next_marker: None,
    };
    loop {
        // The smallest head among the shards.
        for c in cursors.iter_mut() {
            c.head()?;
        }
        let best = cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.buf.front().map(|(k, _)| (k, i)))
            .min()
            .map(|(_, i)| i);
        let Some((sk_bytes, value)) = best
            .and_then(|b| cursors.get_mut(b))
            .and_then(|c| c.buf.pop_front())
        else {
            break;
        };
        if end.as_ref().is_some_and(|e| sk_bytes >= *e) {
            break;
        }
        let Ok(sk) = SortKey::decode(&sk_bytes) else {
            continue; // a key the shard verified cannot fail; skip defensively
        };
        let key = sk.object_key();
        let rest = key.get(p.prefix.len()..).unwrap_or_default();
        let rolled = p
            .delimiter
            .as_ref()
            .filter(|d| !d.is_empty())
            .and_then(|d| {
                rest.windows(d.len())
                    .position(|w| w == d.as_slice())
                    .map(|at| key.get(..p.prefix.len() + at + d.len()))
            });
        if let Some(Some(cp)) = rolled {
            let cp = cp.to_vec();
            let skip_to = prefix_end(&cp);
            if p.start_after.as_ref().is_none_or(|m| cp > *m) {
                if page.items.len() + page.common_prefixes.len() == max_keys {
                    page.truncated = true;
                    break;
                }
                page.next_marker = Some(cp.clone());
                page.common_prefixes.push(cp);
            }
            match skip_to {
                Some(to) => cursors.iter_mut().for_each(|c| c.seek(&to)),
                None => break,
            }
            continue;
        }
        if let Some(item) = pick(&sk, &value) {
            if page.items.len() + page.common_prefixes.len() == max_keys {
                page.truncated = true;
                break;
            }
            page.next_marker = Some(key.to_vec());
            page.items.push((key.to_vec(), item));
        }
    }
    Ok(page)
}

/// A shard's copy-on-write tree as a listing source.
pub struct TreeSource<'a, P> {
    pub store: &'a P,
    pub root: Option<u64>,
}

impl<P: super::tree::PageRead> OrderedSource for TreeSource<'_, P> {
    fn scan(&self, start: &[u8], limit: usize) -> Result<Vec<RawEntry>, TreeError> {
        super::tree::scan(self.store, self.root, start, limit)
    }
}
