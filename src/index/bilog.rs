//! Bucket index log entries: what one index operation on a shard records,
//! so that replay rebuilds the shard and peers can apply it idempotently.
//! Pure encoding of the entry payload; `format-spec/bilog.md` is
//! normative. Layout (little-endian):
//!
//! ```text
//!  0  1  op           1 prepare, 2 complete, 3 cancel, 4 suggest
//!  1  1  flags        bit0: an index entry follows the key; others zero
//!  2  2  key_len      length of the sort key
//!  4  4  generation   shard layout generation (grows on resharding)
//!  8  8  marker       position in the shard's log: +1 per entry
//! 16  8  tag          transaction tag (0 for suggest)
//! 24  8  mtime_nanos  when the operation happened, ns since the epoch
//! 32  8  source_zone  zone that originated the operation
//! 40  k  sort key
//! ..     index entry  complete and suggest: the entry as it now is, or
//!                     nothing when the key no longer has one (a delete,
//!                     or a listing that found no object); prepare and
//!                     cancel: nothing
//! ```

use thiserror::Error;

use super::entry::{EntryError, IndexEntry};
use super::key::{KeyError, SortKey};

pub const BILOG_FIXED_LEN: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BilogOp {
    /// A write or delete of the key began (the entry becomes pending).
    Prepare = 1,
    /// The head record was written: the entry now reads as carried.
    Complete = 2,
    /// The head write failed: the transaction's tag is dropped.
    Cancel = 3,
    /// A listing resolved a stale pending transaction ("dir suggest"):
    /// `tag` is the dead transaction, the entry what the head record says.
    Suggest = 4,
}

impl BilogOp {
    fn from_u8(v: u8) -> Option<BilogOp> {
        match v {
            1 => Some(BilogOp::Prepare),
            2 => Some(BilogOp::Complete),
            3 => Some(BilogOp::Cancel),
            4 => Some(BilogOp::Suggest),
            _ => None,
        }
    }

    /// Whether the entry may carry the resulting index entry (complete and
    /// suggest do unless the key ends up with none; the others never do).
    pub fn may_carry_entry(self) -> bool {
        matches!(self, BilogOp::Complete | BilogOp::Suggest)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BilogEntry {
    pub op: BilogOp,
    pub generation: u32,
    pub marker: u64,
    pub tag: u64,
    pub mtime_nanos: u64,
    pub source_zone: u64,
    pub key: SortKey,
    /// For `Complete` and `Suggest`: the key's entry afterwards, `None` if
    /// it has none. Always `None` for `Prepare` and `Cancel`.
    pub entry: Option<IndexEntry>,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BilogError {
    #[error("log entry is {have} bytes, {need} needed")]
    Truncated { need: usize, have: usize },
    #[error("unknown log operation {0}")]
    UnknownOp(u8),
    #[error("unknown flag bits {0:#04x}")]
    UnknownFlags(u8),
    #[error("sort key: {0}")]
    Key(#[from] KeyError),
    #[error("index entry: {0}")]
    Entry(#[from] EntryError),
    #[error("{extra} bytes follow an entry that carries no index entry")]
    TrailingBytes { extra: usize },
    #[error("operation {op:?} must not carry an index entry")]
    UnexpectedEntry { op: BilogOp },
    #[error("sort key of {0} bytes is too long")]
    KeyTooLong(usize),
}

impl BilogEntry {
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), BilogError> {
        if !self.op.may_carry_entry() && self.entry.is_some() {
            return Err(BilogError::UnexpectedEntry { op: self.op });
        }
        let key = self.key.encode();
        let key_len = u16::try_from(key.len()).map_err(|_| BilogError::KeyTooLong(key.len()))?;
        out.push(self.op as u8);
        out.push(u8::from(self.entry.is_some()));
        out.extend_from_slice(&key_len.to_le_bytes());
        out.extend_from_slice(&self.generation.to_le_bytes());
        for v in [self.marker, self.tag, self.mtime_nanos, self.source_zone] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&key);
        if let Some(e) = &self.entry {
            e.encode(out)?;
        }
        Ok(())
    }

    pub fn decode(b: &[u8]) -> Result<BilogEntry, BilogError> {
        let truncated = |need| BilogError::Truncated {
            need,
            have: b.len(),
        };
        let fixed = b.get(..BILOG_FIXED_LEN).ok_or(truncated(BILOG_FIXED_LEN))?;
        let byte = |at: usize| fixed.get(at).copied().unwrap_or_default();
        let u64_at = |at: usize| {
            u64::from_le_bytes(
                fixed
                    .get(at..at + 8)
                    .and_then(|s| s.try_into().ok())
                    .unwrap_or_default(),
            )
        };
        let op = BilogOp::from_u8(byte(0)).ok_or(BilogError::UnknownOp(byte(0)))?;
        let has_entry = match byte(1) {
            0 => false,
            1 => true,
            f => return Err(BilogError::UnknownFlags(f & !1)),
        };
        let key_len = usize::from(u16::from_le_bytes([byte(2), byte(3)]));
        let key_end = BILOG_FIXED_LEN + key_len;
        let key = SortKey::decode(b.get(BILOG_FIXED_LEN..key_end).ok_or(truncated(key_end))?)?;
        let rest = b.get(key_end..).unwrap_or_default();
        let entry = match (has_entry, op.may_carry_entry(), rest.is_empty()) {
            (false, _, true) => None,
            (false, _, false) => {
                return Err(BilogError::TrailingBytes { extra: rest.len() });
            }
            (true, false, _) => return Err(BilogError::UnexpectedEntry { op }),
            (true, true, _) => Some(IndexEntry::decode(rest)?),
        };
        Ok(BilogEntry {
            op,
            generation: u32::from_le_bytes([byte(4), byte(5), byte(6), byte(7)]),
            marker: u64_at(8),
            tag: u64_at(16),
            mtime_nanos: u64_at(24),
            source_zone: u64_at(32),
            key,
            entry,
        })
    }
}
