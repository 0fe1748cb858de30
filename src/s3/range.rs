//! The `Range` header of GetObject/HeadObject, as S3 reads it: one byte
//! range, `bytes=first-last`, `bytes=first-` or `bytes=-suffix`.
//!
//! Two steps, because they fail differently (RFC 9110 §14.2):
//! - [`parse_range`] is syntax. A header that is not one valid byte range
//!   (garbage, another unit, several ranges, `first > last`) is ignored:
//!   `Ok(None)`, and the whole object is sent with 200, as S3 does.
//! - [`resolve`] is satisfiability against the object's size. A range that
//!   starts at or past the end (or any range of an empty object, or a
//!   suffix of 0) is 416 `InvalidRange`; a last byte past the end is
//!   clamped to the end.
//!
//! Numbers too large for a u64 saturate to `u64::MAX`: such a first byte is
//! past any end, such a last byte or suffix means "to the end" — the same
//! answer an unbounded integer would give.

use super::{S3Error, S3ErrorCode};

/// One byte range, as the header spelled it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=first-last`, both inclusive, `first <= last`.
    FromTo(u64, u64),
    /// `bytes=first-`: from `first` to the end.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

/// Parses a `Range` header value. `Ok(None)` means "ignore the header and
/// send the whole object"; the `Result` is there for the handler's `?`, and
/// this function never returns `Err` today.
pub fn parse_range(header: &str) -> Result<Option<RangeSpec>, S3Error> {
    Ok(parse_spec(header))
}

fn parse_spec(header: &str) -> Option<RangeSpec> {
    let (unit, set) = header.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (first, last) = set.trim().split_once('-')?;
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(RangeSpec::Suffix(parse_digits(last)?)),
        (false, true) => Some(RangeSpec::From(parse_digits(first)?)),
        (false, false) => {
            let (first, last) = (parse_digits(first)?, parse_digits(last)?);
            (first <= last).then_some(RangeSpec::FromTo(first, last))
        }
    }
}

/// ASCII digits only (no sign, no spaces), saturating at `u64::MAX`.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// The bytes `(first, last)`, both inclusive, that `spec` selects from an
/// object of `size` bytes, or 416 `InvalidRange`.
pub fn resolve(spec: RangeSpec, size: u64) -> Result<(u64, u64), S3Error> {
    let end = size.checked_sub(1).ok_or_else(unsatisfiable)?;
    match spec {
        RangeSpec::FromTo(first, last) if first <= last && first <= end => {
            Ok((first, last.min(end)))
        }
        RangeSpec::From(first) if first <= end => Ok((first, end)),
        RangeSpec::Suffix(n) if n > 0 => Ok((size.saturating_sub(n), end)),
        _ => Err(unsatisfiable()),
    }
}

fn unsatisfiable() -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidRange,
        "The requested range is not satisfiable",
    )
}

/// The `Content-Range` of a 206 answer: `bytes 0-99/1000`.
pub fn content_range(first: u64, last: u64, size: u64) -> String {
    format!("bytes {first}-{last}/{size}")
}

/// The `Content-Range` of a 416 answer: `bytes */1000`.
pub fn content_range_unsatisfied(size: u64) -> String {
    format!("bytes */{size}")
}
