//! The index transaction on one key's entry (seed `rgw-bucket-index`):
//! prepare adds a pending tag, complete applies the write or delete and
//! drops its tag, cancel drops the tag, suggest applies what a listing
//! found in the head records and drops tags it proved stale. Pure: the
//! shard feeds these steps from its bilog, in marker order, so replaying a
//! log prefix again converges to the same entry.
//!
//! Racing writers of one key each hold a tag; the last to complete (in the
//! shard's commit order) is what the entry says.
//!
//! Versions (OLH in the seed): a key written with versioning has a
//! version entry per version (delete markers too) and its logical head
//! mirrors the current one, flagged `versioned`. Writing a version that
//! exists again with the same time, size and ETag (compaction moving its
//! bytes, new tags) updates it in place: it keeps its place. [`apply_key`] changes
//! the head and the versions together, in one step: the current version
//! is the one completed last; deleting it makes the most recently written
//! remaining version current (by time: the null version's id is zero
//! whenever it was written). Pending tags always live on the head.

use thiserror::Error;

use super::entry::{IndexEntry, PENDING_TAGS_MAX};
use super::key::VERSION_ID_LEN;

/// What a completed transaction did to the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The key now reads as this entry (its pending field is ignored). A
    /// placeholder entry is a delete that keeps its time: while other
    /// transactions stay pending, the placeholder remembers when the key
    /// was deleted, so a dead older write found later cannot revive it.
    Write(IndexEntry),
    Delete,
    /// A new version (or delete marker) `e.version_id` becomes current.
    WriteVersion(IndexEntry),
    /// Version `v` is removed; the newest remaining one becomes current
    /// if `v` was.
    DeleteVersion([u8; VERSION_ID_LEN]),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnStep {
    Prepare {
        tag: u64,
    },
    Complete {
        tag: u64,
        outcome: Outcome,
    },
    Cancel {
        tag: u64,
    },
    /// A listing checked the head record: `resolved` is what it found
    /// (`None`: no object), `stale` the tags whose transactions are dead.
    Suggest {
        stale: Vec<u64>,
        resolved: Option<IndexEntry>,
    },
}

/// How a step changed the bucket's stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsDelta {
    pub objects: i64,
    pub bytes: i64,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TxnError {
    #[error("{PENDING_TAGS_MAX} transactions are already pending on this key")]
    TooManyPending,
}

/// A size as a stats delta; sizes past `i64::MAX` (only a corrupt or
/// hostile entry has one) count as `i64::MAX`.
fn size_i64(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// (objects, bytes) an entry counts for in the bucket stats. A versioned
/// head only mirrors a version entry, which is what counts.
fn counted(e: Option<&IndexEntry>) -> (i64, i64) {
    match e {
        Some(e) if !e.placeholder && !e.delete_marker && !e.versioned => (1, size_i64(e.size)),
        _ => (0, 0),
    }
}

/// The entry with `tags` pending and data from `data`, or `None` if
/// there is neither data nor a pending tag. A placeholder (no data, tags
/// pending) carries `deleted_at`, the time of the key's last delete.
fn rebuild(data: Option<IndexEntry>, tags: Vec<u64>, deleted_at: u64) -> Option<IndexEntry> {
    match data {
        Some(mut e) => {
            e.placeholder = false;
            e.pending = tags;
            Some(e)
        }
        None if tags.is_empty() => None,
        None => Some(IndexEntry {
            placeholder: true,
            pending: tags,
            mtime_nanos: deleted_at,
            ..IndexEntry::default()
        }),
    }
}

/// Applies one step to a key's logical head alone (unversioned keys;
/// [`apply_key`] handles versions).
pub fn apply(
    current: Option<&IndexEntry>,
    step: &TxnStep,
) -> Result<(Option<IndexEntry>, StatsDelta), TxnError> {
    let data = current.filter(|e| !e.placeholder).cloned();
    let deleted_at = current
        .filter(|e| e.placeholder)
        .map_or(0, |e| e.mtime_nanos);
    let mut tags: Vec<u64> = current.map(|e| e.pending.clone()).unwrap_or_default();
    let next = match step {
        TxnStep::Prepare { tag } => {
            if let Err(at) = tags.binary_search(tag) {
                if tags.len() >= PENDING_TAGS_MAX {
                    return Err(TxnError::TooManyPending);
                }
                tags.insert(at, *tag);
            }
            rebuild(data, tags, deleted_at)
        }
        TxnStep::Complete { tag, outcome } => {
            tags.retain(|t| t != tag);
            match outcome {
                Outcome::Write(e) if e.placeholder => rebuild(None, tags, e.mtime_nanos),
                Outcome::Write(e) => rebuild(Some(e.clone()), tags, 0),
                Outcome::Delete => rebuild(None, tags, deleted_at),
                // The head alone (see `apply_key` for the versions).
                Outcome::WriteVersion(e) => rebuild(Some(head_mirror(e, Vec::new())), tags, 0),
                Outcome::DeleteVersion(_) => rebuild(data, tags, deleted_at),
            }
        }
        TxnStep::Cancel { tag } => {
            tags.retain(|t| t != tag);
            rebuild(data, tags, deleted_at)
        }
        TxnStep::Suggest { stale, resolved } => {
            tags.retain(|t| !stale.contains(t));
            match resolved {
                Some(e) if e.placeholder => rebuild(None, tags, e.mtime_nanos),
                r => rebuild(r.clone(), tags, deleted_at),
            }
        }
    };
    let (o0, b0) = counted(current);
    let (o1, b1) = counted(next.as_ref());
    Ok((
        next,
        StatsDelta {
            objects: o1.saturating_sub(o0),
            bytes: b1.saturating_sub(b0),
        },
    ))
}

/// What one step does to a key: its new head and the version entries to
/// write (`Some`) or remove (`None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUpdate {
    pub head: Option<IndexEntry>,
    pub versions: Vec<([u8; VERSION_ID_LEN], Option<IndexEntry>)>,
    pub delta: StatsDelta,
}

fn version_entry(e: &IndexEntry) -> IndexEntry {
    IndexEntry {
        placeholder: false,
        current: false,
        versioned: false,
        pending: Vec::new(),
        ..e.clone()
    }
}

fn head_mirror(e: &IndexEntry, tags: Vec<u64>) -> IndexEntry {
    IndexEntry {
        placeholder: false,
        current: true,
        versioned: true,
        pending: tags,
        ..e.clone()
    }
}

fn add_counted(d: &mut StatsDelta, e: Option<&IndexEntry>, sign: i64) {
    let (o, b) = match e {
        Some(e) if !e.delete_marker => (1, size_i64(e.size)),
        _ => (0, 0),
    };
    d.objects = d.objects.saturating_add(sign.saturating_mul(o));
    d.bytes = d.bytes.saturating_add(sign.saturating_mul(b));
}

/// Applies one step to a key: `head` is its logical head, `versions` its
/// version entries newest first (only read by version steps and by
/// unversioned writes to a versioned key).
pub fn apply_key(
    head: Option<&IndexEntry>,
    versions: &[IndexEntry],
    step: &TxnStep,
) -> Result<KeyUpdate, TxnError> {
    let versioned = head.is_some_and(|h| h.versioned);
    let outcome = match step {
        TxnStep::Complete { outcome, .. } => outcome,
        _ => {
            let (head, delta) = apply(head, step)?;
            return Ok(KeyUpdate {
                head,
                versions: Vec::new(),
                delta,
            });
        }
    };
    let (tag, outcome) = match (step, outcome) {
        // An unversioned write or delete of a versioned key acts on its
        // null version.
        (TxnStep::Complete { tag, .. }, Outcome::Write(e)) if versioned && e.placeholder => {
            (*tag, Outcome::DeleteVersion([0; VERSION_ID_LEN]))
        }
        (TxnStep::Complete { tag, .. }, Outcome::Write(e)) if versioned => (
            *tag,
            Outcome::WriteVersion(IndexEntry {
                version_id: [0; VERSION_ID_LEN],
                ..e.clone()
            }),
        ),
        (TxnStep::Complete { tag, .. }, Outcome::Delete) if versioned => {
            (*tag, Outcome::DeleteVersion([0; VERSION_ID_LEN]))
        }
        (TxnStep::Complete { tag, .. }, o) => (*tag, o.clone()),
        _ => return Ok(KeyUpdate::default()),
    };
    let mut tags: Vec<u64> = head.map(|e| e.pending.clone()).unwrap_or_default();
    tags.retain(|t| *t != tag);
    let mut up = KeyUpdate::default();
    match outcome {
        Outcome::Write(_) | Outcome::Delete => {
            let (h, delta) = apply(head, step)?;
            return Ok(KeyUpdate {
                head: h,
                versions: Vec::new(),
                delta,
            });
        }
        Outcome::WriteVersion(e) => {
            // An unversioned object becomes the null version.
            if let Some(h) = head.filter(|h| !h.placeholder && !h.versioned) {
                let mut null = version_entry(h);
                null.version_id = [0; VERSION_ID_LEN];
                let (o, b) = counted(Some(h));
                up.delta.objects = up.delta.objects.saturating_sub(o);
                up.delta.bytes = up.delta.bytes.saturating_sub(b);
                add_counted(&mut up.delta, Some(&null), 1);
                up.versions.push((null.version_id, Some(null)));
            }
            let replaced = versions.iter().find(|v| v.version_id == e.version_id);
            // The same version written again (same time, size and ETag: its
            // bytes moved by compaction, or its tags changed) keeps its
            // place: a noncurrent version stays noncurrent.
            let in_place = replaced.is_some_and(|r| {
                r.mtime_nanos == e.mtime_nanos && r.size == e.size && r.etag == e.etag
            });
            let current = head.is_some_and(|h| h.versioned && h.version_id == e.version_id);
            add_counted(&mut up.delta, replaced, -1);
            let v = version_entry(&e);
            add_counted(&mut up.delta, Some(&v), 1);
            up.versions.retain(|(id, _)| *id != v.version_id);
            up.versions.push((v.version_id, Some(v)));
            up.head = if in_place && !current {
                head.map(|h| IndexEntry {
                    pending: tags,
                    ..h.clone()
                })
            } else {
                Some(head_mirror(&e, tags))
            };
        }
        Outcome::DeleteVersion(id) => {
            if !versioned {
                // Only the null version of an unversioned key exists; a
                // delete of any other id just ends the transaction.
                let step = if id == [0; VERSION_ID_LEN] {
                    TxnStep::Complete {
                        tag,
                        outcome: Outcome::Delete,
                    }
                } else {
                    TxnStep::Cancel { tag }
                };
                let (h, delta) = apply(head, &step)?;
                return Ok(KeyUpdate {
                    head: h,
                    versions: Vec::new(),
                    delta,
                });
            }
            let removed = versions.iter().find(|v| v.version_id == id);
            if removed.is_some() {
                add_counted(&mut up.delta, removed, -1);
                up.versions.push((id, None));
            }
            let was_current = head.is_some_and(|h| h.version_id == id);
            up.head = if was_current {
                // The most recently written of the rest, by time: ids
                // order versions by age except the null version, which
                // is all zero whenever it was written.
                let next = versions
                    .iter()
                    .filter(|v| v.version_id != id)
                    .max_by_key(|v| (v.mtime_nanos, v.version_id));
                match next {
                    Some(next) => Some(head_mirror(next, tags)),
                    None => rebuild(None, tags, 0),
                }
            } else {
                head.map(|h| IndexEntry {
                    pending: tags,
                    ..h.clone()
                })
            };
        }
    }
    Ok(up)
}
