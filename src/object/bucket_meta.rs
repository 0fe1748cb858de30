//! A bucket's own record, `<data>/buckets/<name>/BUCKET`
//! (`format-spec/object.md`, "Bucket record"): when it was created, by
//! whom, where, and its index's shard count at creation. Written whole and
//! renamed into place.
//!
//! ```text
//!  0  4  magic          "SBKT"
//!  4  2  version        1
//!  6  2  reserved       0 (refused otherwise)
//!  8  8  created_nanos
//! 16  4  shards         index shards at creation
//! 20  1  versioning     0 never enabled, 1 enabled, 2 suspended (others
//!                       refused)
//! 21  1  location_len
//! 22  2  owner_len
//! 24  .. location, owner (UTF-8)
//! ..  4  crc32c over everything before it
//! ```

use thiserror::Error;

use crate::le::{put, u16_at, u32_at, u64_at};

pub const BUCKET_MAGIC: [u8; 4] = *b"SBKT";
pub const BUCKET_VERSION: u16 = 1;
/// `versioning`: never enabled on the bucket.
pub const VERSIONING_NEVER: u8 = 0;
/// `versioning`: enabled.
pub const VERSIONING_ENABLED: u8 = 1;
/// `versioning`: enabled once, now suspended.
pub const VERSIONING_SUSPENDED: u8 = 2;
pub const VERSIONING_MAX: u8 = VERSIONING_SUSPENDED;
const FIXED: usize = 24;
/// Reserved bytes 6..8: written as zero, refused otherwise.
const RESERVED: (usize, usize) = (6, 8);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketMeta {
    pub created_nanos: u64,
    pub shards: u32,
    /// `VERSIONING_NEVER`, `VERSIONING_ENABLED` or `VERSIONING_SUSPENDED`.
    pub versioning: u8,
    pub location: String,
    pub owner: String,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BucketMetaError {
    #[error("bucket record is truncated")]
    Truncated,
    #[error("bad bucket record magic")]
    BadMagic,
    #[error("unknown bucket record version {0}")]
    UnknownVersion(u16),
    #[error("bucket record checksum mismatch")]
    BadChecksum,
    #[error("reserved bucket record byte {offset} is not zero")]
    ReservedNotZero { offset: usize },
    #[error("unknown bucket versioning state {0}")]
    UnknownVersioning(u8),
    #[error("bucket record field is not UTF-8 or too long")]
    BadField,
}

impl BucketMeta {
    /// Refuses what the decoder would refuse (a versioning state out of
    /// range) and what the format cannot hold (a location over 255
    /// bytes, an owner over 65 535). Reserved bytes are written as zero.
    pub fn encode(&self) -> Result<Vec<u8>, BucketMetaError> {
        check_versioning(self.versioning)?;
        let loc = u8::try_from(self.location.len()).map_err(|_| BucketMetaError::BadField)?;
        let owner = u16::try_from(self.owner.len()).map_err(|_| BucketMetaError::BadField)?;
        let mut b = vec![0u8; FIXED];
        put(&mut b, 0, &BUCKET_MAGIC);
        put(&mut b, 4, &BUCKET_VERSION.to_le_bytes());
        // Bytes 6..8 (reserved) stay zero.
        put(&mut b, 8, &self.created_nanos.to_le_bytes());
        put(&mut b, 16, &self.shards.to_le_bytes());
        put(&mut b, 20, &[self.versioning, loc]);
        put(&mut b, 22, &owner.to_le_bytes());
        b.extend_from_slice(self.location.as_bytes());
        b.extend_from_slice(self.owner.as_bytes());
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        Ok(b)
    }

    pub fn decode(b: &[u8]) -> Result<BucketMeta, BucketMetaError> {
        if b.len() < FIXED + 4 {
            return Err(BucketMetaError::Truncated);
        }
        if b.get(..4) != Some(&BUCKET_MAGIC[..]) {
            return Err(BucketMetaError::BadMagic);
        }
        let body = b.get(..b.len() - 4).ok_or(BucketMetaError::Truncated)?;
        if u32_at(b, b.len() - 4) != Some(crc32c::crc32c(body)) {
            return Err(BucketMetaError::BadChecksum);
        }
        let version = u16_at(b, 4).unwrap_or_default();
        if version != BUCKET_VERSION {
            return Err(BucketMetaError::UnknownVersion(version));
        }
        let (from, to) = RESERVED;
        let reserved = b.get(from..to).ok_or(BucketMetaError::Truncated)?;
        if let Some(i) = reserved.iter().position(|&x| x != 0) {
            return Err(BucketMetaError::ReservedNotZero { offset: from + i });
        }
        let versioning = b.get(20).copied().unwrap_or_default();
        check_versioning(versioning)?;
        let loc_len = usize::from(b.get(21).copied().unwrap_or_default());
        let owner_len = usize::from(u16_at(b, 22).unwrap_or_default());
        if FIXED + loc_len + owner_len != body.len() {
            return Err(BucketMetaError::Truncated);
        }
        let text = |s: &[u8]| String::from_utf8(s.to_vec()).map_err(|_| BucketMetaError::BadField);
        Ok(BucketMeta {
            created_nanos: u64_at(b, 8).unwrap_or_default(),
            shards: u32_at(b, 16).unwrap_or_default(),
            versioning,
            location: text(body.get(FIXED..FIXED + loc_len).unwrap_or_default())?,
            owner: text(body.get(FIXED + loc_len..).unwrap_or_default())?,
        })
    }
}

fn check_versioning(v: u8) -> Result<(), BucketMetaError> {
    if v > VERSIONING_MAX {
        return Err(BucketMetaError::UnknownVersioning(v));
    }
    Ok(())
}
