//! Meta pages of a shard's index file: pages 0 and 1 hold the two most
//! recent commits, written alternately, so a torn meta write leaves the
//! other one intact. The valid meta with the higher transaction id is the
//! shard's state. `format-spec/index.md` ("Meta pages") is normative:
//!
//! ```text
//!  0  4  magic             "SIXM"
//!  4  4  crc               crc32c(bytes 8..PAGE_SIZE ++ page_id as u64 LE)
//!  8  2  version           1
//! 10  2  reserved          zero
//! 12  4  shard             this file's shard index
//! 16  8  txn               commit counter; meta txn t lives in page t % 2
//! 24  8  root              root page id, 0 for an empty tree
//! 32  8  page_count        pages in use by the file (high-water mark)
//! 40  8  free_list         first free-list page, 0 for none
//! 48  8  checkpoint_marker bilog marker the tree reflects
//! 56  8  objects           entries counted in the bucket stats
//! 64  8  bytes             their total size
//! 72  4  shard_count       shards of the bucket at this generation
//! 76  4  generation        shard layout generation
//! 80 ..  reserved          zero up to the end of the page
//! ```

use thiserror::Error;

use super::page::PAGE_SIZE;
use crate::le::put;

pub const META_MAGIC: [u8; 4] = *b"SIXM";
pub const META_VERSION: u16 = 1;
/// Page ids of the two meta slots; tree pages start after them.
pub const META_PAGES: u64 = 2;
const META_USED: usize = 80;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub shard: u32,
    pub txn: u64,
    pub root: u64,
    pub page_count: u64,
    pub free_list: u64,
    pub checkpoint_marker: u64,
    pub objects: u64,
    pub bytes: u64,
    pub shard_count: u32,
    pub generation: u32,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MetaError {
    #[error("meta page is {0} bytes, not {PAGE_SIZE}")]
    WrongSize(usize),
    #[error("bad meta magic {0:02x?}")]
    BadMagic([u8; 4]),
    #[error("meta checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("unknown index format version {0} (this build reads version {META_VERSION})")]
    UnknownVersion(u16),
    #[error("reserved bytes are not zero")]
    ReservedNotZero,
    #[error("meta txn {txn} does not belong in meta page {page}")]
    WrongSlot { txn: u64, page: u64 },
    #[error("meta is inconsistent: {0}")]
    Inconsistent(&'static str),
}

impl Meta {
    /// The meta page slot this commit is written to.
    pub fn slot(&self) -> u64 {
        self.txn % 2
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; PAGE_SIZE];
        put(&mut b, 0, &META_MAGIC);
        put(&mut b, 8, &META_VERSION.to_le_bytes());
        put(&mut b, 12, &self.shard.to_le_bytes());
        for (at, v) in [
            (16, self.txn),
            (24, self.root),
            (32, self.page_count),
            (40, self.free_list),
            (48, self.checkpoint_marker),
            (56, self.objects),
            (64, self.bytes),
        ] {
            put(&mut b, at, &v.to_le_bytes());
        }
        put(&mut b, 72, &self.shard_count.to_le_bytes());
        put(&mut b, 76, &self.generation.to_le_bytes());
        let crc = meta_crc(&b, self.slot());
        put(&mut b, 4, &crc.to_le_bytes());
        b
    }

    /// Verifies and decodes the meta page read from page `page_id` (0/1).
    pub fn decode(b: &[u8], page_id: u64) -> Result<Meta, MetaError> {
        if b.len() != PAGE_SIZE {
            return Err(MetaError::WrongSize(b.len()));
        }
        let arr4 = |at: usize| -> [u8; 4] {
            b.get(at..at + 4)
                .and_then(|s| s.try_into().ok())
                .unwrap_or_default()
        };
        let u64_at = |at: usize| {
            u64::from_le_bytes(
                b.get(at..at + 8)
                    .and_then(|s| s.try_into().ok())
                    .unwrap_or_default(),
            )
        };
        if arr4(0) != META_MAGIC {
            return Err(MetaError::BadMagic(arr4(0)));
        }
        let stored = u32::from_le_bytes(arr4(4));
        let computed = meta_crc(b, page_id);
        if stored != computed {
            return Err(MetaError::ChecksumMismatch { stored, computed });
        }
        let version = u16::from_le_bytes([arr4(8)[0], arr4(8)[1]]);
        if version != META_VERSION {
            return Err(MetaError::UnknownVersion(version));
        }
        let reserved_zero = arr4(8)[2..] == [0, 0]
            && b.get(META_USED..)
                .is_some_and(|r| r.iter().all(|&x| x == 0));
        if !reserved_zero {
            return Err(MetaError::ReservedNotZero);
        }
        let m = Meta {
            shard: u32::from_le_bytes(arr4(12)),
            txn: u64_at(16),
            root: u64_at(24),
            page_count: u64_at(32),
            free_list: u64_at(40),
            checkpoint_marker: u64_at(48),
            objects: u64_at(56),
            bytes: u64_at(64),
            shard_count: u32::from_le_bytes(arr4(72)),
            generation: u32::from_le_bytes(arr4(76)),
        };
        if m.slot() != page_id {
            return Err(MetaError::WrongSlot {
                txn: m.txn,
                page: page_id,
            });
        }
        if m.page_count < META_PAGES {
            return Err(MetaError::Inconsistent("page count below the meta pages"));
        }
        let in_file = |id: u64| id == 0 || (META_PAGES..m.page_count).contains(&id);
        if !in_file(m.root) || !in_file(m.free_list) {
            return Err(MetaError::Inconsistent(
                "root or free list outside the file",
            ));
        }
        if m.shard_count == 0 || m.shard >= m.shard_count {
            return Err(MetaError::Inconsistent("shard index not below shard count"));
        }
        Ok(m)
    }
}

fn meta_crc(b: &[u8], page_id: u64) -> u32 {
    let c = crc32c::crc32c(b.get(8..).unwrap_or_default());
    crc32c::crc32c_append(c, &page_id.to_le_bytes())
}

/// The shard's state from its two meta pages: the valid one with the
/// higher txn. `None` results mean that slot did not verify; both failing
/// is an error naming both reasons.
pub fn choose(
    slot0: Result<Meta, MetaError>,
    slot1: Result<Meta, MetaError>,
) -> Result<Meta, (MetaError, MetaError)> {
    match (slot0, slot1) {
        (Ok(a), Ok(b)) => Ok(if b.txn > a.txn { b } else { a }),
        (Ok(a), Err(_)) => Ok(a),
        (Err(_), Ok(b)) => Ok(b),
        (Err(a), Err(b)) => Err((a, b)),
    }
}
