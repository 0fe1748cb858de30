//! A shard's expiry-ordered secondary index: every entry (logical head or
//! version) that carries an expiry time, ordered by that time, with what
//! it counts for in the bucket stats. Kept by the shard in the same step
//! that changes the entry (and rebuilt from the tree at open), so due
//! entries are found without scanning the bucket, and the stats can leave
//! out what is due before any background work has deleted it. Pure.

use std::collections::BTreeMap;

use super::entry::IndexEntry;
use super::key::SortKey;

/// Whether `e`'s expiry has come at `now_secs`.
pub fn is_expired(e: &IndexEntry, now_secs: u64) -> bool {
    e.expiry_slot != 0 && e.expiry_slot <= now_secs
}

/// Whether `e` is gone for readers at `now_secs`: expired, and not one
/// that expires to a delete marker (that version stays, noncurrent).
pub fn is_gone(e: &IndexEntry, now_secs: u64) -> bool {
    is_expired(e, now_secs) && !e.expires_to_marker
}

/// The delete marker that goes on top of `v`, the current version of
/// `key`, when `v` expires to a marker: the same one whether readers
/// imagine it before the expiry pass has written it or the pass writes
/// it, because everything in it comes from `v` (`format-spec/index.md`,
/// "Expiry"): its time is the expiry second (or just after `v` was
/// written, if that is later), its id that time (ns, big-endian) and an
/// xxh64 (seed 0) of the key and `v`'s id.
pub fn marker_for(key: &[u8], v: &IndexEntry) -> IndexEntry {
    let at = v
        .expiry_slot
        .saturating_mul(1_000_000_000)
        .max(v.mtime_nanos.saturating_add(1));
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    h.update(key);
    h.update(&v.version_id);
    let mut id = [0u8; 16];
    let (time, rest) = id.split_at_mut(8);
    time.copy_from_slice(&at.to_be_bytes());
    rest.copy_from_slice(&h.digest().to_be_bytes());
    IndexEntry {
        delete_marker: true,
        versioned: true,
        current: true,
        mtime_nanos: at,
        version_id: id,
        ..IndexEntry::default()
    }
}

/// (objects, bytes) an entry under `key` counts for in the stats, and so
/// leaves out of them once due: a version or an unversioned head that is
/// neither a placeholder nor a delete marker (a versioned head mirrors a
/// version, which counts) and does not expire to a marker (that one stays).
pub fn counted(key: &SortKey, e: &IndexEntry) -> (u64, u64) {
    let counts = !e.placeholder
        && !e.delete_marker
        && !e.expires_to_marker
        && match key {
            SortKey::Head { .. } => !e.versioned,
            SortKey::Version { .. } => true,
        };
    if counts {
        (1, e.size)
    } else {
        (0, 0)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpiryIndex {
    /// (expiry second, encoded sort key) -> (objects, bytes) it counts for.
    due: BTreeMap<(u64, Vec<u8>), (u64, u64)>,
}

impl ExpiryIndex {
    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    /// Records that `key` changed from `old` to `new`.
    pub fn update(&mut self, key: &SortKey, old: Option<&IndexEntry>, new: Option<&IndexEntry>) {
        let same_slot = old.map(|o| o.expiry_slot) == new.map(|n| n.expiry_slot);
        if let Some(o) = old.filter(|o| o.expiry_slot != 0) {
            if !same_slot || new.is_some() {
                self.due.remove(&(o.expiry_slot, key.encode()));
            }
        }
        if let Some(n) = new.filter(|n| n.expiry_slot != 0) {
            self.due
                .insert((n.expiry_slot, key.encode()), counted(key, n));
        }
    }

    /// Up to `limit` sort keys whose expiry is at or before `now_secs`,
    /// earliest first.
    pub fn due(&self, now_secs: u64, limit: usize) -> Vec<(u64, SortKey)> {
        self.due
            .range(..(now_secs.saturating_add(1), Vec::new()))
            .filter_map(|((s, k), _)| SortKey::decode(k).ok().map(|k| (*s, k)))
            .take(limit)
            .collect()
    }

    /// (objects, bytes) of the entries due at `now_secs`: what the stats
    /// leave out until the expiry pass has deleted them.
    pub fn due_totals(&self, now_secs: u64) -> (u64, u64) {
        self.due
            .range(..(now_secs.saturating_add(1), Vec::new()))
            .fold((0, 0), |(o, b), (_, (o1, b1))| {
                (o.saturating_add(*o1), b.saturating_add(*b1))
            })
    }

    /// How many entries are due at `now_secs`.
    pub fn due_count(&self, now_secs: u64) -> usize {
        self.due
            .range(..(now_secs.saturating_add(1), Vec::new()))
            .count()
    }

    /// The earliest expiry recorded.
    pub fn next_due(&self) -> Option<u64> {
        self.due.keys().next().map(|(s, _)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(slot: u64, size: u64) -> IndexEntry {
        IndexEntry {
            expiry_slot: slot,
            size,
            ..IndexEntry::default()
        }
    }

    fn head(k: &str) -> SortKey {
        SortKey::Head {
            key: k.as_bytes().to_vec(),
        }
    }

    #[test]
    fn tracks_changes_and_orders_by_time() {
        let mut x = ExpiryIndex::default();
        x.update(&head("a"), None, Some(&entry(20, 5)));
        x.update(&head("b"), None, Some(&entry(10, 7)));
        x.update(&head("c"), None, Some(&entry(0, 9)));
        assert_eq!(x.len(), 2);
        assert_eq!(x.due(9, 10), vec![]);
        assert_eq!(x.due(10, 10), vec![(10, head("b"))]);
        assert_eq!(x.due(20, 10), vec![(10, head("b")), (20, head("a"))]);
        assert_eq!(x.due(20, 1), vec![(10, head("b"))]);
        assert_eq!(x.due_totals(10), (1, 7));
        assert_eq!(x.due_totals(u64::MAX), (2, 12));
        // An overwrite moves it; a delete drops it.
        x.update(&head("b"), Some(&entry(10, 7)), Some(&entry(30, 1)));
        assert_eq!(x.due(20, 10), vec![(20, head("a"))]);
        x.update(&head("a"), Some(&entry(20, 5)), None);
        x.update(&head("b"), Some(&entry(30, 1)), Some(&entry(0, 1)));
        assert!(x.is_empty());
    }

    #[test]
    fn delete_markers_and_versioned_heads_count_nothing() {
        let mut x = ExpiryIndex::default();
        let marker = IndexEntry {
            delete_marker: true,
            ..entry(5, 0)
        };
        let mirror = IndexEntry {
            versioned: true,
            ..entry(5, 100)
        };
        x.update(&head("m"), None, Some(&marker));
        x.update(&head("v"), None, Some(&mirror));
        x.update(
            &SortKey::Version {
                key: b"v".to_vec(),
                version: [1; 16],
            },
            None,
            Some(&entry(5, 100)),
        );
        assert_eq!(x.due_totals(5), (1, 100));
        assert_eq!(x.due(5, 10).len(), 3);
    }
}
