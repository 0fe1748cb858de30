//! Leases on background work (seed `smaug-checkpoint-leases-irc`): a
//! named lease is held by one owner until it lapses, is renewed, or is
//! let go; kept in the metadata log (ops 9 and 10, `mdlog.md`), so a
//! restarted process sees who held what. An owner id is a process
//! incarnation (random per start, high 48 bits) and a worker slot (low 16
//! bits), so two workers of one process are different owners too.
//!
//! The rules (pure, [`acquire`], [`renew`], [`release`]) run under the
//! metadata store's commit lock, so of concurrent acquirers exactly one
//! wins. A lease held by an incarnation that is gone — the data dir's
//! LOCK proves every other incarnation of this node dead — is a zombie's
//! and is taken over at once; another live owner's lease only when it
//! has lapsed.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::meta::mdlog::{LeaseRecord, MdOp};
use crate::meta::store::{MetaError, MetaStore};
use crate::meta::table::MetaTable;

/// Bits of an owner id that name the worker slot.
pub const SLOT_BITS: u32 = 16;

/// The owner id of worker `slot` of process `incarnation`.
pub fn owner_id(incarnation: u64, slot: u16) -> u64 {
    (incarnation << SLOT_BITS) | u64::from(slot)
}

/// The incarnation part of an owner id.
pub fn incarnation_of(owner: u64) -> u64 {
    owner >> SLOT_BITS
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LeaseError {
    #[error("lease {name} is held by {owner:#x} until {expires_nanos} ns")]
    Held {
        name: String,
        owner: u64,
        expires_nanos: u64,
    },
    #[error(
        "lease {name} is not held by {owner:#x} (it lapsed and was taken over, or was let go)"
    )]
    NotHeld { name: String, owner: u64 },
}

/// The entry giving `name` to `owner` until `now_nanos + ttl`, if it may
/// have it: the lease is free, lapsed, already `owner`'s, or held by an
/// owner `is_gone` says is dead.
pub fn acquire(
    t: &MetaTable,
    name: &str,
    owner: u64,
    now_nanos: u64,
    ttl: Duration,
    is_gone: impl Fn(u64) -> bool,
) -> Result<MdOp, LeaseError> {
    if let Some(l) = t.leases.get(name) {
        let free = l.owner == owner || l.expires_nanos <= now_nanos || is_gone(l.owner);
        if !free {
            return Err(LeaseError::Held {
                name: name.to_string(),
                owner: l.owner,
                expires_nanos: l.expires_nanos,
            });
        }
    }
    Ok(put(name, owner, now_nanos, ttl))
}

/// The entry extending `owner`'s lease on `name`; refused if it is not
/// `owner`'s any more (a worker that lost its lease must stop).
pub fn renew(
    t: &MetaTable,
    name: &str,
    owner: u64,
    now_nanos: u64,
    ttl: Duration,
) -> Result<MdOp, LeaseError> {
    match t.leases.get(name) {
        Some(l) if l.owner == owner => Ok(put(name, owner, now_nanos, ttl)),
        _ => Err(LeaseError::NotHeld {
            name: name.to_string(),
            owner,
        }),
    }
}

/// The entry letting go of `owner`'s lease on `name`.
pub fn release(t: &MetaTable, name: &str, owner: u64) -> Result<MdOp, LeaseError> {
    match t.leases.get(name) {
        Some(l) if l.owner == owner => Ok(MdOp::LeaseRelease {
            name: name.to_string(),
            owner,
        }),
        _ => Err(LeaseError::NotHeld {
            name: name.to_string(),
            owner,
        }),
    }
}

fn put(name: &str, owner: u64, now_nanos: u64, ttl: Duration) -> MdOp {
    let ttl = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
    MdOp::LeasePut(LeaseRecord {
        name: name.to_string(),
        owner,
        expires_nanos: now_nanos.saturating_add(ttl),
    })
}

/// Hands out this process's leases.
#[derive(Clone)]
pub struct Lessor {
    meta: Arc<MetaStore>,
    incarnation: u64,
    ttl: Duration,
}

/// A lease held: renew it before `expires_nanos`, and stop the work if a
/// renewal is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub owner: u64,
    pub expires_nanos: u64,
}

impl Lessor {
    /// A lessor for process `incarnation` (48 bits) with leases of `ttl`.
    pub fn new(meta: Arc<MetaStore>, incarnation: u64, ttl: Duration) -> Lessor {
        Lessor {
            meta,
            incarnation: incarnation & ((1u64 << (64 - SLOT_BITS)) - 1),
            ttl,
        }
    }

    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether `owner` belongs to this process.
    pub fn is_mine(&self, owner: u64) -> bool {
        incarnation_of(owner) == self.incarnation
    }

    /// Takes lease `name` for worker `slot`.
    pub async fn acquire(
        &self,
        name: &str,
        slot: u16,
    ) -> Result<Result<Lease, LeaseError>, MetaError> {
        let owner = owner_id(self.incarnation, slot);
        let now = crate::clock::now_nanos();
        let me = self.incarnation;
        let r = self
            .meta
            .commit(|t| acquire(t, name, owner, now, self.ttl, |o| incarnation_of(o) != me))
            .await?;
        Ok(r.map(|_| self.held(name, owner)))
    }

    /// Extends `lease`.
    pub async fn renew(&self, lease: &Lease) -> Result<Result<Lease, LeaseError>, MetaError> {
        let now = crate::clock::now_nanos();
        let r = self
            .meta
            .commit(|t| renew(t, &lease.name, lease.owner, now, self.ttl))
            .await?;
        Ok(r.map(|_| self.held(&lease.name, lease.owner)))
    }

    /// Lets `lease` go.
    pub async fn release(&self, lease: &Lease) -> Result<Result<(), LeaseError>, MetaError> {
        let r = self
            .meta
            .commit(|t| release(t, &lease.name, lease.owner))
            .await?;
        Ok(r.map(|_| ()))
    }

    fn held(&self, name: &str, owner: u64) -> Lease {
        let expires_nanos = self
            .meta
            .read(|t| t.leases.get(name).map(|l| l.expires_nanos))
            .unwrap_or_default();
        Lease {
            name: name.to_string(),
            owner,
            expires_nanos,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::mdlog::MdEntry;

    fn apply(t: &mut MetaTable, op: MdOp) {
        let e = MdEntry {
            marker: t.applied + 1,
            time_nanos: 0,
            source_zone: 1,
            op,
        };
        t.apply(&e);
    }

    const TTL: Duration = Duration::from_secs(10);
    const S: u64 = 1_000_000_000;

    #[test]
    fn a_lease_is_exclusive_until_it_lapses() {
        let mut t = MetaTable::default();
        let (a, b) = (owner_id(1, 1), owner_id(1, 2));
        let alive = |_| false;
        let op = acquire(&t, "jobs", a, 100 * S, TTL, alive).unwrap();
        apply(&mut t, op);
        assert_eq!(t.leases["jobs"].expires_nanos, 110 * S);
        // Another live owner waits for the lapse.
        assert!(matches!(
            acquire(&t, "jobs", b, 109 * S, TTL, alive),
            Err(LeaseError::Held { owner, .. }) if owner == a
        ));
        // Renewal pushes the lapse out.
        let op = renew(&t, "jobs", a, 105 * S, TTL).unwrap();
        apply(&mut t, op);
        assert!(acquire(&t, "jobs", b, 114 * S, TTL, alive).is_err());
        // Lapsed: taken over; the old owner's renewal is refused.
        let op = acquire(&t, "jobs", b, 115 * S, TTL, alive).unwrap();
        apply(&mut t, op);
        assert_eq!(
            renew(&t, "jobs", a, 116 * S, TTL),
            Err(LeaseError::NotHeld {
                name: "jobs".into(),
                owner: a
            })
        );
        assert!(release(&t, "jobs", a).is_err());
        let op = release(&t, "jobs", b).unwrap();
        apply(&mut t, op);
        assert!(t.leases.is_empty());
        // Free: anyone.
        assert!(acquire(&t, "jobs", a, 0, TTL, alive).is_ok());
    }

    #[test]
    fn a_gone_incarnation_s_lease_is_taken_over_at_once() {
        let mut t = MetaTable::default();
        let old = owner_id(7, 1);
        let new = owner_id(8, 1);
        let op = acquire(&t, "expiry", old, 100 * S, TTL, |_| false).unwrap();
        apply(&mut t, op);
        assert!(acquire(&t, "expiry", new, 101 * S, TTL, |_| false).is_err());
        let gone = |o| incarnation_of(o) != 8;
        let op = acquire(&t, "expiry", new, 101 * S, TTL, gone).unwrap();
        apply(&mut t, op);
        assert_eq!(t.leases["expiry"].owner, new);
        assert_eq!(incarnation_of(new), 8);
    }
}
