//! The object head: the record that commits an object write (kind 2) or a
//! delete (kind 3, a tombstone), written in step 2 of the index
//! transaction. It names its bucket, key and transaction tag, so a
//! listing that finds the transaction pending can tell from the head
//! alone what happened (dir suggest); and it lists the data chunks.
//! `format-spec/object.md` is normative. Pure encode/decode; the segment
//! record around it carries the checksum.

use thiserror::Error;

use crate::index::key::VERSION_ID_LEN;
use crate::le::{put, u16_at, u32_at, u64_at};
use crate::segment::RecordLoc;

pub const HEAD_MAGIC: [u8; 4] = *b"SOBJ";
pub const HEAD_VERSION: u16 = 1;
pub const HEAD_FIXED_LEN: usize = 96;
/// Bytes of user metadata and system headers one object may carry (S3
/// allows 2 KiB of user metadata; headers such as Content-Type add some).
pub const META_BYTES_MAX: usize = 8 * 1024;
pub const PARTS_MAX: usize = 10_000;
const CHUNK_LEN: usize = 24;
const PART_LEN: usize = 16;

const FLAG_DELETE: u16 = 1;
const FLAG_DELETE_MARKER: u16 = 2;

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
}

const FLAG_VERSIONED: u16 = 4;
const FLAGS_KNOWN: u16 = FLAG_DELETE | FLAG_DELETE_MARKER | FLAG_VERSIONED;

impl ObjectHead {
    fn meta_len(&self) -> usize {
        self.meta
            .iter()
            .map(|(n, v)| 2 + n.len() + 4 + v.len())
            .sum()
    }

    pub fn encoded_len(&self) -> usize {
        HEAD_FIXED_LEN
            + self.bucket.len()
            + self.key.len()
            + self.meta_len()
            + CHUNK_LEN * self.chunks.len()
            + PART_LEN * self.parts.len()
    }

    pub fn encode(&self) -> Result<Vec<u8>, HeadError> {
        let too = |what, len| HeadError::TooLarge { what, len };
        if self.bucket.len() > 255 {
            return Err(too("bucket name", self.bucket.len()));
        }
        if self.key.len() > u16::MAX as usize {
            return Err(too("key", self.key.len()));
        }
        if self.meta_len() > META_BYTES_MAX {
            return Err(too("metadata", self.meta_len()));
        }
        if self.parts.len() > PARTS_MAX {
            return Err(too("part list", self.parts.len()));
        }
        let chunks =
            u32::try_from(self.chunks.len()).map_err(|_| too("chunk list", self.chunks.len()))?;
        let mut b = vec![0u8; HEAD_FIXED_LEN];
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
        put(&mut b, 0, &HEAD_MAGIC);
        put(&mut b, 4, &HEAD_VERSION.to_le_bytes());
        put(&mut b, 6, &flags.to_le_bytes());
        put(&mut b, 8, &self.tag.to_le_bytes());
        put(&mut b, 16, &self.mtime_nanos.to_le_bytes());
        put(&mut b, 24, &self.size.to_le_bytes());
        put(&mut b, 32, &self.etag);
        put(&mut b, 48, &self.version_id);
        put(&mut b, 64, &self.etag_parts.to_le_bytes());
        put(&mut b, 66, &[self.storage_class, self.bucket.len() as u8]);
        put(&mut b, 68, &(self.key.len() as u16).to_le_bytes());
        put(&mut b, 72, &(self.meta.len() as u32).to_le_bytes());
        put(&mut b, 76, &chunks.to_le_bytes());
        put(&mut b, 80, &(self.parts.len() as u32).to_le_bytes());
        put(&mut b, 84, &(self.meta_len() as u32).to_le_bytes());
        b.reserve(self.encoded_len() - HEAD_FIXED_LEN);
        b.extend_from_slice(self.bucket.as_bytes());
        b.extend_from_slice(&self.key);
        for (n, v) in &self.meta {
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
            b.extend_from_slice(&[0u8; 4]);
        }
        Ok(b)
    }

    pub fn decode(b: &[u8]) -> Result<ObjectHead, HeadError> {
        let trunc = |need| HeadError::Truncated {
            need,
            have: b.len(),
        };
        if b.len() < HEAD_FIXED_LEN {
            return Err(trunc(HEAD_FIXED_LEN));
        }
        if b.get(..4) != Some(&HEAD_MAGIC[..]) {
            return Err(HeadError::BadMagic);
        }
        let r16 = |at| u16_at(b, at).unwrap_or_default();
        let r32 = |at| u32_at(b, at).unwrap_or_default();
        let r64 = |at| u64_at(b, at).unwrap_or_default();
        let version = r16(4);
        if version != HEAD_VERSION {
            return Err(HeadError::UnknownVersion(version));
        }
        let flags = r16(6);
        if flags & !FLAGS_KNOWN != 0 {
            return Err(HeadError::UnknownFlags(flags & !FLAGS_KNOWN));
        }
        let arr16 = |at: usize| -> [u8; 16] {
            b.get(at..at + 16)
                .and_then(|s| s.try_into().ok())
                .unwrap_or_default()
        };
        let byte = |at: usize| b.get(at).copied().unwrap_or_default();
        let bucket_len = usize::from(byte(67));
        let key_len = usize::from(r16(68));
        let meta_count = r32(72) as usize;
        let chunk_count = r32(76) as usize;
        let part_count = r32(80) as usize;
        let meta_len = r32(84) as usize;
        if meta_len > META_BYTES_MAX {
            return Err(HeadError::TooLarge {
                what: "metadata",
                len: meta_len,
            });
        }
        if part_count > PARTS_MAX {
            return Err(HeadError::TooLarge {
                what: "part list",
                len: part_count,
            });
        }
        let need = HEAD_FIXED_LEN
            .saturating_add(bucket_len)
            .saturating_add(key_len)
            .saturating_add(meta_len)
            .saturating_add(chunk_count.saturating_mul(CHUNK_LEN))
            .saturating_add(part_count.saturating_mul(PART_LEN));
        if b.len() < need {
            return Err(trunc(need));
        }
        if b.len() > need {
            return Err(HeadError::TrailingBytes(b.len() - need));
        }
        let mut at = HEAD_FIXED_LEN;
        let mut take = |n: usize| -> &[u8] {
            let s = b.get(at..at + n).unwrap_or_default();
            at += n;
            s
        };
        let bucket = String::from_utf8(take(bucket_len).to_vec())
            .map_err(|_| HeadError::NotUtf8("bucket name"))?;
        let key = take(key_len).to_vec();
        let meta_bytes = take(meta_len);
        let mut meta = Vec::with_capacity(meta_count.min(256));
        let mut m = 0usize;
        for _ in 0..meta_count {
            let nl = usize::from(u16_at(meta_bytes, m).ok_or(trunc(need))?);
            let n = meta_bytes.get(m + 2..m + 2 + nl).ok_or(trunc(need))?;
            let vl = u32_at(meta_bytes, m + 2 + nl).ok_or(trunc(need))? as usize;
            let v = meta_bytes
                .get(m + 6 + nl..m + 6 + nl + vl)
                .ok_or(trunc(need))?;
            let n =
                String::from_utf8(n.to_vec()).map_err(|_| HeadError::NotUtf8("metadata name"))?;
            let v =
                String::from_utf8(v.to_vec()).map_err(|_| HeadError::NotUtf8("metadata value"))?;
            meta.push((n, v));
            m += 6 + nl + vl;
        }
        if m != meta_len {
            return Err(HeadError::Truncated {
                need: meta_len,
                have: m,
            });
        }
        let chunk_bytes = take(chunk_count * CHUNK_LEN);
        let chunks: Vec<Chunk> = chunk_bytes
            .chunks_exact(CHUNK_LEN)
            .map(|c| Chunk {
                loc: RecordLoc {
                    segment: u64_at(c, 0).unwrap_or_default(),
                    offset: u64_at(c, 8).unwrap_or_default(),
                    len: u32_at(c, 16).unwrap_or_default(),
                },
                len: u32_at(c, 20).unwrap_or_default(),
            })
            .collect();
        let part_bytes = take(part_count * PART_LEN);
        let parts: Vec<Part> = part_bytes
            .chunks_exact(PART_LEN)
            .map(|p| Part {
                size: u64_at(p, 0).unwrap_or_default(),
                chunks: u32_at(p, 8).unwrap_or_default(),
            })
            .collect();
        let size = r64(24);
        let chunk_total: u64 = chunks.iter().map(|c| u64::from(c.len)).sum();
        if chunk_total != size {
            return Err(HeadError::SizeMismatch {
                chunks: chunk_total,
                size,
            });
        }
        let spanned: u64 = parts.iter().map(|p| u64::from(p.chunks)).sum();
        if !parts.is_empty() && spanned != chunks.len() as u64 {
            return Err(HeadError::PartsMismatch {
                parts: spanned,
                chunks: chunks.len(),
            });
        }
        Ok(ObjectHead {
            delete: flags & FLAG_DELETE != 0,
            delete_marker: flags & FLAG_DELETE_MARKER != 0,
            versioned: flags & FLAG_VERSIONED != 0,
            tag: r64(8),
            mtime_nanos: r64(16),
            size,
            etag: arr16(32),
            version_id: arr16(48),
            etag_parts: r16(64),
            storage_class: byte(66),
            bucket,
            key,
            meta,
            chunks,
            parts,
        })
    }
}
