//! Walking a segment file record by record, and deciding where its valid
//! data ends. Pure logic over a [`ReadAt`] source, so it runs on real
//! files, on simulator files and on fuzzer bytes alike.
//!
//! The end is decided as `format-spec/segment.md` ("Recovery") says: at the
//! first record that does not verify, the rest of the file is searched for
//! a valid record of a *later* batch than the one that may have been in
//! flight. The writer never starts a batch before the previous one is
//! synced, so finding one proves the bad record was durable once: that is
//! corruption. Finding none means a torn tail.

use std::io;

use thiserror::Error;

use super::format::{
    self, FormatError, RecordKind, Seal, SegmentHeader, HEADER_LEN, RECORD_ALIGN, RECORD_HEADER_LEN,
};

/// Positional reads from something that holds a segment's bytes.
pub trait ReadAt {
    fn size(&self) -> io::Result<u64>;
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl ReadAt for [u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let src = self
            .get(start..start + buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl ReadAt for crate::io::IoFile {
    fn size(&self) -> io::Result<u64> {
        self.len()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_exact_at_blocking(buf, offset)
    }
}

/// One verified record, as the scan reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    pub offset: u64,
    pub kind: RecordKind,
    pub payload_len: u32,
    pub batch: u64,
}

impl RecordInfo {
    /// Header plus payload: the length a read of this record asks for.
    pub fn len(&self) -> u32 {
        RECORD_HEADER_LEN as u32 + self.payload_len
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What follows the last valid record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Nothing: the file ends right after the last valid record.
    Clean,
    /// Bytes that never became a durable record (a write cut short by a
    /// crash). Safe to truncate at `offset`.
    Torn { offset: u64, reason: String },
    /// A record that was once durable no longer verifies. `next_valid` is
    /// the offset of a valid record of a later batch found after it.
    Corrupt {
        offset: u64,
        reason: String,
        next_valid: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanReport {
    pub header: SegmentHeader,
    pub file_len: u64,
    /// Verified records, the seal excluded.
    pub records: u64,
    pub payload_bytes: u64,
    /// Offset just past the last valid record and its padding (the seal
    /// included). Exceeds `file_len` when only that padding was cut off.
    pub valid_end: u64,
    pub last_batch: Option<u64>,
    pub seal: Option<Seal>,
    pub tail: Tail,
}

#[derive(Debug, Error)]
pub enum ScanError {
    #[error("reading failed: {0}")]
    Io(#[from] io::Error),
    #[error("segment header at offset 0 is invalid: {0}")]
    Header(FormatError),
}

/// Bytes read at once while scanning.
const SCAN_WINDOW_BYTES: usize = 4 * 1024 * 1024;

/// A read-ahead window over a source, so the scan does few large reads.
struct Window<'a, S: ReadAt + ?Sized> {
    src: &'a S,
    len: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<'a, S: ReadAt + ?Sized> Window<'a, S> {
    /// `n` bytes at `offset`, or `None` if the source ends before that.
    fn get(&mut self, offset: u64, n: usize) -> io::Result<Option<&[u8]>> {
        let end = match offset.checked_add(n as u64) {
            Some(end) if end <= self.len => end,
            _ => return Ok(None),
        };
        let held = self.start + self.buf.len() as u64;
        if offset < self.start || end > held {
            let want = (self.len - offset).min(n.max(SCAN_WINDOW_BYTES) as u64) as usize;
            self.buf.resize(want, 0);
            self.src.read_exact_at(&mut self.buf, offset)?;
            self.start = offset;
        }
        let at = (offset - self.start) as usize;
        Ok(self.buf.get(at..at + n))
    }

    /// The verified record at `offset`, or why there is none.
    fn record(&mut self, segment_id: u64, offset: u64) -> io::Result<Result<RecordInfo, String>> {
        let Some(hb) = self.get(offset, RECORD_HEADER_LEN)? else {
            return Ok(Err(format!(
                "{} bytes at the end are shorter than a record header",
                self.len.saturating_sub(offset)
            )));
        };
        let h = match format::decode_record_header(hb) {
            Ok(h) => h,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let Some(rb) = self.get(offset, h.len() as usize)? else {
            return Ok(Err(format!(
                "record of {} bytes runs past the end of the file",
                h.len()
            )));
        };
        Ok(match format::decode_record(segment_id, rb) {
            Ok(r) => Ok(RecordInfo {
                offset,
                kind: r.kind,
                payload_len: h.payload_len,
                batch: r.batch,
            }),
            Err(e) => Err(e.to_string()),
        })
    }
}

/// Reads the segment header. The file must be at least a header long.
pub fn read_header<S: ReadAt + ?Sized>(src: &S) -> Result<SegmentHeader, ScanError> {
    let mut hb = [0u8; HEADER_LEN];
    if src.size()? < HEADER_LEN as u64 {
        return Err(ScanError::Header(FormatError::Truncated {
            needed: HEADER_LEN as u64,
            have: src.size()?,
        }));
    }
    src.read_exact_at(&mut hb, 0)?;
    format::decode_header(&hb).map_err(ScanError::Header)
}

/// Scans a whole segment. `on_record` sees each verified record with its
/// payload, in order (the seal included).
pub fn scan_segment<S, F>(src: &S, mut on_record: F) -> Result<ScanReport, ScanError>
where
    S: ReadAt + ?Sized,
    F: FnMut(&RecordInfo, &[u8]),
{
    let header = read_header(src)?;
    let len = src.size()?;
    let id = header.segment_id;
    let mut w = Window {
        src,
        len,
        start: 0,
        buf: Vec::new(),
    };
    let mut report = ScanReport {
        header,
        file_len: len,
        records: 0,
        payload_bytes: 0,
        valid_end: HEADER_LEN as u64,
        last_batch: None,
        seal: None,
        tail: Tail::Clean,
    };
    let mut offset = HEADER_LEN as u64;
    while offset < len {
        if report.seal.is_some() {
            report.tail = Tail::Corrupt {
                offset,
                reason: "bytes follow the seal record".into(),
                next_valid: offset,
            };
            return Ok(report);
        }
        let info = match w.record(id, offset)? {
            Ok(info) => info,
            Err(reason) => {
                report.tail = classify_bad_record(&mut w, &report, offset, reason)?;
                return Ok(report);
            }
        };
        if let Some(last) = report.last_batch {
            if info.batch < last {
                let reason = format!("batch {} after batch {last}", info.batch);
                report.tail = Tail::Corrupt {
                    offset,
                    reason,
                    next_valid: offset,
                };
                return Ok(report);
            }
        }
        let payload = w
            .get(offset + RECORD_HEADER_LEN as u64, info.payload_len as usize)?
            .unwrap_or_default();
        if info.kind == RecordKind::Seal {
            match check_seal(payload, &report, offset) {
                Ok(seal) => report.seal = Some(seal),
                Err(reason) => {
                    report.tail = Tail::Corrupt {
                        offset,
                        reason,
                        next_valid: offset,
                    };
                    return Ok(report);
                }
            }
        } else {
            report.records += 1;
            report.payload_bytes += u64::from(info.payload_len);
        }
        on_record(&info, payload);
        report.last_batch = Some(info.batch);
        offset += format::record_footprint(info.payload_len);
        // May pass `len` when only the last record's zero padding is
        // missing; recovery restores it.
        report.valid_end = offset;
    }
    Ok(report)
}

fn check_seal(payload: &[u8], report: &ScanReport, offset: u64) -> Result<Seal, String> {
    let seal = format::decode_seal(payload).map_err(|e| e.to_string())?;
    if seal.record_count != report.records || seal.data_end != offset {
        return Err(format!(
            "seal says {} records ending at {}, scan found {} ending at {offset}",
            seal.record_count, seal.data_end, report.records
        ));
    }
    Ok(seal)
}

/// Decides whether the bad record at `offset` starts a torn tail or is
/// corruption, by looking for a valid record of a later batch after it.
fn classify_bad_record<S: ReadAt + ?Sized>(
    w: &mut Window<'_, S>,
    report: &ScanReport,
    offset: u64,
    reason: String,
) -> io::Result<Tail> {
    // The batch that may have been in flight at the crash.
    let torn_batch_max = match report.last_batch {
        Some(b) => b.saturating_add(1),
        None => report.header.base_batch,
    };
    let id = report.header.segment_id;
    let mut probe = offset + RECORD_ALIGN;
    while probe + RECORD_HEADER_LEN as u64 <= w.len {
        let magic_here = matches!(w.get(probe, 4)?, Some(m) if m == format::RECORD_MAGIC);
        if magic_here {
            if let Ok(info) = w.record(id, probe)? {
                if info.batch > torn_batch_max {
                    return Ok(Tail::Corrupt {
                        offset,
                        reason,
                        next_valid: probe,
                    });
                }
                probe += format::record_footprint(info.payload_len);
                continue;
            }
        }
        probe += RECORD_ALIGN;
    }
    Ok(Tail::Torn { offset, reason })
}
