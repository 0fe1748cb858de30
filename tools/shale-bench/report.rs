//! The figures of a run: a table for a person, or one JSON line.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use crate::args::{Config, Op};
use crate::stats::{Summary, Tally};

/// Everything a run reports; the JSON line is this, serialized.
#[derive(Debug, Serialize)]
pub struct Report {
    pub op: &'static str,
    pub endpoint: String,
    pub bucket: String,
    /// The run's keys are `{prefix}/{n:010}`.
    pub prefix: String,
    /// list: what each listing walks (ListObjectsV2 prefix, delimiter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub concurrency: usize,
    pub size_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_size_bytes: Option<u64>,
    pub payload: &'static str,
    /// Objects written before the benchmark, not counted in it.
    pub prepared: u64,
    pub prepare_secs: f64,
    pub duration_secs: f64,
    /// Successful benchmark operations of every kind, and their rates.
    pub ops: u64,
    pub ops_per_sec: f64,
    pub mib_per_sec: f64,
    /// Failed operations of every phase: prepare, benchmark, cleanup.
    pub errors: u64,
    pub operations: Vec<Summary>,
    /// Objects removed at the end (0 with --keep).
    pub cleaned_up: u64,
    pub cleanup_secs: f64,
    pub first_errors: Vec<String>,
    /// Whether the table shows objects/s (keys listed or deleted).
    #[serde(skip)]
    objects_column: bool,
}

impl Report {
    pub fn new(cfg: &Config, prefix: &str, list_prefix: &str) -> Report {
        Report {
            op: cfg.op.name(),
            endpoint: cfg.endpoint.clone(),
            bucket: cfg.bucket.clone(),
            prefix: prefix.to_owned(),
            list_prefix: (cfg.op == Op::List).then(|| list_prefix.to_owned()),
            delimiter: cfg.delimiter.clone(),
            concurrency: cfg.concurrency,
            size_bytes: cfg.size as u64,
            part_size_bytes: match cfg.op {
                Op::Multipart { part_bytes } => Some(part_bytes as u64),
                _ => None,
            },
            payload: cfg.payload.name(),
            prepared: 0,
            prepare_secs: 0.0,
            duration_secs: 0.0,
            ops: 0,
            ops_per_sec: 0.0,
            mib_per_sec: 0.0,
            errors: 0,
            operations: Vec::new(),
            cleaned_up: 0,
            cleanup_secs: 0.0,
            first_errors: Vec::new(),
            objects_column: matches!(cfg.op, Op::List | Op::Delete { .. }),
        }
    }

    pub fn add_prepare(&mut self, tally: Tally, took: Duration) {
        self.prepared = tally.objects();
        self.prepare_secs = took.as_secs_f64();
        self.add_errors(tally);
    }

    pub fn add_bench(&mut self, mut tally: Tally, took: Duration) {
        self.duration_secs = took.as_secs_f64();
        let bench = tally.summaries(took);
        self.ops = tally.ops();
        self.ops_per_sec = bench.iter().map(|s| s.ops_per_sec).sum();
        self.mib_per_sec = bench.iter().map(|s| s.mib_per_sec).sum();
        self.operations.extend(bench);
        self.add_errors(tally);
    }

    /// A phase measured before the benchmark (put --buckets: creating the
    /// buckets): its operations are listed with their own rates.
    pub fn add_setup(&mut self, mut tally: Tally, took: Duration) {
        self.operations.extend(tally.summaries(took));
        self.add_errors(tally);
    }

    pub fn add_cleanup(&mut self, tally: Tally, took: Duration) {
        self.cleaned_up = tally.objects();
        self.cleanup_secs = took.as_secs_f64();
        self.add_errors(tally);
    }

    fn add_errors(&mut self, tally: Tally) {
        self.errors += tally.errors();
        for e in tally.first_errors {
            if self.first_errors.len() < crate::stats::ERRORS_KEPT_MAX {
                self.first_errors.push(e);
            }
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The table for a person.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let part = self
            .part_size_bytes
            .map(|p| format!(" in {} parts", human_bytes(p)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "shale-bench {}: {} workers, {} objects{part}, {} payload, {:.2} s",
            self.op,
            self.concurrency,
            human_bytes(self.size_bytes),
            self.payload,
            self.duration_secs
        );
        let keys = match (&self.list_prefix, &self.delimiter) {
            (Some(p), Some(d)) => format!("lists {p}* with delimiter {d:?}"),
            (Some(p), None) => format!("lists {p}*"),
            _ => format!("keys {}/*", self.prefix),
        };
        let _ = writeln!(
            out,
            "endpoint {}, bucket {}, {keys}",
            self.endpoint, self.bucket
        );
        if self.prepared > 0 || self.prepare_secs > 0.0 {
            let _ = writeln!(
                out,
                "prepared {} objects in {:.2} s (not counted)",
                self.prepared, self.prepare_secs
            );
        }
        let objs = self.objects_column;
        let _ = write!(
            out,
            "\n{:<10}{:>10}{:>12}{:>10}",
            "op", "ops", "ops/s", "MiB/s"
        );
        if objs {
            let _ = write!(out, "{:>12}", "objects/s");
        }
        let _ = writeln!(
            out,
            "{:>11}{:>11}{:>11}{:>11}{:>8}",
            "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
        );
        for s in &self.operations {
            row(&mut out, s, objs);
        }
        if self.operations.len() > 1 {
            let _ = writeln!(
                out,
                "{:<10}{:>10}{:>12.1}{:>10.2}",
                "total", self.ops, self.ops_per_sec, self.mib_per_sec
            );
        }
        if self.cleaned_up > 0 || self.cleanup_secs > 0.0 {
            let _ = writeln!(
                out,
                "\nremoved {} objects in {:.2} s",
                self.cleaned_up, self.cleanup_secs
            );
        }
        out
    }
}

fn row(out: &mut String, s: &Summary, objs: bool) {
    let ms = |us: u32| f64::from(us) / 1000.0;
    let _ = write!(
        out,
        "{:<10}{:>10}{:>12.1}{:>10.2}",
        s.op, s.ops, s.ops_per_sec, s.mib_per_sec
    );
    if objs {
        let _ = write!(out, "{:>12.1}", s.objects_per_sec);
    }
    let l = &s.latency_us;
    let _ = writeln!(
        out,
        "{:>11.3}{:>11.3}{:>11.3}{:>11.3}{:>8}",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.max),
        s.errors
    );
}

/// `4 KiB`, `64 MiB`, `1.5 GiB`, `100 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            let v = n as f64 / size as f64;
            return if n.is_multiple_of(size) {
                format!("{} {unit}", n / size)
            } else {
                format!("{v:.2} {unit}")
            };
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(100), "100 B");
    }
}
