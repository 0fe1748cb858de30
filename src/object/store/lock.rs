//! A bucket's Object Lock configuration (kept in the metadata log as
//! config kind 7) and the lock a new version gets from it.

use super::ObjectStore;
use crate::meta::mdlog::CONFIG_OBJECT_LOCK;
use crate::object::versioning::Versioning;
use crate::s3::object_lock::{LockConfig, ObjectLock};
use crate::s3::{xml, S3Error, S3ErrorCode};

impl ObjectStore {
    /// The bucket's Object Lock configuration; `None`: Object Lock is not
    /// enabled on it.
    pub fn lock_config(&self, bucket: &str) -> Result<Option<LockConfig>, S3Error> {
        match self.bucket_config(bucket, CONFIG_OBJECT_LOCK)? {
            Some(doc) if !doc.is_empty() => xml::parse_object_lock_config(&doc).map(Some),
            _ => Ok(None),
        }
    }

    /// Enables Object Lock on `bucket` (for good) with `config`'s default
    /// retention. Versioning must be enabled (and can no longer be
    /// suspended: `PutBucketVersioning` refuses).
    pub async fn set_lock_config(&self, bucket: &str, config: &LockConfig) -> Result<(), S3Error> {
        let b = self.bucket(bucket)?;
        if b.versioning() != Versioning::Enabled {
            return Err(S3Error::new(
                S3ErrorCode::InvalidBucketState,
                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
            ));
        }
        let doc = xml::object_lock_config(config).into_bytes();
        self.set_bucket_config(bucket, CONFIG_OBJECT_LOCK, doc)
            .await
    }

    /// The lock a new version of `bucket` gets: `requested` (from its
    /// headers; refused where Object Lock is not enabled), with the
    /// bucket's default retention where it names none.
    pub fn new_version_lock(
        &self,
        bucket: &str,
        requested: Option<ObjectLock>,
        now_secs: u64,
    ) -> Result<ObjectLock, S3Error> {
        let config = self.lock_config(bucket)?;
        match (requested, config) {
            (Some(_), None) => Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                "Bucket is missing Object Lock Configuration",
            )),
            // A legal hold alone still gets the default retention.
            (Some(l), Some(c)) => Ok(ObjectLock {
                retention: l.retention.or_else(|| c.default_retention(now_secs)),
                legal_hold: l.legal_hold,
            }),
            (None, Some(c)) => Ok(ObjectLock {
                retention: c.default_retention(now_secs),
                legal_hold: false,
            }),
            (None, None) => Ok(ObjectLock::default()),
        }
    }
}

/// What removing a bucket's unlocked versions did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnlockedPurge {
    /// Versions (and delete markers) removed, and their bytes.
    pub removed: u64,
    pub bytes: u64,
    /// Versions kept because their lock does not let them go yet.
    pub kept_locked: u64,
}

/// Logical heads read per index page.
const PAGE: usize = 256;

/// A page of version entries and where the next page starts.
type VersionPage = (
    Vec<(Vec<u8>, crate::index::entry::IndexEntry)>,
    Option<(u32, Vec<u8>)>,
);

impl ObjectStore {
    /// The stored version entries of a page of `bucket`'s keys (an
    /// unversioned object counts as its null version), after `after`.
    fn version_page(
        &self,
        bucket: &str,
        after: Option<(u32, Vec<u8>)>,
    ) -> Result<VersionPage, S3Error> {
        let b = self.bucket(bucket)?;
        let page = b
            .index
            .scan_heads(b"", after, PAGE, true)
            .map_err(|e| super::internal("index scan", e))?;
        let mut out = Vec::new();
        for (key, head) in page.items {
            if head.placeholder {
                continue;
            }
            if head.versioned {
                let versions = b
                    .index
                    .versions_raw(&key)
                    .map_err(|e| super::internal("index lookup", e))?;
                out.extend(versions.into_iter().map(|v| (key.clone(), v)));
            } else {
                out.push((key, head));
            }
        }
        Ok((out, page.next))
    }

    /// Versions of `bucket` whose lock holds them now.
    pub fn locked_versions(&self, bucket: &str) -> Result<u64, S3Error> {
        if self.lock_config(bucket)?.is_none() {
            return Ok(0);
        }
        let now = crate::clock::expiry_now_secs();
        let (mut n, mut after) = (0u64, None);
        loop {
            let (versions, next) = self.version_page(bucket, after)?;
            n += versions
                .iter()
                .filter(|(_, v)| v.lock.refusal(now, false).is_some())
                .count() as u64;
            match next {
                Some(p) => after = Some(p),
                None => return Ok(n),
            }
        }
    }

    /// Removes every version of `bucket` its lock lets go (a purge of a
    /// bucket with Object Lock); keeps, and counts, the others.
    pub async fn purge_unlocked(&self, bucket: &str) -> Result<UnlockedPurge, S3Error> {
        let now = crate::clock::expiry_now_secs();
        let mut out = UnlockedPurge::default();
        let mut after = None;
        loop {
            let (versions, next) = self.version_page(bucket, after)?;
            for (key, v) in versions {
                if let Some(why) = v.lock.refusal(now, false) {
                    crate::metrics::LOCK_REFUSALS.record(why.as_str());
                    out.kept_locked += 1;
                    continue;
                }
                match self
                    .delete_object_with(bucket, &key, Some(v.version_id), None, false)
                    .await
                {
                    Ok(_) => {
                        out.removed += 1;
                        if !v.delete_marker {
                            out.bytes += v.size;
                        }
                    }
                    // Locked meanwhile (a legal hold set since): kept.
                    Err(e) if e.code == S3ErrorCode::AccessDenied => out.kept_locked += 1,
                    Err(e) => return Err(e),
                }
            }
            match next {
                Some(p) => after = Some(p),
                None => return Ok(out),
            }
        }
    }
}
