//! `shale fsck`: verify every record of a data dir; repair what is safe.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use super::inspect::tail_text;
use super::progress::{human_bytes, Progress};
use super::CliError;
use crate::datadir;
use crate::io::{Io, OpenMode};
use crate::segment::recover::list_segments;
use crate::segment::scan::{self, Tail};
use crate::segment::segment_path;

#[derive(clap::Args, Debug)]
pub struct FsckArgs {
    /// The data dir to check (the --data-dir given to `shale serve`).
    data_dir: PathBuf,
    /// Truncate a torn tail of the newest segment and remove unfinished
    /// segment files. Needs the data dir unlocked (node stopped).
    #[arg(long)]
    repair: bool,
    /// One JSON document on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// What fsck found in one segment file.
#[derive(Debug)]
struct SegmentCheck {
    id: u64,
    path: PathBuf,
    file_len: u64,
    records: u64,
    payload_bytes: u64,
    sealed: bool,
    problem: Option<Problem>,
    repaired: bool,
}

#[derive(Debug)]
struct Problem {
    offset: u64,
    text: String,
    /// A torn tail of the newest segment: truncating loses nothing that
    /// was ever acknowledged.
    repairable: bool,
}

pub fn run(args: FsckArgs) -> Result<ExitCode, CliError> {
    if !args.data_dir.is_dir() {
        return Err(super::cli_error(format!(
            "{} is not a directory; pass the data dir given to `shale serve --data-dir`",
            args.data_dir.display()
        )));
    }
    let _lock = if args.repair {
        Some(datadir::lock(&args.data_dir)?)
    } else {
        None
    };
    let io = Io::portable();
    let dir = datadir::segments_dir(&args.data_dir);
    let (ids, temps) = if dir.is_dir() {
        list_segments(&io, &dir)?
    } else {
        (Vec::new(), Vec::new())
    };
    let sizes: Vec<u64> = ids
        .iter()
        .map(|&id| std::fs::metadata(segment_path(&dir, id)).map_or(0, |m| m.len()))
        .collect();
    let total: u64 = sizes.iter().sum();
    let mut progress = Progress::new("fsck", total, args.quiet);
    let mut checks = Vec::new();
    let mut done = 0u64;
    for (i, &id) in ids.iter().enumerate() {
        let is_last = i + 1 == ids.len();
        let mut check = check_segment(&io, &dir, id, is_last, |off| {
            progress.update(done + off, &format!("segment {}/{}", i + 1, ids.len()));
        });
        done += sizes.get(i).copied().unwrap_or(0);
        if args.repair {
            repair(&io, &mut check)?;
        }
        checks.push(check);
    }
    progress.finish();
    let mut removed = Vec::new();
    if args.repair {
        for t in &temps {
            io.remove_file(t)
                .map_err(|e| super::cli_error(format!("removing {}: {e}", t.display())))?;
            removed.push(t.clone());
        }
    }
    let remaining = checks
        .iter()
        .filter(|c| c.problem.is_some() && !c.repaired)
        .count()
        + temps.len()
        - removed.len();
    if args.json {
        print_json(&args.data_dir, &checks, &temps, &removed, remaining);
    } else {
        print_table(&args.data_dir, &checks, &temps, &removed, total, remaining);
    }
    Ok(if remaining == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check_segment(
    io: &Io,
    dir: &Path,
    id: u64,
    is_last: bool,
    mut on_progress: impl FnMut(u64),
) -> SegmentCheck {
    let path = segment_path(dir, id);
    let mut check = SegmentCheck {
        id,
        path: path.clone(),
        file_len: 0,
        records: 0,
        payload_bytes: 0,
        sealed: false,
        problem: None,
        repaired: false,
    };
    let problem = |offset, text: String| {
        Some(Problem {
            offset,
            text,
            repairable: false,
        })
    };
    let file = match io.open(&path, OpenMode::Read) {
        Ok(f) => f,
        Err(e) => {
            check.problem = problem(0, format!("cannot open: {e}"));
            return check;
        }
    };
    // Log entries in the node's segments are index steps (`wal.md`):
    // one that does not decode is corruption that a checksum cannot see.
    let mut bad_step: Option<(u64, String)> = None;
    let report = match scan::scan_segment(&file, |r, payload| {
        on_progress(r.offset);
        if r.kind == crate::segment::RecordKind::LogEntry && bad_step.is_none() {
            if let Err(e) = crate::index::wal::WalStep::decode(payload) {
                bad_step = Some((
                    r.offset,
                    format!("a node-log record is not an index step: {e}"),
                ));
            }
        }
    }) {
        Ok(r) => r,
        Err(e) => {
            check.problem = problem(0, e.to_string());
            return check;
        }
    };
    if let Some((offset, text)) = bad_step {
        check.problem = problem(offset, text);
        return check;
    }
    check.file_len = report.file_len;
    check.records = report.records;
    check.payload_bytes = report.payload_bytes;
    check.sealed = report.seal.is_some();
    if report.header.segment_id != id {
        check.problem = problem(
            0,
            format!("header names segment {:016x}", report.header.segment_id),
        );
        return check;
    }
    check.problem = match &report.tail {
        Tail::Clean if !is_last && !check.sealed => problem(report.valid_end, "older segment is not sealed".into()),
        Tail::Clean => None,
        Tail::Torn { offset, .. } if is_last => Some(Problem {
            offset: *offset,
            text: format!("{} ({} bytes)", tail_text(&report.tail), report.file_len - offset),
            repairable: true,
        }),
        Tail::Torn { offset, reason } => problem(
            *offset,
            format!("older segment ends in an invalid record at {offset}, where a seal belongs: {reason}"),
        ),
        t @ Tail::Corrupt { offset, .. } => problem(*offset, tail_text(t)),
    };
    check
}

fn repair(io: &Io, check: &mut SegmentCheck) -> Result<(), CliError> {
    let Some(p) = &check.problem else {
        return Ok(());
    };
    if !p.repairable {
        return Ok(());
    }
    let file = io.open(&check.path, OpenMode::ReadWrite)?;
    file.set_len(p.offset)
        .and_then(|()| file.sync_all_blocking())
        .map_err(|e| super::cli_error(format!("truncating {}: {e}", check.path.display())))?;
    check.repaired = true;
    Ok(())
}

fn print_json(
    data_dir: &Path,
    checks: &[SegmentCheck],
    temps: &[PathBuf],
    removed: &[PathBuf],
    remaining: usize,
) {
    let segs: Vec<_> = checks
        .iter()
        .map(|c| {
            json!({
                "segment": format!("{:016x}", c.id), "path": c.path.display().to_string(),
                "file_len": c.file_len, "records": c.records, "payload_bytes": c.payload_bytes,
                "sealed": c.sealed,
                "problem": c.problem.as_ref().map(|p| json!({
                    "offset": p.offset, "text": p.text, "repairable": p.repairable, "repaired": c.repaired})),
            })
        })
        .collect();
    let doc = json!({
        "data_dir": data_dir.display().to_string(),
        "segments": segs,
        "temp_files": temps.iter().map(|t| t.display().to_string()).collect::<Vec<_>>(),
        "temp_files_removed": removed.len(),
        "problems_remaining": remaining,
        "clean": remaining == 0,
    });
    println!("{doc}");
}

fn print_table(
    data_dir: &Path,
    checks: &[SegmentCheck],
    temps: &[PathBuf],
    removed: &[PathBuf],
    total: u64,
    remaining: usize,
) {
    println!(
        "fsck {}: {} segments, {}",
        data_dir.display(),
        checks.len(),
        human_bytes(total)
    );
    for c in checks {
        let state = match &c.problem {
            None => "ok".to_string(),
            Some(_) if c.repaired => "REPAIRED".into(),
            Some(p) if p.repairable => "TORN".into(),
            Some(_) => "CORRUPT".into(),
        };
        println!(
            "  {:016x}  {:<8}  {:<6}  {:>10} records  {:>10}",
            c.id,
            state,
            if c.sealed { "sealed" } else { "active" },
            c.records,
            human_bytes(c.file_len)
        );
        if let Some(p) = &c.problem {
            println!("      {}", p.text);
        }
    }
    for t in temps {
        let done = if removed.contains(t) {
            " (removed)"
        } else {
            ""
        };
        println!("  unfinished segment file {}{done}", t.display());
    }
    let repairable = checks
        .iter()
        .filter(|c| matches!(&c.problem, Some(p) if p.repairable && !c.repaired))
        .count()
        + temps.len()
        - removed.len();
    if remaining == 0 {
        println!("result: clean");
    } else if repairable > 0 {
        println!(
            "result: {remaining} problem(s); {repairable} can be fixed with `shale fsck --repair {}`",
            data_dir.display()
        );
    } else {
        println!(
            "result: {remaining} problem(s) that cannot be repaired here; no data was changed"
        );
    }
}
