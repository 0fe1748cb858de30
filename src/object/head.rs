//! The object head: the record that commits an object write (kind 2) or a
//! delete (kind 3, a tombstone), written in step 2 of the index
//! transaction. It names its bucket, key and transaction tag, so a
//! listing that finds the transaction pending can tell from the head
//! alone what happened (dir suggest); and it lists the data chunks.
//! `format-spec/object.md` is normative. Pure encode/decode; the segment
//! record around it carries the checksum.
//!
//! ```text
//!  0  4  magic "SOBJ"        48 16  version_id
//!  4  2  version 1           64  2  etag_parts
//!  6  2  flags               66  1  storage_class   0..=7
//!  8  8  tag                 67  1  bucket_len
//! 16  8  mtime_nanos         68  2  key_len
//! 24  8  size                70  2  reserved        zero
//! 32 16  etag                72  4  meta_count
//!                            76  4  chunk_count
//!                            80  4  part_count
//!                            84  4  meta_len
//!                            88  1  checksum_alg    v2: 1..=5
//!                            89  1  reserved        zero
//!                            90  2  checksum_parts  v2
//!                            92  4  expiry_secs     with flag 8, else
//!                                                   zero
//! 96 .. bucket, key, meta entries, chunk entries (24 bytes), part
//!       entries (16 bytes: size 8, chunks 4, reserved 4 zero);
//!       v2: the checksum, then (composite) one per part
//! ```
//!
//! Version 1 is a head without an additional checksum (bytes 88..96
//! zero); version 2 carries one. Version 3 is version 2 whose
//! `checksum_alg` may be 0 (no checksum; then 88..92 are zero) and whose
//! flag 16 is set: a 16-byte Object Lock section (`s3::object_lock`)
//! ends the head. Version 4 is version 3 whose lock flag is optional and
//! whose flag 32 is set: an SSE section (`object::sse`: how the data is
//! encrypted, the wrapped data key, one part number per part) ends the
//! head, after the lock section if there is one. The encoder writes the
//! lowest version that holds the head, so heads without encryption, a
//! lock or a checksum are byte for byte what they were.
//!
//! The encoder refuses exactly the heads the decoder would refuse
//! (`ObjectHead::validate`), so a head it writes always reads back.

use thiserror::Error;

use crate::index::key::VERSION_ID_LEN;
use crate::le::{put, u16_at, u32_at, u64_at};
use crate::object::sse::{section_len, SseError, SseInfo};
use crate::s3::checksum::Algorithm;
use crate::s3::object_lock::{LockError, ObjectLock, LOCK_LEN};
use crate::segment::RecordLoc;

pub const HEAD_MAGIC: [u8; 4] = *b"SOBJ";
/// A head without an additional checksum.
pub const HEAD_VERSION: u16 = 1;
/// A head with one (`checksum_alg` set).
pub const HEAD_VERSION_CHECKSUM: u16 = 2;
/// A head with an Object Lock section (and maybe a checksum).
pub const HEAD_VERSION_LOCK: u16 = 3;
/// A head with an SSE section (and maybe a lock and a checksum).
pub const HEAD_VERSION_SSE: u16 = 4;
pub const HEAD_FIXED_LEN: usize = 96;
/// Bytes of user metadata and system headers one object may carry (S3
/// allows 2 KiB of user metadata; headers such as Content-Type add some).
pub const META_BYTES_MAX: usize = 8 * 1024;
pub const PARTS_MAX: usize = 10_000;
/// The largest storage class: 0 STANDARD ... 7 GLACIER_IR, the range of
/// the index entry (`format-spec/index.md`), into which a head's class is
/// copied (`store::head_entry`).
pub const STORAGE_CLASS_MAX: u8 = 7;
const CHUNK_LEN: usize = 24;
const PART_LEN: usize = 16;
/// Reserved byte ranges of the fixed part: written as zero, refused
/// otherwise.
const FIXED_RESERVED: [(usize, usize); 2] = [(70, 72), (88, 96)];
/// Reserved in version 2, where 88 and 90..92 hold the checksum fields.
const FIXED_RESERVED_V2: [(usize, usize); 3] = [(70, 72), (89, 90), (92, 96)];
/// Reserved bytes of a part entry, from this offset to its end.
const PART_RESERVED_AT: usize = 12;

const FLAG_DELETE: u16 = 1;
const FLAG_DELETE_MARKER: u16 = 2;
const FLAG_VERSIONED: u16 = 4;
/// `expiry_secs` (bytes 92..96) holds the object's expiry time.
const FLAG_EXPIRES: u16 = 8;
/// Version 3: a lock section ends the head.
const FLAG_LOCK: u16 = 16;
/// Version 4: an SSE section ends the head.
const FLAG_SSE: u16 = 32;
const FLAGS_KNOWN: u16 = FLAG_DELETE | FLAG_DELETE_MARKER | FLAG_VERSIONED | FLAG_EXPIRES;
const FLAGS_KNOWN_V3: u16 = FLAGS_KNOWN | FLAG_LOCK;
const FLAGS_KNOWN_V4: u16 = FLAGS_KNOWN_V3 | FLAG_SSE;

/// One chunk of the object's bytes: a data record and how much of the
/// object it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    pub loc: RecordLoc,
    /// Payload bytes of the record (all of them are object bytes).
    pub len: u32,
}

/// A part of a multipart object: its size and how many chunks it spans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Part {
    pub size: u64,
    pub chunks: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectHead {
    /// A tombstone: the transaction deleted the key (or version).
    pub delete: bool,
    pub delete_marker: bool,
    pub tag: u64,
    pub mtime_nanos: u64,
    pub size: u64,
    pub etag: [u8; 16],
    pub etag_parts: u16,
    /// 0..=`STORAGE_CLASS_MAX`.
    pub storage_class: u8,
    pub version_id: [u8; VERSION_ID_LEN],
    /// Whether the write targeted a version (versioned bucket) rather
    /// than the key's logical head.
    pub versioned: bool,
    pub bucket: String,
    pub key: Vec<u8>,
    /// (name, value): lowercase `x-amz-meta-*` names and the stored
    /// system headers (content-type, cache-control, ...), as sent.
    pub meta: Vec<(String, String)>,
    pub chunks: Vec<Chunk>,
    pub parts: Vec<Part>,
    /// The additional checksum (x-amz-checksum-*), if the write had one.
    pub checksum: Option<HeadChecksum>,
    /// When the object expires, seconds since the Unix epoch (0: never;
    /// at most `u32::MAX`, 2106).
    pub expiry_secs: u32,
    /// The version's Object Lock state (empty: none; version 3).
    pub lock: ObjectLock,
    /// How the data is encrypted (version 4); `None`: stored as sent.
    pub sse: Option<SseInfo>,
}

/// An object's additional checksum: of the whole object, or composite
/// (`parts` > 0: the checksum of the parts' checksums, which are kept
/// too, one per part).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadChecksum {
    pub algorithm: Algorithm,
    pub digest: Vec<u8>,
    /// 0 for a whole-object checksum, else the part count.
    pub parts: u16,
    /// Composite only: each part's own checksum, in part order.
    pub part_digests: Vec<Vec<u8>>,
}

impl HeadChecksum {
    fn encoded_len(&self) -> usize {
        self.algorithm
            .digest_len()
            .saturating_mul(1 + self.part_digests.len())
    }

    /// What S3 headers and XML show.
    pub fn stored(&self) -> crate::s3::checksum::Stored {
        crate::s3::checksum::Stored {
            algorithm: Some(self.algorithm),
            digest: self.digest.clone(),
            parts: self.parts,
        }
    }
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum HeadError {
    #[error("object head is {have} bytes, {need} needed")]
    Truncated { need: usize, have: usize },
    #[error("bad object head magic")]
    BadMagic,
    #[error("unknown object head version {0}")]
    UnknownVersion(u16),
    #[error("unknown flag bits {0:#06x}")]
    UnknownFlags(u16),
    #[error("the expires flag is set but the expiry time is zero")]
    ZeroExpiry,
    #[error("reserved object head byte {offset} is not zero")]
    ReservedNotZero { offset: usize },
    #[error("unknown storage class {0}")]
    UnknownStorageClass(u8),
    #[error("object head has {0} bytes past its end")]
    TrailingBytes(usize),
    #[error("{0} is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("{what} too large: {len}")]
    TooLarge { what: &'static str, len: usize },
    #[error("chunks hold {chunks} bytes but the object is {size}")]
    SizeMismatch { chunks: u64, size: u64 },
    #[error("parts span {parts} chunks of {chunks}")]
    PartsMismatch { parts: u64, chunks: usize },
    #[error("unknown checksum algorithm {0}")]
    UnknownChecksum(u8),
    #[error("checksum is malformed: {0}")]
    BadChecksum(&'static str),
    #[error("version 3 head without its lock section flag")]
    LockFlagMissing,
    #[error("lock section: {0}")]
    Lock(LockError),
    #[error("version 4 head without its SSE section flag")]
    SseFlagMissing,
    #[error("SSE section: {0}")]
    Sse(SseError),
}

/// The fixed part's lengths and counts, as encoded.
#[derive(Clone, Copy, Debug)]
struct Counts {
    bucket_len: u8,
    key_len: u16,
    meta_count: u32,
    chunk_count: u32,
    part_count: u32,
    meta_len: u32,
    /// Bytes of the checksum section (0 in version 1).
    checksum_len: usize,
    /// Bytes of the lock section (0 or `LOCK_LEN`).
    lock_len: usize,
    /// Bytes of the SSE section (0 without one).
    sse_len: usize,
}

impl Counts {
    /// The whole head's length; saturates (a head that long is refused
    /// as truncated).
    fn total_len(&self) -> usize {
        let n = |x: u32| usize::try_from(x).unwrap_or(usize::MAX);
        HEAD_FIXED_LEN
            .saturating_add(usize::from(self.bucket_len))
            .saturating_add(usize::from(self.key_len))
            .saturating_add(n(self.meta_len))
            .saturating_add(n(self.chunk_count).saturating_mul(CHUNK_LEN))
            .saturating_add(n(self.part_count).saturating_mul(PART_LEN))
            .saturating_add(self.checksum_len)
            .saturating_add(self.lock_len)
            .saturating_add(self.sse_len)
    }
}

impl ObjectHead {
    /// Bytes of the encoded metadata entries; `None` past `usize`.
    fn meta_len(&self) -> Option<usize> {
        self.meta.iter().try_fold(0usize, |sum, (n, v)| {
            sum.checked_add(6)?
                .checked_add(n.len())?
                .checked_add(v.len())
        })
    }

    /// The encoded length (saturating for a head too large to encode).
    pub fn encoded_len(&self) -> usize {
        HEAD_FIXED_LEN
            .saturating_add(self.bucket.len())
            .saturating_add(self.key.len())
            .saturating_add(self.meta_len().unwrap_or(usize::MAX))
            .saturating_add(self.chunks.len().saturating_mul(CHUNK_LEN))
            .saturating_add(self.parts.len().saturating_mul(PART_LEN))
            .saturating_add(self.checksum.as_ref().map_or(0, HeadChecksum::encoded_len))
            .saturating_add(self.lock_len())
            .saturating_add(self.sse.as_ref().map_or(0, SseInfo::encoded_len))
    }

    fn lock_len(&self) -> usize {
        if self.lock.is_empty() {
            0
        } else {
            LOCK_LEN
        }
    }

    /// Checks everything the decoder would refuse, in the decoder's
    /// order, plus what the format cannot represent (a bucket name over
    /// 255 bytes, a key over 65 535, more than 2^32 - 1 chunks).
    pub fn validate(&self) -> Result<(), HeadError> {
        self.validated_counts().map(|_| ())
    }

    /// `validate`, returning the fixed part's counts.
    fn validated_counts(&self) -> Result<Counts, HeadError> {
        check_storage_class(self.storage_class)?;
        let counts = self.counts()?;
        check_totals(self.size, &self.chunks, &self.parts)?;
        if let Some(c) = &self.checksum {
            check_checksum(c, self.parts.len())?;
        }
        if !self.lock.is_empty() {
            self.lock.validate().map_err(HeadError::Lock)?;
        }
        if let Some(s) = &self.sse {
            s.validate(self.parts.len()).map_err(HeadError::Sse)?;
        }
        Ok(counts)
    }

    fn counts(&self) -> Result<Counts, HeadError> {
        let too = |what, len| HeadError::TooLarge { what, len };
        let meta_len = self.meta_len().unwrap_or(usize::MAX);
        if meta_len > META_BYTES_MAX {
            return Err(too("metadata", meta_len));
        }
        if self.parts.len() > PARTS_MAX {
            return Err(too("part list", self.parts.len()));
        }
        let fit = |what, len: usize| u32::try_from(len).map_err(|_| too(what, len));
        Ok(Counts {
            bucket_len: u8::try_from(self.bucket.len())
                .map_err(|_| too("bucket name", self.bucket.len()))?,
            key_len: u16::try_from(self.key.len()).map_err(|_| too("key", self.key.len()))?,
            meta_count: fit("metadata", self.meta.len())?,
            chunk_count: fit("chunk list", self.chunks.len())?,
            part_count: fit("part list", self.parts.len())?,
            meta_len: fit("metadata", meta_len)?,
            checksum_len: self.checksum.as_ref().map_or(0, HeadChecksum::encoded_len),
            lock_len: self.lock_len(),
            sse_len: self.sse.as_ref().map_or(0, SseInfo::encoded_len),
        })
    }

    /// The encoded head; refuses (and writes nothing for) a head that
    /// `validate` refuses. Reserved bytes are written as zero.
    pub fn encode(&self) -> Result<Vec<u8>, HeadError> {
        let counts = self.validated_counts()?;
        let mut b = Vec::with_capacity(self.encoded_len());
        b.extend_from_slice(&self.encode_fixed(&counts));
        b.extend_from_slice(self.bucket.as_bytes());
        b.extend_from_slice(&self.key);
        for (n, v) in &self.meta {
            // Both fit: each is at most META_BYTES_MAX (counts()).
            b.extend_from_slice(&(n.len() as u16).to_le_bytes());
            b.extend_from_slice(n.as_bytes());
            b.extend_from_slice(&(v.len() as u32).to_le_bytes());
            b.extend_from_slice(v.as_bytes());
        }
        for c in &self.chunks {
            b.extend_from_slice(&c.loc.segment.to_le_bytes());
            b.extend_from_slice(&c.loc.offset.to_le_bytes());
            b.extend_from_slice(&c.loc.len.to_le_bytes());
            b.extend_from_slice(&c.len.to_le_bytes());
        }
        for p in &self.parts {
            b.extend_from_slice(&p.size.to_le_bytes());
            b.extend_from_slice(&p.chunks.to_le_bytes());
            b.extend_from_slice(&[0u8; PART_LEN - PART_RESERVED_AT]);
        }
        if let Some(c) = &self.checksum {
            b.extend_from_slice(&c.digest);
            for d in &c.part_digests {
                b.extend_from_slice(d);
            }
        }
        if !self.lock.is_empty() {
            b.extend_from_slice(&self.lock.encode());
        }
        if let Some(s) = &self.sse {
            b.extend_from_slice(&s.encode());
        }
        debug_assert_eq!(b.len(), counts.total_len());
        Ok(b)
    }

    fn encode_fixed(&self, c: &Counts) -> [u8; HEAD_FIXED_LEN] {
        let mut flags = 0;
        if self.delete {
            flags |= FLAG_DELETE;
        }
        if self.delete_marker {
            flags |= FLAG_DELETE_MARKER;
        }
        if self.versioned {
            flags |= FLAG_VERSIONED;
        }
        if self.expiry_secs != 0 {
            flags |= FLAG_EXPIRES;
        }
        if !self.lock.is_empty() {
            flags |= FLAG_LOCK;
        }
        if self.sse.is_some() {
            flags |= FLAG_SSE;
        }
        // Reserved bytes (70..72, 88..96) stay zero.
        let mut b = [0u8; HEAD_FIXED_LEN];
        put(&mut b, 0, &HEAD_MAGIC);
        let version = match (&self.checksum, self.lock.is_empty()) {
            _ if self.sse.is_some() => HEAD_VERSION_SSE,
            (_, false) => HEAD_VERSION_LOCK,
            (None, true) => HEAD_VERSION,
            (Some(_), true) => HEAD_VERSION_CHECKSUM,
        };
        put(&mut b, 4, &version.to_le_bytes());
        put(&mut b, 6, &flags.to_le_bytes());
        put(&mut b, 8, &self.tag.to_le_bytes());
        put(&mut b, 16, &self.mtime_nanos.to_le_bytes());
        put(&mut b, 24, &self.size.to_le_bytes());
        put(&mut b, 32, &self.etag);
        put(&mut b, 48, &self.version_id);
        put(&mut b, 64, &self.etag_parts.to_le_bytes());
        put(&mut b, 66, &[self.storage_class, c.bucket_len]);
        put(&mut b, 68, &c.key_len.to_le_bytes());
        put(&mut b, 72, &c.meta_count.to_le_bytes());
        put(&mut b, 76, &c.chunk_count.to_le_bytes());
        put(&mut b, 80, &c.part_count.to_le_bytes());
        put(&mut b, 84, &c.meta_len.to_le_bytes());
        if let Some(ck) = &self.checksum {
            put(&mut b, 88, &[ck.algorithm.code()]);
            put(&mut b, 90, &ck.parts.to_le_bytes());
        }
        if self.expiry_secs != 0 {
            put(&mut b, 92, &self.expiry_secs.to_le_bytes());
        }
        b
    }

    /// Decodes a head, checking it in the order `format-spec/object.md`
    /// gives ("What a decoder checks").
    pub fn decode(b: &[u8]) -> Result<ObjectHead, HeadError> {
        let (mut h, counts) = decode_fixed(b)?;
        let need = counts.total_len();
        if b.len() < need {
            return Err(HeadError::Truncated {
                need,
                have: b.len(),
            });
        }
        if b.len() > need {
            return Err(HeadError::TrailingBytes(b.len() - need));
        }
        let mut cur = Cursor {
            b,
            at: HEAD_FIXED_LEN,
        };
        let n = |x: u32| usize::try_from(x).unwrap_or(usize::MAX);
        h.bucket = String::from_utf8(cur.take(usize::from(counts.bucket_len))?.to_vec())
            .map_err(|_| HeadError::NotUtf8("bucket name"))?;
        h.key = cur.take(usize::from(counts.key_len))?.to_vec();
        h.meta = decode_meta(cur.take(n(counts.meta_len))?, counts.meta_count)?;
        let chunk_bytes = cur.take(n(counts.chunk_count).saturating_mul(CHUNK_LEN))?;
        h.chunks = chunk_bytes
            .chunks_exact(CHUNK_LEN)
            .map(decode_chunk)
            .collect();
        let parts_at = cur.at;
        let part_bytes = cur.take(n(counts.part_count).saturating_mul(PART_LEN))?;
        h.parts = decode_parts(part_bytes, parts_at)?;
        check_totals(h.size, &h.chunks, &h.parts)?;
        if let Some(c) = &mut h.checksum {
            let len = c.algorithm.digest_len();
            c.digest = cur.take(len)?.to_vec();
            if c.parts > 0 {
                c.part_digests = cur
                    .take(len.saturating_mul(h.parts.len()))?
                    .chunks_exact(len)
                    .map(<[u8]>::to_vec)
                    .collect();
            }
            check_checksum(c, h.parts.len())?;
        }
        if counts.lock_len > 0 {
            let at = cur.at;
            h.lock = ObjectLock::decode(cur.take(LOCK_LEN)?).map_err(|e| match e {
                // A reserved byte is named by its offset in the head.
                LockError::ReservedNotZero(i) => HeadError::ReservedNotZero {
                    offset: at.saturating_add(i),
                },
                e => HeadError::Lock(e),
            })?;
        }
        if counts.sse_len > 0 {
            let at = cur.at;
            let b = cur.take(counts.sse_len)?;
            h.sse = Some(SseInfo::decode(b, h.parts.len()).map_err(|e| match e {
                SseError::ReservedNotZero(i) => HeadError::ReservedNotZero {
                    offset: at.saturating_add(i),
                },
                e => HeadError::Sse(e),
            })?);
        }
        Ok(h)
    }
}

/// Steps 1 and 2 of the decoder: the fixed part's own checks, and the
/// limits that come before any length arithmetic.
fn decode_fixed(b: &[u8]) -> Result<(ObjectHead, Counts), HeadError> {
    if b.len() < HEAD_FIXED_LEN {
        return Err(HeadError::Truncated {
            need: HEAD_FIXED_LEN,
            have: b.len(),
        });
    }
    if b.get(..4) != Some(&HEAD_MAGIC[..]) {
        return Err(HeadError::BadMagic);
    }
    // In range: b holds the whole fixed part.
    let r16 = |at| u16_at(b, at).unwrap_or_default();
    let r32 = |at| u32_at(b, at).unwrap_or_default();
    let r64 = |at| u64_at(b, at).unwrap_or_default();
    let byte = |at: usize| b.get(at).copied().unwrap_or_default();
    let arr16 = |at: usize| -> [u8; 16] {
        b.get(at..at + 16)
            .and_then(|s| s.try_into().ok())
            .unwrap_or_default()
    };
    let version = r16(4);
    if !(HEAD_VERSION..=HEAD_VERSION_SSE).contains(&version) {
        return Err(HeadError::UnknownVersion(version));
    }
    let flags = r16(6);
    let known = match version {
        HEAD_VERSION_SSE => FLAGS_KNOWN_V4,
        HEAD_VERSION_LOCK => FLAGS_KNOWN_V3,
        _ => FLAGS_KNOWN,
    };
    if flags & !known != 0 {
        return Err(HeadError::UnknownFlags(flags & !known));
    }
    if version == HEAD_VERSION_LOCK && flags & FLAG_LOCK == 0 {
        return Err(HeadError::LockFlagMissing);
    }
    if version == HEAD_VERSION_SSE && flags & FLAG_SSE == 0 {
        return Err(HeadError::SseFlagMissing);
    }
    // Versions 3 and 4 without a checksum: 88..92 are zero like version
    // 1's.
    let no_checksum = version == HEAD_VERSION || (version >= HEAD_VERSION_LOCK && byte(88) == 0);
    let reserved: &[(usize, usize)] = if no_checksum {
        &FIXED_RESERVED
    } else {
        &FIXED_RESERVED_V2
    };
    let expires = flags & FLAG_EXPIRES != 0;
    for &(from, to) in reserved {
        // With the expires flag, 92..96 is the expiry time.
        let to = if expires && to == 96 { 92 } else { to };
        check_zero(b, from, to)?;
    }
    let expiry_secs = if expires {
        let t = r32(92);
        if t == 0 {
            return Err(HeadError::ZeroExpiry);
        }
        t
    } else {
        0
    };
    let checksum = if no_checksum {
        None
    } else {
        let alg = byte(88);
        let algorithm = Algorithm::from_code(alg).ok_or(HeadError::UnknownChecksum(alg))?;
        let parts = r16(90);
        if usize::from(parts) != 0 && usize::try_from(r32(80)).ok() != Some(usize::from(parts)) {
            return Err(HeadError::BadChecksum(
                "a composite checksum must cover every part",
            ));
        }
        Some(HeadChecksum {
            algorithm,
            digest: Vec::new(),
            parts,
            part_digests: Vec::new(),
        })
    };
    check_storage_class(byte(66))?;
    let counts = Counts {
        bucket_len: byte(67),
        key_len: r16(68),
        meta_count: r32(72),
        chunk_count: r32(76),
        part_count: r32(80),
        meta_len: r32(84),
        checksum_len: checksum.as_ref().map_or(0, |c| {
            let n = if c.parts > 0 {
                1 + usize::from(c.parts)
            } else {
                1
            };
            c.algorithm.digest_len().saturating_mul(n)
        }),
        lock_len: if flags & FLAG_LOCK != 0 { LOCK_LEN } else { 0 },
        // part_count is bounded just below, before this is used.
        sse_len: if flags & FLAG_SSE != 0 {
            section_len(usize::try_from(r32(80)).unwrap_or(usize::MAX))
        } else {
            0
        },
    };
    let meta_len = usize::try_from(counts.meta_len).unwrap_or(usize::MAX);
    if meta_len > META_BYTES_MAX {
        return Err(HeadError::TooLarge {
            what: "metadata",
            len: meta_len,
        });
    }
    let part_count = usize::try_from(counts.part_count).unwrap_or(usize::MAX);
    if part_count > PARTS_MAX {
        return Err(HeadError::TooLarge {
            what: "part list",
            len: part_count,
        });
    }
    let h = ObjectHead {
        delete: flags & FLAG_DELETE != 0,
        delete_marker: flags & FLAG_DELETE_MARKER != 0,
        versioned: flags & FLAG_VERSIONED != 0,
        tag: r64(8),
        mtime_nanos: r64(16),
        size: r64(24),
        etag: arr16(32),
        version_id: arr16(48),
        etag_parts: r16(64),
        storage_class: byte(66),
        checksum,
        expiry_secs,
        ..ObjectHead::default()
    };
    Ok((h, counts))
}

/// Reads the variable part front to back.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The next `n` bytes; `Truncated` past the end (offsets checked:
    /// a `value_len` near 2^32 must not wrap a 32-bit `usize`).
    fn take(&mut self, n: usize) -> Result<&'a [u8], HeadError> {
        let end = self.at.checked_add(n);
        match end.and_then(|end| Some((end, self.b.get(self.at..end)?))) {
            Some((end, s)) => {
                self.at = end;
                Ok(s)
            }
            None => Err(HeadError::Truncated {
                need: end.unwrap_or(usize::MAX),
                have: self.b.len(),
            }),
        }
    }
}

/// `count` metadata entries that fill `b` exactly.
fn decode_meta(b: &[u8], count: u32) -> Result<Vec<(String, String)>, HeadError> {
    let text = |s: &[u8], what| String::from_utf8(s.to_vec()).map_err(|_| HeadError::NotUtf8(what));
    let len = |s: &[u8]| match *s {
        [a, b] => usize::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => usize::try_from(u32::from_le_bytes([a, b, c, d])).unwrap_or(usize::MAX),
        _ => 0,
    };
    let mut cur = Cursor { b, at: 0 };
    // Each entry is at least 6 bytes, so a large count fails on the
    // bytes before it allocates much.
    let mut meta = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(256));
    for _ in 0..count {
        let name_len = len(cur.take(2)?);
        let name = cur.take(name_len)?;
        let value_len = len(cur.take(4)?);
        let value = cur.take(value_len)?;
        meta.push((text(name, "metadata name")?, text(value, "metadata value")?));
    }
    if cur.at != b.len() {
        return Err(HeadError::Truncated {
            need: b.len(),
            have: cur.at,
        });
    }
    Ok(meta)
}

fn decode_chunk(c: &[u8]) -> Chunk {
    // In range: `c` is one whole chunk entry (chunks_exact).
    Chunk {
        loc: RecordLoc {
            segment: u64_at(c, 0).unwrap_or_default(),
            offset: u64_at(c, 8).unwrap_or_default(),
            len: u32_at(c, 16).unwrap_or_default(),
        },
        len: u32_at(c, 20).unwrap_or_default(),
    }
}

/// Part entries; `at` is where they start in the head (for the offset
/// of a non-zero reserved byte).
fn decode_parts(b: &[u8], at: usize) -> Result<Vec<Part>, HeadError> {
    b.chunks_exact(PART_LEN)
        .enumerate()
        .map(|(i, p)| {
            check_zero(p, PART_RESERVED_AT, PART_LEN)
                .map_err(|e| shift(e, at.saturating_add(i.saturating_mul(PART_LEN))))?;
            Ok(Part {
                size: u64_at(p, 0).unwrap_or_default(),
                chunks: u32_at(p, 8).unwrap_or_default(),
            })
        })
        .collect()
}

/// `ReservedNotZero` at the first non-zero byte of `b[from..to]`.
fn check_zero(b: &[u8], from: usize, to: usize) -> Result<(), HeadError> {
    let r = b.get(from..to).ok_or(HeadError::Truncated {
        need: to,
        have: b.len(),
    })?;
    match r.iter().position(|&x| x != 0) {
        Some(i) => Err(HeadError::ReservedNotZero { offset: from + i }),
        None => Ok(()),
    }
}

/// Moves a `ReservedNotZero` found in an entry to its offset in the head.
fn shift(e: HeadError, by: usize) -> HeadError {
    match e {
        HeadError::ReservedNotZero { offset } => HeadError::ReservedNotZero {
            offset: offset.saturating_add(by),
        },
        e => e,
    }
}

/// A checksum's digests have its algorithm's length; a composite one
/// covers exactly the head's parts and has one digest per part; a whole
/// one has no part digests.
fn check_checksum(c: &HeadChecksum, parts: usize) -> Result<(), HeadError> {
    let len = c.algorithm.digest_len();
    if c.digest.len() != len || c.part_digests.iter().any(|d| d.len() != len) {
        return Err(HeadError::BadChecksum(
            "a digest's length is not its algorithm's",
        ));
    }
    let want = if c.parts > 0 { parts } else { 0 };
    if (c.parts > 0 && usize::from(c.parts) != parts) || c.part_digests.len() != want {
        return Err(HeadError::BadChecksum(
            "a composite checksum must cover every part",
        ));
    }
    Ok(())
}

fn check_storage_class(class: u8) -> Result<(), HeadError> {
    if class > STORAGE_CLASS_MAX {
        return Err(HeadError::UnknownStorageClass(class));
    }
    Ok(())
}

/// The chunks hold exactly `size` bytes, and a part list (if any) spans
/// exactly the chunks. Shared by `validate` and `decode`.
fn check_totals(size: u64, chunks: &[Chunk], parts: &[Part]) -> Result<(), HeadError> {
    let total = chunks
        .iter()
        .try_fold(0u64, |sum, c| sum.checked_add(u64::from(c.len)));
    if total != Some(size) {
        return Err(HeadError::SizeMismatch {
            chunks: total.unwrap_or(u64::MAX),
            size,
        });
    }
    let spanned = parts
        .iter()
        .try_fold(0u64, |sum, p| sum.checked_add(u64::from(p.chunks)));
    if !parts.is_empty() && spanned != u64::try_from(chunks.len()).ok() {
        return Err(HeadError::PartsMismatch {
            parts: spanned.unwrap_or(u64::MAX),
            chunks: chunks.len(),
        });
    }
    Ok(())
}
