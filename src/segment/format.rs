//! Segment file format: pure encoding and decoding, no I/O.
//! `format-spec/segment.md` is the normative description; this comment
//! repeats the layout. All integers are little-endian.
//!
//! ```text
//! file   := header record*
//! header (64 bytes, offset 0):
//!    0  8  magic          "SHALESEG"
//!    8  2  version        1
//!   10  2  header_len     64
//!   12  4  record_align   8
//!   16  8  segment_id
//!   24  8  base_batch     lowest batch number a record here may carry
//!   32  8  created_nanos  unix time of creation
//!   40 20  reserved       zero
//!   60  4  header_crc     crc32c(bytes 0..60)
//! record (at offsets that are multiples of 8):
//!    0  4  magic          "SREC"
//!    4  4  crc            crc32c(payload ++ bytes 8..24 ++ segment_id as u64 LE)
//!    8  1  kind           1 data chunk, 2 object head, 3 tombstone, 4 seal,
//!                         5 log entry
//!    9  1  flags          zero (reserved)
//!   10  2  reserved       zero
//!   12  4  payload_len    <= RECORD_PAYLOAD_BYTES_MAX
//!   16  8  batch          group-commit batch number
//!   24  n  payload
//!      ..  zero padding up to the next multiple of 8 (not checksummed)
//! seal payload (16 bytes): record_count u64, data_end u64
//! ```

use thiserror::Error;

use crate::le::put;

pub const SEGMENT_MAGIC: [u8; 8] = *b"SHALESEG";
pub const SEGMENT_VERSION: u16 = 1;
pub const HEADER_LEN: usize = 64;
pub const RECORD_MAGIC: [u8; 4] = *b"SREC";
pub const RECORD_ALIGN: u64 = 8;
pub const RECORD_HEADER_LEN: usize = 24;
/// Largest payload one record may carry; bigger objects are chunked.
pub const RECORD_PAYLOAD_BYTES_MAX: u32 = 16 * 1024 * 1024;
pub const SEAL_PAYLOAD_LEN: usize = 16;
/// Bytes a seal record occupies on disk.
pub const SEAL_FOOTPRINT: u64 = (RECORD_HEADER_LEN + SEAL_PAYLOAD_LEN) as u64;

// Header field offsets, chained so that a change shows everywhere.
const H_MAGIC: usize = 0;
const H_VERSION: usize = H_MAGIC + 8;
const H_HEADER_LEN: usize = H_VERSION + 2;
const H_ALIGN: usize = H_HEADER_LEN + 2;
const H_SEGMENT_ID: usize = H_ALIGN + 4;
const H_BASE_BATCH: usize = H_SEGMENT_ID + 8;
const H_CREATED: usize = H_BASE_BATCH + 8;
const H_RESERVED: usize = H_CREATED + 8;
const H_CRC: usize = H_RESERVED + 20;
const _: () = assert!(H_CRC + 4 == HEADER_LEN);

// Record header field offsets.
const R_MAGIC: usize = 0;
const R_CRC: usize = R_MAGIC + 4;
const R_KIND: usize = R_CRC + 4;
const R_FLAGS: usize = R_KIND + 1;
const R_RESERVED: usize = R_FLAGS + 1;
const R_LEN: usize = R_RESERVED + 2;
const R_BATCH: usize = R_LEN + 4;
const _: () = assert!(R_BATCH + 8 == RECORD_HEADER_LEN);
const _: () = assert!(SEAL_FOOTPRINT.is_multiple_of(RECORD_ALIGN));
const _: () = assert!((HEADER_LEN as u64).is_multiple_of(RECORD_ALIGN));

/// What a record holds. The payload of heads and tombstones is defined by
/// the object layer; to the segment store it is opaque bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    DataChunk = 1,
    ObjectHead = 2,
    Tombstone = 3,
    /// Last record of a segment that was rolled over.
    Seal = 4,
    /// An entry of a log kept in segment files (e.g. a bucket index log,
    /// `format-spec/bilog.md`); the payload belongs to the log's owner.
    LogEntry = 5,
}

impl RecordKind {
    pub fn from_u8(v: u8) -> Option<RecordKind> {
        match v {
            1 => Some(RecordKind::DataChunk),
            2 => Some(RecordKind::ObjectHead),
            3 => Some(RecordKind::Tombstone),
            4 => Some(RecordKind::Seal),
            5 => Some(RecordKind::LogEntry),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RecordKind::DataChunk => "data",
            RecordKind::ObjectHead => "head",
            RecordKind::Tombstone => "tombstone",
            RecordKind::Seal => "seal",
            RecordKind::LogEntry => "log",
        }
    }
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("truncated: {needed} bytes needed, {have} present")]
    Truncated { needed: u64, have: u64 },
    #[error("bad magic {found:02x?}")]
    BadMagic { found: Vec<u8> },
    #[error("unknown format version {0} (this build reads version {SEGMENT_VERSION})")]
    UnknownVersion(u16),
    #[error("unsupported header length {0} or record alignment {1}")]
    BadGeometry(u16, u32),
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    #[error("reserved bytes are not zero")]
    ReservedNotZero,
    #[error("payload length {len} exceeds the maximum {RECORD_PAYLOAD_BYTES_MAX}")]
    PayloadTooLarge { len: u32 },
    #[error("malformed seal payload")]
    BadSeal,
}

/// The fixed header at the start of every segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub segment_id: u64,
    pub base_batch: u64,
    pub created_nanos: u64,
}

/// A decoded record header (its checksum not yet verified).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub crc: u32,
    pub kind: RecordKind,
    pub payload_len: u32,
    pub batch: u64,
}

impl RecordHeader {
    /// Header plus payload, without padding.
    pub fn len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.payload_len)
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Header, payload and padding: the distance to the next record.
    pub fn footprint(&self) -> u64 {
        record_footprint(self.payload_len)
    }
}

/// A record whose checksum matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub kind: RecordKind,
    pub batch: u64,
    pub payload: &'a [u8],
}

/// The payload of a seal record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seal {
    /// Records before the seal.
    pub record_count: u64,
    /// Offset of the seal record, i.e. the end of the last data record.
    pub data_end: u64,
}

pub fn record_footprint(payload_len: u32) -> u64 {
    align_up(RECORD_HEADER_LEN as u64 + u64::from(payload_len))
}

pub fn align_up(n: u64) -> u64 {
    n.div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

fn get<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], FormatError> {
    b.get(at..at + N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(FormatError::Truncated {
            needed: (at + N) as u64,
            have: b.len() as u64,
        })
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, FormatError> {
    get::<2>(b, at).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, FormatError> {
    get::<4>(b, at).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, FormatError> {
    get::<8>(b, at).map(u64::from_le_bytes)
}

pub fn encode_header(h: &SegmentHeader) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    put(&mut b, H_MAGIC, &SEGMENT_MAGIC);
    put(&mut b, H_VERSION, &SEGMENT_VERSION.to_le_bytes());
    put(&mut b, H_HEADER_LEN, &(HEADER_LEN as u16).to_le_bytes());
    put(&mut b, H_ALIGN, &(RECORD_ALIGN as u32).to_le_bytes());
    put(&mut b, H_SEGMENT_ID, &h.segment_id.to_le_bytes());
    put(&mut b, H_BASE_BATCH, &h.base_batch.to_le_bytes());
    put(&mut b, H_CREATED, &h.created_nanos.to_le_bytes());
    let crc = crc32c::crc32c(b.get(..H_CRC).unwrap_or_default());
    put(&mut b, H_CRC, &crc.to_le_bytes());
    b
}

pub fn decode_header(b: &[u8]) -> Result<SegmentHeader, FormatError> {
    let magic = get::<8>(b, H_MAGIC)?;
    if magic != SEGMENT_MAGIC {
        return Err(FormatError::BadMagic {
            found: magic.to_vec(),
        });
    }
    let body = b.get(..H_CRC).ok_or(FormatError::Truncated {
        needed: HEADER_LEN as u64,
        have: b.len() as u64,
    })?;
    let stored = u32_at(b, H_CRC)?;
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(FormatError::ChecksumMismatch { stored, computed });
    }
    let version = u16_at(b, H_VERSION)?;
    if version != SEGMENT_VERSION {
        return Err(FormatError::UnknownVersion(version));
    }
    let header_len = u16_at(b, H_HEADER_LEN)?;
    let align = u32_at(b, H_ALIGN)?;
    if usize::from(header_len) != HEADER_LEN || u64::from(align) != RECORD_ALIGN {
        return Err(FormatError::BadGeometry(header_len, align));
    }
    if get::<20>(b, H_RESERVED)? != [0u8; 20] {
        return Err(FormatError::ReservedNotZero);
    }
    Ok(SegmentHeader {
        segment_id: u64_at(b, H_SEGMENT_ID)?,
        base_batch: u64_at(b, H_BASE_BATCH)?,
        created_nanos: u64_at(b, H_CREATED)?,
    })
}

/// The record checksum: CRC32C over the payload, then header bytes 8..24,
/// then the segment id. The payload comes first so that a checksum of the
/// payload alone (computed while the payload streamed in) extends to the
/// record checksum by hashing 32 more bytes.
fn record_crc(payload_crc: u32, header_tail: &[u8], segment_id: u64) -> u32 {
    let c = crc32c::crc32c_append(payload_crc, header_tail);
    crc32c::crc32c_append(c, &segment_id.to_le_bytes())
}

/// The header of a record whose payload's own CRC32C is `payload_crc`.
/// The record checksum extends it, so the payload need not be read again
/// here (appenders checksum their payloads in parallel).
pub fn encode_record_header(
    segment_id: u64,
    kind: RecordKind,
    batch: u64,
    payload_len: u32,
    payload_crc: u32,
) -> [u8; RECORD_HEADER_LEN] {
    debug_assert!(payload_len <= RECORD_PAYLOAD_BYTES_MAX);
    let mut h = [0u8; RECORD_HEADER_LEN];
    put(&mut h, R_MAGIC, &RECORD_MAGIC);
    put(&mut h, R_KIND, &[kind as u8]);
    put(&mut h, R_LEN, &payload_len.to_le_bytes());
    put(&mut h, R_BATCH, &batch.to_le_bytes());
    let crc = record_crc(payload_crc, h.get(R_KIND..).unwrap_or_default(), segment_id);
    put(&mut h, R_CRC, &crc.to_le_bytes());
    h
}

/// Zero bytes that follow a payload of `payload_len` bytes.
pub fn padding_len(payload_len: u32) -> usize {
    (record_footprint(payload_len) - RECORD_HEADER_LEN as u64 - u64::from(payload_len)) as usize
}

/// Appends one record (header, payload, zero padding) to `out`.
/// The caller guarantees `payload.len() <= RECORD_PAYLOAD_BYTES_MAX`.
pub fn encode_record(
    out: &mut Vec<u8>,
    segment_id: u64,
    kind: RecordKind,
    batch: u64,
    payload: &[u8],
) {
    let payload_len = payload.len() as u32;
    let h = encode_record_header(
        segment_id,
        kind,
        batch,
        payload_len,
        crc32c::crc32c(payload),
    );
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    out.resize(out.len() + padding_len(payload_len), 0);
}

/// Decodes a record header. Checks magic, kind, reserved bytes and the
/// length bound; the checksum needs the payload ([`decode_record`]).
pub fn decode_record_header(b: &[u8]) -> Result<RecordHeader, FormatError> {
    let magic = get::<4>(b, R_MAGIC)?;
    if magic != RECORD_MAGIC {
        return Err(FormatError::BadMagic {
            found: magic.to_vec(),
        });
    }
    let kind_byte = get::<1>(b, R_KIND)?[0];
    let kind = RecordKind::from_u8(kind_byte).ok_or(FormatError::UnknownKind(kind_byte))?;
    if get::<1>(b, R_FLAGS)? != [0] || u16_at(b, R_RESERVED)? != 0 {
        return Err(FormatError::ReservedNotZero);
    }
    let payload_len = u32_at(b, R_LEN)?;
    if payload_len > RECORD_PAYLOAD_BYTES_MAX {
        return Err(FormatError::PayloadTooLarge { len: payload_len });
    }
    Ok(RecordHeader {
        crc: u32_at(b, R_CRC)?,
        kind,
        payload_len,
        batch: u64_at(b, R_BATCH)?,
    })
}

/// Decodes and verifies the record at the start of `b` (which may extend
/// past the record). A checksum mismatch is an error, never data.
pub fn decode_record(segment_id: u64, b: &[u8]) -> Result<Record<'_>, FormatError> {
    let h = decode_record_header(b)?;
    let end = RECORD_HEADER_LEN + h.payload_len as usize;
    let payload = b
        .get(RECORD_HEADER_LEN..end)
        .ok_or(FormatError::Truncated {
            needed: end as u64,
            have: b.len() as u64,
        })?;
    let tail = b.get(R_KIND..RECORD_HEADER_LEN).unwrap_or_default();
    let computed = record_crc(crc32c::crc32c(payload), tail, segment_id);
    if computed != h.crc {
        return Err(FormatError::ChecksumMismatch {
            stored: h.crc,
            computed,
        });
    }
    Ok(Record {
        kind: h.kind,
        batch: h.batch,
        payload,
    })
}

pub fn encode_seal(seal: &Seal) -> [u8; SEAL_PAYLOAD_LEN] {
    let mut b = [0u8; SEAL_PAYLOAD_LEN];
    put(&mut b, 0, &seal.record_count.to_le_bytes());
    put(&mut b, 8, &seal.data_end.to_le_bytes());
    b
}

pub fn decode_seal(payload: &[u8]) -> Result<Seal, FormatError> {
    if payload.len() != SEAL_PAYLOAD_LEN {
        return Err(FormatError::BadSeal);
    }
    Ok(Seal {
        record_count: u64_at(payload, 0)?,
        data_end: u64_at(payload, 8)?,
    })
}
