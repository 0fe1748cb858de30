//! The node's background workers, one thread each: index checkpoints,
//! lifecycle re-evaluation, scrub, compaction and expiry. Each but the
//! checkpointer and the lifecycle re-evaluation runs its passes under its
//! own lease (`jobs::worker`), so two processes on one data dir never run
//! the same pass at once. The job runner is [`super::runner`].

use std::sync::Arc;
use std::time::Duration;

use super::{ExpiryRequest, Node};
use crate::io::Io;
use crate::jobs::worker::{WorkerLease, SLOT_COMPACTION, SLOT_EXPIRY, SLOT_SCRUB};

/// Lowers the calling thread's CPU priority (nice 10): background work
/// (expiry, compaction, scrub, lifecycle re-evaluation) gives way to
/// requests on a busy box instead of competing with them as equals. On
/// Linux a thread's nice value is its own (setpriority on its thread id).
pub fn background_priority() {
    // SAFETY: gettid has no preconditions; setpriority only reads its
    // arguments and fails harmlessly (the priority stays) if not allowed.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

/// Checkpoints every bucket index now and then, so restarts replay short
/// logs and the logs are trimmed.
pub fn spawn_checkpointer(io: &Io, node: Arc<Node>, secs: u64) {
    let io = io.clone();
    let _ = std::thread::Builder::new()
        .name("shale-checkpoint".into())
        .spawn(move || loop {
            // Early when more shards are open than the bound: written ones
            // close only once checkpointed.
            let due = std::time::Instant::now() + Duration::from_secs(secs);
            while std::time::Instant::now() < due {
                std::thread::sleep(Duration::from_millis(200));
                if node.store.open_shards().over_bound() {
                    break;
                }
            }
            match io.block_on(node.store.checkpoint()) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "index checkpoint failed"),
                Err(e) => tracing::warn!(error = %e, "index checkpoint could not run"),
            }
        });
}

/// Re-evaluates every bucket's lifecycle rules once, at startup.
pub fn spawn_lifecycle_reevaluation(io: &Io, node: Arc<Node>) {
    let io = io.clone();
    let _ = std::thread::Builder::new()
        .name("shale-lifecycle".into())
        .spawn(move || {
            background_priority();
            let _ = io.block_on(node.store.reevaluate_lifecycles());
        });
}

/// Scrubs every `interval` (if any) or when triggered, at most `rate`
/// MiB/s, under the `scrub` lease.
pub fn spawn_scrub(io: &Io, node: Arc<Node>, interval: Option<Duration>, rate: u64) {
    let io = io.clone();
    let _ = std::thread::Builder::new()
        .name("shale-scrub".into())
        .spawn(move || {
            background_priority();
            let mut lease = WorkerLease::new(node.lessor.clone(), "scrub", SLOT_SCRUB);
            let may_run = || io.block_on(lease.hold()).unwrap_or(false);
            node.scrub.run_forever(&node.store, interval, rate, may_run)
        });
}

/// Runs a compaction pass ([`Node::compact_now`]) every `secs`, under
/// the `compaction` lease.
pub fn spawn_compaction(io: &Io, node: Arc<Node>, secs: u64) {
    let io = io.clone();
    let mut lease = WorkerLease::new(node.lessor.clone(), "compaction", SLOT_COMPACTION);
    let _ = std::thread::Builder::new()
        .name("shale-compact".into())
        .spawn(move || loop {
            background_priority();
            std::thread::sleep(Duration::from_secs(secs));
            if !io.block_on(lease.hold()).unwrap_or(false) {
                continue;
            }
            match io.block_on(node.compact_now()) {
                Ok(Ok(r)) if r.removed > 0 || r.compacted > 0 => tracing::info!(
                    compacted = r.compacted,
                    moved_bytes = r.moved_bytes,
                    removed = r.removed,
                    freed_bytes = r.freed_bytes,
                    "compaction pass"
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e.message, "compaction pass failed"),
                Err(e) => tracing::warn!(error = %e, "compaction pass could not run"),
            }
        });
}

/// Runs the expiry pass every `interval` (if any), at most `batch`
/// deletions a run, and whenever asked through `node.expiry_runner`.
pub fn spawn_expiry(
    io: &Io,
    node: Arc<Node>,
    interval: Option<Duration>,
    batch: usize,
    max_per_sec: u64,
) {
    let io = io.clone();
    let (tx, rx) = std::sync::mpsc::channel::<ExpiryRequest>();
    *node.expiry_runner.lock() = Some(tx);
    let mut lease = WorkerLease::new(node.lessor.clone(), "expiry", SLOT_EXPIRY);
    let _ = std::thread::Builder::new()
        .name("shale-expiry".into())
        .spawn(move || loop {
            background_priority();
            // A pass asked for (admin API), or the periodic one.
            let asked = match interval {
                Some(t) => match rx.recv_timeout(t) {
                    Ok(r) => Some(r),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                },
                None => match rx.recv() {
                    Ok(r) => Some(r),
                    Err(_) => return,
                },
            };
            if !io.block_on(lease.hold()).unwrap_or(false) {
                if let Some((_, reply)) = asked {
                    let _ = reply.send(Err(crate::s3::S3Error::new(
                        crate::s3::S3ErrorCode::SlowDown,
                        "another worker holds the expiry lease; try again",
                    )));
                }
                continue;
            }
            let limit = asked.as_ref().map_or(batch, |(l, _)| *l);
            let now = crate::clock::expiry_now_secs();
            let run = crate::object::expiry::expire_due(
                &node.store,
                &node.uploads,
                now,
                limit,
                max_per_sec,
            );
            let result = match io.block_on(run) {
                Ok(r) => r,
                Err(e) => Err(crate::s3::S3Error::new(
                    crate::s3::S3ErrorCode::InternalError,
                    format!("the expiry pass could not run: {e}"),
                )),
            };
            match &result {
                Ok(r) => {
                    crate::metrics::EXPIRY.record(r.expired, r.bytes);
                    if r.expired > 0 {
                        tracing::debug!(expired = r.expired, bytes = r.bytes, "expiry pass");
                    }
                }
                Err(e) => tracing::warn!(error = %e.message, "expiry pass failed"),
            }
            if let Some((_, reply)) = asked {
                let _ = reply.send(result);
            }
        });
}
