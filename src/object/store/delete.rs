//! Object deletes: a version removed for good, a delete marker, or the
//! unversioned key removed, each through the index transaction.

use super::{head_entry, internal, Bucket, DeleteOutcome, ObjectStore};
use crate::index::entry::IndexEntry;
use crate::index::key::SortKey;
use crate::object::head::ObjectHead;
use crate::object::versioning::{new_version_id, VersionId, Versioning, NULL_VERSION};
use crate::s3::conditional::{CurrentObject, DeleteCondition};
use crate::s3::S3Error;

/// What a delete condition compares of a logical head entry: `None` when
/// it shows no object (a placeholder or a delete marker).
fn current_object(head: Option<&IndexEntry>) -> Option<CurrentObject> {
    head.filter(|e| !e.placeholder && !e.delete_marker)
        .map(|e| CurrentObject {
            etag: super::etag_string(&e.etag, e.etag_parts),
            mtime_secs: e.mtime_nanos / 1_000_000_000,
            size: e.size,
        })
}

/// Step 3 of a delete, under `condition` if there is one (checked against
/// the key's current object as the completion is applied).
async fn complete_delete(
    b: &Bucket,
    txn: crate::index::bucket::Txn,
    target: SortKey,
    entry: Option<IndexEntry>,
    condition: Option<&DeleteCondition>,
) -> Result<(), S3Error> {
    super::complete_under(
        &b.index,
        txn,
        target,
        entry,
        condition.map(|c| move |head: Option<&IndexEntry>| c.check(current_object(head).as_ref())),
    )
    .await
}

impl ObjectStore {
    /// Deletes `key` (a no-op success if it does not exist, as in S3), or
    /// with `version` that version of it. Without a version id, a bucket
    /// with versioning enabled gets a delete marker as the new current
    /// version, a suspended one a null delete marker; with one, the version
    /// (or delete marker) is removed for good and the newest remaining
    /// version becomes current.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &[u8],
        version: Option<VersionId>,
    ) -> Result<DeleteOutcome, S3Error> {
        self.delete_object_if(bucket, key, version, None).await
    }

    /// [`delete_object`](Self::delete_object) only if `condition` holds of
    /// the key's current object when the delete is applied (checked under
    /// the shard's writer lock, like a conditional PUT); else nothing is
    /// deleted and the condition's error is returned.
    pub async fn delete_object_if(
        &self,
        bucket: &str,
        key: &[u8],
        version: Option<VersionId>,
        condition: Option<&DeleteCondition>,
    ) -> Result<DeleteOutcome, S3Error> {
        self.delete_object_with(bucket, key, version, condition, false)
            .await
    }

    /// [`delete_object_if`](Self::delete_object_if); a version under
    /// Object Lock is refused (AccessDenied) unless its lock lets it go at
    /// this time (`bypass_governance`: the caller asked to bypass a
    /// GOVERNANCE retention and may). Checked before anything is written
    /// and again, from the version's index entry, as the delete is
    /// applied under the shard's writer lock.
    pub async fn delete_object_with(
        &self,
        bucket: &str,
        key: &[u8],
        version: Option<VersionId>,
        condition: Option<&DeleteCondition>,
        bypass_governance: bool,
    ) -> Result<DeleteOutcome, S3Error> {
        crate::s3::names::validate_object_key(key)?;
        let b = self.bucket(bucket)?;
        if let Some(c) = condition {
            // Early; the check that counts is made with the completion.
            let current = b
                .index
                .current(key)
                .map_err(|e| internal("reading the index", e))?;
            c.check(current_object(current.as_ref()).as_ref())?;
        }
        let state = b.versioning();
        // What the response says of a version delete: was it a marker.
        let target_entry = match version {
            Some(v) => self.version_entry(&b, key, v)?,
            None => None,
        };
        let removed_marker = target_entry.as_ref().is_some_and(|e| e.delete_marker);
        let lock_check = |e: Option<&IndexEntry>| -> Result<(), S3Error> {
            let now = crate::clock::expiry_now_secs();
            match e.and_then(|e| e.lock.refusal(now, bypass_governance)) {
                Some(why) => {
                    crate::metrics::LOCK_REFUSALS.record(why.as_str());
                    Err(why.error())
                }
                None => Ok(()),
            }
        };
        lock_check(target_entry.as_ref())?;
        let _gate = b.gate.read().await;
        let txn = b
            .index
            .prepare(key)
            .await
            .map_err(|e| crate::object::store::index_failed("preparing the index", e))?;
        let now = crate::clock::now_nanos();
        let mut head = ObjectHead {
            tag: txn.tag(),
            mtime_nanos: now,
            bucket: bucket.to_string(),
            key: key.to_vec(),
            ..ObjectHead::default()
        };
        // (index target, entry, outcome)
        let plan = match (version, state) {
            (Some(v), _) => {
                // A tombstone of the version.
                head.delete = true;
                head.versioned = true;
                head.version_id = v;
                let target = SortKey::Version {
                    key: key.to_vec(),
                    version: v,
                };
                Ok((
                    target,
                    None,
                    DeleteOutcome {
                        version_id: Some(v),
                        delete_marker: removed_marker,
                    },
                ))
            }
            (None, Versioning::Never) => {
                head.delete = true;
                // Logged with its time (a placeholder entry), so a dead
                // older write found after a crash cannot bring it back.
                let deleted = IndexEntry {
                    placeholder: true,
                    mtime_nanos: now,
                    ..IndexEntry::default()
                };
                Ok((
                    SortKey::Head { key: key.to_vec() },
                    Some(deleted),
                    DeleteOutcome::default(),
                ))
            }
            (None, Versioning::Enabled | Versioning::Suspended) => {
                let v = if state == Versioning::Enabled {
                    new_version_id(now)
                } else {
                    Ok(NULL_VERSION)
                };
                v.map(|v| {
                    head.delete_marker = true;
                    head.versioned = true;
                    head.version_id = v;
                    let target = SortKey::Version {
                        key: key.to_vec(),
                        version: v,
                    };
                    (
                        target,
                        None,
                        DeleteOutcome {
                            version_id: Some(v),
                            delete_marker: true,
                        },
                    )
                })
            }
        };
        let (target, entry, outcome) = match plan {
            Ok(p) => p,
            Err(e) => {
                let _ = b.index.cancel(txn).await;
                return Err(e);
            }
        };
        let (loc, txn) = self.write_head_or_cancel(&b.index, txn, &head).await?;
        // A delete marker is a version written; its entry names its head.
        let entry = if head.delete_marker {
            Some(head_entry(&head, loc))
        } else {
            entry
        };
        match (version, condition) {
            // A version delete: its lock checked from its entry as the
            // delete is applied.
            (Some(_), None) => {
                let refused = std::cell::RefCell::new(None);
                let done = b
                    .index
                    .complete_if_target(txn, target, entry, |e| match lock_check(e) {
                        Ok(()) => true,
                        Err(err) => {
                            *refused.borrow_mut() = Some(err);
                            false
                        }
                    })
                    .await
                    .map_err(|e| internal("completing the index", e))?;
                if !done {
                    return Err(refused
                        .into_inner()
                        .unwrap_or_else(|| internal("completing the index", "refused")));
                }
            }
            _ => complete_delete(&b, txn, target, entry, condition).await?,
        }
        b.settle_versions(&self.segments, key).await;
        Ok(outcome)
    }

    /// The index entry of version `v` of `key`: a version entry, or for
    /// `null` the unversioned object a key without versions holds.
    pub(super) fn version_entry(
        &self,
        b: &Bucket,
        key: &[u8],
        v: VersionId,
    ) -> Result<Option<IndexEntry>, S3Error> {
        let lookup = |sk: SortKey| b.index.get(&sk).map_err(|e| internal("index lookup", e));
        if v == NULL_VERSION {
            // As stored: an unversioned object under the delete marker its
            // expiry puts on top is still the null version.
            let raw = b
                .index
                .get_raw(&SortKey::Head { key: key.to_vec() })
                .map_err(|e| internal("index lookup", e))?;
            if let Some(h) = raw.filter(|h| !h.versioned) {
                let now = crate::clock::expiry_now_secs();
                let gone = crate::index::expiry::is_gone(&h, now);
                return Ok((!h.placeholder && !gone).then_some(h));
            }
        }
        lookup(SortKey::Version {
            key: key.to_vec(),
            version: v,
        })
    }
}
