//! The bucket index (issue 3), built bottom-up. So far the pure codecs
//! the shard B+trees will store (`format-spec/index.md`):
//! - [`key`]: order-preserving sort keys (object key, then the logical
//!   head, then versions newest first);
//! - [`entry`]: the index entry value listing and HEAD need;
//! - [`page`]: B+tree node pages (leaf and branch), checksummed;
//! - [`bilog`]: bucket index log entries (prepare, complete, cancel,
//!   suggest) with their markers.

pub mod arena;
pub mod bilog;
pub mod bilog_file;
pub mod bucket;
pub mod entry;
pub mod expiry;
pub mod index_shard;
pub mod key;
pub mod layout;
pub mod listing;
pub mod meta;
pub mod page;
pub mod shard;
pub mod shard_file;
pub mod tree;
pub mod txn;
pub mod view;
pub mod wal;

/// A key's shard: `xxh64(key, seed 0) % shards`.
pub fn shard_of(key: &[u8], shards: u32) -> u32 {
    (xxhash_rust::xxh64::xxh64(key, 0) % u64::from(shards.max(1))) as u32
}
