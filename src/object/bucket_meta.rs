//! A bucket's own record, `<data>/buckets/<name>/BUCKET`
//! (`format-spec/object.md`, "Bucket record"): when it was created, by
//! whom, where, and its index's shard count at creation. Written whole and
//! renamed into place.
//!
//! ```text
//!  0  4  magic          "SBKT"
//!  4  2  version        1
//!  6  2  reserved       0
//!  8  8  created_nanos
//! 16  4  shards         index shards at creation
//! 20  1  versioning     0 never enabled, 1 enabled, 2 suspended
//! 21  1  location_len
//! 22  2  owner_len
//! 24  .. location, owner (UTF-8)
//! ..  4  crc32c over everything before it
//! ```

use thiserror::Error;

use crate::le::{put, u16_at, u32_at, u64_at};

pub const BUCKET_MAGIC: [u8; 4] = *b"SBKT";
const FIXED: usize = 24;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketMeta {
    pub created_nanos: u64,
    pub shards: u32,
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
    #[error("bucket record field is not UTF-8 or too long")]
    BadField,
}

impl BucketMeta {
    pub fn encode(&self) -> Result<Vec<u8>, BucketMetaError> {
        let loc = u8::try_from(self.location.len()).map_err(|_| BucketMetaError::BadField)?;
        let owner = u16::try_from(self.owner.len()).map_err(|_| BucketMetaError::BadField)?;
        let mut b = vec![0u8; FIXED];
        put(&mut b, 0, &BUCKET_MAGIC);
        put(&mut b, 4, &1u16.to_le_bytes());
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
        if version != 1 {
            return Err(BucketMetaError::UnknownVersion(version));
        }
        let loc_len = usize::from(b.get(21).copied().unwrap_or_default());
        let owner_len = usize::from(u16_at(b, 22).unwrap_or_default());
        if FIXED + loc_len + owner_len != body.len() {
            return Err(BucketMetaError::Truncated);
        }
        let text = |s: &[u8]| String::from_utf8(s.to_vec()).map_err(|_| BucketMetaError::BadField);
        Ok(BucketMeta {
            created_nanos: u64_at(b, 8).unwrap_or_default(),
            shards: u32_at(b, 16).unwrap_or_default(),
            versioning: b.get(20).copied().unwrap_or_default(),
            location: text(body.get(FIXED..FIXED + loc_len).unwrap_or_default())?,
            owner: text(body.get(FIXED + loc_len..).unwrap_or_default())?,
        })
    }
}
