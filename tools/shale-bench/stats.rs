//! Tallies: each worker keeps its own (every latency, in microseconds),
//! they are merged once the workers are done, and percentiles come from
//! sorting the merged latencies (exact, and small: 4 bytes an operation).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ops::OpResult;

/// The failures a tally keeps word for word; the rest are only counted.
pub const ERRORS_KEPT_MAX: usize = 10;

const MIB: f64 = 1024.0 * 1024.0;

/// What was timed, one row of the report each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Get,
    Put,
    Stat,
    Delete,
    List,
    Multipart,
    CreateBucket,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Get => "GET",
            Kind::Put => "PUT",
            Kind::Stat => "STAT",
            Kind::Delete => "DELETE",
            Kind::List => "LIST",
            Kind::Multipart => "MULTIPART",
            Kind::CreateBucket => "CREATE-BUCKET",
        }
    }
}

/// One kind's figures: successful operations, what they moved, how long
/// each took; failures counted apart.
#[derive(Debug, Default)]
pub struct OpStats {
    pub ops: u64,
    pub bytes: u64,
    pub objects: u64,
    pub errors: u64,
    pub latencies_us: Vec<u32>,
}

/// A worker's (or, merged, a phase's) tallies.
#[derive(Debug, Default)]
pub struct Tally {
    pub kinds: BTreeMap<Kind, OpStats>,
    pub first_errors: Vec<String>,
}

impl Tally {
    /// Records one operation started at `started`; returns whether it
    /// succeeded.
    pub fn record(&mut self, kind: Kind, started: Instant, result: OpResult) -> bool {
        let us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        let s = self.kinds.entry(kind).or_default();
        match result {
            Ok(done) => {
                s.ops += 1;
                s.bytes += done.bytes;
                s.objects += done.objects;
                s.latencies_us.push(us);
                true
            }
            Err(e) => {
                s.errors += 1;
                self.note_error(e);
                false
            }
        }
    }

    /// Keeps a failure that isn't one operation's (a worker that could not
    /// start, say).
    pub fn note_error(&mut self, e: String) {
        if self.first_errors.len() < ERRORS_KEPT_MAX {
            self.first_errors.push(e);
        }
    }

    pub fn merge(&mut self, other: Tally) {
        for (kind, o) in other.kinds {
            let s = self.kinds.entry(kind).or_default();
            s.ops += o.ops;
            s.bytes += o.bytes;
            s.objects += o.objects;
            s.errors += o.errors;
            s.latencies_us.extend(o.latencies_us);
        }
        for e in other.first_errors {
            self.note_error(e);
        }
    }

    pub fn ops(&self) -> u64 {
        self.kinds.values().map(|s| s.ops).sum()
    }

    pub fn objects(&self) -> u64 {
        self.kinds.values().map(|s| s.objects).sum()
    }

    /// Failed operations, plus failures kept that were no operation's.
    pub fn errors(&self) -> u64 {
        let counted: u64 = self.kinds.values().map(|s| s.errors).sum();
        counted.max(self.first_errors.len() as u64)
    }

    /// One row per kind, rates over `elapsed`.
    pub fn summaries(&mut self, elapsed: Duration) -> Vec<Summary> {
        let secs = elapsed.as_secs_f64().max(1e-9);
        self.kinds
            .iter_mut()
            .map(|(kind, s)| {
                s.latencies_us.sort_unstable();
                Summary {
                    op: kind.label(),
                    ops: s.ops,
                    ops_per_sec: s.ops as f64 / secs,
                    mib_per_sec: s.bytes as f64 / MIB / secs,
                    bytes: s.bytes,
                    objects: s.objects,
                    objects_per_sec: s.objects as f64 / secs,
                    errors: s.errors,
                    latency_us: Latency::of_sorted(&s.latencies_us),
                }
            })
            .collect()
    }
}

/// One operation kind's figures over a run.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub op: &'static str,
    pub ops: u64,
    pub ops_per_sec: f64,
    pub mib_per_sec: f64,
    pub bytes: u64,
    /// Keys moved: one per object operation, all deleted by a
    /// DeleteObjects, all listed by a listing walk.
    pub objects: u64,
    pub objects_per_sec: f64,
    pub errors: u64,
    pub latency_us: Latency,
}

/// Latency percentiles of the successful operations, in microseconds.
#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub max: u32,
    pub mean: f64,
}

impl Latency {
    fn of_sorted(v: &[u32]) -> Latency {
        if v.is_empty() {
            return Latency::default();
        }
        let sum: u64 = v.iter().map(|&x| u64::from(x)).sum();
        Latency {
            p50: percentile(v, 50.0),
            p90: percentile(v, 90.0),
            p99: percentile(v, 99.0),
            max: v.last().copied().unwrap_or(0),
            mean: sum as f64 / v.len() as f64,
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u32], p: f64) -> u32 {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        let l = Latency::of_sorted(&v);
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50, 90, 99, 100));
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn merged_tallies_add_up_and_keep_few_errors() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        let t = Instant::now();
        for _ in 0..3 {
            a.record(Kind::Get, t, Ok(Default::default()));
        }
        for i in 0..(ERRORS_KEPT_MAX + 5) {
            b.record(Kind::Get, t, Err(format!("e{i}")));
        }
        a.merge(b);
        assert_eq!(a.ops(), 3);
        assert_eq!(a.errors(), ERRORS_KEPT_MAX as u64 + 5);
        assert_eq!(a.first_errors.len(), ERRORS_KEPT_MAX);
        assert_eq!(a.summaries(Duration::from_secs(1))[0].ops, 3);
    }
}
