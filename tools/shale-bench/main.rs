//! shale-bench: a warp-style S3 load generator. One operation (put, get,
//! stat, delete, list, mixed, multipart) from `--concurrency` threads,
//! each with its own keep-alive connection, for `--duration`; then ops/s,
//! MiB/s and latency percentiles per operation, as a table or one JSON
//! line.
//!
//! A run: create the bucket if missing; write the objects the operation
//! works on (the prepare phase, not counted); run the benchmark; remove
//! everything the run wrote (unless --keep). Objects live under a fresh
//! prefix per run and their bytes follow from their key (`content`), so
//! every GET is checked in full without keeping the data. `list
//! --existing-prefix` lists objects already there instead (a large bucket
//! filled once by `put --prefix P --keep`), writing nothing.
//!
//! Exit status: 0 when every operation succeeded, 1 when any failed (the
//! first few errors are printed with their S3 codes), 2 on a usage error.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod args;
mod content;
mod mixed;
mod ops;
mod report;
mod stats;
mod workers;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use args::Config;
use ops::Ctx;
use report::Report;

fn main() -> ExitCode {
    let mut cfg = match Config::from_args() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("shale-bench: {e}");
            return ExitCode::from(2);
        }
    };
    cfg.progress &= std::io::stderr().is_terminal();
    let report = match run(&cfg) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("shale-bench: {e}");
            return ExitCode::from(1);
        }
    };
    if cfg.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if report.errors == 0 {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "shale-bench: {} operations failed; the first {}:",
        report.errors,
        report.first_errors.len()
    );
    for e in &report.first_errors {
        eprintln!("  {e}");
    }
    ExitCode::from(1)
}

/// The phases of a run; Err only when the bucket can't be had.
fn run(cfg: &Config) -> Result<Report, String> {
    let prefix = cfg
        .prefix
        .clone()
        .unwrap_or_else(|| format!("bench-{}", run_id()));
    let ctx = Ctx {
        addr: cfg.addr,
        creds: cfg.creds.clone(),
        bucket: cfg.bucket.clone(),
        list_prefix: cfg
            .existing_prefix
            .clone()
            .unwrap_or_else(|| format!("{prefix}/")),
        delimiter: cfg.delimiter.clone(),
        prefix,
        size: cfg.size,
        mode: cfg.mode,
        buckets: cfg.buckets,
    };
    let mut report = Report::new(cfg, &ctx.prefix, &ctx.list_prefix);
    if cfg.buckets > 1 {
        let (tally, took) = workers::create_buckets(cfg, &ctx);
        report.add_setup(tally, took);
        if report.errors > 0 {
            return Ok(report);
        }
    } else if !cfg.plain_http {
        ops::create_bucket(&mut ctx.client(), &cfg.bucket)?;
    }
    let mut prepared = 0;
    if cfg.prepares() {
        let want = cfg.objects.unwrap_or(0);
        let (tally, took) = workers::prepare(cfg, &ctx, want);
        prepared = tally.objects();
        report.add_prepare(tally, took);
    }
    // A failed prepare leaves nothing sound to measure.
    if report.errors == 0 {
        let (tally, took) = workers::bench(cfg, &ctx, prepared);
        report.add_bench(tally, took);
    }
    if !cfg.keep {
        let (tally, took) = workers::cleanup(cfg, &ctx);
        report.add_cleanup(tally, took);
    }
    Ok(report)
}

/// 8 hex digits, random (the time when randomness isn't available).
fn run_id() -> String {
    let mut b = [0u8; 4];
    if getrandom::getrandom(&mut b).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        b = nanos.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
