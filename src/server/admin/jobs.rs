//! The admin API's jobs (`/admin/jobs`) and the purges `DELETE
//! /admin/users/{uid}?purge-data` and `DELETE /admin/buckets/{name}?purge-data`
//! schedule: a purge takes the user or bucket out of reach at once (S3
//! requests get a clear error naming the job) and removes the data when
//! it is due; a cancel before then restores access, with nothing changed.

use http::StatusCode;

use super::ApiError;
use crate::admin::types::{JobInfo, JobStateChange, ScheduleJob};
use crate::jobs::record::{JobId, JobKind, JobState, FLAG_RECLAIM};
use crate::jobs::table::{self, Job, JobError};
use crate::jobs::worker::{schedule_now_nanos, SLOT_ADMIN};
use crate::node::Node;

const S: u64 = 1_000_000_000;

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        let (status, code) = match &e {
            JobError::NoSuchJob(_) => (StatusCode::NOT_FOUND, "NoSuchJob"),
            JobError::NotCancellable { .. } => (StatusCode::CONFLICT, "JobRunning"),
            JobError::Finished { .. } => (StatusCode::CONFLICT, "JobFinished"),
            JobError::BadTransition { .. } => (StatusCode::CONFLICT, "BadTransition"),
            JobError::AlreadyScheduled { .. } => (StatusCode::CONFLICT, "JobAlreadyScheduled"),
            JobError::NoTarget(_) => (StatusCode::BAD_REQUEST, "InvalidArgument"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "InvalidArgument", msg)
}

/// A job as the API shows it.
pub fn info(j: &Job) -> JobInfo {
    let eta_secs = (j.state() == JobState::Running && j.done > 0 && j.total > j.done).then(|| {
        let spent = crate::clock::now_nanos().saturating_sub(j.started_nanos) / S;
        spent.saturating_mul(j.total - j.done) / j.done
    });
    JobInfo {
        id: j.id.to_string(),
        kind: j.kind.map_or("?", JobKind::name).to_string(),
        target: j.target.clone(),
        state: j.state().name().to_string(),
        due: j.due_nanos / S,
        requested_by: j.requested_by.clone(),
        reclaim: j.flags & FLAG_RECLAIM != 0,
        message: j.message.clone(),
        created_nanos: j.created_nanos,
        started_nanos: j.started_nanos,
        finished_nanos: j.finished_nanos,
        done: j.done,
        total: j.total,
        bytes_reclaimed: j.bytes_reclaimed,
        eta_secs,
        checkpoint: String::from_utf8_lossy(&j.checkpoint).into_owned(),
        history: j
            .history
            .iter()
            .map(|(s, at, owner)| JobStateChange {
                state: s.name().to_string(),
                at_nanos: *at,
                owner: format!("{owner:x}"),
            })
            .collect(),
    }
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k == name).then_some(v)
    })
}

/// GET /admin/jobs?state=S&type=T
pub fn list(node: &Node, query: &str) -> Result<Vec<JobInfo>, ApiError> {
    let state = param(query, "state")
        .map(|s| {
            JobState::from_name(s).ok_or_else(|| {
                bad(format!(
                    "state {s:?}: use scheduled, running, done, failed or cancelled"
                ))
            })
        })
        .transpose()?;
    let kind = param(query, "type").map(parse_kind).transpose()?;
    Ok(node.jobs.read(|t| {
        t.jobs
            .values()
            .filter(|j| state.is_none_or(|s| j.state() == s))
            .filter(|j| kind.is_none_or(|k| j.kind == Some(k)))
            .map(info)
            .collect()
    }))
}

fn parse_kind(s: &str) -> Result<JobKind, ApiError> {
    JobKind::from_name(s).ok_or_else(|| {
        bad(format!(
            "type {s:?}: use user-purge, bucket-purge, orphan-search, scrub, reshard or lifecycle"
        ))
    })
}

fn parse_id(s: &str) -> Result<JobId, ApiError> {
    s.parse().map_err(bad)
}

/// GET /admin/jobs/{id}
pub fn show(node: &Node, id: &str) -> Result<JobInfo, ApiError> {
    let id = parse_id(id)?;
    node.jobs
        .read(|t| t.jobs.get(&id).map(info))
        .ok_or_else(|| JobError::NoSuchJob(id).into())
}

/// When a job asked for with `at` (Unix seconds) or `after_secs` runs, ns
/// on the schedule clock; `default_after` if neither.
fn due(at: Option<u64>, after: Option<u64>, default_after: u64) -> Result<u64, ApiError> {
    match (at, after) {
        (Some(_), Some(_)) => Err(bad("give at or after_secs, not both")),
        (Some(at), None) => Ok(at.saturating_mul(S)),
        (None, a) => {
            Ok(schedule_now_nanos().saturating_add(a.unwrap_or(default_after).saturating_mul(S)))
        }
    }
}

/// Schedules a job (checked: its target exists and is not protected).
async fn schedule_checked(
    node: &Node,
    kind: JobKind,
    target: &str,
    due_nanos: u64,
    flags: u8,
    by: &str,
) -> Result<JobInfo, ApiError> {
    use crate::meta::ops::AdminError;
    match kind {
        JobKind::UserPurge => {
            if !node.meta.read(|t| t.users.contains_key(target)) {
                return Err(AdminError::NoSuchUser(target.to_string()).into());
            }
            if target == crate::meta::ops::ROOT_UID {
                return Err(AdminError::ProtectedUser(target.to_string()).into());
            }
        }
        JobKind::BucketPurge | JobKind::Reshard | JobKind::Lifecycle => {
            if node.store.bucket(target).is_err() {
                return Err(AdminError::NoSuchBucket(target.to_string()).into());
            }
        }
        JobKind::OrphanSearch | JobKind::Scrub => {
            if !target.is_empty() {
                return Err(bad(format!("a {} job takes no target", kind.name())));
            }
        }
    }
    let zone = node.jobs.zone();
    let owner = crate::jobs::lease::owner_id(node.lessor.incarnation(), SLOT_ADMIN);
    let id = node
        .jobs
        .commit(owner, |t| {
            table::schedule(t, zone, kind, target, due_nanos, flags, by)
        })
        .await
        .map_err(super::internal)??;
    show(node, &id.to_string())
}

/// POST /admin/jobs
pub async fn schedule(node: &Node, req: &ScheduleJob, by: &str) -> Result<JobInfo, ApiError> {
    let kind = parse_kind(&req.kind)?;
    let flags = if req.reclaim {
        if kind != JobKind::OrphanSearch {
            return Err(bad("reclaim is for orphan-search jobs"));
        }
        FLAG_RECLAIM
    } else {
        0
    };
    let due_nanos = due(req.at, req.after_secs, 0)?;
    schedule_checked(node, kind, &req.target, due_nanos, flags, by).await
}

/// DELETE /admin/users/{uid}?purge-data[&after-secs=N | &at=T] and the
/// same for buckets: the purge job, due after `jobs.purge_delay_secs`
/// unless the query says otherwise.
pub async fn purge(
    node: &Node,
    kind: JobKind,
    target: &str,
    query: &str,
    by: &str,
) -> Result<JobInfo, ApiError> {
    let num = |name: &str| {
        param(query, name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("{name}={v:?}: expected whole seconds")))
            })
            .transpose()
    };
    let default_after = node
        .purge_delay_secs
        .load(std::sync::atomic::Ordering::Relaxed);
    let due_nanos = due(num("at")?, num("after-secs")?, default_after)?;
    schedule_checked(node, kind, target, due_nanos, 0, by).await
}

/// Whether the query asks for a purge.
pub fn wants_purge(query: &str) -> bool {
    param(query, "purge-data").is_some()
}

/// DELETE /admin/jobs/{id}: cancels a scheduled job.
pub async fn cancel(node: &Node, id: &str) -> Result<JobInfo, ApiError> {
    let id = parse_id(id)?;
    let owner = crate::jobs::lease::owner_id(node.lessor.incarnation(), SLOT_ADMIN);
    node.jobs
        .commit(owner, |t| {
            table::transition(t, id, JobState::Cancelled, "cancelled by the operator")
        })
        .await
        .map_err(super::internal)??;
    show(node, &id.to_string())
}
