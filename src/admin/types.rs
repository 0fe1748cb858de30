//! The admin API's JSON bodies (`/admin/...`), shared by the server and
//! `shale admin`. Requests refuse unknown fields, so a typo is an error
//! rather than a silently ignored setting.

use serde::{Deserialize, Serialize};

/// POST /admin/users
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub uid: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email: String,
    /// A system user reaches every bucket and may use the admin API.
    #[serde(default)]
    pub system: bool,
    /// Objects the user's buckets may hold together; absent or -1: no limit.
    #[serde(default)]
    pub max_objects: Option<i64>,
    /// Bytes the user's buckets may hold together; absent or -1: no limit.
    #[serde(default)]
    pub max_bytes: Option<i64>,
    /// Make an access key for the new user (default true).
    #[serde(default)]
    pub generate_key: Option<bool>,
}

/// POST /admin/users/{uid}: the fields to change.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<bool>,
    /// -1 removes the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_objects: Option<i64>,
    /// -1 removes the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<i64>,
}

/// POST /admin/users/{uid}/keys: an operator-chosen key, or (empty) a
/// random one.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
}

/// POST /admin/buckets/{name}/quota
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetQuota {
    /// -1 or absent: no limit.
    #[serde(default)]
    pub max_objects: Option<i64>,
    /// -1 or absent: no limit.
    #[serde(default)]
    pub max_bytes: Option<i64>,
}

/// An access key; the secret only in the answer that created it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyInfo {
    pub access_key: String,
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserInfo {
    pub uid: String,
    pub display_name: String,
    pub email: String,
    pub suspended: bool,
    pub system: bool,
    /// None: no limit.
    pub max_objects: Option<u64>,
    pub max_bytes: Option<u64>,
    pub keys: Vec<String>,
    pub buckets: u64,
    pub objects: u64,
    pub bytes: u64,
}

/// The answer to user create: the user and the key made for it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CreatedUser {
    pub user: UserInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyInfo>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub owner: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// "Unversioned", "Enabled" or "Suspended".
    pub versioning: String,
    pub shards: u32,
    pub objects: u64,
    pub bytes: u64,
    pub max_objects: Option<u64>,
    pub max_bytes: Option<u64>,
    /// The lifecycle rules and how their re-evaluation of the bucket's
    /// objects stands; absent without rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<LifecycleStatus>,
    /// Object Lock, if enabled on the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLockStatus>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectLockStatus {
    /// The default retention ("GOVERNANCE 30 days", "COMPLIANCE 1 years")
    /// or "none".
    pub default_retention: String,
    /// Versions whose retention or legal hold holds them now (counted
    /// for one bucket's stats only; absent in bucket lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_versions: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LifecycleStatus {
    pub rules: u64,
    /// "running", "done", "superseded", "failed: ..." (or "idle").
    pub evaluation: String,
    pub examined: u64,
    pub changed: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeInfo {
    pub version: String,
    pub zone_id: String,
    pub zone_name: String,
    pub data_dir: String,
    /// Bytes of files under the data dir.
    pub data_dir_bytes: u64,
    /// The filesystem that holds the data dir.
    pub disk_total_bytes: u64,
    pub disk_free_bytes: u64,
    pub uptime_secs: u64,
    pub users: u64,
    pub buckets: u64,
    pub objects: u64,
    pub bytes: u64,
}

/// What POST /admin/reload changed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reloaded {
    pub changed: Vec<String>,
}

/// What POST /admin/expiry/run did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExpiryRun {
    pub expired: u64,
    pub bytes: u64,
    pub skipped: u64,
    /// Incomplete multipart uploads aborted by AbortIncompleteMultipartUpload.
    pub uploads_aborted: u64,
}

/// POST /admin/test/clock
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestClock {
    /// Move the running clock by this much.
    #[serde(default)]
    pub advance_secs: Option<i64>,
    /// Stop the clock at this second (0: let it run again).
    #[serde(default)]
    pub now_secs: Option<u64>,
}

/// Every error: `{"error": {"code": ..., "message": ...}}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// A quota field of a request: absent or negative means no limit.
pub fn quota_value(v: Option<i64>) -> u64 {
    match v {
        Some(n) if n >= 0 => n as u64,
        _ => crate::meta::mdlog::NO_QUOTA,
    }
}

/// A stored quota as the API shows it: None for no limit.
pub fn quota_shown(v: u64) -> Option<u64> {
    (v != crate::meta::mdlog::NO_QUOTA).then_some(v)
}

/// POST /admin/jobs: a job to schedule. `at` (Unix seconds) or
/// `after_secs` (from now) say when; neither: now.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleJob {
    /// user-purge, bucket-purge, orphan-search, scrub, reshard, lifecycle.
    #[serde(rename = "type")]
    pub kind: String,
    /// The uid or bucket the job is about (none for orphan-search, scrub).
    #[serde(default)]
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_secs: Option<u64>,
    /// orphan-search: also reclaim what it finds.
    #[serde(default)]
    pub reclaim: bool,
}

/// One state a job was in.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobStateChange {
    pub state: String,
    pub at_nanos: u64,
    /// The process incarnation and worker that made the change (hex).
    pub owner: String,
}

/// GET /admin/jobs/{id}, and each of GET /admin/jobs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct JobInfo {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub target: String,
    pub state: String,
    /// When it runs (ran), Unix seconds.
    pub due: u64,
    pub requested_by: String,
    pub reclaim: bool,
    /// Why it failed, or what it did.
    pub message: String,
    pub created_nanos: u64,
    pub started_nanos: u64,
    pub finished_nanos: u64,
    /// Items (buckets, objects, records) done of total.
    pub done: u64,
    pub total: u64,
    pub bytes_reclaimed: u64,
    /// Seconds left at the rate so far, while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_secs: Option<u64>,
    /// Where it would resume.
    pub checkpoint: String,
    pub history: Vec<JobStateChange>,
}
