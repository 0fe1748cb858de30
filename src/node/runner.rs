//! The job runner: a background thread that, under the `jobs` lease,
//! takes the jobs that are due (and running jobs whose owner is gone: a
//! process that died mid-job) and carries them out. Every job is
//! idempotent and resumes from what is left: a purge removes the buckets
//! its user still owns, so a crash between two buckets repeats nothing.
//! Progress (items done of total, bytes reclaimed) goes to the job log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Node;
use crate::jobs::lease::{Lease, Lessor};
use crate::jobs::record::{JobId, JobKind, JobOp, JobState, FLAG_RECLAIM};
use crate::jobs::table::{self, Job};
use crate::jobs::worker::{keep_lease, schedule_now_nanos};

/// Starts the runner thread: every `interval` it renews its lease and
/// runs what is due.
pub fn spawn(io: crate::io::Io, node: Arc<Node>, lessor: Lessor, interval: Duration) {
    let _ = std::thread::Builder::new()
        .name("shale-jobs".into())
        .spawn(move || {
            super::workers::background_priority();
            let run = async move {
                let mut lease: Option<Lease> = None;
                loop {
                    lease = keep_lease(&lessor, lease).await;
                    if let Some(l) = &lease {
                        step(&node, &lessor, l.owner).await;
                    }
                    tokio::time::sleep(interval).await;
                }
            };
            if let Err(e) = io.block_on(run) {
                tracing::error!(error = %e, "the job runner could not start");
            }
        });
}

/// Runs every job that is due, and takes over every zombie.
pub async fn step(node: &Node, lessor: &Lessor, owner: u64) {
    let now = schedule_now_nanos();
    let ids: Vec<JobId> = node.jobs.read(|t| {
        let mut v = t.zombies(|o| lessor.is_mine(o));
        v.extend(t.due_at(now));
        v
    });
    for id in ids {
        // Claimed under the job log's commit lock: a cancel either came
        // first (and this is refused) or comes too late.
        match node
            .jobs
            .commit(owner, |t| table::transition(t, id, JobState::Running, ""))
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => continue,
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "could not start a job");
                continue;
            }
        }
        let Some(job) = node.jobs.read(|t| t.jobs.get(&id).cloned()) else {
            continue;
        };
        let kind = job.kind.map_or("?", JobKind::name);
        tracing::info!(job = %id, kind, target = %job.target, "job started");
        let started = Instant::now();
        let result = execute(node, &job, owner).await;
        let (state, message) = match result {
            Ok(m) => (JobState::Done, m),
            Err(m) => (JobState::Failed, m),
        };
        tracing::info!(job = %id, kind, state = state.name(), %message, secs = started.elapsed().as_secs_f64(), "job ended");
        if let Err(e) = node
            .jobs
            .commit(owner, |t| table::transition(t, id, state, &message))
            .await
        {
            tracing::warn!(job = %id, error = %e, "could not record a job's end");
        }
    }
}

/// Records how far `job` got.
async fn progress(
    node: &Node,
    owner: u64,
    id: JobId,
    done: u64,
    total: u64,
    reclaimed: u64,
    at: &str,
) {
    let op = JobOp::Progress {
        id,
        done,
        total,
        bytes_reclaimed: reclaimed,
        checkpoint: at.as_bytes().to_vec(),
    };
    if let Err(e) = node.jobs.commit(owner, |_| Ok::<_, ()>(op)).await {
        tracing::warn!(job = %id, error = %e, "could not record a job's progress");
    }
}

/// Carries out `job`; a line saying what it did, or why it failed.
async fn execute(node: &Node, job: &Job, owner: u64) -> Result<String, String> {
    match job.kind {
        Some(JobKind::UserPurge) => purge_user(node, job, owner).await,
        Some(JobKind::BucketPurge) => purge_buckets(node, job, owner, vec![job.target.clone()])
            .await
            .map(|(o, b, kept)| match kept.is_empty() {
                true => format!("removed bucket {} ({o} objects, {b} bytes)", job.target),
                false => format!(
                    "removed {o} versions ({b} bytes) of bucket {}; {}",
                    job.target,
                    kept.join("; ")
                ),
            }),
        Some(JobKind::Scrub) => {
            // The scrub worker runs it (under its lease), so a job and the
            // periodic scrub never read everything twice at once.
            let before = node.scrub.status().passes;
            node.scrub.trigger();
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let s = node.scrub.status();
                if s.passes > before && !s.running {
                    let r = s.last.unwrap_or_default();
                    progress(node, owner, job.id, r.segments, r.segments, 0, "").await;
                    return Ok(format!(
                        "{} records and {} index pages checked, {} findings",
                        r.records,
                        r.index_pages,
                        r.findings.len()
                    ));
                }
                if !s.running && s.passes == before && started.elapsed() > Duration::from_secs(60) {
                    return Err("the scrub worker did not start a pass in 60 s (another process holds the scrub lease?)".into());
                }
            }
        }
        Some(JobKind::Lifecycle) => {
            let b = node.store.bucket(&job.target).map_err(|e| e.message)?;
            let g = crate::object::lifecycle_eval::begin(&b);
            crate::object::lifecycle_eval::run(Arc::clone(&b), node.store.segments().clone(), g)
                .await;
            let p = b.lifecycle_progress();
            progress(node, owner, job.id, p.examined, p.examined, 0, "").await;
            if p.state == "done" {
                Ok(format!(
                    "{} objects examined, {} changed",
                    p.examined, p.changed
                ))
            } else {
                Err(p.state)
            }
        }
        Some(JobKind::Reshard) => {
            let b = node.store.bucket(&job.target).map_err(|e| e.message)?;
            let current = b.index.layout().shard_count;
            let to = crate::index::layout::next_shard_count(current, u64::MAX, 1);
            let r = b.index.reshard(to).await.map_err(|e| e.to_string())?;
            Ok(format!("resharded from {current} to {to} shards ({r:?})"))
        }
        Some(JobKind::OrphanSearch) => orphan_search(node, job, owner).await,
        None => Err("the job has no kind".into()),
    }
}

/// Removes the user's buckets with their data, then its keys and the
/// user. Resumes with whatever buckets it still owns.
async fn purge_user(node: &Node, job: &Job, owner: u64) -> Result<String, String> {
    let uid = job.target.as_str();
    if uid == crate::meta::ops::ROOT_UID {
        return Err("the root user is never removed".into());
    }
    let exists = node.meta.read(|t| t.users.contains_key(uid));
    if !exists {
        return Ok(format!("user {uid} is gone already"));
    }
    let buckets: Vec<String> = node
        .meta
        .read(|t| t.buckets_of(uid).map(|b| b.name.clone()).collect());
    let (objects, bytes, kept) = purge_buckets(node, job, owner, buckets).await?;
    if !kept.is_empty() {
        return Ok(format!(
            "kept user {uid}: its buckets hold locked versions ({}); removed {objects} objects, {bytes} bytes",
            kept.join("; ")
        ));
    }
    let keys: Vec<String> = node.meta.read(|t| {
        t.keys
            .values()
            .filter(|k| k.uid == uid)
            .map(|k| k.access_key.clone())
            .collect()
    });
    for k in keys {
        node.meta
            .commit(|_| Ok::<_, ()>(crate::meta::mdlog::MdOp::KeyRemove { access_key: k }))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|()| "refused".to_string())?;
    }
    node.meta
        .commit(|t| crate::meta::ops::remove_user(t, uid))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "removed user {uid} and its buckets ({objects} objects, {bytes} bytes in this run)"
    ))
}

/// Removes `buckets` (aborting their uploads first), recording progress
/// after each, then reclaims the space; the (objects, bytes) removed and
/// a note per bucket kept because Object Lock holds versions in it.
async fn purge_buckets(
    node: &Node,
    job: &Job,
    owner: u64,
    buckets: Vec<String>,
) -> Result<(u64, u64, Vec<String>), String> {
    // A resumed job keeps the total its first run counted (a crash may
    // have removed a bucket after the last progress entry).
    let total = if job.total > 0 {
        job.total
    } else {
        buckets.len() as u64
    };
    let mut done = total.saturating_sub(buckets.len() as u64);
    if job.total == 0 {
        // The total first: a crash after the first removal must not
        // shrink it.
        progress(node, owner, job.id, 0, total, 0, "").await;
    }
    let (mut objects, mut bytes) = (0, 0);
    let mut skipped: Vec<String> = Vec::new();
    for name in buckets {
        if node.store.bucket(&name).is_err() {
            done += 1;
            continue;
        }
        for (key, id, _) in node.uploads.uploads_of(&name) {
            let _ = node.uploads.abort(&name, &key, &id);
        }
        // With Object Lock: only what the locks let go is removed, and
        // the bucket stays while a locked version is in it.
        let locked = node
            .store
            .lock_config(&name)
            .map_err(|e| format!("reading bucket {name}: {}", e.message))?
            .is_some();
        if locked {
            let p = node
                .store
                .purge_unlocked(&name)
                .await
                .map_err(|e| format!("purging bucket {name}: {}", e.message))?;
            objects += p.removed;
            bytes += p.bytes;
            if p.kept_locked > 0 {
                done += 1;
                let note = format!(
                    "{name}: kept {} locked versions (Object Lock); the bucket stays",
                    p.kept_locked
                );
                tracing::warn!(job = %job.id, bucket = %name, kept = p.kept_locked, "purge skipped locked versions");
                skipped.push(note.clone());
                progress(node, owner, job.id, done, total, job.bytes_reclaimed, &note).await;
                continue;
            }
        }
        let (o, b) = node
            .store
            .purge_bucket(&name)
            .await
            .map_err(|e| format!("removing bucket {name}: {}", e.message))?;
        objects += o;
        bytes += b;
        done += 1;
        progress(node, owner, job.id, done, total, job.bytes_reclaimed, &name).await;
    }
    let freed = reclaim(node, None).await?;
    progress(
        node,
        owner,
        job.id,
        done,
        total,
        job.bytes_reclaimed + freed,
        &skipped.join("; "),
    )
    .await;
    Ok((objects, bytes, skipped))
}

/// Compaction passes until there is nothing more to move or to wait
/// for (emptied segments are removed after the grace period); the bytes
/// freed. `live_fraction` overrides the configured threshold for the
/// first pass (1.0: every segment with anything dead in it; later passes
/// only finish what it started, since what it wrote is live again).
async fn reclaim(node: &Node, live_fraction: Option<f64>) -> Result<u64, String> {
    let configured = *node.compact_options.lock();
    let mut opts = configured;
    if let Some(f) = live_fraction {
        opts.live_fraction = f;
    }
    let deadline = Instant::now() + opts.grace + Duration::from_secs(30);
    let mut freed = 0;
    loop {
        let r = {
            let mut last = node.compacting.lock().await;
            let r = crate::object::compact::compact(&node.store, &node.uploads, &node.dying, opts)
                .await
                .map_err(|e| e.message)?;
            crate::metrics::COMPACTION.record(r.moved_bytes, r.freed_bytes);
            *last = Some(r.clone());
            r
        };
        freed += r.freed_bytes;
        opts.live_fraction = configured.live_fraction;
        if (r.compacted == 0 && r.waiting == 0) || Instant::now() > deadline {
            return Ok(freed);
        }
        if r.compacted == 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Records in data segments that no index entry or open upload
/// references; with the reclaim flag, compaction takes them.
async fn orphan_search(node: &Node, job: &Job, owner: u64) -> Result<String, String> {
    let found = crate::object::orphans::find(&node.store, &node.uploads)
        .await
        .map_err(|e| e.message)?;
    let records = found.records.len() as u64;
    let bytes: u64 = found.records.iter().map(|o| u64::from(o.len)).sum();
    // The first hundred, as SEGMENT@OFFSET+LEN, then dangling entries.
    let listed: Vec<String> = found
        .records
        .iter()
        .take(100)
        .map(|o| format!("{}@{}+{}", o.segment, o.offset, o.len))
        .collect();
    for (b, k, why) in found.dangling.iter().take(20) {
        tracing::warn!(bucket = %b, key = %k, error = %why, "orphan search: an index entry whose head cannot be read");
    }
    let mut reclaimed = 0;
    if job.flags & FLAG_RECLAIM != 0 && records > 0 {
        reclaimed = reclaim(node, Some(1.0)).await?;
    }
    progress(
        node,
        owner,
        job.id,
        records,
        records,
        reclaimed,
        &listed.join(" "),
    )
    .await;
    Ok(format!(
        "{records} unreferenced records ({bytes} bytes), {} index entries whose head cannot be read{}",
        found.dangling.len(),
        if job.flags & FLAG_RECLAIM != 0 {
            format!(", {reclaimed} bytes reclaimed")
        } else {
            String::new()
        }
    ))
}
