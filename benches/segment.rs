//! Durable appends to the segment store beside the raw ceiling of the same
//! disk: sequential pwrite + fdatasync of the same record size, in the same
//! run. Reports MiB/s per case; `tools/bench_segment_report.py` turns the
//! medians into the ratios in BENCHMARKS.md. Each shale case also writes
//! its fdatasync count per append to target/shale-bench/.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
#[path = "common/raw_baseline.rs"]
mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shale::io::Io;
use shale::segment::{RecordKind, SegmentOptions, SegmentStore};

const SIZES: [(usize, &str); 2] = [(4 * 1024, "4KiB"), (1024 * 1024, "1MiB")];

fn raw_pwrite_fdatasync(c: &mut Criterion) {
    let mut g = c.benchmark_group("segment_append");
    g.sample_size(10).measurement_time(Duration::from_secs(6));
    for (size, label) in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let id = BenchmarkId::new("raw_pwrite_fdatasync", format!("{label}/c1"));
        g.bench_function(id, |b| {
            let mut raw = common::RawAppender::new();
            let buf = vec![0xA5u8; size];
            b.iter(|| raw.append(&buf));
        });
    }
    g.finish();
}

fn shale_appends(c: &mut Criterion) {
    let mut backends = vec![Io::portable()];
    if let Ok(io) = Io::uring() {
        backends.push(io);
    }
    for io in backends {
        shale_appends_on(c, io);
    }
}

fn shale_appends_on(c: &mut Criterion, io: Io) {
    let mut g = c.benchmark_group("segment_append");
    g.sample_size(10).measurement_time(Duration::from_secs(6));
    for (size, label) in SIZES {
        for conc in [1usize, 64] {
            g.throughput(Throughput::Bytes(size as u64));
            let id = BenchmarkId::new(
                format!("shale_durable_{}", io.kind()),
                format!("{label}/c{conc}"),
            );
            let dir = common::scratch_dir();
            let (store, _) = SegmentStore::open(
                io.clone(),
                &dir.path().join("segments"),
                SegmentOptions::default(),
            )
            .unwrap();
            let payload = Bytes::from(vec![0x5Au8; size]);
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let per_task = iters.div_ceil(conc as u64);
                    io.block_on(async {
                        let start = Instant::now();
                        let tasks: Vec<_> = (0..conc)
                            .map(|_| {
                                let s = store.clone();
                                let p = payload.clone();
                                tokio::task::spawn_local(async move {
                                    for _ in 0..per_task {
                                        s.append(RecordKind::DataChunk, p.clone()).await.unwrap();
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                        // Scale to the requested count (tasks round up).
                        start
                            .elapsed()
                            .mul_f64(iters as f64 / (per_task * conc as u64) as f64)
                    })
                    .unwrap()
                });
            });
            let st = store.stats();
            let appends = st.appends.load(Ordering::Relaxed);
            let syncs = st.syncs.load(Ordering::Relaxed);
            let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/shale-bench");
            std::fs::create_dir_all(&out).unwrap();
            std::fs::write(
                out.join(format!("segment-{}-{label}-c{conc}.json", io.kind())),
                format!(
                    "{{\"appends\": {appends}, \"syncs\": {syncs}, \"backend\": \"{}\"}}\n",
                    io.kind()
                ),
            )
            .unwrap();
            eprintln!(
                "shale_durable {label} c{conc}: {appends} appends, {syncs} fdatasyncs, {:.3} fdatasync per append ({} I/O)",
                syncs as f64 / appends.max(1) as f64,
                io.kind()
            );
        }
    }
    g.finish();
}

criterion_group!(benches, raw_pwrite_fdatasync, shale_appends);
criterion_main!(benches);
