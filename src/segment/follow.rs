//! Reading a store's records of one kind from a position on, in the order
//! they were written: how the node's write-ahead log is replayed past its
//! last checkpoint (`format-spec/wal.md`). Other records are stepped over
//! by their lengths without reading their payloads when they are large.
//!
//! Runs after the store's recovery, which verified every older segment's
//! seal and cut the newest one's torn tail, so every header met here
//! belongs to a whole record; the wanted records are verified anyway, and
//! anything that does not verify is an error naming file and offset.

use std::path::Path;

use super::format::{self, RecordKind, HEADER_LEN, RECORD_HEADER_LEN};
use super::recover::list_segments;
use super::{segment_path, RecordLoc, SegmentError};
use crate::io::{Io, OpenMode};

/// Bytes read at a time; records larger than this that are not wanted
/// are stepped over without reading them.
const WINDOW: usize = 1 << 20;
/// Records not wanted and larger than this are stepped over unread.
const SKIP_ABOVE: u64 = 64 * 1024;

/// Calls `each` with the location and payload of every record of `kind`
/// at or after `from` (segment, offset), in order. Returns how many
/// bytes it read.
pub fn records_from(
    io: &Io,
    dir: &Path,
    from: (u64, u64),
    kind: RecordKind,
    mut each: impl FnMut(RecordLoc, &[u8]) -> Result<(), String>,
) -> Result<u64, SegmentError> {
    let (ids, _) = list_segments(io, dir)?;
    let mut read = 0u64;
    for id in ids.into_iter().filter(|id| *id >= from.0) {
        let path = segment_path(dir, id);
        let corrupt = |offset: u64, reason: String| SegmentError::Corrupt {
            path: path.clone(),
            offset,
            reason,
        };
        let file = io
            .open(&path, OpenMode::Read)
            .map_err(|e| SegmentError::io("opening", &path, e))?;
        let len = file.len().map_err(|e| SegmentError::io("stat", &path, e))?;
        let mut at = if id == from.0 {
            from.1.max(HEADER_LEN as u64)
        } else {
            HEADER_LEN as u64
        };
        // The window: bytes of the file from `win_at`.
        let mut win: Vec<u8> = Vec::new();
        let mut win_at = u64::MAX;
        while at + RECORD_HEADER_LEN as u64 <= len {
            if at < win_at || at + RECORD_HEADER_LEN as u64 > win_at + win.len() as u64 {
                let mut head = [0u8; RECORD_HEADER_LEN];
                file.read_exact_at_blocking(&mut head, at)
                    .map_err(|e| SegmentError::io("reading", &path, e))?;
                let h = format::decode_record_header(&head)
                    .map_err(|e| corrupt(at, format!("record header: {e}")))?;
                if h.kind != kind && h.footprint() > SKIP_ABOVE {
                    // A large record nobody wants: step over it unread.
                    at += h.footprint();
                    continue;
                }
                let want = (WINDOW as u64).max(h.footprint()).min(len - at) as usize;
                win = vec![0u8; want];
                file.read_exact_at_blocking(&mut win, at)
                    .map_err(|e| SegmentError::io("reading", &path, e))?;
                read += want as u64;
                win_at = at;
            }
            let rel = (at - win_at) as usize;
            let bytes = win.get(rel..).unwrap_or_default();
            let h = format::decode_record_header(bytes)
                .map_err(|e| corrupt(at, format!("record header: {e}")))?;
            if h.kind == RecordKind::Seal {
                break;
            }
            if h.kind == kind {
                if at + h.len() > win_at + win.len() as u64 {
                    // Cut off by the window's end: read it from its start.
                    win_at = u64::MAX;
                    win.clear();
                    continue;
                }
                let rec =
                    format::decode_record(id, bytes).map_err(|e| corrupt(at, e.to_string()))?;
                let loc = RecordLoc {
                    segment: id,
                    offset: at,
                    len: h.len() as u32,
                };
                each(loc, rec.payload).map_err(|reason| corrupt(at, reason))?;
            }
            at += h.footprint();
        }
    }
    Ok(read)
}
