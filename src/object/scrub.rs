//! The scrub: a throttled pass that reads every record of every data
//! segment (asking the kernel to drop its cached pages of sealed segments
//! first, so the bytes come from the disk) and every page of every
//! bucket index tree, and verifies their checksums. Findings are kept for
//! the admin API and counted in metrics; reads of a damaged object
//! already fail on their own CRC check (an error, never wrong bytes).
//! Runs on its own thread with blocking reads.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde::Serialize;

use super::ObjectStore;
use crate::io::{Io, OpenMode};
use crate::segment::recover::list_segments;
use crate::segment::scan::{self, Tail};
use crate::segment::segment_path;

/// One problem a scrub found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// "segment" or "index".
    pub kind: String,
    /// The segment file, or `bucket/shard`.
    pub location: String,
    /// Byte offset in the segment (0 for index findings).
    pub offset: u64,
    pub error: String,
}

/// What the last finished pass did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PassReport {
    pub started_unix_secs: u64,
    pub seconds: f64,
    pub segments: u64,
    pub records: u64,
    pub bytes: u64,
    pub index_pages: u64,
    pub findings: Vec<Finding>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScrubStatus {
    pub running: bool,
    pub passes: u64,
    /// Bytes read by the pass in progress.
    pub bytes_so_far: u64,
    pub last: Option<PassReport>,
    /// Bytes verified by every pass, for metrics.
    pub bytes_total: u64,
}

/// The scrub's state and its trigger; shared with the admin API.
#[derive(Default)]
pub struct Scrub {
    status: Mutex<ScrubStatus>,
    /// Set to ask for a pass now.
    wake: Mutex<bool>,
    cv: Condvar,
}

impl Scrub {
    pub fn status(&self) -> ScrubStatus {
        self.status.lock().clone()
    }

    /// Asks the scrub thread for a pass now.
    pub fn trigger(&self) {
        *self.wake.lock() = true;
        self.cv.notify_all();
    }

    /// Waits up to `timeout` for a trigger; true if one came.
    fn wait(&self, timeout: Option<Duration>) -> bool {
        let mut w = self.wake.lock();
        if !*w {
            match timeout {
                Some(t) => {
                    let _ = self.cv.wait_for(&mut w, t);
                }
                None => self.cv.wait(&mut w),
            }
        }
        std::mem::take(&mut *w)
    }

    /// The scrub thread's loop: a pass every `interval` (never with
    /// `None`), or when triggered, if `may_run` says so (the worker holds
    /// its lease); at most `mib_per_sec` read.
    pub fn run_forever(
        &self,
        store: &ObjectStore,
        interval: Option<Duration>,
        mib_per_sec: u64,
        mut may_run: impl FnMut() -> bool,
    ) {
        loop {
            self.wait(interval);
            if may_run() {
                self.pass(store, mib_per_sec);
            }
        }
    }

    /// One whole pass.
    pub fn pass(&self, store: &ObjectStore, mib_per_sec: u64) -> PassReport {
        let started = Instant::now();
        {
            let mut s = self.status.lock();
            s.running = true;
            s.bytes_so_far = 0;
        }
        let mut report = PassReport {
            started_unix_secs: crate::clock::now_nanos() / 1_000_000_000,
            ..PassReport::default()
        };
        let budget = mib_per_sec.max(1).saturating_mul(1024 * 1024);
        let dir = store.segments().dir().to_path_buf();
        let io = Io::portable();
        if let Ok((ids, _)) = list_segments(&io, &dir) {
            let last = ids.last().copied();
            for id in ids {
                self.scrub_segment(
                    &io,
                    segment_path(&dir, id),
                    Some(id) == last,
                    budget,
                    started,
                    &mut report,
                );
            }
        }
        for b in store.all_buckets() {
            let (pages, problems) = b.index.scrub_pages();
            report.index_pages += pages;
            for (shard, error) in problems {
                report.findings.push(Finding {
                    kind: "index".into(),
                    location: format!("{}/shard {shard}", b.name),
                    offset: 0,
                    error,
                });
            }
        }
        report.seconds = started.elapsed().as_secs_f64();
        let mut s = self.status.lock();
        s.running = false;
        s.passes += 1;
        s.bytes_total = s.bytes_total.saturating_add(report.bytes);
        s.last = Some(report.clone());
        report
    }

    fn scrub_segment(
        &self,
        io: &Io,
        path: PathBuf,
        active: bool,
        budget_per_sec: u64,
        started: Instant,
        report: &mut PassReport,
    ) {
        let mut find = |offset: u64, error: String| {
            report.findings.push(Finding {
                kind: "segment".into(),
                location: path.display().to_string(),
                offset,
                error,
            })
        };
        let file = match io.open(&path, OpenMode::Read) {
            Ok(f) => f,
            // Removed since it was listed (compaction): nothing to check.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => return find(0, format!("cannot open: {e}")),
        };
        if !active {
            drop_cached(&path);
        }
        let read_before = report.bytes;
        let mut bytes = report.bytes;
        let scanned = scan::scan_segment(&file, |r, _| {
            bytes = bytes.saturating_add(u64::from(r.len()));
            // Throttle: never ahead of the budget since the pass began.
            let allowed = started.elapsed().as_secs_f64() * budget_per_sec as f64;
            if bytes as f64 > allowed {
                let ahead = (bytes as f64 - allowed) / budget_per_sec as f64;
                std::thread::sleep(Duration::from_secs_f64(ahead.min(1.0)));
            }
            if (bytes - read_before) % (8 * 1024 * 1024) < u64::from(r.len()) {
                self.status.lock().bytes_so_far = bytes;
            }
        });
        report.bytes = bytes;
        report.segments += 1;
        match scanned {
            Ok(r) => {
                report.records += r.records;
                match r.tail {
                    Tail::Clean => {}
                    // The active segment's end may be a batch being written.
                    Tail::Torn { .. } if active => {}
                    Tail::Torn { offset, reason } => find(offset, reason),
                    Tail::Corrupt { offset, reason, .. } => find(offset, reason),
                }
            }
            Err(e) => find(0, e.to_string()),
        }
    }
}

/// Asks the kernel to forget its cached pages of a (sealed, immutable)
/// file, so the next reads come from the disk.
fn drop_cached(path: &std::path::Path) {
    use std::os::unix::io::AsRawFd;
    if let Ok(f) = std::fs::File::open(path) {
        // SAFETY: posix_fadvise only reads the descriptor, which `f` keeps
        // open for the call; a failure only leaves the cache as it was.
        unsafe {
            libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
}
