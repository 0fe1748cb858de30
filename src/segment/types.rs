//! The values the store's handle and its writer thread share: options,
//! record locations, payload checksums, counters. Apart from both so the
//! writer does not import the handle that owns it.

use std::sync::atomic::AtomicU64;

/// When appends are made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fdatasync before an append is acknowledged (the default).
    Always,
    /// Never sync; for benchmarks and throwaway stores only.
    Never,
}

#[derive(Clone, Debug)]
pub struct SegmentOptions {
    /// A segment is sealed and a new one started before it would pass this.
    pub segment_size_bytes_max: u64,
    /// Bytes one group commit gathers before it writes (one request more
    /// may push it past this).
    pub batch_bytes_max: usize,
    /// Append requests waiting for the writer; more wait for room.
    pub append_queue_max: usize,
    pub sync: SyncPolicy,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            segment_size_bytes_max: 256 * 1024 * 1024,
            batch_bytes_max: 16 * 1024 * 1024,
            append_queue_max: 4096,
            sync: SyncPolicy::Always,
        }
    }
}

/// Where a record lives: what a reader needs to fetch and verify it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RecordLoc {
    pub segment: u64,
    pub offset: u64,
    /// Header plus payload.
    pub len: u32,
}

/// The CRC32C of a payload, as computed over its bytes. Built only by
/// hashing bytes, so a caller that checksums a body while it streams in
/// (beside MD5 for the ETag) can hand it over instead of a second pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PayloadCrc {
    crc: u32,
    len: u64,
}

impl PayloadCrc {
    /// The checksum of `bytes`.
    pub fn of(bytes: &[u8]) -> PayloadCrc {
        PayloadCrc::default().update(bytes)
    }

    /// The checksum of what was hashed so far followed by `bytes`.
    pub fn update(self, bytes: &[u8]) -> PayloadCrc {
        PayloadCrc {
            crc: crc32c::crc32c_append(self.crc, bytes),
            len: self.len + bytes.len() as u64,
        }
    }

    pub fn value(self) -> u32 {
        self.crc
    }

    /// Bytes hashed.
    pub fn len(self) -> u64 {
        self.len
    }

    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// Counters of the writer, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct SegmentStats {
    pub appends: AtomicU64,
    pub records: AtomicU64,
    pub batches: AtomicU64,
    pub syncs: AtomicU64,
    pub bytes_written: AtomicU64,
    /// The newest segment id (the one appends go to, or the last one if a
    /// roll is due): a write that starts now lands in it or later ones.
    pub last_segment: AtomicU64,
}
