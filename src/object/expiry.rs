//! The expiry pass: turns entries whose expiry has come into real
//! deletions, through the normal index transaction (prepare, a tombstone
//! head record, a completion the bucket index log records), so replicas
//! and the log trimmer see them like any DELETE. Readers already treat the
//! entries as gone (the index hides expired entries), so the pass only
//! catches the stored state up; it may run late, be throttled, or stop at
//! any point — it starts over from the shards' expiry indexes, which
//! always say what is still due.
//!
//! What an expired entry becomes: an unversioned key is deleted; a
//! version (X-Delete-At, a noncurrent version, a lone delete marker) is
//! removed for good, and the most recently written remaining version
//! becomes current; a current version that expires to a marker (a
//! lifecycle Expiration in a bucket with versioning) gets the delete
//! marker on top that readers already saw, and becomes a noncurrent
//! version with that expiry.

use super::head::ObjectHead;
use super::multipart::Uploads;
use super::store::{head_entry, Bucket, ObjectStore};
use super::versioning::Versioning;
use crate::index::entry::IndexEntry;
use crate::index::expiry::{is_expired, marker_for};
use crate::index::key::SortKey;
use crate::s3::{S3Error, S3ErrorCode};

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Entries deleted.
    pub expired: u64,
    /// Bytes of the objects deleted.
    pub bytes: u64,
    /// Due entries left alone: changed since they were found (a newer
    /// write) or mirrors of a version handled on its own.
    pub skipped: u64,
    /// Incomplete multipart uploads aborted by a lifecycle rule.
    pub uploads_aborted: u64,
}

/// Deletions the pass has in flight at once.
const PASS_CONCURRENCY: usize = 64;
/// Due entries taken from a bucket's expiry indexes at a time.
const ROUND: usize = 1024;

fn internal(what: &str, e: impl std::fmt::Display) -> S3Error {
    S3Error::new(S3ErrorCode::InternalError, format!("{what}: {e}"))
}

/// Deletes up to `limit` entries due at `now_secs`, over every bucket.
pub async fn expire_due(
    store: &ObjectStore,
    uploads: &Uploads,
    now_secs: u64,
    limit: usize,
    max_per_sec: u64,
) -> Result<ExpiryReport, S3Error> {
    let mut report = ExpiryReport::default();
    let started = std::time::Instant::now();
    for b in store.all_buckets() {
        // AbortIncompleteMultipartUpload.
        if let Some(lc) = b.lifecycle() {
            for (key, id, initiated) in uploads.uploads_of(&b.name) {
                let due = lc.abort_upload_at(&key, initiated / 1_000_000_000);
                if due.is_some_and(|t| t <= now_secs) && uploads.abort(&b.name, &key, &id).is_ok() {
                    report.uploads_aborted += 1;
                }
            }
        }
        loop {
            let left = limit.saturating_sub((report.expired + report.skipped) as usize);
            if left == 0 {
                break;
            }
            // A round at a time: the shards' expiry indexes are locked only
            // while a round's keys are copied out.
            let due = b.index.due(now_secs, left.min(ROUND));
            if due.is_empty() {
                break;
            }
            let before = report.expired;
            // Many at once, so their records and log entries share group
            // commits (one at a time, a deletion is two fsyncs).
            for group in due.chunks(PASS_CONCURRENCY) {
                let results = futures_util::future::join_all(
                    group
                        .iter()
                        .map(|(_, _, sk)| expire_one(store, &b, sk, now_secs)),
                )
                .await;
                for r in results {
                    match r? {
                        Some(bytes) => {
                            report.expired += 1;
                            report.bytes += bytes;
                        }
                        None => report.skipped += 1,
                    }
                }
                // The throttle: no faster than `max_per_sec` on average.
                if max_per_sec > 0 {
                    let due_at = report.expired as f64 / max_per_sec as f64;
                    let ahead = due_at - started.elapsed().as_secs_f64();
                    if ahead > 0.0 {
                        tokio::time::sleep(std::time::Duration::from_secs_f64(ahead)).await;
                    }
                }
            }
            if report.expired == before {
                // Only entries that changed or mirror a version: the rest
                // of the bucket's due entries wait for the next pass.
                break;
            }
        }
    }
    Ok(report)
}

/// Carries out one due entry if it is still the one that expired; the
/// bytes it deleted (a delete marker put on top frees none), or `None`
/// if there was nothing to do.
async fn expire_one(
    store: &ObjectStore,
    b: &Bucket,
    sk: &SortKey,
    now_secs: u64,
) -> Result<Option<u64>, S3Error> {
    let raw = b
        .index
        .get_raw(sk)
        .map_err(|e| internal("index lookup", e))?;
    let Some(found) = raw.filter(|e| is_expired(e, now_secs) && !e.placeholder) else {
        return Ok(None);
    };
    let key = sk.object_key().to_vec();
    let versioning = b.versioning() != Versioning::Never;
    match sk {
        // A versioned head mirrors a version, which is expired on its own.
        SortKey::Head { .. } if found.versioned => Ok(None),
        // An object written before versioning: it becomes the null
        // version under the marker.
        SortKey::Head { .. } if found.expires_to_marker && versioning => {
            let done = put_marker(store, b, &key, &found).await?;
            b.settle_versions(store.segments(), &key).await;
            Ok(done.then_some(0))
        }
        SortKey::Head { .. } => remove(store, b, sk, &found).await,
        SortKey::Version { version, .. } if found.expires_to_marker => {
            let head = b
                .index
                .get_raw(&SortKey::Head { key: key.clone() })
                .map_err(|e| internal("index lookup", e))?;
            let current = head.filter(|h| {
                h.versioned
                    && h.version_id == *version
                    && h.expiry_slot == found.expiry_slot
                    && h.expires_to_marker
            });
            let done = match current {
                Some(h) => put_marker(store, b, &key, &h).await?,
                None => false,
            };
            // The version is noncurrent now (whether the marker was put
            // here or a newer write came first): it takes the expiry of a
            // noncurrent version.
            super::noncurrent::settle(store.segments(), b, &key).await?;
            Ok(done.then_some(0))
        }
        SortKey::Version { .. } => {
            // The rules as they stand say so still (a newer noncurrent
            // version removed since may have made it one to keep)?
            if super::noncurrent::needed(b) {
                super::noncurrent::settle(store.segments(), b, &key).await?;
                let again = b
                    .index
                    .get_raw(sk)
                    .map_err(|e| internal("index lookup", e))?;
                if again.as_ref().is_none_or(|e| !is_expired(e, now_secs)) {
                    return Ok(None);
                }
            }
            let done = remove(store, b, sk, &found).await?;
            // A delete marker left alone may expire now.
            b.settle_versions(store.segments(), &key).await;
            Ok(done)
        }
    }
}

/// Puts the delete marker readers already see (`marker_for`) on top of
/// `current`, the current version of `key` whose expiry turned it
/// noncurrent, if it is still current and unchanged.
async fn put_marker(
    store: &ObjectStore,
    b: &Bucket,
    key: &[u8],
    current: &IndexEntry,
) -> Result<bool, S3Error> {
    let marker = marker_for(key, current);
    let _gate = b.gate_read().await;
    let txn = b
        .index
        .prepare(key)
        .await
        .map_err(|e| internal("preparing the index", e))?;
    let head = ObjectHead {
        tag: txn.tag(),
        mtime_nanos: marker.mtime_nanos,
        bucket: b.name.clone(),
        key: key.to_vec(),
        delete_marker: true,
        versioned: true,
        version_id: marker.version_id,
        ..ObjectHead::default()
    };
    let (loc, txn) = store.write_head_or_cancel(&b.index, txn, &head).await?;
    let entry = head_entry(&head, loc);
    let target = SortKey::Version {
        key: key.to_vec(),
        version: marker.version_id,
    };
    let was = current.clone();
    b.index
        .complete_if(txn, target, Some(entry), |h| {
            h.is_some_and(|h| {
                !h.placeholder
                    && h.versioned == was.versioned
                    && h.version_id == was.version_id
                    && h.head == was.head
                    && h.expiry_slot == was.expiry_slot
            })
        })
        .await
        .map_err(|e| internal("completing the index", e))
}

/// Deletes a due entry for good if it is still `found`: an unversioned
/// key's object, or a version.
async fn remove(
    store: &ObjectStore,
    b: &Bucket,
    sk: &SortKey,
    found: &IndexEntry,
) -> Result<Option<u64>, S3Error> {
    let (versioned_target, version_id) = match sk {
        SortKey::Head { .. } => (false, [0u8; 16]),
        SortKey::Version { version, .. } => (true, *version),
    };
    let key = sk.object_key().to_vec();
    // Never a locked version: its expiry is deferred past its lock
    // (`ObjectLock::defer_expiry`); this only guards that rule.
    if let Some(why) = found.lock.refusal(crate::clock::expiry_now_secs(), false) {
        crate::metrics::LOCK_REFUSALS.record(why.as_str());
        return Ok(None);
    }
    let _gate = b.gate_read().await;
    let txn = b
        .index
        .prepare(&key)
        .await
        .map_err(|e| internal("preparing the index", e))?;
    let now = crate::clock::now_nanos();
    let head = ObjectHead {
        tag: txn.tag(),
        mtime_nanos: now,
        bucket: b.name.clone(),
        key: key.clone(),
        delete: true,
        versioned: versioned_target,
        version_id,
        ..ObjectHead::default()
    };
    let (_, txn) = store.write_head_or_cancel(&b.index, txn, &head).await?;
    // An unversioned key's delete is logged with its time (a placeholder),
    // as DELETE does; a version is removed outright.
    let entry = (!versioned_target).then(|| IndexEntry {
        placeholder: true,
        mtime_nanos: now,
        ..IndexEntry::default()
    });
    let same = |e: Option<&IndexEntry>| {
        e.is_some_and(|e| e.head == found.head && e.expiry_slot == found.expiry_slot)
    };
    let done = b
        .index
        .complete_if_target(txn, sk.clone(), entry, same)
        .await
        .map_err(|e| internal("completing the index", e))?;
    Ok(done.then_some(found.size))
}
