//! Requests that ask for a data-protection feature in a form shale does
//! not read: server-side encryption or Object Lock in a presigned URL's
//! query (the headers are served: `s3::sse`, `s3::object_lock`), and
//! server-side encryption in a browser form upload (POST). Silently
//! ignoring them would store plaintext the client believes encrypted, or
//! an object it believes locked, so any request carrying one is refused
//! before its body is read.
//!
//! The refusal is `501 NotImplemented`: the S3 error table defines that
//! code as "a header you provided implies functionality that is not
//! implemented", which is this case exactly, and S3-compatible servers
//! without a key service (MinIO) answer SSE requests the same way. A 400
//! would tell the client its request is malformed, which it is not.

use http::HeaderMap;

use super::{percent_decode, S3Error, S3ErrorCode};

/// Prefixes of header names that ask for server-side encryption.
const ENCRYPTION_PREFIXES: [&str; 2] = [
    "x-amz-server-side-encryption",
    "x-amz-copy-source-server-side-encryption",
];

/// Headers that ask for Object Lock on an object.
const OBJECT_LOCK_HEADERS: [&str; 3] = [
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
];

/// CreateBucket's request for Object Lock (`true`; `false` asks nothing).
const BUCKET_OBJECT_LOCK: &str = "x-amz-bucket-object-lock-enabled";

/// The feature `name` (lowercase) with `value` asks for, if unsupported.
fn feature(name: &str, value: &str) -> Option<&'static str> {
    if ENCRYPTION_PREFIXES.iter().any(|p| name.starts_with(p)) {
        Some("server-side encryption")
    } else if OBJECT_LOCK_HEADERS.contains(&name)
        || (name == BUCKET_OBJECT_LOCK && !value.trim().eq_ignore_ascii_case("false"))
    {
        Some("Object Lock")
    } else {
        None
    }
}

/// `NotImplemented` if a query parameter (a presigned URL's) asks for
/// server-side encryption or Object Lock.
pub fn refuse_headers(headers: &HeaderMap, query: &str) -> Result<(), S3Error> {
    refuse(headers, query, false)
}

/// `NotImplemented` if a POST form's field asks for server-side
/// encryption (`fields` as headers).
pub fn refuse_form_fields(fields: &HeaderMap) -> Result<(), S3Error> {
    refuse(fields, "", true)
}

fn refuse(headers: &HeaderMap, query: &str, form: bool) -> Result<(), S3Error> {
    let from_headers = headers.iter().map(|(n, v)| {
        (
            n.as_str().to_string(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        )
    });
    let from_query = query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let dec = |s: &str| String::from_utf8_lossy(&percent_decode(s)).into_owned();
        (dec(k).to_ascii_lowercase(), dec(v))
    });
    let from_headers = from_headers.map(|(n, v)| (n, v, false));
    let from_query = from_query.map(|(n, v)| (n, v, true));
    for (name, value, in_query) in from_headers.chain(from_query) {
        let what =
            feature(&name, &value).filter(|w| in_query || (form && *w == "server-side encryption"));
        if let Some(what) = what {
            return Err(S3Error::new(
                S3ErrorCode::NotImplemented,
                format!(
                    "A header you provided implies functionality that is not implemented: {what} ({name}) is not supported by shale yet. Nothing was stored."
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn check(pairs: &[(&'static str, &'static str)], query: &str) -> Result<(), S3ErrorCode> {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_static(v));
        }
        refuse_headers(&h, query).map_err(|e| e.code)
    }

    #[test]
    fn encryption_and_object_lock_in_a_query_are_refused() {
        for name in [
            "x-amz-server-side-encryption",
            "x-amz-server-side-encryption-customer-algorithm",
            "x-amz-server-side-encryption-customer-key",
            "x-amz-server-side-encryption-customer-key-md5",
            "x-amz-server-side-encryption-aws-kms-key-id",
            "x-amz-server-side-encryption-context",
            "x-amz-server-side-encryption-bucket-key-enabled",
            "x-amz-copy-source-server-side-encryption-customer-algorithm",
            "x-amz-copy-source-server-side-encryption-customer-key",
        ] {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static("x"));
            let e = refuse_form_fields(&h).unwrap_err();
            assert_eq!(refuse_headers(&h, "").map_err(|e| e.code), Ok(()), "{name}");
            assert_eq!(e.code, S3ErrorCode::NotImplemented, "{name}");
            assert!(e.message.contains(name), "{}", e.message);
        }
        assert_eq!(
            check(&[], "x-amz-object-lock-mode=GOVERNANCE"),
            Err(S3ErrorCode::NotImplemented)
        );
        assert_eq!(
            check(&[], "X-Amz-Bucket-Object-Lock-Enabled=true"),
            Err(S3ErrorCode::NotImplemented)
        );
        assert_eq!(
            check(&[], "X-Amz-Server-Side-Encryption=AES256&X-Amz-Signature=a"),
            Err(S3ErrorCode::NotImplemented)
        );
    }

    #[test]
    fn other_headers_pass() {
        assert_eq!(check(&[(BUCKET_OBJECT_LOCK, "false")], ""), Ok(()));
        assert_eq!(check(&[(BUCKET_OBJECT_LOCK, "true")], ""), Ok(()));
        assert_eq!(
            check(
                &[
                    ("x-amz-object-lock-mode", "GOVERNANCE"),
                    (
                        "x-amz-object-lock-retain-until-date",
                        "2030-01-01T00:00:00Z"
                    ),
                    ("x-amz-object-lock-legal-hold", "ON"),
                ],
                ""
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &[
                    ("x-amz-meta-server-side-encryption", "x"),
                    ("x-amz-copy-source", "/b/k"),
                    ("x-amz-object-ownership", "BucketOwnerEnforced"),
                    ("x-amz-bypass-governance-retention", "true"),
                ],
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&versionId=3"
            ),
            Ok(())
        );
    }
}
