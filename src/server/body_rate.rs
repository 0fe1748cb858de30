//! The minimum rate a request body must arrive at: after a grace period,
//! every window of the client's time must bring at least
//! `bytes_per_sec * window` bytes, or the body is cut (RequestTimeout).
//!
//! A body trickling a byte every few seconds is never idle, so an idle
//! timeout alone lets it hold its buffers, its connection and its index
//! transaction for as long as the client likes. Only time spent waiting
//! for the client's bytes counts: while the server is not reading (its
//! upload budget spent, the disk behind) the client is not to blame.
//! Pure: the caller measures the waits.

use std::time::Duration;

/// The policy (`http.body_min_bytes_per_sec`, `http.body_rate_window_secs`,
/// `http.body_rate_grace_secs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinRate {
    pub bytes_per_sec: u64,
    pub window: Duration,
    /// At the start, on top of the first window: a slow start (TCP slow
    /// start, a client computing a checksum, `100-continue`) is fine.
    pub grace: Duration,
}

/// A body's progress against a [`MinRate`].
#[derive(Clone, Debug)]
pub struct RateGate {
    policy: Option<MinRate>,
    /// Client time so far.
    waited: Duration,
    /// When (in client time) the current window closes.
    window_end: Duration,
    /// Bytes received in the current window.
    window_bytes: u64,
}

/// The body came too slowly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooSlow {
    pub got: u64,
    pub wanted: u64,
}

impl RateGate {
    /// `None`: no minimum.
    pub fn new(policy: Option<MinRate>) -> RateGate {
        let policy = policy.filter(|p| p.bytes_per_sec > 0 && !p.window.is_zero());
        RateGate {
            window_end: policy.map_or(Duration::ZERO, |p| p.grace + p.window),
            policy,
            waited: Duration::ZERO,
            window_bytes: 0,
        }
    }

    /// How long the next wait for bytes may last before the current
    /// window closes and must be checked (`None`: no limit).
    pub fn deadline(&self) -> Option<Duration> {
        self.policy
            .map(|_| self.window_end.saturating_sub(self.waited))
    }

    /// `bytes` arrived after a wait of `waited` (0 bytes: the wait reached
    /// the deadline). Fails when a window closed with too few bytes.
    pub fn record(&mut self, waited: Duration, bytes: u64) -> Result<(), TooSlow> {
        let Some(p) = self.policy else {
            return Ok(());
        };
        self.waited += waited;
        self.window_bytes = self.window_bytes.saturating_add(bytes);
        if self.waited < self.window_end {
            return Ok(());
        }
        let wanted = wanted_in(p);
        if self.window_bytes < wanted {
            return Err(TooSlow {
                got: self.window_bytes,
                wanted,
            });
        }
        self.window_bytes = 0;
        self.window_end = self.waited + p.window;
        Ok(())
    }
}

fn wanted_in(p: MinRate) -> u64 {
    let ms = u64::try_from(p.window.as_millis()).unwrap_or(u64::MAX);
    p.bytes_per_sec.saturating_mul(ms) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn gate() -> RateGate {
        RateGate::new(Some(MinRate {
            bytes_per_sec: 100,
            window: 2 * S,
            grace: 3 * S,
        }))
    }

    #[test]
    fn the_first_window_includes_the_grace_period() {
        let mut g = gate();
        assert_eq!(g.deadline(), Some(5 * S));
        // Nothing for 4 s, then the window's 200 bytes: fine.
        assert_eq!(g.record(4 * S, 0), Ok(()));
        assert_eq!(g.deadline(), Some(S));
        assert_eq!(g.record(S, 200), Ok(()));
        assert_eq!(g.deadline(), Some(2 * S));
    }

    #[test]
    fn a_trickle_is_cut_at_the_end_of_a_window() {
        let mut g = gate();
        // A byte a second passes the grace but not the window.
        for _ in 0..4 {
            assert_eq!(g.record(S, 1), Ok(()));
        }
        assert_eq!(
            g.record(S, 1),
            Err(TooSlow {
                got: 5,
                wanted: 200
            })
        );
    }

    #[test]
    fn a_client_that_sends_nothing_is_cut_at_the_deadline() {
        let mut g = gate();
        assert_eq!(g.record(S, 500), Ok(()));
        let d = g.deadline().unwrap_or_default();
        assert_eq!(d, 4 * S);
        // The first window had its bytes; the second gets none.
        assert_eq!(g.record(d, 0), Ok(()));
        let d = g.deadline().unwrap_or_default();
        assert_eq!(
            g.record(d, 0),
            Err(TooSlow {
                got: 0,
                wanted: 200
            })
        );
    }

    #[test]
    fn fast_bodies_and_no_policy_always_pass() {
        let mut g = gate();
        for _ in 0..1000 {
            assert_eq!(g.record(Duration::from_millis(10), 64 * 1024), Ok(()));
        }
        let mut off = RateGate::new(None);
        assert_eq!(off.deadline(), None);
        assert_eq!(off.record(3600 * S, 0), Ok(()));
        let zero = RateGate::new(Some(MinRate {
            bytes_per_sec: 0,
            window: S,
            grace: S,
        }));
        assert_eq!(zero.deadline(), None);
    }
}
