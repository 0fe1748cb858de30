//! Process-wide instruments that the storage layers update and the
//! server's `/metrics` endpoint exposes (`server::metrics`). Static, so a
//! segment writer deep below the HTTP layer records into them without
//! being handed anything. It imports nothing of the crate, so any layer
//! may record into it.

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// The durable-write path of every segment store (objects, bucket index
/// logs, metadata log): one observation per group commit.
pub struct SyncMetrics {
    /// Seconds one fdatasync took.
    pub sync_seconds: Histogram,
    /// Appends (each one caller's records) answered by one group commit.
    pub batch_appends: Histogram,
    /// Bytes written by one group commit.
    pub batch_bytes: Histogram,
}

pub static SYNC: LazyLock<SyncMetrics> = LazyLock::new(|| SyncMetrics {
    // 50 µs .. ~1.6 s
    sync_seconds: Histogram::new(exponential_buckets(0.00005, 2.0, 16)),
    // 1 .. 512
    batch_appends: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
    // 4 KiB .. 64 MiB
    batch_bytes: Histogram::new(exponential_buckets(4096.0, 4.0, 8)),
});

/// The node's write-ahead log.
#[derive(Default)]
pub struct WalMetrics {
    /// Index transactions completed (a write or delete acknowledged):
    /// with the store's sync count, fdatasyncs per acknowledged write.
    pub completions: Counter,
}

pub static WAL: LazyLock<WalMetrics> = LazyLock::new(WalMetrics::default);

/// Compaction.
#[derive(Default)]
pub struct CompactionMetrics {
    pub passes: Counter,
    /// Bytes of live records moved out of mostly-dead segments.
    pub moved_bytes: Counter,
    /// Bytes of segment files removed.
    pub freed_bytes: Counter,
}

impl CompactionMetrics {
    /// One pass that moved and freed these bytes.
    pub fn record(&self, moved_bytes: u64, freed_bytes: u64) {
        self.passes.inc();
        self.moved_bytes.inc_by(moved_bytes);
        self.freed_bytes.inc_by(freed_bytes);
    }
}

pub static COMPACTION: LazyLock<CompactionMetrics> = LazyLock::new(CompactionMetrics::default);

/// The expiry pass.
#[derive(Default)]
pub struct ExpiryMetrics {
    /// Entries deleted because their expiry came.
    pub expired: Counter,
    /// Bytes of those objects.
    pub bytes: Counter,
    /// Passes run.
    pub passes: Counter,
}

impl ExpiryMetrics {
    /// One pass that deleted `expired` entries of `bytes` bytes.
    pub fn record(&self, expired: u64, bytes: u64) {
        self.passes.inc();
        self.expired.inc_by(expired);
        self.bytes.inc_by(bytes);
    }
}

pub static EXPIRY: LazyLock<ExpiryMetrics> = LazyLock::new(ExpiryMetrics::default);

/// Deletions Object Lock refused (API deletes, purges, the expiry pass),
/// by reason.
#[derive(Default)]
pub struct LockRefusalMetrics {
    pub legal_hold: Counter,
    pub compliance: Counter,
    pub governance: Counter,
}

impl LockRefusalMetrics {
    /// One refused deletion; `reason` is `legal_hold`, `compliance` or
    /// `governance` (`s3::object_lock::Refusal::as_str`).
    pub fn record(&self, reason: &str) {
        match reason {
            "legal_hold" => self.legal_hold.inc(),
            "compliance" => self.compliance.inc(),
            _ => self.governance.inc(),
        };
    }
}

pub static LOCK_REFUSALS: LazyLock<LockRefusalMetrics> = LazyLock::new(LockRefusalMetrics::default);
