//! Version ids and a bucket's versioning state.
//!
//! A version id is 16 bytes: the time it was made (ns since the epoch,
//! big-endian) and 8 random bytes, so ids of one key sort by age and never
//! collide; the index lists a key's versions newest first (its sort key
//! stores the id inverted). S3 shows it as 32 lowercase hex digits. The
//! null version (objects written while versioning was never enabled or
//! suspended) is all zero and shown as `null`.

use crate::index::key::VERSION_ID_LEN;
use crate::s3::{S3Error, S3ErrorCode};

use super::bucket_meta::{VERSIONING_ENABLED, VERSIONING_SUSPENDED};

pub type VersionId = [u8; VERSION_ID_LEN];

/// The null version's id.
pub const NULL_VERSION: VersionId = [0; VERSION_ID_LEN];

/// A bucket's versioning state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: writes replace, deletes remove.
    Never,
    /// Every write makes a new version; a delete without a version id
    /// makes a delete marker.
    Enabled,
    /// Writes replace the null version; a delete makes a null delete
    /// marker. Earlier versions stay.
    Suspended,
}

impl Versioning {
    /// From the bucket record's byte (`format-spec/object.md`).
    pub fn from_code(code: u8) -> Versioning {
        match code {
            VERSIONING_ENABLED => Versioning::Enabled,
            VERSIONING_SUSPENDED => Versioning::Suspended,
            _ => Versioning::Never,
        }
    }

    /// GetBucketVersioning's Status.
    pub fn status(self) -> Option<&'static str> {
        match self {
            Versioning::Never => None,
            Versioning::Enabled => Some("Enabled"),
            Versioning::Suspended => Some("Suspended"),
        }
    }
}

/// A new version id made at `now_nanos`.
pub fn new_version_id(now_nanos: u64) -> Result<VersionId, S3Error> {
    let mut id = NULL_VERSION;
    let (time, random) = id.split_at_mut(8);
    time.copy_from_slice(&now_nanos.max(1).to_be_bytes());
    getrandom::getrandom(random).map_err(|e| {
        S3Error::new(
            S3ErrorCode::InternalError,
            format!("random version id: {e}"),
        )
    })?;
    Ok(id)
}

/// `null` or 32 hex digits.
pub fn format_version_id(id: &VersionId) -> String {
    if *id == NULL_VERSION {
        return "null".to_string();
    }
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id a client gave (`versionId`, `VersionId`, a version id marker):
/// `null` or what [`format_version_id`] writes; `InvalidArgument`
/// otherwise.
pub fn parse_version_id(s: &str) -> Result<VersionId, S3Error> {
    if s == "null" {
        return Ok(NULL_VERSION);
    }
    let invalid = || S3Error::new(S3ErrorCode::InvalidArgument, "Invalid version id specified");
    // Ids are opaque and case-sensitive: only what shale writes.
    let lower_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    if s.len() != 2 * VERSION_ID_LEN || !s.bytes().all(lower_hex) {
        return Err(invalid());
    }
    let mut id = NULL_VERSION;
    for (i, b) in id.iter_mut().enumerate() {
        let pair = s.get(2 * i..2 * i + 2).ok_or_else(invalid)?;
        *b = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
    }
    if id == NULL_VERSION {
        return Err(invalid()); // the null version is spelled `null`
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_by_time() {
        let a = new_version_id(1_000).unwrap_or(NULL_VERSION);
        let b = new_version_id(2_000).unwrap_or(NULL_VERSION);
        assert!(a < b && a != NULL_VERSION);
        for id in [a, b, NULL_VERSION] {
            assert_eq!(parse_version_id(&format_version_id(&id)).ok(), Some(id));
        }
        assert_eq!(format_version_id(&NULL_VERSION), "null");
        let upper = format_version_id(&b).to_uppercase();
        for bad in [
            "",
            "NULL",
            "00000000000000000000000000000000",
            "xyz",
            &"a".repeat(33),
            &upper,
        ] {
            assert!(parse_version_id(bad).is_err(), "{bad}");
        }
    }
}
