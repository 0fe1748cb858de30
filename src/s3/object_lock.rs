//! Object Lock (WORM): a version's retention (GOVERNANCE or COMPLIANCE
//! until a time) and legal hold, the bucket's default retention, and the
//! one rule every delete path asks: may this version go now? Pure.
//!
//! A version's lock state is 16 bytes, the same in the object head and
//! in the index entry (`format-spec/object.md`, `format-spec/index.md`),
//! so the index can refuse a delete without reading the head:
//!
//! ```text
//!  0  1  mode               0 none, 1 GOVERNANCE, 2 COMPLIANCE
//!  1  1  legal_hold         0 off, 1 on
//!  2  6  reserved           zero
//!  8  8  retain_until_secs  Unix seconds; 0 exactly when mode is 0
//! ```
//!
//! An all-empty state (no mode, no hold) is never encoded: a record
//! without a lock has no lock section at all.
//!
//! Time is the expiry clock (`crate::clock::expiry_now_secs`): retention
//! and expiry are decided by the same clock, so a version whose lifecycle
//! expiry is deferred to its retention end goes exactly when it may.

use http::HeaderMap;
use thiserror::Error;

use crate::le::{put, u64_at};
use crate::s3::{time, S3Error, S3ErrorCode};

/// Bytes of an encoded lock state.
pub const LOCK_LEN: usize = 16;

/// Retention modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockMode {
    /// Users allowed `s3:BypassGovernanceRetention` may delete early (with
    /// `x-amz-bypass-governance-retention: true`) and shorten it.
    Governance,
    /// Nobody may delete early or shorten it, root included.
    Compliance,
}

impl LockMode {
    pub fn name(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    pub fn from_name(s: &str) -> Option<LockMode> {
        match s.trim() {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            LockMode::Governance => 1,
            LockMode::Compliance => 2,
        }
    }
}

/// A version's retention (mode and until when), if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub mode: LockMode,
    /// Unix seconds (> 0).
    pub until_secs: u64,
}

/// A version's lock state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectLock {
    pub retention: Option<Retention>,
    pub legal_hold: bool,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LockError {
    #[error("lock state is {0} bytes, {LOCK_LEN} needed")]
    Truncated(usize),
    #[error("unknown retention mode {0}")]
    UnknownMode(u8),
    #[error("legal hold byte is {0}, not 0 or 1")]
    BadLegalHold(u8),
    #[error("reserved lock byte {0} is not zero")]
    ReservedNotZero(usize),
    #[error("retention mode and retain-until time disagree (one is zero)")]
    ModeWithoutTime,
    #[error("an empty lock state is never encoded")]
    Empty,
}

/// Why a delete is refused (also the `/metrics` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    LegalHold,
    Compliance,
    Governance,
}

impl Refusal {
    pub const ALL: [Refusal; 3] = [Refusal::LegalHold, Refusal::Compliance, Refusal::Governance];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::LegalHold => "legal_hold",
            Refusal::Compliance => "compliance",
            Refusal::Governance => "governance",
        }
    }

    /// The S3 error a refused delete answers (AWS: 403 AccessDenied).
    pub fn error(self) -> S3Error {
        let why = match self {
            Refusal::LegalHold => "it is under a legal hold",
            Refusal::Compliance => "its COMPLIANCE retention has not passed",
            Refusal::Governance => {
                "its GOVERNANCE retention has not passed (x-amz-bypass-governance-retention needs s3:BypassGovernanceRetention)"
            }
        };
        S3Error::new(
            S3ErrorCode::AccessDenied,
            format!("Access Denied because object protected by object lock: {why}."),
        )
    }
}

impl ObjectLock {
    pub fn is_empty(&self) -> bool {
        self.retention.is_none() && !self.legal_hold
    }

    /// Whether deleting the version at `now_secs` is refused, and why;
    /// `bypass`: the caller asked to bypass GOVERNANCE and may.
    pub fn refusal(&self, now_secs: u64, bypass: bool) -> Option<Refusal> {
        if self.legal_hold {
            return Some(Refusal::LegalHold);
        }
        match self.retention {
            Some(r) if r.until_secs > now_secs => match r.mode {
                LockMode::Compliance => Some(Refusal::Compliance),
                LockMode::Governance if bypass => None,
                LockMode::Governance => Some(Refusal::Governance),
            },
            _ => None,
        }
    }

    /// The expiry slot (Unix seconds, 0: none) a version with this lock
    /// may have when its rules or `X-Delete-At` say `slot`: never before
    /// its retention ends, and none under a legal hold (lifting the hold
    /// rewrites the entry, which sets its expiry again).
    pub fn defer_expiry(&self, slot: u64) -> u64 {
        if slot == 0 {
            return 0;
        }
        if self.legal_hold {
            return 0;
        }
        match self.retention {
            Some(r) => slot.max(r.until_secs),
            None => slot,
        }
    }

    /// Whether replacing this state by `next` is allowed at `now_secs`:
    /// a COMPLIANCE retention in force may only be extended (same mode,
    /// later or equal time); a GOVERNANCE one may be shortened, removed
    /// or changed only with `bypass`. Legal hold is separate.
    pub fn may_change_retention(
        &self,
        next: Option<Retention>,
        now_secs: u64,
        bypass: bool,
    ) -> Result<(), S3Error> {
        let Some(cur) = self.retention.filter(|r| r.until_secs > now_secs) else {
            return Ok(());
        };
        let extends = next.is_some_and(|n| n.mode == cur.mode && n.until_secs >= cur.until_secs);
        let to_compliance = cur.mode == LockMode::Governance
            && next
                .is_some_and(|n| n.mode == LockMode::Compliance && n.until_secs >= cur.until_secs);
        if extends || to_compliance {
            return Ok(());
        }
        match cur.mode {
            LockMode::Compliance => Err(S3Error::new(
                S3ErrorCode::AccessDenied,
                "Access Denied: a COMPLIANCE retention can be extended, never shortened or removed, by anyone.",
            )),
            LockMode::Governance if bypass => Ok(()),
            LockMode::Governance => Err(S3Error::new(
                S3ErrorCode::AccessDenied,
                "Access Denied: shortening or removing a GOVERNANCE retention needs x-amz-bypass-governance-retention: true and s3:BypassGovernanceRetention.",
            )),
        }
    }

    /// The 16 bytes of a non-empty state.
    pub fn encode(&self) -> [u8; LOCK_LEN] {
        let mut b = [0u8; LOCK_LEN];
        if let Some(r) = self.retention {
            put(&mut b, 0, &[r.mode.code()]);
            put(&mut b, 8, &r.until_secs.to_le_bytes());
        }
        put(&mut b, 1, &[u8::from(self.legal_hold)]);
        b
    }

    /// Checks what `decode` would refuse of `encode`'s bytes.
    pub fn validate(&self) -> Result<(), LockError> {
        if self.is_empty() {
            return Err(LockError::Empty);
        }
        if self.retention.is_some_and(|r| r.until_secs == 0) {
            return Err(LockError::ModeWithoutTime);
        }
        Ok(())
    }

    pub fn decode(b: &[u8]) -> Result<ObjectLock, LockError> {
        if b.len() < LOCK_LEN {
            return Err(LockError::Truncated(b.len()));
        }
        let byte = |at: usize| b.get(at).copied().unwrap_or_default();
        let mode = match byte(0) {
            0 => None,
            1 => Some(LockMode::Governance),
            2 => Some(LockMode::Compliance),
            m => return Err(LockError::UnknownMode(m)),
        };
        let legal_hold = match byte(1) {
            0 => false,
            1 => true,
            h => return Err(LockError::BadLegalHold(h)),
        };
        if let Some(i) = (2..8).find(|&i| byte(i) != 0) {
            return Err(LockError::ReservedNotZero(i));
        }
        let until = u64_at(b, 8).unwrap_or_default();
        let retention = match (mode, until) {
            (None, 0) => None,
            (Some(mode), t) if t != 0 => Some(Retention {
                mode,
                until_secs: t,
            }),
            _ => return Err(LockError::ModeWithoutTime),
        };
        let lock = ObjectLock {
            retention,
            legal_hold,
        };
        if lock.is_empty() {
            return Err(LockError::Empty);
        }
        Ok(lock)
    }
}

/// A bucket's default retention (ObjectLockConfiguration's `Rule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultRetention {
    pub mode: LockMode,
    /// Days (`Days`, or `Years` × 365).
    pub days: u32,
    /// Given as `Years` (shown back so).
    pub years: bool,
}

/// A bucket's ObjectLockConfiguration: enabled, and maybe a default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockConfig {
    pub default: Option<DefaultRetention>,
}

impl LockConfig {
    /// The retention a new version gets without lock headers of its own.
    pub fn default_retention(&self, now_secs: u64) -> Option<Retention> {
        self.default.map(|d| Retention {
            mode: d.mode,
            until_secs: now_secs.saturating_add(u64::from(d.days).saturating_mul(86_400)),
        })
    }
}

/// Longest default retention S3 allows (100 years).
pub const DEFAULT_DAYS_MAX: u32 = 36_500;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn invalid(msg: &str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument, msg)
}

/// Parses `x-amz-object-lock-legal-hold` / a `LegalHold` `Status`.
pub fn parse_hold(v: &str) -> Result<bool, S3Error> {
    match v.trim() {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        _ => Err(invalid("Legal Hold must be either of 'ON' or 'OFF'")),
    }
}

/// A retain-until time, which must lie after `now_secs`.
pub fn parse_until(v: &str, now_secs: u64) -> Result<u64, S3Error> {
    let t = time::parse_iso8601(v)
        .ok_or_else(|| invalid("The retain until date is not a valid ISO 8601 date and time"))?;
    if t <= now_secs {
        return Err(invalid("The retain until date must be in the future!"));
    }
    Ok(t)
}

/// The lock a write's headers ask for (`None`: no lock header came):
/// `x-amz-object-lock-mode` and `-retain-until-date` together, and/or
/// `-legal-hold`.
pub fn from_headers(h: &HeaderMap, now_secs: u64) -> Result<Option<ObjectLock>, S3Error> {
    let mode = header(h, "x-amz-object-lock-mode");
    let until = header(h, "x-amz-object-lock-retain-until-date");
    let hold = header(h, "x-amz-object-lock-legal-hold");
    if mode.is_none() && until.is_none() && hold.is_none() {
        return Ok(None);
    }
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(m), Some(u)) => Some(Retention {
            mode: LockMode::from_name(m).ok_or_else(|| invalid("Unknown wormMode directive."))?,
            until_secs: parse_until(u, now_secs)?,
        }),
        _ => return Err(invalid(
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        )),
    };
    let legal_hold = hold.map(parse_hold).transpose()?.unwrap_or(false);
    Ok(Some(ObjectLock {
        retention,
        legal_hold,
    }))
}

/// Whether a request carries a lock header at all (then it needs a
/// bucket with Object Lock, and Content-MD5 or a checksum).
pub fn has_lock_headers(h: &HeaderMap) -> bool {
    [
        "x-amz-object-lock-mode",
        "x-amz-object-lock-retain-until-date",
        "x-amz-object-lock-legal-hold",
    ]
    .iter()
    .any(|n| h.contains_key(*n))
}

/// `x-amz-bypass-governance-retention: true`.
pub fn bypass_requested(h: &HeaderMap) -> bool {
    header(h, "x-amz-bypass-governance-retention")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The response headers showing a version's lock.
pub fn response_headers(lock: &ObjectLock) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(r) = lock.retention {
        out.push(("x-amz-object-lock-mode", r.mode.name().to_string()));
        out.push((
            "x-amz-object-lock-retain-until-date",
            time::iso8601_millis(r.until_secs.saturating_mul(1_000_000_000)),
        ));
    }
    if lock.legal_hold {
        out.push(("x-amz-object-lock-legal-hold", "ON".to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(mode: Option<LockMode>, until: u64, hold: bool) -> ObjectLock {
        ObjectLock {
            retention: mode.map(|mode| Retention {
                mode,
                until_secs: until,
            }),
            legal_hold: hold,
        }
    }

    #[test]
    fn states_round_trip_and_bad_bytes_are_refused() {
        for l in [
            lock(Some(LockMode::Governance), 5, false),
            lock(Some(LockMode::Compliance), u64::MAX, true),
            lock(None, 0, true),
        ] {
            assert_eq!(ObjectLock::decode(&l.encode()), Ok(l));
        }
        let good = lock(Some(LockMode::Compliance), 9, false).encode();
        let mut b = good;
        b[0] = 3;
        assert_eq!(ObjectLock::decode(&b), Err(LockError::UnknownMode(3)));
        let mut b = good;
        b[1] = 2;
        assert_eq!(ObjectLock::decode(&b), Err(LockError::BadLegalHold(2)));
        let mut b = good;
        b[5] = 1;
        assert_eq!(ObjectLock::decode(&b), Err(LockError::ReservedNotZero(5)));
        let mut b = good;
        b[8..16].fill(0);
        assert_eq!(ObjectLock::decode(&b), Err(LockError::ModeWithoutTime));
        assert_eq!(ObjectLock::decode(&[0u8; 16]), Err(LockError::Empty));
        assert_eq!(
            ObjectLock::decode(&good[..15]),
            Err(LockError::Truncated(15))
        );
    }

    #[test]
    fn deletes_are_refused_until_retention_passes_and_no_hold_remains() {
        let g = lock(Some(LockMode::Governance), 100, false);
        assert_eq!(g.refusal(99, false), Some(Refusal::Governance));
        assert_eq!(g.refusal(99, true), None);
        assert_eq!(g.refusal(100, false), None);
        let c = lock(Some(LockMode::Compliance), 100, false);
        assert_eq!(c.refusal(99, true), Some(Refusal::Compliance));
        assert_eq!(c.refusal(100, false), None);
        let h = lock(None, 0, true);
        assert_eq!(h.refusal(u64::MAX, true), Some(Refusal::LegalHold));
    }

    #[test]
    fn compliance_is_only_extended_and_governance_needs_bypass() {
        let c = lock(Some(LockMode::Compliance), 100, false);
        let later = Some(Retention {
            mode: LockMode::Compliance,
            until_secs: 200,
        });
        let earlier = Some(Retention {
            mode: LockMode::Compliance,
            until_secs: 50,
        });
        let gov = Some(Retention {
            mode: LockMode::Governance,
            until_secs: 300,
        });
        assert!(c.may_change_retention(later, 10, false).is_ok());
        assert!(c.may_change_retention(earlier, 10, true).is_err());
        assert!(c.may_change_retention(gov, 10, true).is_err());
        assert!(c.may_change_retention(None, 10, true).is_err());
        assert!(c.may_change_retention(None, 100, false).is_ok());
        let g = lock(Some(LockMode::Governance), 100, false);
        assert!(g.may_change_retention(None, 10, false).is_err());
        assert!(g.may_change_retention(None, 10, true).is_ok());
        assert!(g.may_change_retention(later, 10, false).is_ok());
    }

    #[test]
    fn expiry_waits_for_retention_and_holds() {
        assert_eq!(
            lock(Some(LockMode::Governance), 100, false).defer_expiry(50),
            100
        );
        assert_eq!(
            lock(Some(LockMode::Governance), 100, false).defer_expiry(150),
            150
        );
        assert_eq!(lock(None, 0, true).defer_expiry(150), 0);
        assert_eq!(ObjectLock::default().defer_expiry(7), 7);
        assert_eq!(
            lock(Some(LockMode::Compliance), 100, false).defer_expiry(0),
            0
        );
    }
}
