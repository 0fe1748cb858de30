//! The value of an index entry: what listing and HEAD need without
//! reading the object head. Layout (little-endian), `format-spec/index.md`:
//!
//! ```text
//!  0  1  flags          bit0 pending, bit1 delete marker, bit2 current,
//!                       bit3 placeholder (prepared, never completed;
//!                       needs pending), bit4 versioned (a logical head
//!                       that mirrors its key's current version entry),
//!                       other bits zero
//!  1  1  storage_class  0 STANDARD, 1 REDUCED_REDUNDANCY, 2 STANDARD_IA,
//!                       3 ONEZONE_IA, 4 INTELLIGENT_TIERING, 5 GLACIER,
//!                       6 DEEP_ARCHIVE, 7 GLACIER_IR
//!  2  2  etag_parts     0: ETag is the MD5 of the body; n: md5-of-md5s-n
//!  4  4  head_len       length of the head record
//!  8  8  size           object size in bytes
//! 16  8  mtime_nanos    modification time, ns since the Unix epoch
//! 24  8  expiry_slot    expiry time slot (0: none)
//! 32  8  head_segment   segment of the head record
//! 40  8  head_offset    offset of the head record
//! 48 16  etag           MD5 bytes
//! 64 16  version_id     all zero: the null version
//! 80  1  pending_count  outstanding transactions, at most 32
//! 81 8n  pending tags   u64 each, ascending
//! .. 16  lock           with flag bit6 only: the version's Object Lock
//!                       state (`s3::object_lock`)
//! ```

use thiserror::Error;

use super::key::VERSION_ID_LEN;
use crate::s3::object_lock::{LockError, ObjectLock, LOCK_LEN};
use crate::segment::RecordLoc;

pub const ENTRY_FIXED_LEN: usize = 81;
/// Outstanding transactions one entry may carry.
pub const PENDING_TAGS_MAX: usize = 32;

const FLAG_PENDING: u8 = 1;
const FLAG_DELETE_MARKER: u8 = 2;
const FLAG_CURRENT: u8 = 4;
const FLAG_PLACEHOLDER: u8 = 8;
const FLAG_VERSIONED: u8 = 16;
const FLAG_EXPIRES_TO_MARKER: u8 = 32;
/// A lock section follows the pending tags (index entry version 2).
const FLAG_LOCKED: u8 = 64;
const FLAGS_KNOWN: u8 = FLAG_LOCKED
    | FLAG_PENDING
    | FLAG_DELETE_MARKER
    | FLAG_CURRENT
    | FLAG_PLACEHOLDER
    | FLAG_VERSIONED
    | FLAG_EXPIRES_TO_MARKER;
const STORAGE_CLASS_MAX: u8 = 7;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexEntry {
    /// Prepared for a key that has no completed write yet: only the
    /// pending tags mean anything. Never listed or counted as is.
    pub placeholder: bool,
    pub delete_marker: bool,
    pub current: bool,
    /// On a logical head: the key has version entries and this entry
    /// mirrors the current one (which also holds the object's bytes in
    /// the stats).
    pub versioned: bool,
    /// At `expiry_slot` this version does not go away: it becomes
    /// noncurrent under a delete marker (a lifecycle Expiration in a
    /// bucket with versioning, as S3 does). Only meaningful while it is
    /// the current version.
    pub expires_to_marker: bool,
    pub storage_class: u8,
    pub size: u64,
    pub mtime_nanos: u64,
    pub expiry_slot: u64,
    pub etag: [u8; 16],
    pub etag_parts: u16,
    pub head: RecordLoc,
    pub version_id: [u8; VERSION_ID_LEN],
    /// Tags of prepared, not yet completed transactions; non-empty means
    /// the entry is pending.
    pub pending: Vec<u64>,
    /// The version's Object Lock state (empty: none), copied from its
    /// head so a delete can be refused from the index alone.
    pub lock: ObjectLock,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("entry is {have} bytes, {need} needed")]
    Truncated { need: usize, have: usize },
    #[error("entry has {extra} bytes past its end")]
    TrailingBytes { extra: usize },
    #[error("unknown flag bits {0:#04x}")]
    UnknownFlags(u8),
    #[error("unknown storage class {0}")]
    UnknownStorageClass(u8),
    #[error("{0} pending transactions exceed the maximum of {PENDING_TAGS_MAX}")]
    TooManyPending(usize),
    #[error("pending flag disagrees with the pending tags")]
    PendingMismatch,
    #[error("pending tags are not strictly ascending")]
    PendingUnordered,
    #[error("lock section: {0}")]
    Lock(LockError),
}

impl IndexEntry {
    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn encoded_len(&self) -> usize {
        let lock = if self.lock.is_empty() { 0 } else { LOCK_LEN };
        ENTRY_FIXED_LEN + 8 * self.pending.len() + lock
    }

    /// Checks what decoding would refuse, before bytes are written.
    pub fn validate(&self) -> Result<(), EntryError> {
        if self.storage_class > STORAGE_CLASS_MAX {
            return Err(EntryError::UnknownStorageClass(self.storage_class));
        }
        if self.pending.len() > PENDING_TAGS_MAX {
            return Err(EntryError::TooManyPending(self.pending.len()));
        }
        if self
            .pending
            .windows(2)
            .any(|w| matches!(w, [a, b] if a >= b))
        {
            return Err(EntryError::PendingUnordered);
        }
        if !self.lock.is_empty() {
            self.lock.validate().map_err(EntryError::Lock)?;
        }
        Ok(())
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EntryError> {
        self.validate()?;
        let mut flags = 0;
        if self.is_pending() {
            flags |= FLAG_PENDING;
        }
        if self.delete_marker {
            flags |= FLAG_DELETE_MARKER;
        }
        if self.current {
            flags |= FLAG_CURRENT;
        }
        if self.placeholder {
            flags |= FLAG_PLACEHOLDER;
        }
        if self.versioned {
            flags |= FLAG_VERSIONED;
        }
        if self.expires_to_marker {
            flags |= FLAG_EXPIRES_TO_MARKER;
        }
        if !self.lock.is_empty() {
            flags |= FLAG_LOCKED;
        }
        out.push(flags);
        out.push(self.storage_class);
        out.extend_from_slice(&self.etag_parts.to_le_bytes());
        out.extend_from_slice(&self.head.len.to_le_bytes());
        for v in [
            self.size,
            self.mtime_nanos,
            self.expiry_slot,
            self.head.segment,
            self.head.offset,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.etag);
        out.extend_from_slice(&self.version_id);
        out.push(self.pending.len() as u8);
        for t in &self.pending {
            out.extend_from_slice(&t.to_le_bytes());
        }
        if !self.lock.is_empty() {
            out.extend_from_slice(&self.lock.encode());
        }
        Ok(())
    }

    pub fn decode(b: &[u8]) -> Result<IndexEntry, EntryError> {
        let truncated = |need| EntryError::Truncated {
            need,
            have: b.len(),
        };
        let fixed = b.get(..ENTRY_FIXED_LEN).ok_or(truncated(ENTRY_FIXED_LEN))?;
        let arr = |at: usize| -> [u8; 8] {
            fixed
                .get(at..at + 8)
                .and_then(|s| s.try_into().ok())
                .unwrap_or_default()
        };
        let u64_at = |at| u64::from_le_bytes(arr(at));
        let byte = |at: usize| fixed.get(at).copied().unwrap_or_default();
        let flags = byte(0);
        if flags & !FLAGS_KNOWN != 0 {
            return Err(EntryError::UnknownFlags(flags & !FLAGS_KNOWN));
        }
        let storage_class = byte(1);
        if storage_class > STORAGE_CLASS_MAX {
            return Err(EntryError::UnknownStorageClass(storage_class));
        }
        let count = usize::from(byte(80));
        if count > PENDING_TAGS_MAX {
            return Err(EntryError::TooManyPending(count));
        }
        let tags_end = ENTRY_FIXED_LEN + 8 * count;
        let locked = flags & FLAG_LOCKED != 0;
        let need = tags_end + if locked { LOCK_LEN } else { 0 };
        let tags = b.get(ENTRY_FIXED_LEN..tags_end).ok_or(truncated(need))?;
        let lock_bytes = b.get(tags_end..need).ok_or(truncated(need))?;
        if b.len() > need {
            return Err(EntryError::TrailingBytes {
                extra: b.len() - need,
            });
        }
        let pending: Vec<u64> = tags
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let flagged = flags & FLAG_PENDING != 0;
        if flagged == pending.is_empty() {
            return Err(EntryError::PendingMismatch);
        }
        if pending.windows(2).any(|w| matches!(w, [a, b] if a >= b)) {
            return Err(EntryError::PendingUnordered);
        }
        let lock = if locked {
            ObjectLock::decode(lock_bytes).map_err(EntryError::Lock)?
        } else {
            ObjectLock::default()
        };
        let mut etag = [0u8; 16];
        etag.copy_from_slice(fixed.get(48..64).unwrap_or(&[0u8; 16]));
        let mut version_id = [0u8; VERSION_ID_LEN];
        version_id.copy_from_slice(fixed.get(64..80).unwrap_or(&[0u8; 16]));
        let u16_at = |at: usize| u16::from_le_bytes([byte(at), byte(at + 1)]);
        let u32_at =
            |at: usize| u32::from_le_bytes([byte(at), byte(at + 1), byte(at + 2), byte(at + 3)]);
        Ok(IndexEntry {
            placeholder: flags & FLAG_PLACEHOLDER != 0,
            delete_marker: flags & FLAG_DELETE_MARKER != 0,
            current: flags & FLAG_CURRENT != 0,
            versioned: flags & FLAG_VERSIONED != 0,
            expires_to_marker: flags & FLAG_EXPIRES_TO_MARKER != 0,
            storage_class,
            etag_parts: u16_at(2),
            head: RecordLoc {
                segment: u64_at(32),
                offset: u64_at(40),
                len: u32_at(4),
            },
            size: u64_at(8),
            mtime_nanos: u64_at(16),
            expiry_slot: u64_at(24),
            etag,
            version_id,
            pending,
            lock,
        })
    }
}
