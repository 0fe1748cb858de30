//! What the job runner and the other background workers share: their
//! worker slots (the low bits of a lease owner id), the lease each keeps
//! across its passes, and the clock jobs are scheduled on.

use super::lease::{Lease, Lessor};

/// The runner's worker slot in its owner id.
pub const SLOT_RUNNER: u16 = 1;
/// The slot of entries written for admin requests (schedule, cancel).
pub const SLOT_ADMIN: u16 = 0;

/// Now on the schedule clock (the expiry clock: tests move it), ns.
pub fn schedule_now_nanos() -> u64 {
    if crate::clock::test_clock_enabled() {
        crate::clock::expiry_now_secs().saturating_mul(1_000_000_000)
    } else {
        crate::clock::now_nanos()
    }
}

/// Worker slots of the other background workers.
pub const SLOT_EXPIRY: u16 = 2;
pub const SLOT_COMPACTION: u16 = 3;
pub const SLOT_SCRUB: u16 = 4;

/// A background worker's lease, kept across its passes.
pub struct WorkerLease {
    lessor: Lessor,
    name: &'static str,
    slot: u16,
    held: Option<Lease>,
}

impl WorkerLease {
    pub fn new(lessor: Lessor, name: &'static str, slot: u16) -> WorkerLease {
        WorkerLease {
            lessor,
            name,
            slot,
            held: None,
        }
    }

    /// Whether the worker holds its lease now (acquired or renewed as
    /// needed): a pass runs only then.
    pub async fn hold(&mut self) -> bool {
        self.held = keep(&self.lessor, self.name, self.slot, self.held.take()).await;
        self.held.is_some()
    }
}

/// The `jobs` lease, acquired or renewed when half its time is gone;
/// `None` while another owner holds it.
pub async fn keep_lease(lessor: &Lessor, lease: Option<Lease>) -> Option<Lease> {
    keep(lessor, "jobs", SLOT_RUNNER, lease).await
}

/// Lease `name` for worker `slot`, acquired or renewed when half its time
/// is gone; `None` while another owner holds it.
async fn keep(lessor: &Lessor, name: &str, slot: u16, lease: Option<Lease>) -> Option<Lease> {
    let half = u64::try_from(lessor.ttl().as_nanos() / 2).unwrap_or(u64::MAX);
    match lease {
        Some(l) if l.expires_nanos.saturating_sub(crate::clock::now_nanos()) > half => Some(l),
        Some(l) => match lessor.renew(&l).await {
            Ok(Ok(l)) => Some(l),
            Ok(Err(e)) => {
                tracing::warn!(lease = name, error = %e, "a worker lost its lease");
                None
            }
            Err(e) => {
                tracing::warn!(lease = name, error = %e, "renewing a lease failed");
                Some(l)
            }
        },
        None => match lessor.acquire(name, slot).await {
            Ok(Ok(l)) => Some(l),
            Ok(Err(_)) => None,
            Err(e) => {
                tracing::warn!(lease = name, error = %e, "acquiring a lease failed");
                None
            }
        },
    }
}
