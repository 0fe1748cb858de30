//! The index transaction on one key's entry (seed `rgw-bucket-index`):
//! prepare adds a pending tag, complete applies the write or delete and
//! drops its tag, cancel drops the tag, suggest applies what a listing
//! found in the head records and drops tags it proved stale. Pure: the
//! shard feeds these steps from its bilog, in marker order, so replaying a
//! log prefix again converges to the same entry.
//!
//! Racing writers of one key each hold a tag; the last to complete (in the
//! shard's commit order) is what the entry says.

use thiserror::Error;

use super::entry::{IndexEntry, PENDING_TAGS_MAX};

/// What a completed transaction did to the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The key now reads as this entry (its pending and placeholder fields
    /// are ignored).
    Write(IndexEntry),
    Delete,
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

/// (objects, bytes) an entry counts for in the bucket stats.
fn counted(e: Option<&IndexEntry>) -> (i64, i64) {
    match e {
        Some(e) if !e.placeholder && !e.delete_marker => (1, e.size as i64),
        _ => (0, 0),
    }
}

/// The entry with `tags` pending and data from `data`, or `None` if
/// there is neither data nor a pending tag.
fn rebuild(data: Option<IndexEntry>, tags: Vec<u64>) -> Option<IndexEntry> {
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
            ..IndexEntry::default()
        }),
    }
}

/// Applies one step to a key's current entry.
pub fn apply(
    current: Option<&IndexEntry>,
    step: &TxnStep,
) -> Result<(Option<IndexEntry>, StatsDelta), TxnError> {
    let data = current.filter(|e| !e.placeholder).cloned();
    let mut tags: Vec<u64> = current.map(|e| e.pending.clone()).unwrap_or_default();
    let next = match step {
        TxnStep::Prepare { tag } => {
            if let Err(at) = tags.binary_search(tag) {
                if tags.len() >= PENDING_TAGS_MAX {
                    return Err(TxnError::TooManyPending);
                }
                tags.insert(at, *tag);
            }
            rebuild(data, tags)
        }
        TxnStep::Complete { tag, outcome } => {
            tags.retain(|t| t != tag);
            match outcome {
                Outcome::Write(e) => rebuild(Some(e.clone()), tags),
                Outcome::Delete => rebuild(None, tags),
            }
        }
        TxnStep::Cancel { tag } => {
            tags.retain(|t| t != tag);
            rebuild(data, tags)
        }
        TxnStep::Suggest { stale, resolved } => {
            tags.retain(|t| !stale.contains(t));
            rebuild(resolved.clone(), tags)
        }
    };
    let (o0, b0) = counted(current);
    let (o1, b1) = counted(next.as_ref());
    Ok((
        next,
        StatsDelta {
            objects: o1 - o0,
            bytes: b1 - b0,
        },
    ))
}
