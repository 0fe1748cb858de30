//! Sort keys of the index B+trees: byte strings whose plain bytewise
//! order is the listing order.
//!
//! ```text
//! sort_key := escaped(object key) 0x00 0x01 kind [version]
//! escaped  := each 0x00 byte written as 0x00 0xFF, other bytes as is
//! kind     := 0x00 logical head (OLH) | 0x01 version
//! version  := the 16-byte version id with every byte inverted (!b), so
//!             newer (larger) ids sort first
//! ```
//! The terminator `0x00 0x01` sorts below every byte that can continue a
//! longer key (`0x01..` or an escaped `0x00 0xFF`), so `a` < `a\0` < `ab`,
//! and all entries of one object key are contiguous.

use thiserror::Error;

/// Bytes of a version id.
pub const VERSION_ID_LEN: usize = 16;

/// What a sort key names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SortKey {
    /// The logical head of an object key: which version is current.
    Head { key: Vec<u8> },
    /// One version (or delete marker) of an object key.
    Version {
        key: Vec<u8>,
        version: [u8; VERSION_ID_LEN],
    },
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("sort key has no terminator")]
    Unterminated,
    #[error("bad escape byte {0:#04x} after 0x00")]
    BadEscape(u8),
    #[error("unknown entry kind {0:#04x}")]
    UnknownKind(u8),
    #[error("version id is {0} bytes, not 16")]
    BadVersionLength(usize),
}

impl SortKey {
    pub fn object_key(&self) -> &[u8] {
        match self {
            SortKey::Head { key } | SortKey::Version { key, .. } => key,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let key = self.object_key();
        let mut out = Vec::with_capacity(key.len() + 4 + VERSION_ID_LEN);
        out.extend_from_slice(&encode_prefix(key));
        out.extend_from_slice(&[0x00, 0x01]);
        match self {
            SortKey::Head { .. } => out.push(0x00),
            SortKey::Version { version, .. } => {
                out.push(0x01);
                out.extend(version.iter().map(|b| !b));
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<SortKey, KeyError> {
        let mut key = Vec::with_capacity(bytes.len());
        let mut i = 0;
        loop {
            match bytes.get(i) {
                None => return Err(KeyError::Unterminated),
                Some(0x00) => match bytes.get(i + 1) {
                    Some(0xFF) => {
                        key.push(0x00);
                        i += 2;
                    }
                    Some(0x01) => {
                        i += 2;
                        break;
                    }
                    Some(&b) => return Err(KeyError::BadEscape(b)),
                    None => return Err(KeyError::Unterminated),
                },
                Some(&b) => {
                    key.push(b);
                    i += 1;
                }
            }
        }
        let rest = bytes.get(i..).unwrap_or_default();
        match rest.split_first() {
            Some((0x00, [])) => Ok(SortKey::Head { key }),
            Some((0x00, tail)) => Err(KeyError::BadVersionLength(tail.len())),
            Some((0x01, v)) => {
                let v: [u8; VERSION_ID_LEN] = v
                    .try_into()
                    .map_err(|_| KeyError::BadVersionLength(v.len()))?;
                Ok(SortKey::Version {
                    key,
                    version: v.map(|b| !b),
                })
            }
            Some((&k, _)) => Err(KeyError::UnknownKind(k)),
            None => Err(KeyError::Unterminated),
        }
    }
}

/// The escaped object key: every sort key of this object key, and of every
/// object key that starts with `prefix`, starts with these bytes. A listing
/// with a prefix seeks to `encode_prefix(prefix)`.
pub fn encode_prefix(prefix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 2);
    for &b in prefix {
        out.push(b);
        if b == 0x00 {
            out.push(0xFF);
        }
    }
    out
}

/// The first sort key after every entry of object keys starting with
/// `prefix`, or `None` if there is none: a listing that rolls a common
/// prefix up seeks here instead of walking the prefix's entries.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = encode_prefix(prefix);
    // Increment the last byte that is not 0xFF, dropping what follows.
    while let Some(last) = p.pop() {
        if last != 0xFF {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}
