//! Fixed-work comparison of durable appends against the raw ceiling.
//!
//! Criterion picks its own iteration counts, so raw and shale cases end up
//! writing different amounts and meet the page cache in different states
//! (a full cache makes every write reclaim pages first). This probe gives
//! each case the same work from the same state: it drops the page cache
//! before each case when it may (root), alternates raw and shale, repeats,
//! and prints medians as a Markdown table.
//!
//!   cargo run --release --example segment_probe -- [runs]

use std::time::{Duration, Instant};

#[path = "../benches/common/raw_baseline.rs"]
mod common;

use bytes::Bytes;
use shale::io::Io;
use shale::segment::{PayloadCrc, RecordKind, SegmentOptions, SegmentStore};

fn drop_caches() -> bool {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// The raw ceiling: the same appends with pwrite + fdatasync.
fn raw(size: usize, count: usize) -> Duration {
    let mut raw = common::RawAppender::new();
    let buf = vec![0xA5u8; size];
    let t = Instant::now();
    for _ in 0..count {
        raw.append(&buf);
    }
    t.elapsed()
}

/// Durable appends through the store from `conc` concurrent appenders;
/// with `caller_crc` the payload checksum comes with the append, as it
/// will from the PUT path's single hashing pass.
fn shale(io: &Io, size: usize, count: usize, conc: usize, caller_crc: bool) -> (Duration, f64) {
    let dir = common::scratch_dir();
    let (store, _) = SegmentStore::open(
        io.clone(),
        &dir.path().join("segments"),
        SegmentOptions::default(),
    )
    .unwrap();
    let payload = Bytes::from(vec![0x5Au8; size]);
    let per_task = count / conc;
    let elapsed = io
        .block_on(async {
            let t = Instant::now();
            let tasks: Vec<_> = (0..conc)
                .map(|_| {
                    let s = store.clone();
                    let p = payload.clone();
                    tokio::task::spawn_local(async move {
                        let crc = PayloadCrc::of(&p);
                        for _ in 0..per_task {
                            if caller_crc {
                                s.append_many_checksummed(vec![(
                                    RecordKind::DataChunk,
                                    p.clone(),
                                    crc,
                                )])
                                .await
                                .unwrap();
                            } else {
                                s.append(RecordKind::DataChunk, p.clone()).await.unwrap();
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            t.elapsed()
        })
        .unwrap();
    let st = store.stats();
    let per = st.syncs.load(std::sync::atomic::Ordering::Relaxed) as f64
        / st.appends.load(std::sync::atomic::Ordering::Relaxed).max(1) as f64;
    (elapsed, per)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    if let Ok(v) = std::env::var("SHALE_PROBE_C64") {
        // Profiling aid: one shale case only, e.g. SHALE_PROBE_C64=4096.
        let size: usize = v.parse().unwrap_or(4096);
        let io = Io::detect().unwrap().io;
        let (d, per) = shale(&io, size, 200_000, 64, false);
        println!(
            "{} c64 {size} B: {:.2} us per append, {per:.3} syncs per append",
            io.kind(),
            d.as_secs_f64() * 1e6 / 200_000.0
        );
        return;
    }
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let uring = Io::uring().ok();
    let cleared = drop_caches();
    // (label, size, count)
    let only = std::env::args().nth(2).unwrap_or_default();
    let cases = [("1 MiB", 1usize << 20, 2048usize), ("4 KiB", 4096, 20_000)];
    let cases = cases.into_iter().filter(|c| only.is_empty() || c.0 == only);
    println!("| case | median µs per append | MiB/s | fdatasync per append | vs ceiling |");
    println!("| --- | ---: | ---: | ---: | --- |");
    for (label, size, count) in cases {
        let mut raw_us = Vec::new();
        let mut rows: Vec<(String, Vec<f64>, f64, usize)> = Vec::new();
        let mut backends = vec![Io::portable()];
        backends.extend(uring.clone());
        for r in 0..runs {
            drop_caches();
            raw_us.push(raw(size, count).as_secs_f64() * 1e6 / count as f64);
            let mut i = 0;
            for io in &backends {
                for (conc, caller_crc) in [(1usize, false), (64, false), (1, true)] {
                    drop_caches();
                    let (d, per) = shale(io, size, count, conc, caller_crc);
                    let us = d.as_secs_f64() * 1e6 / (count / conc * conc) as f64;
                    if r == 0 {
                        let how = if caller_crc {
                            ", checksum from caller"
                        } else {
                            ""
                        };
                        let name =
                            format!("shale ({}) {label}, {conc} appender(s){how}", io.kind());
                        rows.push((name, Vec::new(), per, conc));
                    }
                    rows[i].1.push(us);
                    rows[i].2 = per;
                    i += 1;
                }
            }
        }
        let raw_med = median(raw_us);
        let mib = |us: f64| size as f64 / 1048576.0 / (us / 1e6);
        println!(
            "| raw pwrite+fdatasync {label}, 1 writer | {raw_med:.1} | {:.0} | 1 | ceiling |",
            mib(raw_med)
        );
        let c1: Vec<f64> = rows
            .iter()
            .filter(|r| r.3 == 1)
            .map(|r| median(r.1.clone()))
            .collect();
        for (k, (name, v, per, conc)) in rows.iter().enumerate() {
            let m = median(v.clone());
            let mut vs = format!("{:.0}% of raw bandwidth", 100.0 * raw_med / m);
            if *conc == 64 {
                let one = c1.get(k / 3 * 2).copied().unwrap_or(m);
                vs.push_str(&format!("; {:.1}x its 1-appender rate", one / m));
            }
            println!("| {name} | {m:.1} | {:.0} | {per:.3} | {vs} |", mib(m));
        }
    }
    println!();
    println!(
        "{runs} runs per case, medians; page cache {} before each case.",
        if cleared {
            "dropped"
        } else {
            "NOT dropped (not root)"
        }
    );
}
