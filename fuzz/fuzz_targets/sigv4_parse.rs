//! SigV4 verification never panics, whatever the Authorization header,
//! query string and path, in header and presigned form; and only the one
//! known access key ever verifies.
#![no_main]

use std::sync::OnceLock;

use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;
use shale::s3::sigv4::{verify, SecretLookup, SigningKeyCache};

/// 20130524T000000Z
const NOW: u64 = 1_369_353_600;
/// Prefixes that pass the first checks, so mutations reach the later ones.
const AUTH_PREFIX: &[u8] =
    b"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, ";
const PRESIGN_PREFIX: &[u8] = b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&";
const PAYLOADS: [&str; 4] = [
    "UNSIGNED-PAYLOAD",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "bogus",
];

struct Fixed;

impl SecretLookup for Fixed {
    fn secret_for(&self, access_key: &str) -> Option<String> {
        (access_key == "AK").then(|| "secret".to_owned())
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte: which prefixes and headers; then auth \0 query \0 path.
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |b| *b == 0);
    let (auth, query, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let auth = if mode & 1 != 0 {
        [AUTH_PREFIX, auth].concat()
    } else {
        auth.to_vec()
    };
    let query = if mode & 2 != 0 {
        [PRESIGN_PREFIX, query].concat()
    } else {
        query.to_vec()
    };
    let Ok(uri) = Uri::try_from([b"/", path, b"?", &query].concat()) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        HOST,
        HeaderValue::from_static("examplebucket.s3.amazonaws.com"),
    );
    if mode & 4 != 0 {
        headers.insert(
            "date",
            HeaderValue::from_static("Fri, 24 May 2013 00:00:00 GMT"),
        );
    } else {
        headers.insert("x-amz-date", HeaderValue::from_static("20130524T000000Z"));
    }
    let payload = PAYLOADS[usize::from(mode >> 3) % PAYLOADS.len()];
    headers.insert("x-amz-content-sha256", HeaderValue::from_static(payload));
    if mode & 0x80 == 0 {
        if let Ok(v) = HeaderValue::from_bytes(&auth) {
            headers.insert(AUTHORIZATION, v);
        }
    }
    static CACHE: OnceLock<SigningKeyCache> = OnceLock::new();
    let cache = CACHE.get_or_init(SigningKeyCache::new);
    for method in [Method::GET, Method::PUT] {
        if let Ok(v) = verify(&method, &uri, &headers, NOW, "us-east-1", &Fixed, cache) {
            assert_eq!(v.access_key, "AK");
        }
    }
});
