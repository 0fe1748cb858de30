//! Keeping a versioned key's version entries in step with the lifecycle
//! rules: a noncurrent version expires `NoncurrentDays` after it became
//! noncurrent (when the next newer version was written), unless
//! `NewerNoncurrentVersions` newer noncurrent versions are to be kept; a
//! delete marker left as the only version expires at once under
//! `ExpiredObjectDeleteMarker`; a version that is no longer current loses
//! the "expires to a marker" of a current-version Expiration. Run after
//! every change of a versioned key (write, delete, retag, the expiry
//! pass) and by the lifecycle re-evaluation, which also repairs what a
//! crash between a write and this step left. Each entry is updated
//! through the index transaction, conditional on being unchanged, so
//! running it twice, or concurrently, converges.

use super::head::ObjectHead;
use super::store::Bucket;
use crate::index::entry::IndexEntry;
use crate::index::key::SortKey;
use crate::s3::lifecycle::ObjectFacts;
use crate::s3::{S3Error, S3ErrorCode};
use crate::segment::SegmentStore;

fn internal(what: &str, e: impl std::fmt::Display) -> S3Error {
    S3Error::new(S3ErrorCode::InternalError, format!("{what}: {e}"))
}

/// The smaller of two expiry seconds, 0 meaning none.
fn earliest(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}

/// Whether changes to a versioned key need [`settle`] in `b`: its rules
/// expire noncurrent versions or lone delete markers.
pub fn needed(b: &Bucket) -> bool {
    b.lifecycle().is_some_and(|lc| lc.has_version_rules())
}

/// Gives every noncurrent version of `key` (and a lone delete marker)
/// the expiry the rules say; how many entries changed.
pub async fn settle(segments: &SegmentStore, b: &Bucket, key: &[u8]) -> Result<u64, S3Error> {
    let head = b
        .index
        .get_raw(&SortKey::Head { key: key.to_vec() })
        .map_err(|e| internal("index lookup", e))?;
    let Some(head) = head.filter(|h| h.versioned && !h.placeholder) else {
        return Ok(0);
    };
    let mut versions = b
        .index
        .versions_raw(key)
        .map_err(|e| internal("index lookup", e))?;
    // In the order they were written, newest first (what currency
    // follows; the null version's id says nothing of its age).
    versions.sort_by_key(|v| std::cmp::Reverse((v.mtime_nanos, v.version_id)));
    let lc = b.lifecycle();
    let now = crate::clock::expiry_now_secs();
    let mut changed = 0;
    let mut newer_noncurrent = 0u32;
    let mut newer_written: Option<u64> = None;
    let lone = versions.len() == 1;
    for v in &versions {
        let written_after = newer_written.replace(v.mtime_nanos);
        let want_rule = if v.version_id == head.version_id {
            // The current version: only a lone delete marker changes here
            // (a current object's own expiry is set when it is written).
            match &lc {
                Some(lc) if lone && v.delete_marker && lc.expires_lone_markers(key) => {
                    if v.expiry_slot != 0 {
                        continue;
                    }
                    now
                }
                _ if v.delete_marker && v.expiry_slot != 0 => 0,
                _ => continue,
            }
        } else {
            // Noncurrent since the next newer version was written.
            let since = written_after.unwrap_or(v.mtime_nanos);
            let nth = newer_noncurrent;
            newer_noncurrent = newer_noncurrent.saturating_add(1);
            match &lc {
                Some(lc) => {
                    let tags = if lc.needs_tags() && !v.delete_marker {
                        let head = read_head(segments, v).await?;
                        crate::s3::tagging::tags_in(&head.meta)
                    } else {
                        Vec::new()
                    };
                    let facts = ObjectFacts {
                        key,
                        size: v.size,
                        tags: &tags,
                        time_secs: since / 1_000_000_000,
                    };
                    lc.noncurrent_expiry(&facts, nth).unwrap_or(0)
                }
                None => 0,
            }
        };
        // A locked version is not removed before its lock lets it go.
        let want_rule = v.lock.defer_expiry(want_rule);
        if v.expiry_slot == want_rule && !v.expires_to_marker {
            continue;
        }
        // Its own expiry (X-Delete-At) stays whatever the rules say.
        let own = if v.delete_marker {
            0
        } else {
            u64::from(read_head(segments, v).await?.expiry_secs)
        };
        let want = v.lock.defer_expiry(earliest(own, want_rule));
        if v.expiry_slot == want && !v.expires_to_marker {
            continue;
        }
        if update(b, key, v, want).await? {
            changed += 1;
        }
    }
    Ok(changed)
}

async fn read_head(segments: &SegmentStore, v: &IndexEntry) -> Result<ObjectHead, S3Error> {
    let rec = segments
        .read(v.head)
        .await
        .map_err(|e| internal("reading an object head", e))?;
    ObjectHead::decode(&rec.payload).map_err(|e| internal("object head", e))
}

/// Gives version `v` of `key` the expiry `want` (and no "expires to a
/// marker") in place, if its entry is still `v`.
async fn update(b: &Bucket, key: &[u8], v: &IndexEntry, want: u64) -> Result<bool, S3Error> {
    // Without the bucket's write gate: callers may hold it (a write
    // settles its key before it returns); this only changes an expiry.
    let txn = b
        .index
        .prepare(key)
        .await
        .map_err(|e| internal("preparing the index", e))?;
    let next = IndexEntry {
        expiry_slot: want,
        expires_to_marker: false,
        current: false,
        versioned: false,
        pending: Vec::new(),
        ..v.clone()
    };
    let target = SortKey::Version {
        key: key.to_vec(),
        version: v.version_id,
    };
    let was = v.clone();
    b.index
        .complete_if_target(txn, target, Some(next), |e| {
            e.is_some_and(|e| {
                e.head == was.head
                    && e.expiry_slot == was.expiry_slot
                    && e.expires_to_marker == was.expires_to_marker
            })
        })
        .await
        .map_err(|e| internal("completing the index", e))
}

#[cfg(test)]
mod tests {
    use super::earliest;

    #[test]
    fn earliest_ignores_none() {
        assert_eq!(earliest(0, 5), 5);
        assert_eq!(earliest(7, 0), 7);
        assert_eq!(earliest(7, 5), 5);
        assert_eq!(earliest(0, 0), 0);
    }
}
