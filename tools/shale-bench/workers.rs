//! The phases of a run (prepare, the benchmark, cleanup): each is a set of
//! worker threads, one client (one keep-alive connection) and one tally
//! apiece, taking work until the deadline passes or the work runs out,
//! with a progress line on stderr once a second.

use std::io::Write;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use xxhash_rust::xxh64::xxh64;

use crate::args::{Config, Op, DELETE_BATCH_MAX};
use crate::mixed::{Action, Pool};
use crate::ops::{self, Ctx};
use crate::stats::{Kind, Tally};

const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// Cleanup splits the keys into this many batches per worker (or fewer,
/// when batches would pass 1000 keys) so slow batches even out.
const CLEANUP_BATCHES_PER_WORKER: usize = 4;
/// How long a mixed worker waits when no object fits its operation.
const CLAIM_RETRY_PAUSE: Duration = Duration::from_micros(100);

/// What a phase's workers share.
pub struct Shared {
    /// The next object number (or batch start) to take.
    next: AtomicU64,
    /// Operations finished, for the progress line.
    done: AtomicU64,
    /// Ends the phase early (a worker could not start, prepare failed).
    stop: AtomicBool,
    deadline: Option<Instant>,
}

impl Shared {
    fn go_on(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.deadline.is_none_or(|d| Instant::now() < d)
    }

    /// The next number below `limit` (if any limit), None when they ran
    /// out or the phase is over.
    fn take(&self, limit: Option<u64>) -> Option<u64> {
        if !self.go_on() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        limit.is_none_or(|l| n < l).then_some(n)
    }

    /// The next `count` numbers below `limit`.
    fn take_range(&self, count: u64, limit: u64) -> Option<Range<u64>> {
        if !self.go_on() {
            return None;
        }
        let start = self.next.fetch_add(count, Ordering::Relaxed);
        (start < limit).then(|| start..(start + count).min(limit))
    }

    /// Records one operation in `tally` and in the progress count.
    fn record(&self, tally: &mut Tally, kind: Kind, started: Instant, r: ops::OpResult) -> bool {
        self.done.fetch_add(1, Ordering::Relaxed);
        tally.record(kind, started, r)
    }
}

/// How a phase runs.
struct Phase<'a> {
    label: &'a str,
    threads: usize,
    progress: bool,
    /// Operations the phase will do, when known (shown as n/total).
    total: Option<u64>,
    duration: Option<Duration>,
}

/// Runs `work(worker, shared, tally)` on the phase's threads; their merged
/// tally and the phase's wall time.
fn run<F>(phase: &Phase<'_>, work: F) -> (Tally, Duration)
where
    F: Fn(usize, &Shared, &mut Tally) + Sync,
{
    let started = Instant::now();
    let shared = Shared {
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        deadline: phase.duration.map(|d| started + d),
    };
    let finished = AtomicBool::new(false);
    let mut tally = Tally::default();
    let mut elapsed = Duration::ZERO;
    thread::scope(|s| {
        let mut workers = Vec::with_capacity(phase.threads);
        for w in 0..phase.threads.max(1) {
            let (shared, work) = (&shared, &work);
            let spawned = thread::Builder::new()
                .name(format!("bench-{w}"))
                .spawn_scoped(s, move || {
                    let mut t = Tally::default();
                    work(w, shared, &mut t);
                    t
                });
            match spawned {
                Ok(h) => workers.push(h),
                Err(e) => {
                    tally.note_error(format!("starting worker thread {w}: {e}"));
                    shared.stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
        let ticker = phase
            .progress
            .then(|| {
                thread::Builder::new()
                    .name("bench-progress".into())
                    .spawn_scoped(s, || progress(phase, &shared, &finished))
                    .ok()
            })
            .flatten();
        for h in workers {
            match h.join() {
                Ok(t) => tally.merge(t),
                Err(_) => tally.note_error("a worker thread panicked".into()),
            }
        }
        elapsed = started.elapsed();
        finished.store(true, Ordering::Relaxed);
        if let Some(t) = ticker {
            t.thread().unpark();
            let _ = t.join();
        }
    });
    (tally, elapsed)
}

/// Prints `label: n ops, r ops/s` over itself once a second until
/// `finished`, then clears the line.
fn progress(phase: &Phase<'_>, shared: &Shared, finished: &AtomicBool) {
    let mut last = (Instant::now(), 0u64);
    let mut err = std::io::stderr();
    while !finished.load(Ordering::Relaxed) {
        thread::park_timeout(PROGRESS_INTERVAL.saturating_sub(last.0.elapsed()));
        if finished.load(Ordering::Relaxed) || last.0.elapsed() < PROGRESS_INTERVAL {
            continue;
        }
        let done = shared.done.load(Ordering::Relaxed);
        let rate = (done - last.1) as f64 / last.0.elapsed().as_secs_f64();
        let count = match phase.total {
            Some(total) => format!("{done}/{total}"),
            None => done.to_string(),
        };
        let _ = write!(
            err,
            "\r\x1b[2K{}: {count} ops, {rate:.0} ops/s",
            phase.label
        );
        let _ = err.flush();
        last = (Instant::now(), done);
    }
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
}

/// PUTs objects `0..n` (not counted in the benchmark); stops at the
/// first failure.
pub fn prepare(cfg: &Config, ctx: &Ctx, n: u64) -> (Tally, Duration) {
    let phase = Phase {
        label: "prepare",
        threads: threads_for(cfg.concurrency, n),
        progress: cfg.progress,
        total: Some(n),
        duration: None,
    };
    run(&phase, |_, sh, t| {
        let mut c = ctx.client();
        let mut buf = Vec::new();
        while let Some(i) = sh.take(Some(n)) {
            let started = Instant::now();
            let r = ops::put(&mut c, ctx, &ctx.key(i), &mut buf);
            if !sh.record(t, Kind::Put, started, r) {
                sh.stop.store(true, Ordering::Relaxed);
            }
        }
    })
}

/// Creates the buckets of a --buckets run (stops at the first failure).
pub fn create_buckets(cfg: &Config, ctx: &Ctx) -> (Tally, Duration) {
    let n = cfg.buckets;
    let phase = Phase {
        label: "create buckets",
        threads: threads_for(cfg.concurrency, n),
        progress: cfg.progress,
        total: Some(n),
        duration: None,
    };
    run(&phase, |_, sh, t| {
        let mut c = ctx.client();
        while let Some(i) = sh.take(Some(n)) {
            let started = Instant::now();
            let r = ops::create_bucket_op(&mut c, &ctx.bucket_name(i));
            if !sh.record(t, Kind::CreateBucket, started, r) {
                sh.stop.store(true, Ordering::Relaxed);
            }
        }
    })
}

/// The benchmark itself: `prepared` objects exist when the op needs them.
pub fn bench(cfg: &Config, ctx: &Ctx, prepared: u64) -> (Tally, Duration) {
    let phase = Phase {
        label: cfg.op.name(),
        threads: cfg.concurrency,
        progress: cfg.progress,
        total: None,
        duration: cfg.duration,
    };
    let pool = Pool::new(if cfg.op == Op::Mixed { prepared } else { 0 });
    run(&phase, |w, sh, t| {
        let mut c = ctx.client();
        let mut buf = Vec::new();
        let mut rng = Rng::new(xxh64(ctx.prefix.as_bytes(), w as u64));
        match cfg.op {
            Op::Put => {
                while let Some(i) = sh.take(cfg.objects) {
                    let started = Instant::now();
                    let r = ops::put_to(&mut c, ctx, &ctx.bucket_for(i), &ctx.key(i), &mut buf);
                    sh.record(t, Kind::Put, started, r);
                }
            }
            Op::Multipart { part_bytes } => {
                while let Some(i) = sh.take(cfg.objects) {
                    let started = Instant::now();
                    let r = ops::multipart(&mut c, ctx, &ctx.key(i), part_bytes, &mut buf);
                    sh.record(t, Kind::Multipart, started, r);
                }
            }
            Op::Get | Op::Stat => {
                while sh.go_on() {
                    let key = ctx.key(rng.below(prepared));
                    let started = Instant::now();
                    let (kind, r) = if cfg.op == Op::Get {
                        (Kind::Get, ops::get(&mut c, ctx, &key))
                    } else {
                        (Kind::Stat, ops::stat(&mut c, ctx, &key))
                    };
                    sh.record(t, kind, started, r);
                }
            }
            Op::Delete { batch } => {
                while let Some(range) = sh.take_range(batch as u64, prepared) {
                    let keys: Vec<String> = range.map(|i| ctx.key(i)).collect();
                    let started = Instant::now();
                    let r = ops::delete_batch(&mut c, &ctx.bucket, &keys);
                    sh.record(t, Kind::Delete, started, r);
                }
            }
            Op::List => {
                // Its own objects: all of them; existing ones: --objects.
                let expect = if cfg.prepares() {
                    Some(prepared)
                } else {
                    cfg.objects
                };
                while sh.go_on() {
                    let started = Instant::now();
                    let r = ops::list(&mut c, ctx, expect);
                    sh.record(t, Kind::List, started, r);
                }
            }
            Op::Mixed => {
                while sh.go_on() {
                    let Some(action) = pool.claim(rng.below(100), rng.below(prepared)) else {
                        // Every object is busy: more workers than objects.
                        thread::sleep(CLAIM_RETRY_PAUSE);
                        continue;
                    };
                    let started = Instant::now();
                    let (kind, r) = match action {
                        Action::Get(i) => (Kind::Get, ops::get(&mut c, ctx, &ctx.key(i))),
                        Action::Put(i) => (Kind::Put, ops::put(&mut c, ctx, &ctx.key(i), &mut buf)),
                        Action::Stat(i) => (Kind::Stat, ops::stat(&mut c, ctx, &ctx.key(i))),
                        Action::Delete(i) => (Kind::Delete, ops::delete(&mut c, ctx, &ctx.key(i))),
                    };
                    let ok = sh.record(t, kind, started, r);
                    pool.release(action, ok);
                }
            }
        }
    })
}

/// Deletes every object under the run's prefix with DeleteObjects
/// batches from all workers: a few batches per worker (the server deletes
/// a batch's keys one after another), at most 1000 keys each.
pub fn cleanup(cfg: &Config, ctx: &Ctx) -> (Tally, Duration) {
    let started = Instant::now();
    let mut c = ctx.client();
    let keys = match ops::list_keys(&mut c, ctx) {
        Ok(keys) => keys,
        Err(e) => {
            let mut t = Tally::default();
            t.record(Kind::List, started, Err(format!("cleanup: {e}")));
            return (t, started.elapsed());
        }
    };
    let batch = keys
        .len()
        .div_ceil(cfg.concurrency.saturating_mul(CLEANUP_BATCHES_PER_WORKER))
        .clamp(1, DELETE_BATCH_MAX);
    let batches: Vec<&[String]> = keys.chunks(batch).collect();
    let phase = Phase {
        label: "cleanup",
        threads: threads_for(cfg.concurrency, batches.len() as u64),
        progress: cfg.progress,
        total: Some(batches.len() as u64),
        duration: None,
    };
    let (tally, _) = run(&phase, |_, sh, t| {
        let mut c = ctx.client();
        while let Some(i) = sh.take(Some(batches.len() as u64)) {
            let Some(keys) = batches.get(i as usize) else {
                break;
            };
            let started = Instant::now();
            let r = ops::delete_batch(&mut c, &ctx.bucket, keys);
            sh.record(t, Kind::Delete, started, r);
        }
    });
    (tally, started.elapsed())
}

/// Threads for `work` items: no more than there are items.
fn threads_for(concurrency: usize, work: u64) -> usize {
    usize::try_from(work).map_or(concurrency, |w| concurrency.min(w).max(1))
}

/// xorshift64*: cheap, per worker, good enough to pick objects.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// A number below `n` (0 when n is 0).
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0
            .wrapping_mul(0x2545_F491_4F6C_DD1D)
            .checked_rem(n)
            .unwrap_or(0)
    }
}
