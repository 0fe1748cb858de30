//! `/metrics` in the Prometheus (OpenMetrics) text format: request counts
//! by operation and status, latency histograms, bytes in and out (kept
//! here), the storage layers' group-commit figures (`crate::metrics`),
//! and, read at scrape time, segment and index sizes, per-bucket object
//! and byte counts (the bucket indexes' exact stats, which survive
//! restarts), users, buckets and uptime.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::front::Front;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    op: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BucketLabels {
    bucket: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    r#type: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobKindLabels {
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// The HTTP instruments, shared by every thread.
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<OpLabels, Histogram>,
    bytes_in: Family<OpLabels, Counter>,
    bytes_out: Family<OpLabels, Counter>,
    /// Open client connections.
    pub connections_open: Gauge,
    /// Idle connections closed to make room for new ones.
    pub connections_shed: Counter,
    /// Connections refused: their address had its limit open.
    pub connections_refused: Counter,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            requests: Family::default(),
            // 100 µs .. ~13 s
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 18))
            }),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            connections_open: Gauge::default(),
            connections_shed: Counter::default(),
            connections_refused: Counter::default(),
        }
    }
}

impl HttpMetrics {
    /// Records one finished request.
    pub fn observe(
        &self,
        op: &'static str,
        status: u16,
        seconds: f64,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        self.requests
            .get_or_create(&RequestLabels { op, status })
            .inc();
        let l = OpLabels { op };
        self.latency.get_or_create(&l).observe(seconds);
        if bytes_in > 0 {
            self.bytes_in.get_or_create(&l).inc_by(bytes_in);
        }
        if bytes_out > 0 {
            self.bytes_out.get_or_create(&l).inc_by(bytes_out);
        }
    }
}

fn gauge(v: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(v).unwrap_or(i64::MAX));
    g
}

/// The whole exposition, as of now.
pub fn render(front: &Front) -> String {
    let node = &*front.node;
    let mut r = Registry::with_prefix("shale");
    let h = &front.metrics;
    r.register(
        "http_requests",
        "Requests answered, by S3 operation and HTTP status",
        h.requests.clone(),
    );
    r.register(
        "http_request_duration_seconds",
        "Time from request head to response head, by S3 operation",
        h.latency.clone(),
    );
    r.register(
        "http_request_body_bytes",
        "Request body bytes declared by requests, by S3 operation",
        h.bytes_in.clone(),
    );
    r.register(
        "http_response_body_bytes",
        "Response body bytes, by S3 operation",
        h.bytes_out.clone(),
    );
    r.register(
        "http_connections_open",
        "Open client connections",
        h.connections_open.clone(),
    );
    r.register(
        "http_connections_shed",
        "Idle connections closed to make room for new ones (every slot taken)",
        h.connections_shed.clone(),
    );
    r.register(
        "http_connections_refused",
        "Connections closed at once: their address had http.connections_per_ip_max open",
        h.connections_refused.clone(),
    );
    let pool = node.store.upload_pool();
    r.register(
        "upload_buffers_free",
        "Upload chunk buffers (1 MiB) of the node-wide budget not held by an upload",
        gauge(pool.available() as u64),
    );
    r.register(
        "upload_buffer_users",
        "Users whose uploads hold or wait for upload buffers",
        gauge(pool.users() as u64),
    );
    let sync = &*crate::metrics::SYNC;
    r.register(
        "fsync_duration_seconds",
        "Time of one fdatasync of a group commit (objects, index logs, metadata log)",
        sync.sync_seconds.clone(),
    );
    r.register(
        "fsync_batch_appends",
        "Appends made durable by one group commit",
        sync.batch_appends.clone(),
    );
    r.register(
        "fsync_batch_bytes",
        "Bytes written by one group commit",
        sync.batch_bytes.clone(),
    );

    let expiry = &*crate::metrics::EXPIRY;
    r.register(
        "expiry_deleted",
        "Entries the expiry pass deleted",
        expiry.expired.clone(),
    );
    r.register(
        "expiry_deleted_bytes",
        "Bytes of the objects the expiry pass deleted",
        expiry.bytes.clone(),
    );
    r.register("expiry_passes", "Expiry passes run", expiry.passes.clone());
    let now = crate::clock::expiry_now_secs();
    let due: u64 = node
        .store
        .all_buckets()
        .iter()
        .map(|b| b.index.due_count_known(now) as u64)
        .sum();
    r.register(
        "expiry_due",
        "Entries whose expiry has come and that the pass has not deleted yet (in shards opened since the start: the expiry pass opens them all)",
        gauge(due),
    );

    let comp = &*crate::metrics::COMPACTION;
    r.register(
        "compaction_passes",
        "Compaction passes run",
        comp.passes.clone(),
    );
    r.register(
        "compaction_moved_bytes",
        "Bytes of live records compaction moved out of mostly-dead segments",
        comp.moved_bytes.clone(),
    );
    r.register(
        "compaction_freed_bytes",
        "Bytes of segment files compaction removed",
        comp.freed_bytes.clone(),
    );
    let lock = &*crate::metrics::LOCK_REFUSALS;
    let refused: Family<ReasonLabels, Counter> = Family::default();
    for (reason, c) in [
        ("legal_hold", &lock.legal_hold),
        ("compliance", &lock.compliance),
        ("governance", &lock.governance),
    ] {
        refused
            .get_or_create(&ReasonLabels { reason })
            .inc_by(c.get());
    }
    r.register(
        "object_lock_refused_deletes",
        "Deletions Object Lock refused (requests, purges, expiry), by reason",
        refused,
    );
    let scrub = node.scrub.status();
    r.register("scrub_passes", "Scrub passes finished", gauge(scrub.passes));
    r.register(
        "scrub_verified_bytes",
        "Bytes the scrub has read and verified",
        gauge(scrub.bytes_total),
    );
    r.register(
        "scrub_findings",
        "Problems the last scrub pass found",
        gauge(scrub.last.as_ref().map_or(0, |l| l.findings.len() as u64)),
    );

    let stats = node.store.segments().stats();
    let segment_bytes = super::admin::dir_bytes(node.store.segments().dir());
    r.register(
        "segment_bytes",
        "Bytes of the object segment files on disk",
        gauge(segment_bytes),
    );
    r.register(
        "segment_written_bytes",
        "Bytes appended to the object segments since start",
        gauge(
            stats
                .bytes_written
                .load(std::sync::atomic::Ordering::Relaxed),
        ),
    );
    r.register(
        "wal_syncs",
        "fdatasyncs of the node log (data, heads and every bucket's index entries) since start",
        gauge(stats.syncs.load(std::sync::atomic::Ordering::Relaxed)),
    );
    r.register(
        "index_open_shards",
        "Bucket index shards open now (each a file descriptor and a mapping; idle ones are closed past storage.open_shards_max)",
        gauge(node.store.open_shards().open_count() as u64),
    );
    r.register(
        "wal_batches",
        "Group commits of the node log since start",
        gauge(stats.batches.load(std::sync::atomic::Ordering::Relaxed)),
    );
    r.register(
        "wal_index_completions",
        "Writes and deletes acknowledged (index transactions completed); wal_syncs over this is fdatasyncs per acknowledged write",
        crate::metrics::WAL.completions.clone(),
    );
    let (replay_segment, replay_offset) = node.store.wal().replay_from();
    r.register(
        "wal_replay_point_segment",
        "Segment the node log's replay starts in after a crash",
        gauge(replay_segment),
    );
    r.register(
        "wal_replay_point_offset",
        "Offset in that segment",
        gauge(replay_offset),
    );
    let objects: Family<BucketLabels, Gauge> = Family::default();
    let bytes: Family<BucketLabels, Gauge> = Family::default();
    let index_bytes: Family<BucketLabels, Gauge> = Family::default();
    let named = front.metrics_options.read().bucket_labels;
    for b in node.store.all_buckets().into_iter().filter(|_| named) {
        let (o, s) = b.index.stats();
        let l = BucketLabels {
            bucket: b.name.clone(),
        };
        objects
            .get_or_create(&l)
            .set(i64::try_from(o).unwrap_or(i64::MAX));
        bytes
            .get_or_create(&l)
            .set(i64::try_from(s).unwrap_or(i64::MAX));
        index_bytes
            .get_or_create(&l)
            .set(i64::try_from(super::admin::dir_bytes(&b.index_dir())).unwrap_or(i64::MAX));
    }
    r.register("bucket_objects", "Objects in a bucket", objects);
    r.register("bucket_bytes", "Bytes of the objects in a bucket", bytes);
    r.register(
        "index_bytes",
        "Bytes of a bucket's index (trees and logs) on disk",
        index_bytes,
    );
    // Jobs, read from the job table at scrape time.
    let jobs: Family<JobLabels, Gauge> = Family::default();
    let items: Family<JobKindLabels, Gauge> = Family::default();
    let reclaimed: Family<JobKindLabels, Gauge> = Family::default();
    node.jobs.read(|t| {
        for kind in crate::jobs::record::JobKind::ALL {
            for state in crate::jobs::record::JobState::ALL {
                let _ = jobs.get_or_create(&JobLabels {
                    r#type: kind.name(),
                    state: state.name(),
                });
            }
        }
        for j in t.jobs.values() {
            let kind = j.kind.map_or("?", |k| k.name());
            jobs.get_or_create(&JobLabels {
                r#type: kind,
                state: j.state().name(),
            })
            .inc();
            let l = JobKindLabels { r#type: kind };
            items
                .get_or_create(&l)
                .inc_by(i64::try_from(j.done).unwrap_or(i64::MAX));
            reclaimed
                .get_or_create(&l)
                .inc_by(i64::try_from(j.bytes_reclaimed).unwrap_or(i64::MAX));
        }
    });
    r.register("jobs", "Jobs by type and state (the job log's table)", jobs);
    r.register(
        "job_items_done",
        "Items (buckets, records) done by the jobs of a type",
        items,
    );
    r.register(
        "job_reclaimed_bytes",
        "Bytes the jobs of a type reclaimed",
        reclaimed,
    );
    let (users, buckets) = node.meta.read(|t| (t.users.len(), t.buckets.len()));
    r.register("users", "Users", gauge(users as u64));
    r.register("buckets", "Buckets", gauge(buckets as u64));
    r.register(
        "uptime_seconds",
        "Seconds since the node started",
        gauge(node.started.elapsed().as_secs()),
    );
    let info: Family<VersionLabels, Gauge> = Family::default();
    info.get_or_create(&VersionLabels {
        version: env!("CARGO_PKG_VERSION"),
    })
    .set(1);
    r.register("build_info", "The running version", info);
    let mut out = String::new();
    if encode(&mut out, &r).is_err() {
        out.clear();
    }
    out
}
