//! Which request headers a SigV4 signature must cover. A signature only
//! vouches for the headers it names in SignedHeaders; anything else on the
//! request could have been added by whoever holds a presigned URL or sits
//! in the path, so a header shale acts on or stores must be named there.
//! Pure: one function over the request's headers and the signed names.
//!
//! Must be signed when present:
//! - every `x-amz-*` header (AWS's rule: `x-amz-copy-source`,
//!   `x-amz-meta-*`, `x-amz-tagging`, checksums, `x-amz-trailer`,
//!   `x-amz-decoded-content-length`, ... and names shale does not know,
//!   which AWS may give meaning to). The one exception: a header whose
//!   value the signature covers anyway (see `bound` of [`unsigned`]), that
//!   is `x-amz-content-sha256` (the canonical request's payload line) and
//!   `x-amz-date` (in the string to sign);
//! - [`ALWAYS_SIGNED`]: headers that change what a request does whatever
//!   its method;
//! - on writes (every method but GET, HEAD, OPTIONS), [`WRITE_SIGNED`]:
//!   the headers stored with the object and the conditional-write headers.
//!
//! Everything else may stay unsigned, because it cannot make a request do
//! more than its signer allowed:
//! - transport framing the server checks itself: `content-length`,
//!   `transfer-encoding`, `expect`, `connection`, `keep-alive`, `te`,
//!   `upgrade`, `host` (which SignedHeaders must name anyway);
//! - what only shapes or narrows what a read returns: `range`, `if-match`,
//!   `if-none-match`, `if-modified-since`, `if-unmodified-since`,
//!   `cache-control`, `pragma`, `accept-*` on GET/HEAD (browsers add
//!   `cache-control` to a reload of a presigned link);
//! - what shale never reads: `user-agent`, `date` (only a fallback clock,
//!   and then in the string to sign), `origin`, `referer`, `cookie`,
//!   `via`, `forwarded`, `x-forwarded-*`, `x-amzn-trace-id` (not an
//!   `x-amz-` name; SDKs leave it unsigned), and any other name.
//!
//! A new header the server starts to act on must join one of the lists
//! (a test in src/server/s3.rs holds the stored ones to this).

use http::{HeaderMap, Method};

/// Non-`x-amz-` headers that must be signed on every method: each changes
/// what the request does (`content-md5` is the body's integrity check,
/// `x-delete-*` gives the object an expiry).
pub const ALWAYS_SIGNED: &[&str] = &["content-md5", "x-delete-after", "x-delete-at"];

/// Headers that must be signed on writes: stored with the object and
/// returned on GET (`content-*`, `expires`), or the conditions a write is
/// made under.
pub const WRITE_SIGNED: &[&str] = &[
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-type",
    "expires",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-unmodified-since",
];

/// Stored headers a write may send unsigned: the AWS SDK for JavaScript
/// v3 never signs `cache-control` (its always-unsignable list), and AWS
/// accepts it; it only steers caches in front of the object, so requiring
/// it would refuse that SDK's uploads for no protection.
pub const WRITE_UNSIGNED_STORED: &[&str] = &["cache-control"];

/// The prefix of AWS's own headers, all of which must be signed.
const AMZ_PREFIX: &str = "x-amz-";

/// Whether a request with `method` must have header `name` (lowercase)
/// in SignedHeaders when it carries it.
pub fn must_sign(method: &Method, name: &str) -> bool {
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    name.starts_with(AMZ_PREFIX)
        || ALWAYS_SIGNED.contains(&name)
        || (!read && WRITE_SIGNED.contains(&name))
}

/// The headers on the request that must be signed but are not named in
/// `signed` (lowercase), sorted, each once. `bound` lists (name, value)
/// pairs the signature covers by other means: a header whose every value
/// equals its bound value needs no place in SignedHeaders.
pub fn unsigned<'h>(
    method: &Method,
    headers: &'h HeaderMap,
    signed: &[String],
    bound: &[(&str, &str)],
) -> Vec<&'h str> {
    let mut out: Vec<&str> = headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| must_sign(method, n))
        .filter(|n| !signed.iter().any(|s| s == n))
        .filter(|n| !is_bound(headers, n, bound))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn is_bound(headers: &HeaderMap, name: &str, bound: &[(&str, &str)]) -> bool {
    bound.iter().any(|(b, want)| {
        *b == name
            && headers
                .get_all(name)
                .iter()
                .all(|v| v.as_bytes() == want.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap_or_else(|e| panic!("{n}: {e}")),
                HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{v}: {e}")),
            );
        }
        m
    }

    fn names(s: &[&str]) -> Vec<String> {
        s.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn unsigned_amz_headers_are_named_on_any_method() {
        let h = map(&[
            ("host", "h"),
            ("x-amz-copy-source", "other/key"),
            ("x-amz-meta-a", "1"),
            ("x-amz-anything-unknown", "1"),
            ("x-amz-meta-b", "2"),
        ]);
        for m in [Method::GET, Method::PUT, Method::POST, Method::DELETE] {
            assert_eq!(
                unsigned(&m, &h, &names(&["host", "x-amz-meta-b"]), &[]),
                [
                    "x-amz-anything-unknown",
                    "x-amz-copy-source",
                    "x-amz-meta-a"
                ],
                "{m}"
            );
        }
    }

    #[test]
    fn stored_and_conditional_headers_must_be_signed_on_writes_only() {
        let all: Vec<(&str, &str)> = WRITE_SIGNED.iter().map(|n| (*n, "v")).collect();
        let h = map(&all);
        for m in [Method::PUT, Method::POST, Method::DELETE] {
            assert_eq!(unsigned(&m, &h, &[], &[]), WRITE_SIGNED, "{m}");
            assert!(unsigned(&m, &h, &names(WRITE_SIGNED), &[]).is_empty());
        }
        for m in [Method::GET, Method::HEAD] {
            assert!(unsigned(&m, &h, &[], &[]).is_empty(), "{m}");
        }
    }

    #[test]
    fn md5_and_expiry_headers_must_be_signed_on_every_method() {
        let h = map(&[
            ("content-md5", "x"),
            ("x-delete-after", "1"),
            ("x-delete-at", "2"),
        ]);
        for m in [Method::GET, Method::PUT, Method::POST] {
            assert_eq!(unsigned(&m, &h, &[], &[]), ALWAYS_SIGNED);
        }
    }

    #[test]
    fn transport_and_read_narrowing_headers_may_stay_unsigned() {
        let h = map(&[
            ("host", "h"),
            ("user-agent", "curl"),
            ("content-length", "3"),
            ("transfer-encoding", "chunked"),
            ("expect", "100-continue"),
            ("connection", "keep-alive"),
            ("accept-encoding", "identity"),
            ("x-amzn-trace-id", "Root=1"),
            ("x-forwarded-for", "10.0.0.1"),
            ("date", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ]);
        for m in [Method::GET, Method::PUT, Method::POST, Method::DELETE] {
            assert!(unsigned(&m, &h, &names(&["host"]), &[]).is_empty(), "{m}");
        }
        let read = map(&[
            ("range", "bytes=0-1"),
            ("if-none-match", "\"e\""),
            ("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("cache-control", "max-age=0"),
        ]);
        assert!(unsigned(&Method::GET, &read, &[], &[]).is_empty());
    }

    #[test]
    fn a_bound_header_is_exempt_only_with_the_bound_value() {
        let h = map(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]);
        let bound = [("x-amz-content-sha256", "UNSIGNED-PAYLOAD")];
        assert!(unsigned(&Method::PUT, &h, &[], &bound).is_empty());
        let other = [("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")];
        assert_eq!(
            unsigned(&Method::PUT, &h, &[], &other),
            ["x-amz-content-sha256"]
        );
        // A second, different value is not covered.
        let mut two = h.clone();
        two.append("x-amz-content-sha256", HeaderValue::from_static("x"));
        assert_eq!(
            unsigned(&Method::PUT, &two, &[], &bound),
            ["x-amz-content-sha256"]
        );
    }

    fn header_name() -> impl Strategy<Value = String> {
        prop_oneof![
            "x-amz-[a-z-]{1,12}",
            "[a-z][a-z-]{0,12}",
            proptest::sample::select(ALWAYS_SIGNED).prop_map(str::to_owned),
            proptest::sample::select(WRITE_SIGNED).prop_map(str::to_owned),
        ]
    }

    fn method() -> impl Strategy<Value = Method> {
        proptest::sample::select(vec![
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::POST,
            Method::DELETE,
        ])
    }

    proptest! {
        /// The rule, restated: a header is reported exactly when it is
        /// present, must be signed, and is not signed.
        #[test]
        fn exactly_the_unsigned_must_sign_headers_are_reported(
            m in method(),
            present in proptest::collection::vec(header_name(), 0..8),
            signed in proptest::collection::vec(header_name(), 0..8),
        ) {
            let pairs: Vec<(&str, &str)> = present.iter().map(|n| (n.as_str(), "v")).collect();
            let h = map(&pairs);
            let got = unsigned(&m, &h, &signed, &[]);
            let mut want: Vec<&str> = present
                .iter()
                .map(String::as_str)
                .filter(|n| must_sign(&m, n) && !signed.iter().any(|s| s == n))
                .collect();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(got, want);
            // Signing everything present always passes.
            prop_assert!(unsigned(&m, &h, &present, &[]).is_empty());
        }
    }
}
