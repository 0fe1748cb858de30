//! The copy headers of CopyObject and UploadPartCopy: `x-amz-copy-source`
//! (`[/]bucket/key[?versionId=ID]`, URL-encoded) and
//! `x-amz-copy-source-range` (`bytes=first-last`). Pure; never panics.

use super::{percent_decode, S3Error, S3ErrorCode};

/// Where a copy reads from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopySource {
    pub bucket: String,
    pub key: Vec<u8>,
    /// `versionId=`, if given.
    pub version_id: Option<String>,
}

fn invalid(msg: &str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument, msg)
}

/// Parses `x-amz-copy-source`. The version id is split off before the
/// path is percent-decoded (a `?` in a key arrives encoded as `%3F`).
pub fn parse_copy_source(value: &str) -> Result<CopySource, S3Error> {
    let (path, query) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (value, None),
    };
    let version_id = match query {
        None => None,
        Some(q) => match q.strip_prefix("versionId=") {
            Some(v) if !v.is_empty() && !v.contains('&') => {
                Some(String::from_utf8_lossy(&percent_decode(v)).into_owned())
            }
            _ => {
                return Err(invalid(
                    "Invalid copy source: only versionId may follow '?'",
                ))
            }
        },
    };
    let decoded = percent_decode(path);
    let decoded = decoded.strip_prefix(b"/").unwrap_or(&decoded);
    let slash = decoded
        .iter()
        .position(|&b| b == b'/')
        .ok_or_else(|| invalid("Invalid copy source: expected /bucket/key"))?;
    let (bucket, key) = decoded.split_at(slash);
    let key = key.get(1..).unwrap_or_default();
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid("Invalid copy source: expected /bucket/key"));
    }
    let bucket = std::str::from_utf8(bucket)
        .map_err(|_| invalid("Invalid copy source: the bucket name is not UTF-8"))?;
    Ok(CopySource {
        bucket: bucket.to_string(),
        key: key.to_vec(),
        version_id,
    })
}

/// Parses `x-amz-copy-source-range` against a source of `size` bytes:
/// the inclusive `(first, last)`.
pub fn parse_copy_range(value: &str, size: u64) -> Result<(u64, u64), S3Error> {
    let form = || {
        invalid("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
    };
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(form)?;
    let (a, b) = spec.split_once('-').ok_or_else(form)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return Err(form());
    }
    let first: u64 = a.parse().map_err(|_| form())?;
    let last: u64 = b.parse().map_err(|_| form())?;
    if first > last || last >= size {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRange,
            format!("Range specified is not valid for source object of size: {size}"),
        ));
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_with_and_without_slash_encoding_and_version() {
        let s = parse_copy_source("/b/dir/a%20b%3Fc").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (s.bucket.as_str(), s.key.as_slice(), s.version_id),
            ("b", &b"dir/a b?c"[..], None)
        );
        let s = parse_copy_source("b/k?versionId=v1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.bucket.as_str(), s.key.as_slice()), ("b", &b"k"[..]));
        assert_eq!(s.version_id.as_deref(), Some("v1"));
        for bad in [
            "",
            "/",
            "b",
            "/b/",
            "//k",
            "b/k?foo=1",
            "b/k?versionId=",
            "b/k?versionId=1&x=2",
        ] {
            assert!(parse_copy_source(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ranges_are_inclusive_and_inside_the_source() {
        assert_eq!(parse_copy_range("bytes=0-9", 10).ok(), Some((0, 9)));
        assert_eq!(parse_copy_range("bytes=5-5", 10).ok(), Some((5, 5)));
        let code = |v: &str| parse_copy_range(v, 10).err().map(|e| e.code);
        assert_eq!(code("bytes=0-10"), Some(S3ErrorCode::InvalidRange));
        assert_eq!(code("bytes=6-5"), Some(S3ErrorCode::InvalidRange));
        for bad in [
            "0-9",
            "bytes=-5",
            "bytes=5-",
            "bytes=a-b",
            "bytes=1-2-3",
            "bytes=99999999999999999999-1",
        ] {
            assert_eq!(code(bad), Some(S3ErrorCode::InvalidArgument), "{bad}");
        }
    }
}
