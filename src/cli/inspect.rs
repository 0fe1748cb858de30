//! `shale inspect`: dump on-disk files for a person or a script.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use super::progress::human_bytes;
use super::CliError;
use crate::io::{Io, OpenMode};
use crate::segment::scan::{self, Tail};

#[derive(clap::Subcommand, Debug)]
pub enum InspectWhat {
    /// Print a segment file's header and every record, and where its valid
    /// data ends. Exit status 1 if the file has a torn or corrupt tail.
    ///
    /// Example: shale inspect segment shale-data/segments/0000000000000001.seg --json
    Segment {
        /// The segment file.
        file: PathBuf,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(what: InspectWhat) -> Result<ExitCode, CliError> {
    match what {
        InspectWhat::Segment { file, json } => inspect_segment(&file, json),
    }
}

fn inspect_segment(path: &std::path::Path, as_json: bool) -> Result<ExitCode, CliError> {
    let io = Io::portable();
    let file = io
        .open(path, OpenMode::Read)
        .map_err(|e| super::cli_error(format!("cannot open {}: {e}", path.display())))?;
    let mut records = Vec::new();
    let report = scan::scan_segment(&file, |r, payload| records.push((*r, detail(r, payload))))
        .map_err(|e| super::cli_error(format!("{}: {e}", path.display())))?;
    let h = report.header;
    if as_json {
        let recs: Vec<_> = records
            .iter()
            .map(|(r, d)| {
                json!({"offset": r.offset, "kind": r.kind.name(), "payload_len": r.payload_len,
                       "len": r.len(), "batch": r.batch, "detail": d})
            })
            .collect();
        let doc = json!({
            "file": path.display().to_string(),
            "header": {"segment_id": h.segment_id, "version": crate::segment::format::SEGMENT_VERSION,
                       "base_batch": h.base_batch, "created_nanos": h.created_nanos},
            "records": recs,
            "record_count": report.records,
            "payload_bytes": report.payload_bytes,
            "valid_end": report.valid_end,
            "file_len": report.file_len,
            "seal": report.seal.map(|s| json!({"record_count": s.record_count, "data_end": s.data_end})),
            "tail": tail_json(&report.tail),
        });
        println!("{doc}");
    } else {
        println!(
            "segment {:016x}  format version {}  base batch {}  created {}",
            h.segment_id,
            crate::segment::format::SEGMENT_VERSION,
            h.base_batch,
            format_unix_nanos(h.created_nanos)
        );
        println!(
            "{:>14}  {:<9}  {:>10}  {:>10}",
            "offset", "kind", "payload", "batch"
        );
        for (r, d) in &records {
            println!(
                "{:>14}  {:<9}  {:>10}  {:>10}  {}",
                r.offset,
                r.kind.name(),
                r.payload_len,
                r.batch,
                d
            );
        }
        println!(
            "{} records, {} payload; valid data ends at {} of {} bytes; {}",
            report.records,
            human_bytes(report.payload_bytes),
            report.valid_end,
            report.file_len,
            if report.seal.is_some() {
                "sealed"
            } else {
                "not sealed (active)"
            }
        );
        println!("tail: {}", tail_text(&report.tail));
    }
    Ok(if report.tail == Tail::Clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What a record is, where the segment format knows more than its kind:
/// a node-log index step names its shard and marker (`wal.md`).
fn detail(r: &scan::RecordInfo, payload: &[u8]) -> String {
    if r.kind != crate::segment::RecordKind::LogEntry {
        return String::new();
    }
    match crate::index::wal::WalStep::decode(payload) {
        Ok(s) => format!(
            "index step {}#{} g{} shard {} marker {} {:?}",
            s.shard.bucket,
            s.shard.instance,
            s.shard.generation,
            s.shard.shard,
            s.entry.marker,
            s.entry.op
        ),
        Err(e) => format!("log entry that is not an index step: {e}"),
    }
}

pub(crate) fn tail_json(t: &Tail) -> serde_json::Value {
    match t {
        Tail::Clean => json!({"state": "clean"}),
        Tail::Torn { offset, reason } => {
            json!({"state": "torn", "offset": offset, "reason": reason})
        }
        Tail::Corrupt {
            offset,
            reason,
            next_valid,
        } => {
            json!({"state": "corrupt", "offset": offset, "reason": reason, "next_valid": next_valid})
        }
    }
}

pub(crate) fn tail_text(t: &Tail) -> String {
    match t {
        Tail::Clean => "clean".into(),
        Tail::Torn { offset, reason } => format!("torn at offset {offset}: {reason}"),
        Tail::Corrupt {
            offset,
            reason,
            next_valid,
        } => format!(
            "CORRUPT at offset {offset}: {reason} (valid record of a later batch at {next_valid})"
        ),
    }
}

/// RFC 3339 UTC time from unix nanoseconds.
pub(crate) fn format_unix_nanos(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_known_instants() {
        assert_eq!(super::format_unix_nanos(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::format_unix_nanos(1_795_312_496_000_000_000),
            "2026-11-22T01:54:56Z"
        );
    }
}
