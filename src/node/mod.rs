//! The assembled node: its stores, the settings that change while it
//! runs, its background workers' handles, and the operations that the S3
//! API, the admin API and the job runner all call. Nothing here knows
//! HTTP: the server keeps its own state (signing keys, request ids,
//! access log, HTTP metrics) beside the node (`server::Front`).
//!
//! `serve` builds a [`Node`], starts its background workers
//! ([`workers`], [`runner`]) and puts the server on top.

pub mod runner;
pub mod workers;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::jobs::lease::Lessor;
use crate::jobs::record::{JobId, JobKind};
use crate::jobs::store::JobStore;
use crate::meta::store::MetaStore;
use crate::object::compact::{CompactOptions, CompactReport, Dying};
use crate::object::expiry::ExpiryReport;
use crate::object::multipart::Uploads;
use crate::object::scrub::Scrub;
use crate::object::ObjectStore;
use crate::s3::{S3Error, S3ErrorCode};

/// A pass of up to `.0` deletions asked of the expiry thread, and where
/// its report goes.
pub type ExpiryRequest = (
    usize,
    tokio::sync::oneshot::Sender<Result<ExpiryReport, S3Error>>,
);

/// Re-reads the config file and applies what can change live; returns
/// what changed.
pub type Reloader = Box<dyn Fn() -> Result<Vec<String>, String> + Send + Sync>;

/// Everything an operation needs, whoever asks for it.
pub struct Node {
    pub store: ObjectStore,
    pub uploads: Arc<Uploads>,
    /// Users, keys and buckets (the store's metadata log).
    pub meta: Arc<MetaStore>,
    /// The region this node reports and signs for.
    pub region: String,
    pub data_dir: std::path::PathBuf,
    pub started: std::time::Instant,
    /// Set by `serve`; the admin API's `reload`.
    pub reloader: std::sync::OnceLock<Reloader>,
    /// The scrub's state and trigger.
    pub scrub: Arc<Scrub>,
    /// Asks the expiry thread for a pass (limit, where to answer).
    pub expiry_runner: parking_lot::Mutex<Option<std::sync::mpsc::Sender<ExpiryRequest>>>,
    /// Compacted segments waiting out their grace period.
    pub dying: Dying,
    /// One compaction pass at a time (background or asked for).
    pub compacting: tokio::sync::Mutex<Option<CompactReport>>,
    /// Settings of compaction passes.
    pub compact_options: parking_lot::Mutex<CompactOptions>,
    /// SIGTERM came: `/ready` answers 503.
    draining: AtomicBool,
    /// The job log and table (`jobs`).
    pub jobs: Arc<JobStore>,
    /// This process's leases.
    pub lessor: Lessor,
    /// Default wait before a purge asked for without a time, seconds.
    pub purge_delay_secs: AtomicU64,
    /// Read rate of a scrub pass, MiB/s.
    pub scrub_mib_per_sec: AtomicU64,
}

impl Node {
    pub fn new(
        store: ObjectStore,
        uploads: Arc<Uploads>,
        meta: Arc<MetaStore>,
        region: String,
        data_dir: std::path::PathBuf,
        (jobs, lessor): (Arc<JobStore>, Lessor),
    ) -> Node {
        Node {
            jobs,
            lessor,
            purge_delay_secs: AtomicU64::new(7 * 86_400),
            scrub_mib_per_sec: AtomicU64::new(64),
            store,
            uploads,
            meta,
            region,
            data_dir,
            started: std::time::Instant::now(),
            reloader: std::sync::OnceLock::new(),
            scrub: Arc::default(),
            dying: Default::default(),
            expiry_runner: parking_lot::Mutex::new(None),
            compacting: tokio::sync::Mutex::new(None),
            compact_options: parking_lot::Mutex::new(CompactOptions {
                live_fraction: 0.5,
                max_move_bytes: 1 << 30,
                grace: std::time::Duration::from_secs(60),
                max_bytes_per_sec: 64 << 20,
            }),
            draining: AtomicBool::new(false),
        }
    }

    /// Runs one compaction pass (waiting for one in progress first).
    pub async fn compact_now(&self) -> Result<CompactReport, S3Error> {
        let mut last = self.compacting.lock().await;
        let opts = *self.compact_options.lock();
        let r =
            crate::object::compact::compact(&self.store, &self.uploads, &self.dying, opts).await?;
        crate::metrics::COMPACTION.record(r.moved_bytes, r.freed_bytes);
        *last = Some(r.clone());
        Ok(r)
    }

    /// Runs one expiry pass of up to `limit` deletions: on the expiry
    /// thread (throttled as configured, under its lease) if it runs, else
    /// here.
    pub async fn expire_now(&self, limit: usize) -> Result<ExpiryReport, S3Error> {
        let internal = |m: &str| S3Error::new(S3ErrorCode::InternalError, m);
        let runner = self.expiry_runner.lock().clone();
        match runner {
            Some(tx) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                tx.send((limit, reply))
                    .map_err(|_| internal("the expiry thread is gone"))?;
                answer
                    .await
                    .map_err(|_| internal("the expiry thread stopped"))?
            }
            None => {
                let r = crate::object::expiry::expire_due(
                    &self.store,
                    &self.uploads,
                    crate::clock::expiry_now_secs(),
                    limit,
                    0,
                )
                .await?;
                crate::metrics::EXPIRY.record(r.expired, r.bytes);
                Ok(r)
            }
        }
    }

    /// Read rate of a scrub pass asked for by a job, MiB/s.
    pub fn scrub_rate(&self) -> u64 {
        self.scrub_mib_per_sec.load(Ordering::Relaxed)
    }

    /// The open purge that has `bucket` (or its owner) out of reach, if
    /// any: (job id, due ns).
    pub fn purge_of_bucket(&self, bucket: &str, owner: &str) -> Option<(JobId, u64)> {
        self.jobs.read(|t| {
            t.open_job(JobKind::BucketPurge, bucket)
                .or_else(|| t.open_job(JobKind::UserPurge, owner))
                .map(|j| (j.id, j.due_nanos))
        })
    }

    /// The open purge of user `uid`, if any: (job id, due ns).
    pub fn purge_of_user(&self, uid: &str) -> Option<(JobId, u64)> {
        self.jobs.read(|t| {
            t.open_job(JobKind::UserPurge, uid)
                .map(|j| (j.id, j.due_nanos))
        })
    }

    /// The node is stopping: not ready for new work.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}
