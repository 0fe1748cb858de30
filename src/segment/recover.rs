//! Opening a segment directory after a clean stop or a crash.
//!
//! Only the newest segment can have a torn tail: every older one was sealed
//! and synced before the next was created, so for those the header and the
//! seal at the end are checked (cheap), and `fsck` verifies every record.
//! The newest segment is scanned in full; a torn tail is truncated, and
//! corruption stops the open with the file and offset, deleting nothing.

use std::path::{Path, PathBuf};

use super::format::{self, RecordKind, HEADER_LEN, SEAL_FOOTPRINT};
use super::scan::{self, ScanError, ScanReport, Tail};
use super::{parse_segment_file_name, segment_path, SegmentError};
use crate::io::{Io, OpenMode};

/// A torn tail that recovery cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    pub path: PathBuf,
    pub offset: u64,
    pub bytes_dropped: u64,
    pub reason: String,
}

#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    pub segments: usize,
    pub truncated: Vec<Truncation>,
    pub removed_temp_files: Vec<PathBuf>,
}

/// Where appending resumes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resume {
    /// The newest segment, if there is one.
    pub last: Option<LastSegment>,
    /// The batch number the next commit uses.
    pub next_batch: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct LastSegment {
    pub id: u64,
    pub end: u64,
    pub records: u64,
    pub sealed: bool,
}

/// Segment ids present in `dir`, ascending, and leftover temporary files.
pub fn list_segments(io: &Io, dir: &Path) -> Result<(Vec<u64>, Vec<PathBuf>), SegmentError> {
    let names = io
        .list_dir(dir)
        .map_err(|e| SegmentError::io("listing", dir, e))?;
    let mut ids = Vec::new();
    let mut temps = Vec::new();
    for name in names {
        if let Some(id) = parse_segment_file_name(&name) {
            ids.push(id);
        } else if name.ends_with(".seg.tmp") {
            temps.push(dir.join(name));
        }
    }
    ids.sort_unstable();
    Ok((ids, temps))
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> SegmentError {
    SegmentError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

pub(crate) fn scan_error(path: &Path, e: ScanError) -> SegmentError {
    match e {
        ScanError::Io(e) => SegmentError::io("reading", path, e),
        ScanError::Header(e) => corrupt(path, 0, format!("segment header: {e}")),
    }
}

/// Checks a sealed segment's header and seal without reading its records.
pub fn check_sealed(io: &Io, dir: &Path, id: u64) -> Result<(), SegmentError> {
    let path = segment_path(dir, id);
    let file = io
        .open(&path, OpenMode::Read)
        .map_err(|e| SegmentError::io("opening", &path, e))?;
    let header = scan::read_header(&file).map_err(|e| scan_error(&path, e))?;
    if header.segment_id != id {
        return Err(corrupt(
            &path,
            0,
            format!("header names segment {:016x}", header.segment_id),
        ));
    }
    let len = file.len().map_err(|e| SegmentError::io("stat", &path, e))?;
    let at = len.saturating_sub(SEAL_FOOTPRINT);
    if len < HEADER_LEN as u64 + SEAL_FOOTPRINT {
        return Err(corrupt(
            &path,
            at,
            "older segment is too short to be sealed",
        ));
    }
    let mut b = [0u8; SEAL_FOOTPRINT as usize];
    file.read_exact_at_blocking(&mut b, at)
        .map_err(|e| SegmentError::io("reading", &path, e))?;
    let rec = format::decode_record(id, &b)
        .map_err(|e| corrupt(&path, at, format!("older segment has no valid seal: {e}")))?;
    if rec.kind != RecordKind::Seal {
        return Err(corrupt(&path, at, "older segment does not end with a seal"));
    }
    let seal = format::decode_seal(rec.payload).map_err(|e| corrupt(&path, at, e.to_string()))?;
    if seal.data_end != at {
        return Err(corrupt(
            &path,
            at,
            format!("seal says data ends at {}", seal.data_end),
        ));
    }
    Ok(())
}

/// Opens `dir` for appending: checks older segments, scans the newest,
/// truncates its torn tail, and syncs what it recovered (file and
/// directory), so nothing is built on bytes that are only in the page
/// cache. Creates `dir` if missing.
pub(crate) fn recover(io: &Io, dir: &Path) -> Result<(Resume, RecoveryReport), SegmentError> {
    io.create_dir_all(dir)
        .map_err(|e| SegmentError::io("creating", dir, e))?;
    let (ids, temps) = list_segments(io, dir)?;
    let mut report = RecoveryReport {
        segments: ids.len(),
        ..RecoveryReport::default()
    };
    // A temporary segment never received a record: it is only renamed into
    // place once its header is durable.
    for t in temps {
        io.remove_file(&t)
            .map_err(|e| SegmentError::io("removing", &t, e))?;
        report.removed_temp_files.push(t);
    }
    let Some((&last_id, older)) = ids.split_last() else {
        return Ok((
            Resume {
                last: None,
                next_batch: 1,
            },
            report,
        ));
    };
    for &id in older {
        check_sealed(io, dir, id)?;
    }
    let path = segment_path(dir, last_id);
    let file = io
        .open(&path, OpenMode::ReadWrite)
        .map_err(|e| SegmentError::io("opening", &path, e))?;
    let scanned = scan::scan_segment(&file, |_, _| {}).map_err(|e| scan_error(&path, e))?;
    if scanned.header.segment_id != last_id {
        return Err(corrupt(
            &path,
            0,
            format!("header names segment {:016x}", scanned.header.segment_id),
        ));
    }
    match &scanned.tail {
        // What was read may still sit only in the page cache (a write whose
        // sync failed before the process stopped): make it durable before
        // anything new is built on it.
        Tail::Clean => file
            .sync_all_blocking()
            .map_err(|e| SegmentError::io("syncing", &path, e))?,
        Tail::Corrupt {
            offset,
            reason,
            next_valid,
        } => {
            return Err(corrupt(
                &path,
                *offset,
                format!("{reason} (a later valid record at {next_valid} proves it was durable)"),
            ))
        }
        Tail::Torn { offset, reason } => {
            file.set_len(*offset)
                .and_then(|()| file.sync_all_blocking())
                .map_err(|e| SegmentError::io("truncating", &path, e))?;
            report.truncated.push(Truncation {
                path: path.clone(),
                offset: *offset,
                bytes_dropped: scanned.file_len - offset,
                reason: reason.clone(),
            });
        }
    }
    if scanned.valid_end > scanned.file_len {
        // The last record is whole but its zero padding was cut off (a
        // write stopped by a full disk): put the padding back so the next
        // record starts aligned.
        file.set_len(scanned.valid_end)
            .and_then(|()| file.sync_all_blocking())
            .map_err(|e| SegmentError::io("restoring padding of", &path, e))?;
    }
    io.sync_dir(dir)
        .map_err(|e| SegmentError::io("syncing", dir, e))?;
    Ok((resume_after(&scanned, last_id), report))
}

fn resume_after(s: &ScanReport, id: u64) -> Resume {
    Resume {
        last: Some(LastSegment {
            id,
            end: s.valid_end,
            records: s.records,
            sealed: s.seal.is_some(),
        }),
        next_batch: s
            .last_batch
            .map_or(s.header.base_batch, |b| b.saturating_add(1))
            .max(1),
    }
}
