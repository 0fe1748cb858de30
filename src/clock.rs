//! Wall-clock time as the formats record it, and the clock that decides
//! expiry. The expiry clock is wall-clock seconds plus an offset that only
//! a node started with `SHALE_TEST_CLOCK=1` lets tests move (through the
//! admin API), so expiry tests never sleep.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

static EXPIRY_OFFSET_SECS: AtomicI64 = AtomicI64::new(0);
/// A frozen expiry clock (tests): when non-zero, the expiry clock reads
/// this and does not move.
static EXPIRY_FROZEN_SECS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static TEST_CLOCK: AtomicBool = AtomicBool::new(false);

/// The variable that lets tests move the expiry clock.
pub const TEST_CLOCK_ENV: &str = "SHALE_TEST_CLOCK";

/// Seconds since the Unix epoch on the expiry clock: an entry whose
/// expiry is at or before this is gone.
pub fn expiry_now_secs() -> u64 {
    let frozen = EXPIRY_FROZEN_SECS.load(Ordering::Relaxed);
    if frozen != 0 {
        return frozen;
    }
    (now_nanos() / 1_000_000_000).saturating_add_signed(EXPIRY_OFFSET_SECS.load(Ordering::Relaxed))
}

/// Stops the expiry clock at `secs` (tests only; 0 lets it run again);
/// false if the test clock is off.
pub fn freeze_expiry_clock(secs: u64) -> bool {
    if !test_clock_enabled() {
        return false;
    }
    EXPIRY_FROZEN_SECS.store(secs, Ordering::Relaxed);
    true
}

/// Turns on the movable expiry clock (from `SHALE_TEST_CLOCK=1`).
pub fn enable_test_clock() {
    TEST_CLOCK.store(true, Ordering::Relaxed);
}

pub fn test_clock_enabled() -> bool {
    TEST_CLOCK.load(Ordering::Relaxed)
}

/// Moves the expiry clock forward by `secs` (tests only); the new offset,
/// or `None` if the test clock is off.
pub fn advance_expiry_clock(secs: i64) -> Option<i64> {
    if !test_clock_enabled() {
        return None;
    }
    Some(EXPIRY_OFFSET_SECS.fetch_add(secs, Ordering::Relaxed) + secs)
}
