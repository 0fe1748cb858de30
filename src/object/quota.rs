//! Quotas of buckets and of their owners, enforced whatever the request's
//! framing: the room left bounds a body while it streams in (a chunked
//! body with no length cannot run past it), and the stored size is checked
//! again just before the commit. Bytes in the parts of open multipart
//! uploads count as used, so parts cannot be parked outside a quota.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::store::ObjectStore;
use crate::index::key::SortKey;
use crate::meta::mdlog::Quota;
use crate::meta::ops::quota_room;
use crate::object::versioning::Versioning;
use crate::s3::{S3Error, S3ErrorCode};

/// Open multipart uploads of one bucket and the bytes of their parts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadUsage {
    pub uploads: u64,
    pub bytes: u64,
}

/// Per bucket: open uploads and their part bytes; shared by the object
/// store (quotas) and `Uploads` (which keeps it).
pub type UploadUsageMap = Arc<Mutex<HashMap<String, UploadUsage>>>;

/// Counts an upload started (`uploads` +1) or ended (-1) and part bytes
/// stored or released in `bucket`.
pub fn note_upload_usage(map: &UploadUsageMap, bucket: &str, uploads: i64, bytes: i64) {
    let mut all = map.lock();
    let u = all.entry(bucket.to_string()).or_default();
    u.uploads = u.uploads.saturating_add_signed(uploads);
    u.bytes = u.bytes.saturating_add_signed(bytes);
    if *u == UploadUsage::default() {
        all.remove(bucket);
    }
}

/// Whose quota a write would break.
enum Over {
    Bucket,
    User(String),
}

fn exceeded(bucket: &str, over: Over) -> S3Error {
    let whose = match over {
        Over::Bucket => format!("bucket {bucket}"),
        Over::User(uid) => format!("user {uid}"),
    };
    S3Error::new(
        S3ErrorCode::QuotaExceeded,
        format!("This write would exceed the quota of {whose}."),
    )
}

impl ObjectStore {
    /// The per-bucket upload usage, for `Uploads` to keep.
    pub fn upload_usage_map(&self) -> UploadUsageMap {
        Arc::clone(&self.upload_usage)
    }

    /// Open uploads and their part bytes in `bucket`.
    pub fn upload_usage(&self, bucket: &str) -> UploadUsage {
        self.upload_usage
            .lock()
            .get(bucket)
            .copied()
            .unwrap_or_default()
    }

    /// Open uploads and their part bytes over every bucket `owner` owns.
    pub fn upload_usage_of(&self, owner: &str) -> UploadUsage {
        let buckets = self.list_buckets(Some(owner));
        let all = self.upload_usage.lock();
        buckets
            .iter()
            .filter_map(|(name, _)| all.get(name))
            .fold(UploadUsage::default(), |a, u| UploadUsage {
                uploads: a.uploads.saturating_add(u.uploads),
                bytes: a.bytes.saturating_add(u.bytes),
            })
    }

    /// The most bytes one object written to `bucket`/`key` may have under
    /// the bucket's and its owner's quotas (`None`: no quota applies).
    /// `QuotaExceeded` if not even an empty one fits.
    pub fn quota_room(&self, bucket: &str, key: &[u8]) -> Result<Option<u64>, S3Error> {
        let r = self.rooms(bucket, key)?;
        Ok(match (r.bucket, r.user) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Refuses (`QuotaExceeded`) a write of one object of `size` bytes
    /// into `bucket` at `key` that would take the bucket or its owner past
    /// a quota; an overwritten object's size counts as freed. Made before
    /// a body is read (with its declared length) and again before the
    /// commit (with what was stored): concurrent writers can overshoot by
    /// what they commit at the same instant, no more.
    pub fn check_quota(&self, bucket: &str, key: &[u8], size: u64) -> Result<(), S3Error> {
        let r = self.rooms(bucket, key)?;
        if r.bucket.is_some_and(|room| size > room) {
            return Err(exceeded(bucket, Over::Bucket));
        }
        if r.user.is_some_and(|room| size > room) {
            return Err(exceeded(bucket, Over::User(r.owner)));
        }
        Ok(())
    }

    /// The room left under each quota for one object at `key`.
    fn rooms(&self, bucket: &str, key: &[u8]) -> Result<Rooms, S3Error> {
        let b = self.bucket(bucket)?;
        let owner = b.meta.owner.clone();
        let bucket_quota = self.bucket_quota(bucket);
        let user_quota = self
            .meta()
            .read(|t| t.users.get(&owner).map(|u| u.quota))
            .unwrap_or_default();
        let unlimited = Quota::default();
        if bucket_quota == unlimited && user_quota == unlimited {
            return Ok(Rooms {
                bucket: None,
                user: None,
                owner,
            });
        }
        let replaced = b
            .index
            .get(&SortKey::Head { key: key.to_vec() })
            .map_err(|e| {
                S3Error::new(
                    S3ErrorCode::InternalError,
                    format!("index lookup for the quota: {e}"),
                )
            })?
            .filter(|h| !h.placeholder && !h.delete_marker)
            .map(|h| h.size)
            // A new version adds an object even where the key had one.
            .filter(|_| b.versioning() != Versioning::Enabled);
        let with_uploads =
            |(objects, bytes): (u64, u64), u: UploadUsage| (objects, bytes.saturating_add(u.bytes));
        let room = |quota: &Quota, used, over: Over| {
            if *quota == unlimited {
                return Ok(None);
            }
            quota_room(quota, used, replaced)
                .map(Some)
                .ok_or_else(|| exceeded(bucket, over))
        };
        let bucket_used = with_uploads(b.index.stats(), self.upload_usage(bucket));
        let user_used = with_uploads(self.usage_of(&owner), self.upload_usage_of(&owner));
        Ok(Rooms {
            bucket: room(&bucket_quota, bucket_used, Over::Bucket)?,
            user: room(&user_quota, user_used, Over::User(owner.clone()))?,
            owner,
        })
    }
}

/// Bytes one more object may have under each quota (`None`: no quota).
struct Rooms {
    bucket: Option<u64>,
    user: Option<u64>,
    owner: String,
}
