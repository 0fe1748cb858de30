//! The layout record of a bucket index (`format-spec/index.md`,
//! "Layout"): which generation of shards is live, how many shards it has,
//! and where its log markers start. Written whole to a new file and
//! renamed over the old one, so a reader sees one layout or the other.
//!
//! ```text
//!  0  4  magic            "SIXL"
//!  4  2  version          1
//!  6  2  reserved         0
//!  8  4  generation       live generation (0 for a new bucket)
//! 12  4  shard_count      shards of the live generation
//! 16  8  base_marker      markers of the live generation start above this
//! 24  4  prev_generation  generation it replaced (= generation if none)
//! 28  4  prev_shard_count shards of that generation (0 if none)
//! 32  8  created_nanos    when the live generation took over
//! 40  4  reserved         0
//! 44  4  crc32c           over bytes 0..44
//! ```

use thiserror::Error;

use crate::le::{put, u16_at, u32_at, u64_at};

pub const LAYOUT_MAGIC: [u8; 4] = *b"SIXL";
pub const LAYOUT_VERSION: u16 = 1;
pub const LAYOUT_LEN: usize = 48;
/// Most shards a bucket index may have.
pub const SHARDS_MAX: u32 = 65_521;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub generation: u32,
    pub shard_count: u32,
    pub base_marker: u64,
    pub prev_generation: u32,
    pub prev_shard_count: u32,
    pub created_nanos: u64,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("layout is {0} bytes, not {LAYOUT_LEN}")]
    WrongSize(usize),
    #[error("bad magic")]
    BadMagic,
    #[error("unsupported layout version {0}")]
    UnknownVersion(u16),
    #[error("checksum mismatch")]
    BadChecksum,
    #[error("reserved bytes are not zero")]
    Reserved,
    #[error("shard count {0} outside 1..={SHARDS_MAX}")]
    BadShardCount(u32),
}

impl Layout {
    pub fn encode(&self) -> [u8; LAYOUT_LEN] {
        let mut b = [0u8; LAYOUT_LEN];
        put(&mut b, 0, &LAYOUT_MAGIC);
        put(&mut b, 4, &LAYOUT_VERSION.to_le_bytes());
        put(&mut b, 8, &self.generation.to_le_bytes());
        put(&mut b, 12, &self.shard_count.to_le_bytes());
        put(&mut b, 16, &self.base_marker.to_le_bytes());
        put(&mut b, 24, &self.prev_generation.to_le_bytes());
        put(&mut b, 28, &self.prev_shard_count.to_le_bytes());
        put(&mut b, 32, &self.created_nanos.to_le_bytes());
        let crc = crc32c::crc32c(b.get(..44).unwrap_or_default());
        put(&mut b, 44, &crc.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<Layout, LayoutError> {
        if b.len() != LAYOUT_LEN {
            return Err(LayoutError::WrongSize(b.len()));
        }
        if b.get(..4) != Some(&LAYOUT_MAGIC[..]) {
            return Err(LayoutError::BadMagic);
        }
        if crc32c::crc32c(b.get(..44).unwrap_or_default()) != u32_at(b, 44).unwrap_or_default() {
            return Err(LayoutError::BadChecksum);
        }
        let version = u16_at(b, 4).unwrap_or_default();
        if version != LAYOUT_VERSION {
            return Err(LayoutError::UnknownVersion(version));
        }
        if u16_at(b, 6) != Some(0) || u32_at(b, 40) != Some(0) {
            return Err(LayoutError::Reserved);
        }
        let l = Layout {
            generation: u32_at(b, 8).unwrap_or_default(),
            shard_count: u32_at(b, 12).unwrap_or_default(),
            base_marker: u64_at(b, 16).unwrap_or_default(),
            prev_generation: u32_at(b, 24).unwrap_or_default(),
            prev_shard_count: u32_at(b, 28).unwrap_or_default(),
            created_nanos: u64_at(b, 32).unwrap_or_default(),
        };
        if !(1..=SHARDS_MAX).contains(&l.shard_count) {
            return Err(LayoutError::BadShardCount(l.shard_count));
        }
        Ok(l)
    }
}

/// The shard count to reshard to: at least double, and enough that every
/// shard holds at most half the threshold; odd (spreads hashes better, as
/// RGW's prime counts do).
pub fn next_shard_count(current: u32, entries: u64, threshold: u64) -> u32 {
    let need = entries.saturating_mul(2) / threshold.max(1) + 1;
    let n = need
        .max(u64::from(current) * 2 + 1)
        .min(u64::from(SHARDS_MAX));
    (n as u32) | 1
}
