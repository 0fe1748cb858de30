//! SigV4 verification and aws-chunked decoding: AWS's published examples
//! verify; requests signed by an independent signer written here verify
//! and any tampering, skew or expiry is refused with the S3 error code a
//! client expects; chunked bodies decode however they are split, and no
//! input makes either parser panic.

use std::collections::HashMap;

use base64::Engine as _;
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, Method, Uri};
use parking_lot::Mutex;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use shale::s3::chunked::{ChunkSigning, ChunkedDecoder};
use shale::s3::sigv4::{self, PayloadHash, SecretLookup, SigningKeyCache, Verified};
use shale::s3::{S3Error, S3ErrorCode};

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 20130524T000000Z, the time of every AWS example.
const T0: u64 = 1_369_353_600;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const REGION: &str = "us-east-1";

struct Keys(Mutex<HashMap<String, String>>);

impl SecretLookup for Keys {
    fn secret_for(&self, access_key: &str) -> Option<String> {
        self.0.lock().get(access_key).cloned()
    }
}

fn keys() -> Keys {
    Keys(Mutex::new(HashMap::from([(
        AK.to_owned(),
        SECRET.to_owned(),
    )])))
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parts(target: &str, headers: &[(&str, &str)]) -> (Uri, HeaderMap) {
    let uri: Uri = target.parse().unwrap();
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    (uri, map)
}

fn verify_at(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    now: u64,
) -> Result<Verified, S3Error> {
    sigv4::verify(
        method,
        uri,
        headers,
        now,
        REGION,
        &keys(),
        &SigningKeyCache::new(),
    )
}

fn check(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    now: u64,
) -> Result<Verified, S3Error> {
    let (uri, map) = parts(target, headers);
    verify_at(&method.parse().unwrap(), &uri, &map, now)
}

fn code(r: Result<Verified, S3Error>) -> S3ErrorCode {
    match r {
        Ok(v) => panic!("expected an error, verified {v:?}"),
        Err(e) => e.code,
    }
}

fn auth(signed: &str, signature: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/{REGION}/s3/aws4_request,SignedHeaders={signed},Signature={signature}")
}

// ---- (a) AWS's published examples ----

#[test]
fn aws_example_get_object_with_range_verifies() {
    let a = auth(
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    let v = check(
        "GET",
        "/test.txt",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
            ("authorization", &a),
        ],
        T0,
    )
    .unwrap();
    assert_eq!(v.access_key, AK);
    assert_eq!(v.region, REGION);
    assert_eq!(v.date, "20130524");
    assert_eq!(v.amz_date, "20130524T000000Z");
    assert_eq!(v.scope, "20130524/us-east-1/s3/aws4_request");
    assert_eq!(
        v.signing_key,
        sigv4::signing_key(SECRET, "20130524", REGION)
    );
    assert!(!v.presigned);
    let mut empty = [0u8; 32];
    empty.copy_from_slice(&Sha256::digest(b""));
    assert_eq!(v.payload, PayloadHash::Sha256(empty));
}

#[test]
fn the_test_signer_reproduces_the_published_canonical_request_hash() {
    let req = ClientRequest {
        method: Method::GET,
        path: b"/test.txt".to_vec(),
        query: vec![],
        headers: vec![
            ("host".into(), "examplebucket.s3.amazonaws.com".into()),
            ("range".into(), "bytes=0-9".into()),
            ("x-amz-content-sha256".into(), EMPTY_SHA256.into()),
            ("x-amz-date".into(), "20130524T000000Z".into()),
        ],
        signed: vec![
            "host".into(),
            "range".into(),
            "x-amz-content-sha256".into(),
            "x-amz-date".into(),
        ],
    };
    let canonical = req.canonical(EMPTY_SHA256, None);
    assert_eq!(
        sha256_hex(canonical.as_bytes()),
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    );
}

#[test]
fn aws_example_put_object_with_dollar_in_key_verifies() {
    let body_hash = sha256_hex(b"Welcome to Amazon S3.");
    assert_eq!(
        body_hash,
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    );
    let a = auth(
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
    let v = check(
        "PUT",
        "/test%24file.text",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-content-sha256", &body_hash),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("authorization", &a),
        ],
        T0 + 60,
    )
    .unwrap();
    assert!(matches!(v.payload, PayloadHash::Sha256(_)));
}

#[test]
fn aws_examples_bucket_lifecycle_and_list_objects_verify() {
    for (target, sig) in [
        (
            "/?lifecycle",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (
            "/?max-keys=2&prefix=J",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
        // The order on the wire does not matter: the canonical query sorts.
        (
            "/?prefix=J&max-keys=2",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ] {
        let a = auth("host;x-amz-content-sha256;x-amz-date", sig);
        check(
            "GET",
            target,
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
                ("authorization", &a),
            ],
            T0,
        )
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    }
}

const PRESIGNED_EXAMPLE: &str = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
    &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
    &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
    &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn aws_example_presigned_url_verifies_until_it_expires() {
    let host = [("host", "examplebucket.s3.amazonaws.com")];
    for now in [T0 - 900, T0, T0 + 86_400] {
        let v = check("GET", PRESIGNED_EXAMPLE, &host, now).unwrap();
        assert!(v.presigned);
        assert_eq!(v.payload, PayloadHash::Unsigned);
    }
    let late = check("GET", PRESIGNED_EXAMPLE, &host, T0 + 86_401).unwrap_err();
    assert_eq!(
        (late.code, late.message.as_str()),
        (S3ErrorCode::AccessDenied, "Request has expired")
    );
    assert_eq!(
        code(check("GET", PRESIGNED_EXAMPLE, &host, T0 - 901)),
        S3ErrorCode::AccessDenied
    );
    assert_eq!(
        code(check("PUT", PRESIGNED_EXAMPLE, &host, T0)),
        S3ErrorCode::SignatureDoesNotMatch
    );
}

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const CHUNK_1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
const CHUNK_2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
const CHUNK_LAST: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

fn aws_streaming_seed() -> Verified {
    let a = auth(
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
        SEED,
    );
    check(
        "PUT",
        "/examplebucket/chunkObject.txt",
        &[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("authorization", &a),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
        ],
        T0,
    )
    .unwrap()
}

fn aws_streaming_body() -> Vec<u8> {
    let mut body = format!("10000;chunk-signature={CHUNK_1}\r\n").into_bytes();
    body.extend_from_slice(&[b'a'; 65_536]);
    body.extend_from_slice(format!("\r\n400;chunk-signature={CHUNK_2}\r\n").as_bytes());
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(format!("\r\n0;chunk-signature={CHUNK_LAST}\r\n\r\n").as_bytes());
    body
}

fn signing_of(v: &Verified) -> ChunkSigning {
    ChunkSigning {
        signing_key: v.signing_key,
        amz_date: v.amz_date.clone(),
        scope: v.scope.clone(),
        seed_signature: v.signature.clone(),
    }
}

#[test]
fn aws_example_streaming_upload_verifies_and_decodes_however_split() {
    let v = aws_streaming_seed();
    assert_eq!(v.signature, SEED);
    assert_eq!(v.payload, PayloadHash::StreamingSigned);
    let body = aws_streaming_body();
    assert_eq!(body.len(), 66_824, "the published Content-Length");
    for piece in [1, 2, 7, 100, 8192, 65_600, body.len()] {
        let mut d = ChunkedDecoder::new(Some(signing_of(&v)), false);
        let mut out = Vec::new();
        for p in body.chunks(piece) {
            d.feed(p, &mut out).unwrap();
        }
        assert_eq!(d.finish().unwrap(), vec![]);
        assert_eq!(out.len(), 66_560);
        assert!(out.iter().all(|b| *b == b'a'));
        assert_eq!(d.decoded_len(), 66_560);
    }
}

#[test]
fn aws_example_streaming_upload_with_one_changed_byte_is_refused() {
    let v = aws_streaming_seed();
    let mut body = aws_streaming_body();
    let i = body.len() - 200; // inside the 1 KiB chunk
    body[i] = b'b';
    let mut d = ChunkedDecoder::new(Some(signing_of(&v)), false);
    let e = d.feed(&body, &mut Vec::new()).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::SignatureDoesNotMatch);
    // The decoder stays failed.
    assert_eq!(
        d.feed(b"", &mut Vec::new()).unwrap_err().code,
        S3ErrorCode::SignatureDoesNotMatch
    );
    assert_eq!(
        d.finish().unwrap_err().code,
        S3ErrorCode::SignatureDoesNotMatch
    );
}

// ---- an independent client-side signer ----

/// What a client signs: the path and query as raw (decoded) bytes; the
/// wire form is made by `target`.
#[derive(Clone, Debug)]
struct ClientRequest {
    method: Method,
    path: Vec<u8>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    signed: Vec<String>,
}

/// AWS UriEncode, written again here so the tests do not trust the code
/// under test.
fn enc(bytes: &[u8], encode_slash: bool) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            b'/' if !encode_slash => "/".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every byte percent-encoded, lowercase hex: a legal but unusual wire form.
fn enc_all(bytes: &[u8], keep_slash: bool) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b == b'/' && keep_slash {
                "/".to_owned()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

impl ClientRequest {
    fn canonical(&self, payload: &str, presign: Option<&[(String, String)]>) -> String {
        let mut query: Vec<(String, String)> = self
            .query
            .iter()
            .chain(presign.unwrap_or(&[]))
            .map(|(n, v)| (enc(n.as_bytes(), true), enc(v.as_bytes(), true)))
            .collect();
        query.sort();
        let query: Vec<String> = query.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let mut signed = self.signed.clone();
        signed.sort();
        let mut headers = String::new();
        for name in &signed {
            let values: Vec<String> = self
                .headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| {
                    v.split(' ')
                        .filter(|w| !w.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            headers.push_str(&format!("{name}:{}\n", values.join(",")));
        }
        format!(
            "{}\n{}\n{}\n{headers}\n{}\n{payload}",
            self.method,
            enc(&self.path, false),
            query.join("&"),
            signed.join(";")
        )
    }

    fn string_to_sign(
        &self,
        amz_date: &str,
        payload: &str,
        presign: Option<&[(String, String)]>,
    ) -> String {
        let canonical = self.canonical(payload, presign);
        format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{}/{REGION}/s3/aws4_request\n{}",
            &amz_date[..8],
            sha256_hex(canonical.as_bytes())
        )
    }

    /// The wire target; `odd` picks the fully-encoded, lowercase-hex, '+'
    /// for space form.
    fn target(&self, extra: &[(String, String)], odd: bool) -> String {
        let path = if odd {
            enc_all(&self.path, true)
        } else {
            enc(&self.path, false)
        };
        let q: Vec<String> = self
            .query
            .iter()
            .chain(extra)
            .map(|(n, v)| {
                if odd {
                    format!(
                        "{}={}",
                        enc_all(n.as_bytes(), false),
                        enc(v.as_bytes(), true).replace("%20", "+")
                    )
                } else {
                    format!("{}={}", enc(n.as_bytes(), true), enc(v.as_bytes(), true))
                }
            })
            .collect();
        if q.is_empty() {
            path
        } else {
            format!("{path}?{}", q.join("&"))
        }
    }

    fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in &self.headers {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        map
    }

    /// Signs with an Authorization header at `t`.
    fn sign_header(&self, secret: &str, t: u64, odd: bool) -> (Uri, HeaderMap) {
        let amz_date = amz_date(t);
        let mut req = self.clone();
        req.headers.push(("x-amz-date".into(), amz_date.clone()));
        req.headers
            .push(("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into()));
        req.signed.push("x-amz-date".into());
        req.signed.push("x-amz-content-sha256".into());
        let sts = req.string_to_sign(&amz_date, "UNSIGNED-PAYLOAD", None);
        let sig = sigv4::signature(&sigv4::signing_key(secret, &amz_date[..8], REGION), &sts);
        let mut signed = req.signed.clone();
        signed.sort();
        let mut map = req.header_map();
        let a = format!(
            "AWS4-HMAC-SHA256 Credential={AK}/{}/{REGION}/s3/aws4_request, SignedHeaders={}, Signature={sig}",
            &amz_date[..8],
            signed.join(";")
        );
        map.insert("authorization", HeaderValue::from_str(&a).unwrap());
        (req.target(&[], odd).parse().unwrap(), map)
    }

    /// Signs as a presigned URL at `t`, valid for `expires` seconds.
    fn presign(&self, secret: &str, t: u64, expires: u64, odd: bool) -> (Uri, HeaderMap) {
        let amz_date = amz_date(t);
        let mut signed = self.signed.clone();
        signed.sort();
        let params: Vec<(String, String)> = vec![
            ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
            (
                "X-Amz-Credential".into(),
                format!("{AK}/{}/{REGION}/s3/aws4_request", &amz_date[..8]),
            ),
            ("X-Amz-Date".into(), amz_date.clone()),
            ("X-Amz-Expires".into(), expires.to_string()),
            ("X-Amz-SignedHeaders".into(), signed.join(";")),
        ];
        let sts = self.string_to_sign(&amz_date, "UNSIGNED-PAYLOAD", Some(&params));
        let sig = sigv4::signature(&sigv4::signing_key(secret, &amz_date[..8], REGION), &sts);
        let mut all = params;
        all.push(("X-Amz-Signature".into(), sig));
        (self.target(&all, odd).parse().unwrap(), self.header_map())
    }
}

/// yyyymmddThhmmssZ, computed without the code under test (days counted
/// by walking the calendar).
fn amz_date(t: u64) -> String {
    let mut days = t / 86_400;
    let mut year = 1970;
    loop {
        let len = if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
            366
        } else {
            365
        };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let months = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 0;
    while days >= months[month] {
        days -= months[month];
        month += 1;
    }
    let s = t % 86_400;
    format!(
        "{year:04}{:02}{:02}T{:02}{:02}{:02}Z",
        month + 1,
        days + 1,
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[test]
fn the_test_calendar_agrees_with_the_aws_example_time() {
    assert_eq!(amz_date(T0), "20130524T000000Z");
    assert_eq!(amz_date(951_868_799), "20000229T235959Z");
}

// ---- (b) properties of signed requests ----

/// Key and query text that trips naive encoders.
fn hostile_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(' '),
            Just('+'),
            Just('%'),
            Just('/'),
            Just('?'),
            Just('#'),
            Just('&'),
            Just('='),
            Just('~'),
            Just('*'),
            Just('\''),
            Just('é'),
            Just('日'),
            Just('😀'),
            Just('$'),
            Just(';'),
            proptest::char::range('a', 'z'),
            proptest::char::range('0', '9'),
        ],
        0..12,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn header_value() -> impl Strategy<Value = String> {
    "[ a-zA-Z0-9=;,.é]{0,20}"
}

fn client_request() -> impl Strategy<Value = ClientRequest> {
    (
        prop_oneof![
            Just(Method::GET),
            Just(Method::PUT),
            Just(Method::HEAD),
            Just(Method::DELETE),
            Just(Method::POST)
        ],
        hostile_text(),
        proptest::collection::vec(("[a-zA-Z-]{1,8}|[ +%&=é]{1,3}", hostile_text()), 0..4),
        proptest::collection::vec(("x-amz-meta-[a-z]{1,5}", header_value()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(method, key, query, meta, range)| {
            let mut path = b"/bucket/".to_vec();
            path.extend_from_slice(key.as_bytes());
            let mut headers = vec![("host".to_owned(), "localhost:9000".to_owned())];
            let mut signed = vec!["host".to_owned()];
            for (n, v) in meta {
                if !signed.contains(&n) {
                    signed.push(n.clone());
                }
                headers.push((n, v));
            }
            if range {
                headers.push(("range".into(), "bytes=0-9".into()));
                signed.push("range".into());
            }
            ClientRequest {
                method,
                path,
                query,
                headers,
                signed,
            }
        })
}

/// A time in 2013..2033.
fn some_time() -> impl Strategy<Value = u64> {
    T0..T0 + 20 * 365 * 86_400
}

#[derive(Clone, Debug)]
enum Tamper {
    SignatureChar(usize),
    Method,
    Path,
    SignedHeader,
    QueryAdded,
    QueryChanged,
    Date,
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (0usize..64).prop_map(Tamper::SignatureChar),
        Just(Tamper::Method),
        Just(Tamper::Path),
        Just(Tamper::SignedHeader),
        Just(Tamper::QueryAdded),
        Just(Tamper::QueryChanged),
        Just(Tamper::Date),
    ]
}

/// Applies `t` to a signed request's parts.
fn apply(
    t: &Tamper,
    method: &mut Method,
    uri: &mut Uri,
    headers: &mut HeaderMap,
    presigned: bool,
    has_query: bool,
) {
    let target = uri.path_and_query().unwrap().as_str().to_owned();
    match t {
        Tamper::SignatureChar(i) => {
            let flip = |s: &str| -> String {
                let mut b = s.as_bytes().to_vec();
                b[*i] = if b[*i] == b'0' { b'1' } else { b'0' };
                String::from_utf8(b).unwrap()
            };
            if presigned {
                let (head, sig) = target.split_once("X-Amz-Signature=").unwrap();
                *uri = format!("{head}X-Amz-Signature={}", flip(&sig[..64]))
                    .parse()
                    .unwrap();
            } else {
                let a = headers["authorization"].to_str().unwrap().to_owned();
                let (head, sig) = a.split_once("Signature=").unwrap();
                let a = format!("{head}Signature={}", flip(sig));
                headers.insert("authorization", HeaderValue::from_str(&a).unwrap());
            }
        }
        Tamper::Method => {
            *method = if *method == Method::GET {
                Method::PUT
            } else {
                Method::GET
            }
        }
        Tamper::Path => {
            let (p, q) = target
                .split_once('?')
                .map_or((target.as_str(), None), |(p, q)| (p, Some(q)));
            let p = format!("{p}x");
            *uri = match q {
                Some(q) => format!("{p}?{q}"),
                None => p,
            }
            .parse()
            .unwrap();
        }
        Tamper::SignedHeader => {
            headers.insert("host", HeaderValue::from_static("localhost:9001"));
        }
        Tamper::QueryAdded => {
            let sep = if target.contains('?') { '&' } else { '?' };
            *uri = format!("{target}{sep}versionId=1").parse().unwrap();
        }
        Tamper::QueryChanged if has_query => {
            // The client's own parameters come first: change the first value.
            let (p, q) = target.split_once('?').unwrap();
            let (n, v) = q.split_once('=').unwrap();
            *uri = format!("{p}?{n}=x{v}").parse().unwrap();
        }
        Tamper::QueryChanged => {
            if let Some(v) = headers.get_mut("range") {
                *v = HeaderValue::from_static("bytes=0-10");
            } else {
                headers.insert("host", HeaderValue::from_static("localhost"));
            }
        }
        Tamper::Date => {
            if presigned {
                let t = target.replace("X-Amz-Expires=", "X-Amz-Expires=1");
                *uri = t.parse().unwrap();
            } else {
                let d = headers["x-amz-date"].to_str().unwrap().to_owned();
                let last = if d.as_bytes()[14] == b'0' { "1Z" } else { "0Z" };
                let d = format!("{}{last}", &d[..14]);
                headers.insert("x-amz-date", HeaderValue::from_str(&d).unwrap());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn header_signed_requests_verify(req in client_request(), t in some_time(), odd in any::<bool>()) {
        let (uri, headers) = req.sign_header(SECRET, t, odd);
        let v = verify_at(&req.method, &uri, &headers, t).map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
        prop_assert_eq!(v.payload, PayloadHash::Unsigned);
        prop_assert_eq!(v.amz_date, amz_date(t));
        prop_assert!(!v.presigned);
    }

    #[test]
    fn presigned_requests_verify(req in client_request(), t in some_time(), expires in 1u64..=604_800, odd in any::<bool>()) {
        let (uri, headers) = req.presign(SECRET, t, expires, odd);
        let v = verify_at(&req.method, &uri, &headers, t + expires).map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
        prop_assert!(v.presigned);
    }

    #[test]
    fn any_tampering_is_a_signature_mismatch(req in client_request(), t in some_time(), presigned in any::<bool>(), tp in tamper()) {
        let (mut uri, mut headers) = if presigned { req.presign(SECRET, t, 3600, false) } else { req.sign_header(SECRET, t, false) };
        let mut method = req.method.clone();
        apply(&tp, &mut method, &mut uri, &mut headers, presigned, !req.query.is_empty());
        let r = verify_at(&method, &uri, &headers, t + 1);
        prop_assert_eq!(r.map_err(|e| e.code).err(), Some(S3ErrorCode::SignatureDoesNotMatch), "{:?} {}", tp, uri);
    }

    #[test]
    fn header_signed_requests_are_refused_outside_fifteen_minutes(req in client_request(), t in some_time(), skew in -2000i64..2000) {
        let (uri, headers) = req.sign_header(SECRET, t, false);
        let now = t.checked_add_signed(skew).unwrap();
        let r = verify_at(&req.method, &uri, &headers, now);
        if skew.unsigned_abs() <= 900 {
            prop_assert!(r.is_ok(), "{:?}", r);
        } else {
            prop_assert_eq!(r.map_err(|e| e.code).err(), Some(S3ErrorCode::RequestTimeTooSkewed));
        }
    }

    #[test]
    fn presigned_requests_hold_from_fifteen_minutes_early_until_expiry(req in client_request(), t in some_time(),
            expires in 1u64..5000, offset in -2000i64..7000) {
        let (uri, headers) = req.presign(SECRET, t, expires, false);
        let now = t.checked_add_signed(offset).unwrap();
        let r = verify_at(&req.method, &uri, &headers, now);
        if offset >= -900 && offset <= expires as i64 {
            prop_assert!(r.is_ok(), "{:?}", r);
        } else {
            prop_assert_eq!(r.map_err(|e| e.code).err(), Some(S3ErrorCode::AccessDenied));
        }
        // X-Amz-Expires=0 is refused at any time (its minimum is 1).
        let (uri, headers) = req.presign(SECRET, t, 0, false);
        let r = verify_at(&req.method, &uri, &headers, now);
        prop_assert_eq!(r.map_err(|e| e.code).err(), Some(S3ErrorCode::AuthorizationQueryParametersError));
    }

    #[test]
    fn a_wrong_secret_is_a_signature_mismatch(req in client_request(), t in some_time(), presigned in any::<bool>()) {
        let (uri, headers) = if presigned { req.presign("not the secret", t, 60, false) } else { req.sign_header("not the secret", t, false) };
        let r = verify_at(&req.method, &uri, &headers, t);
        prop_assert_eq!(r.map_err(|e| e.code).err(), Some(S3ErrorCode::SignatureDoesNotMatch));
    }

    #[test]
    fn arbitrary_authorization_query_and_path_never_panic(a in proptest::collection::vec(any::<u8>(), 0..200),
            q in "[ -~]{0,200}", p in "[ -~]{0,60}", presign in any::<bool>()) {
        let a = if presign { a } else {
            let mut v = auth("host;x-amz-date", "").into_bytes();
            v.extend_from_slice(&a);
            v
        };
        let target = format!("/{}?{}{}", p.replace(['?', '#', ' '], ""), if presign { "X-Amz-Algorithm=AWS4-HMAC-SHA256&" } else { "" }, q.replace(['#', ' '], ""));
        let Ok(uri) = target.parse::<Uri>() else { return Ok(()) };
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("h"));
        headers.insert("x-amz-date", HeaderValue::from_static("20130524T000000Z"));
        headers.insert("x-amz-content-sha256", HeaderValue::from_static("UNSIGNED-PAYLOAD"));
        if let Ok(v) = HeaderValue::from_bytes(&a) {
            headers.insert("authorization", v);
        }
        let _ = verify_at(&Method::GET, &uri, &headers, T0);
    }
}

#[test]
fn keys_with_spaces_plus_percent_and_unicode_verify_in_boto3_form() {
    let req = ClientRequest {
        method: Method::PUT,
        path: "/bucket/a b+c%d/日本/😀~x".as_bytes().to_vec(),
        query: vec![
            ("prefix".into(), "a b+c".into()),
            ("list-type".into(), "2".into()),
            ("acl".into(), String::new()),
        ],
        headers: vec![("host".into(), "localhost:9000".into())],
        signed: vec!["host".into()],
    };
    let (uri, headers) = req.sign_header(SECRET, T0, false);
    assert!(
        uri.path().starts_with("/bucket/a%20b%2Bc%25d/%E6%97%A5"),
        "{uri}"
    );
    verify_at(&req.method, &uri, &headers, T0).unwrap();
    // A raw '+' in the query is a space, as S3 reads it.
    let target = uri.to_string().replace("a%20b%2Bc&", "a+b%2Bc&");
    assert_ne!(target, uri.to_string());
    verify_at(&req.method, &target.parse().unwrap(), &headers, T0).unwrap();
}

#[test]
fn header_values_are_trimmed_and_inner_spaces_collapsed() {
    let req = ClientRequest {
        method: Method::GET,
        path: b"/b/k".to_vec(),
        query: vec![],
        headers: vec![
            ("host".into(), "h".into()),
            ("x-amz-meta-a".into(), "  one   two  ".into()),
            ("x-amz-meta-a".into(), "three".into()),
        ],
        signed: vec!["host".into(), "x-amz-meta-a".into()],
    };
    let (uri, headers) = req.sign_header(SECRET, T0, false);
    verify_at(&req.method, &uri, &headers, T0).unwrap();
}

#[test]
fn the_date_header_stands_in_for_a_missing_x_amz_date() {
    let req = ClientRequest {
        method: Method::GET,
        path: b"/b/k".to_vec(),
        query: vec![],
        headers: vec![
            ("host".into(), "h".into()),
            ("date".into(), "Fri, 24 May 2013 00:00:00 GMT".into()),
            ("x-amz-content-sha256".into(), EMPTY_SHA256.into()),
        ],
        signed: vec!["date".into(), "host".into(), "x-amz-content-sha256".into()],
    };
    let sts = req.string_to_sign("20130524T000000Z", EMPTY_SHA256, None);
    let sig = sigv4::signature(&sigv4::signing_key(SECRET, "20130524", REGION), &sts);
    let mut headers = req.header_map();
    headers.insert(
        "authorization",
        auth("date;host;x-amz-content-sha256", &sig)
            .parse()
            .unwrap(),
    );
    let uri: Uri = "/b/k".parse().unwrap();
    let v = verify_at(&Method::GET, &uri, &headers, T0 + 5).unwrap();
    assert_eq!(v.amz_date, "20130524T000000Z");
    assert_eq!(
        code(verify_at(&Method::GET, &uri, &headers, T0 + 901)),
        S3ErrorCode::RequestTimeTooSkewed
    );
}

#[test]
fn a_rotated_secret_is_not_answered_from_the_cache() {
    let req = ClientRequest {
        method: Method::GET,
        path: b"/b/k".to_vec(),
        query: vec![],
        headers: vec![("host".into(), "h".into())],
        signed: vec!["host".into()],
    };
    let keys = keys();
    let cache = SigningKeyCache::new();
    let (uri, headers) = req.sign_header(SECRET, T0, false);
    for _ in 0..2 {
        sigv4::verify(&req.method, &uri, &headers, T0, REGION, &keys, &cache).unwrap();
    }
    keys.0.lock().insert(AK.into(), "rotated".into());
    let r = sigv4::verify(&req.method, &uri, &headers, T0, REGION, &keys, &cache);
    assert_eq!(code(r), S3ErrorCode::SignatureDoesNotMatch);
    let (uri, headers) = req.sign_header("rotated", T0, false);
    sigv4::verify(&req.method, &uri, &headers, T0, REGION, &keys, &cache).unwrap();
}

#[test]
fn malformed_or_unsupported_authorization_gets_the_s3_error_code() {
    use S3ErrorCode::*;
    let good_sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    let base = [
        ("host", "examplebucket.s3.amazonaws.com"),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("x-amz-date", "20130524T000000Z"),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut h: Vec<(&str, &str)> = base.to_vec();
        h.extend_from_slice(extra);
        check("GET", "/test.txt", &h, T0)
    };
    let signed = "host;range;x-amz-content-sha256;x-amz-date";
    let cases: Vec<(String, S3ErrorCode)> = vec![
        ("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=".into(), InvalidRequest),
        ("AWS4-ECDSA-P256-SHA256 Credential=x".into(), InvalidRequest),
        ("Bearer abc".into(), AuthorizationHeaderMalformed),
        ("AWS4-HMAC-SHA256".into(), AuthorizationHeaderMalformed),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request".into(), AuthorizationHeaderMalformed),
        (format!("AWS4-HMAC-SHA256 Credential=AK/2013/us-east-1/s3/aws4_request,SignedHeaders={signed},Signature={good_sig}"), AuthorizationHeaderMalformed),
        (format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/ec2/aws4_request,SignedHeaders={signed},Signature={good_sig}"), AuthorizationHeaderMalformed),
        (format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws5_request,SignedHeaders={signed},Signature={good_sig}"), AuthorizationHeaderMalformed),
        (format!("AWS4-HMAC-SHA256 Credential={AK}/20130525/us-east-1/s3/aws4_request,SignedHeaders={signed},Signature={good_sig}"), AuthorizationHeaderMalformed),
        (auth("range;x-amz-content-sha256;x-amz-date", good_sig), AuthorizationHeaderMalformed),
        (auth("host;;range", good_sig), AuthorizationHeaderMalformed),
        (auth("host;a:b;range", good_sig), AuthorizationHeaderMalformed),
        // Not a header name http accepts: it is simply absent.
        (auth("host;{x};range", good_sig), SignatureDoesNotMatch),
        (format!("{},Signature=x", auth(signed, good_sig)), AuthorizationHeaderMalformed),
        (format!("{},Foo=x", auth(signed, good_sig)), AuthorizationHeaderMalformed),
        (auth(signed, good_sig).replace(AK, "NOBODY"), InvalidAccessKeyId),
        (auth(signed, &good_sig[..63]), SignatureDoesNotMatch),
        (auth(signed, &good_sig.to_uppercase()), SignatureDoesNotMatch),
        (auth(signed, ""), SignatureDoesNotMatch),
    ];
    for (a, want) in cases {
        assert_eq!(code(with(&[("authorization", &a)])), want, "{a}");
    }
    // Signed header names are compared lowercase.
    let a = auth("Host;Range;X-Amz-Content-Sha256;X-Amz-Date", good_sig);
    with(&[("authorization", &a)]).unwrap();
    // No credentials at all.
    assert_eq!(code(with(&[])), AccessDenied);
    let a = auth(signed, good_sig);
    // Two Authorization headers.
    assert_eq!(
        code(with(&[("authorization", &a), ("authorization", &a)])),
        AuthorizationHeaderMalformed
    );
    // Both mechanisms at once.
    let (uri, mut map) = parts(PRESIGNED_EXAMPLE, &base);
    map.insert("authorization", a.parse().unwrap());
    assert_eq!(
        code(verify_at(&Method::GET, &uri, &map, T0)),
        InvalidArgument
    );
}

#[test]
fn a_bad_x_amz_content_sha256_is_an_invalid_argument() {
    let a = auth("host;x-amz-content-sha256;x-amz-date", "00");
    for bad in [
        "abc",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        &EMPTY_SHA256[1..],
        &format!("{}g", &EMPTY_SHA256[1..]),
    ] {
        let r = check(
            "GET",
            "/",
            &[
                ("host", "h"),
                ("x-amz-content-sha256", bad),
                ("x-amz-date", "20130524T000000Z"),
                ("authorization", &a),
            ],
            T0,
        );
        assert_eq!(code(r), S3ErrorCode::InvalidArgument, "{bad}");
    }
    let r = check(
        "GET",
        "/",
        &[
            ("host", "h"),
            ("x-amz-date", "20130524T000000Z"),
            ("authorization", &a),
        ],
        T0,
    );
    assert_eq!(
        code(r),
        S3ErrorCode::InvalidRequest,
        "missing x-amz-content-sha256"
    );
}

#[test]
fn bad_presigned_parameters_are_query_parameter_errors() {
    use S3ErrorCode::*;
    let host = [("host", "examplebucket.s3.amazonaws.com")];
    let cases = [
        (
            PRESIGNED_EXAMPLE.replace("&X-Amz-Expires=86400", ""),
            AuthorizationQueryParametersError,
        ),
        (
            PRESIGNED_EXAMPLE.replace("X-Amz-Expires=86400", "X-Amz-Expires=604801"),
            AuthorizationQueryParametersError,
        ),
        (
            PRESIGNED_EXAMPLE.replace("X-Amz-Expires=86400", "X-Amz-Expires=-1"),
            AuthorizationQueryParametersError,
        ),
        (
            PRESIGNED_EXAMPLE.replace("X-Amz-Expires=86400", "X-Amz-Expires=1e3"),
            AuthorizationQueryParametersError,
        ),
        (
            PRESIGNED_EXAMPLE.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
            AuthorizationQueryParametersError,
        ),
        (
            PRESIGNED_EXAMPLE.replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013-05-24"),
            AuthorizationQueryParametersError,
        ),
        (
            PRESIGNED_EXAMPLE.replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130525T000000Z"),
            AuthorizationQueryParametersError,
        ),
        (
            PRESIGNED_EXAMPLE.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range"),
            AuthorizationQueryParametersError,
        ),
        (
            format!("{PRESIGNED_EXAMPLE}&X-Amz-Date=20130524T000000Z"),
            AuthorizationQueryParametersError,
        ),
        (
            PRESIGNED_EXAMPLE.replace("%2Fs3%2F", "%2Fsqs%2F"),
            AuthorizationQueryParametersError,
        ),
        (
            PRESIGNED_EXAMPLE.replace("AKIAIOSFODNN7EXAMPLE%2F", "NOBODY%2F"),
            InvalidAccessKeyId,
        ),
        (
            format!("{PRESIGNED_EXAMPLE}&x-id=GetObject"),
            SignatureDoesNotMatch,
        ),
        (
            "/test.txt?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1369440000&Signature=abc"
                .to_owned(),
            InvalidRequest,
        ),
    ];
    for (target, want) in cases {
        assert_eq!(code(check("GET", &target, &host, T0)), want, "{target}");
    }
}

#[test]
fn uri_encode_is_the_aws_encoding() {
    assert_eq!(sigv4::uri_encode(b"AZaz09-._~/", false), "AZaz09-._~/");
    assert_eq!(sigv4::uri_encode(b"a/b", true), "a%2Fb");
    assert_eq!(
        sigv4::uri_encode(" +%*é".as_bytes(), false),
        "%20%2B%25%2A%C3%A9"
    );
}

// ---- (c) aws-chunked bodies ----

struct Signer {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    seed: String,
}

fn test_signer() -> Signer {
    Signer {
        key: sigv4::signing_key("secret", "20130524", REGION),
        amz_date: "20130524T000000Z".into(),
        scope: "20130524/us-east-1/s3/aws4_request".into(),
        seed: sha256_hex(b"seed"),
    }
}

impl Signer {
    fn chunk_signing(&self) -> ChunkSigning {
        ChunkSigning {
            signing_key: self.key,
            amz_date: self.amz_date.clone(),
            scope: self.scope.clone(),
            seed_signature: self.seed.clone(),
        }
    }
}

/// Encodes `payload` in chunks of `sizes` (cycled), signed when `signer`
/// is given, with `trailers` if Some.
fn encode_chunked(
    payload: &[u8],
    sizes: &[usize],
    signer: Option<&Signer>,
    trailers: Option<&[(String, String)]>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = signer.map(|s| s.seed.clone()).unwrap_or_default();
    let mut chunk_header = |data: &[u8], out: &mut Vec<u8>| {
        out.extend_from_slice(format!("{:x}", data.len()).as_bytes());
        if let Some(s) = signer {
            let sts = format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{prev}\n{EMPTY_SHA256}\n{}",
                s.amz_date,
                s.scope,
                sha256_hex(data)
            );
            prev = sigv4::signature(&s.key, &sts);
            out.extend_from_slice(format!(";chunk-signature={prev}").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    };
    let mut rest = payload;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        let (data, r) = rest.split_at(n);
        rest = r;
        chunk_header(data, &mut out);
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    chunk_header(b"", &mut out);
    let Some(trailers) = trailers else {
        out.extend_from_slice(b"\r\n");
        return out;
    };
    let mut canonical = String::new();
    for (n, v) in trailers {
        out.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
        canonical.push_str(&format!("{n}:{v}\n"));
    }
    if let Some(s) = signer {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{prev}\n{}",
            s.amz_date,
            s.scope,
            sha256_hex(canonical.as_bytes())
        );
        out.extend_from_slice(
            format!(
                "x-amz-trailer-signature:{}\r\n",
                sigv4::signature(&s.key, &sts)
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn crc32_trailer(payload: &[u8]) -> Vec<(String, String)> {
    let crc = crc32fast::hash(payload).to_be_bytes();
    vec![(
        "x-amz-checksum-crc32".into(),
        base64::engine::general_purpose::STANDARD.encode(crc),
    )]
}

/// Decoded payload and trailers.
type Decoded = (Vec<u8>, Vec<(String, String)>);

/// Feeds `body` in pieces of `pieces` (cycled) and finishes.
fn decode(d: &mut ChunkedDecoder, body: &[u8], pieces: &[usize]) -> Result<Decoded, S3Error> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = pieces[i % pieces.len()].clamp(1, rest.len());
        i += 1;
        let (p, r) = rest.split_at(n);
        rest = r;
        d.feed(p, &mut out)?;
    }
    let trailers = d.finish()?;
    Ok((out, trailers))
}

#[derive(Clone, Copy, Debug)]
struct Mode {
    signed: bool,
    trailer: bool,
}

fn mode() -> impl Strategy<Value = Mode> {
    (any::<bool>(), any::<bool>()).prop_map(|(signed, trailer)| Mode { signed, trailer })
}

fn decoder(m: Mode, s: &Signer) -> ChunkedDecoder {
    ChunkedDecoder::new(m.signed.then(|| s.chunk_signing()), m.trailer)
}

fn body_for(m: Mode, s: &Signer, payload: &[u8], sizes: &[usize]) -> Vec<u8> {
    let trailers = crc32_trailer(payload);
    encode_chunked(
        payload,
        sizes,
        m.signed.then_some(s),
        m.trailer.then_some(&trailers[..]),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chunked_bodies_decode_however_split(m in mode(), payload in proptest::collection::vec(any::<u8>(), 0..20_000),
            sizes in proptest::collection::vec(1usize..9000, 1..5), pieces in proptest::collection::vec(1usize..5000, 1..5)) {
        let s = test_signer();
        let body = body_for(m, &s, &payload, &sizes);
        let mut d = decoder(m, &s);
        let (out, trailers) = decode(&mut d, &body, &pieces).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&out, &payload);
        prop_assert_eq!(d.decoded_len(), payload.len() as u64);
        prop_assert_eq!(trailers, if m.trailer { crc32_trailer(&payload) } else { vec![] });
    }

    #[test]
    fn a_changed_byte_in_a_signed_body_never_yields_other_content(trailer in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 1..5000),
            sizes in proptest::collection::vec(1usize..2000, 1..4), at in any::<prop::sample::Index>(), x in 1u8..=255) {
        let s = test_signer();
        let m = Mode { signed: true, trailer };
        let mut bad = body_for(m, &s, &payload, &sizes);
        let i = at.index(bad.len());
        bad[i] ^= x;
        // Refused, or (a hex digit or trailer name changing case) the same.
        if let Ok((out, trailers)) = decode(&mut decoder(m, &s), &bad, &[4096]) {
            prop_assert_eq!(out, payload.clone());
            prop_assert_eq!(trailers, if trailer { crc32_trailer(&payload) } else { vec![] });
        }
    }

    #[test]
    fn a_changed_chunk_signature_is_a_signature_mismatch(trailer in any::<bool>(), payload in proptest::collection::vec(any::<u8>(), 0..3000),
            sizes in proptest::collection::vec(1usize..1000, 1..4), which in any::<prop::sample::Index>(), at in 0usize..64) {
        let s = test_signer();
        let m = Mode { signed: true, trailer };
        let mut body = body_for(m, &s, &payload, &sizes);
        let sigs: Vec<usize> = find_all(&body, b"signature=").into_iter().chain(find_all(&body, b"signature:")).map(|j| j + 10).collect();
        let j = sigs[which.index(sigs.len())] + at;
        body[j] = if body[j] == b'0' { b'1' } else { b'0' };
        let r = decode(&mut decoder(m, &s), &body, &[777]);
        prop_assert_eq!(r.map_err(|e| e.code).err(), Some(S3ErrorCode::SignatureDoesNotMatch));
    }

    #[test]
    fn a_changed_data_byte_is_a_signature_mismatch(payload in proptest::collection::vec(any::<u8>(), 1..5000), at in any::<prop::sample::Index>(), x in 1u8..=255) {
        let s = test_signer();
        let m = Mode { signed: true, trailer: false };
        // One chunk: its data starts after the first CRLF.
        let body = body_for(m, &s, &payload, &[payload.len()]);
        let start = body.iter().position(|b| *b == b'\n').unwrap() + 1;
        let mut bad = body.clone();
        bad[start + at.index(payload.len())] ^= x;
        let r = decode(&mut decoder(m, &s), &bad, &[1000]);
        prop_assert_eq!(r.map_err(|e| e.code).err(), Some(S3ErrorCode::SignatureDoesNotMatch));
    }

    #[test]
    fn a_truncated_body_is_incomplete(m in mode(), payload in proptest::collection::vec(any::<u8>(), 0..5000),
            sizes in proptest::collection::vec(1usize..2000, 1..4), at in any::<prop::sample::Index>()) {
        let s = test_signer();
        let body = body_for(m, &s, &payload, &sizes);
        // With trailers, SDKs may leave off the last line ending, so only
        // cuts before the trailer section must be refused.
        let end = if m.trailer {
            let zero: &[u8] = if m.signed { b"\r\n0;chunk-signature=" } else { b"\r\n0\r\n" };
            let head = if payload.is_empty() { 0 } else { *find_all(&body, zero).last().unwrap() + 2 };
            head + body[head..].iter().position(|b| *b == b'\n').unwrap() + 1
        } else {
            body.len()
        };
        let cut = at.index(end);
        let mut d = decoder(m, &s);
        let mut out = Vec::new();
        d.feed(&body[..cut], &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(d.finish().map_err(|e| e.code).err(), Some(S3ErrorCode::IncompleteBody));
        prop_assert!(payload.starts_with(&out));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(m in mode(), body in proptest::collection::vec(any::<u8>(), 0..3000),
            pieces in proptest::collection::vec(1usize..700, 1..4)) {
        let s = test_signer();
        let _ = decode(&mut decoder(m, &s), &body, &pieces);
    }

    #[test]
    fn framing_like_bytes_never_panic_the_decoder(m in mode(), body in "([0-9a-f]{1,3}(;chunk-signature=[0-9a-f]{0,64})?\r\n[a-z\r\n:;=]{0,40}){0,8}",
            pieces in proptest::collection::vec(1usize..50, 1..4)) {
        let s = test_signer();
        let _ = decode(&mut decoder(m, &s), body.as_bytes(), &pieces);
    }
}

/// Where `needle` starts in `hay`, every time.
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn decode_str(m: Mode, body: &str) -> Result<Decoded, S3Error> {
    decode(&mut decoder(m, &test_signer()), body.as_bytes(), &[3])
}

#[test]
fn unsigned_trailers_are_read_with_the_endings_sdks_send() {
    let m = Mode {
        signed: false,
        trailer: true,
    };
    let want = vec![("x-amz-checksum-crc32".to_owned(), "NhCmhg==".to_owned())];
    for body in [
        "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n",
        "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\n\r\n",
        "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n",
        "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==",
        "5\r\nhello\r\n0\r\nX-Amz-Checksum-CRC32 : NhCmhg==\r\n\r\n",
    ] {
        let (out, trailers) = decode_str(m, body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        assert_eq!(out, b"hello");
        assert_eq!(trailers, want, "{body:?}");
    }
    assert_eq!(crc32_trailer(b"hello"), want, "the crc32 of hello, base64");
    assert_eq!(
        decode_str(m, "5\r\nhello\r\n0\r\n").unwrap_err().code,
        S3ErrorCode::IncompleteBody
    );
    assert_eq!(
        decode_str(m, "5\r\nhello\r\n0\r\nno colon\r\n\r\n")
            .unwrap_err()
            .code,
        S3ErrorCode::InvalidRequest
    );
}

#[test]
fn signed_trailers_need_their_signature() {
    let s = test_signer();
    let m = Mode {
        signed: true,
        trailer: true,
    };
    let body = body_for(m, &s, b"hello", &[5]);
    let text = String::from_utf8(body).unwrap();
    let (unsigned, _) = text.split_once("x-amz-trailer-signature").unwrap();
    let r = decode(
        &mut decoder(m, &s),
        format!("{unsigned}\r\n").as_bytes(),
        &[7],
    );
    assert_eq!(r.unwrap_err().code, S3ErrorCode::SignatureDoesNotMatch);
    let r = decode(&mut decoder(m, &s), unsigned.as_bytes(), &[7]);
    assert_eq!(r.unwrap_err().code, S3ErrorCode::IncompleteBody);
    let forged = text.replace("NhCmhg==", "AAAAAA==");
    let r = decode(&mut decoder(m, &s), forged.as_bytes(), &[7]);
    assert_eq!(r.unwrap_err().code, S3ErrorCode::SignatureDoesNotMatch);
}

#[test]
fn malformed_framing_is_refused() {
    use S3ErrorCode::*;
    let plain = Mode {
        signed: false,
        trailer: false,
    };
    let signed = Mode {
        signed: true,
        trailer: false,
    };
    let cases = [
        (plain, "zz\r\n", InvalidRequest),
        (plain, "\r\n", InvalidRequest),
        (plain, "10000000000000000\r\n", InvalidRequest),
        (plain, "5\r\nhelloXX0\r\n\r\n", InvalidRequest),
        (plain, "5\r\nhello\r\n0\r\n\r\nmore", InvalidRequest),
        (
            plain,
            "0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
            InvalidRequest,
        ),
        (plain, "5\r\nhel", IncompleteBody),
        (plain, "ffffffffffffffff\r\nabc", IncompleteBody),
        (signed, "5\r\nhello\r\n0\r\n\r\n", SignatureDoesNotMatch),
        (
            signed,
            "5;chunk-signature=00\r\nhello\r\n0\r\n\r\n",
            SignatureDoesNotMatch,
        ),
    ];
    for (m, body, want) in cases {
        assert_eq!(decode_str(m, body).unwrap_err().code, want, "{body:?}");
    }
    let (out, _) = decode_str(plain, "5\r\nhello\r\n0\r\n\r\n").unwrap();
    assert_eq!(out, b"hello");
    let long = vec![b'1'; 9000];
    assert_eq!(
        decode(&mut decoder(plain, &test_signer()), &long, &[100])
            .unwrap_err()
            .code,
        InvalidRequest
    );
}

// ---- (c) what a signature must cover, and for which region ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any must-sign header added to a correctly signed request (header or
    /// presigned) without being signed is refused with AccessDenied naming it.
    #[test]
    fn an_added_unsigned_header_is_access_denied(req in client_request(), t in some_time(), presigned in any::<bool>(),
            added in prop_oneof![
                "x-amz-[a-z-]{1,12}",
                Just("x-amz-copy-source".to_owned()),
                Just("content-md5".to_owned()),
                Just("x-delete-after".to_owned()),
            ]) {
        prop_assume!(!req.headers.iter().any(|(n, _)| *n == added));
        prop_assume!(!["x-amz-date", "x-amz-content-sha256"].contains(&added.as_str()));
        let (uri, mut headers) = if presigned {
            req.presign(SECRET, t, 600, false)
        } else {
            req.sign_header(SECRET, t, false)
        };
        verify_at(&req.method, &uri, &headers, t).map_err(|e| TestCaseError::fail(e.to_string()))?;
        headers.append(HeaderName::from_bytes(added.as_bytes()).unwrap(), HeaderValue::from_static("x"));
        let e = verify_at(&req.method, &uri, &headers, t).unwrap_err();
        prop_assert_eq!(e.code, S3ErrorCode::AccessDenied);
        prop_assert!(e.message.contains(&added), "{}", e.message);
    }
}

#[test]
fn a_scope_for_another_region_names_the_expected_one() {
    let req = ClientRequest {
        method: Method::GET,
        path: b"/b/k".to_vec(),
        query: vec![],
        headers: vec![("host".into(), "h".into())],
        signed: vec!["host".into()],
    };
    let cache = SigningKeyCache::new();
    for presigned in [false, true] {
        let (uri, headers) = if presigned {
            req.presign(SECRET, T0, 60, false)
        } else {
            req.sign_header(SECRET, T0, false)
        };
        sigv4::verify(&req.method, &uri, &headers, T0, REGION, &keys(), &cache).unwrap();
        let e = sigv4::verify(
            &req.method,
            &uri,
            &headers,
            T0,
            "eu-west-1",
            &keys(),
            &cache,
        )
        .unwrap_err();
        let want = if presigned {
            S3ErrorCode::AuthorizationQueryParametersError
        } else {
            S3ErrorCode::AuthorizationHeaderMalformed
        };
        assert_eq!(e.code, want);
        assert!(
            e.message
                .contains("the region 'us-east-1' is wrong; expecting 'eu-west-1'"),
            "{}",
            e.message
        );
        assert_eq!(
            e.headers,
            vec![("x-amz-bucket-region", "eu-west-1".to_owned())]
        );
    }
}

#[test]
fn the_payload_hash_and_date_may_stay_unsigned_only_with_the_values_signed() {
    // The AWS GET example, x-amz-content-sha256 and x-amz-date left out
    // of SignedHeaders: their values are in the canonical request and the
    // string to sign anyway.
    let req = ClientRequest {
        method: Method::GET,
        path: b"/b/k".to_vec(),
        query: vec![],
        headers: vec![("host".into(), "h".into())],
        signed: vec!["host".into()],
    };
    let amz = amz_date(T0);
    let sts = req.string_to_sign(&amz, "UNSIGNED-PAYLOAD", None);
    let sig = sigv4::signature(&sigv4::signing_key(SECRET, &amz[..8], REGION), &sts);
    let (uri, mut headers) = parts(
        "/b/k",
        &[
            ("host", "h"),
            ("x-amz-date", &amz),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ],
    );
    headers.insert("authorization", auth("host", &sig).parse().unwrap());
    verify_at(&Method::GET, &uri, &headers, T0).unwrap();
    // Presigned: an x-amz-content-sha256 header becomes the payload line
    // the signature covers; an x-amz-date header the signature does not
    // use (the time is X-Amz-Date) is refused, not ignored.
    let (uri, mut headers) = req.presign(SECRET, T0, 60, false);
    verify_at(&Method::GET, &uri, &headers, T0).unwrap();
    headers.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    verify_at(&Method::GET, &uri, &headers, T0).unwrap();
    headers.insert("x-amz-date", HeaderValue::from_static("20990101T000000Z"));
    let e = verify_at(&Method::GET, &uri, &headers, T0).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::AccessDenied);
    assert!(e.message.contains("x-amz-date"), "{}", e.message);
}

/// Where each chunk of `payload` cut in `sizes` (cycled) ends.
fn chunk_ends(len: usize, sizes: &[usize]) -> Vec<usize> {
    let mut ends = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < len {
        at += sizes[i % sizes.len()].clamp(1, len - at);
        i += 1;
        ends.push(at);
    }
    ends
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// However the body arrives, a signed chunk's bytes are yielded only
    /// whole and after its signature checked: with one chunk's signature
    /// corrupted, what comes out is never more than the chunks before it.
    #[test]
    fn a_chunk_with_a_bad_signature_never_yields_a_byte(trailer in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 1..20_000),
            sizes in proptest::collection::vec(1usize..6000, 1..4), which in any::<prop::sample::Index>(),
            pieces in proptest::collection::vec(1usize..3000, 1..4)) {
        let s = test_signer();
        let m = Mode { signed: true, trailer };
        let mut body = body_for(m, &s, &payload, &sizes);
        let ends = chunk_ends(payload.len(), &sizes);
        // Data chunks only: the final empty one carries no data.
        let k = which.index(ends.len());
        let sig_at = find_all(&body, b"chunk-signature=")[k] + 16;
        body[sig_at] = if body[sig_at] == b'0' { b'1' } else { b'0' };
        let good_prefix = if k == 0 { 0 } else { ends[k - 1] };
        let mut d = decoder(m, &s);
        let mut out = Vec::new();
        let mut rest = &body[..];
        let mut i = 0;
        let mut failed = None;
        while !rest.is_empty() {
            let n = pieces[i % pieces.len()].clamp(1, rest.len());
            i += 1;
            let (p, r) = rest.split_at(n);
            rest = r;
            let fed = d.feed(p, &mut out);
            // Only whole verified chunks, never a byte of chunk k.
            prop_assert!(out.len() <= good_prefix, "{} bytes out, {good_prefix} verified", out.len());
            prop_assert!(out.is_empty() || ends.contains(&out.len()));
            prop_assert_eq!(&out[..], &payload[..out.len()]);
            if let Err(e) = fed {
                failed = Some(e.code);
                break;
            }
        }
        prop_assert_eq!(failed, Some(S3ErrorCode::SignatureDoesNotMatch));
        prop_assert_eq!(out.len(), good_prefix);
        prop_assert!(d.finish().is_err());
    }
}

#[test]
fn unsigned_trailer_bodies_still_stream_before_a_chunk_ends() {
    let s = test_signer();
    let m = Mode {
        signed: false,
        trailer: true,
    };
    let payload = vec![7u8; 10_000];
    let body = body_for(m, &s, &payload, &[10_000]);
    let mut d = decoder(m, &s);
    let mut out = Vec::new();
    d.feed(&body[..5000], &mut out).unwrap();
    assert!(!out.is_empty() && out.len() < payload.len());
}

#[test]
fn a_signed_chunk_over_the_maximum_is_refused_at_its_header() {
    use shale::s3::chunked::SIGNED_CHUNK_BYTES_MAX;
    let s = test_signer();
    let sig = "0".repeat(64);
    for (size, signed, ok) in [
        (SIGNED_CHUNK_BYTES_MAX, true, true),
        (SIGNED_CHUNK_BYTES_MAX + 1, true, false),
        (u64::MAX, true, false),
        (SIGNED_CHUNK_BYTES_MAX + 1, false, true),
    ] {
        let m = Mode {
            signed,
            trailer: false,
        };
        let mut d = decoder(m, &s);
        let head = if signed {
            format!("{size:x};chunk-signature={sig}\r\n")
        } else {
            format!("{size:x}\r\n")
        };
        let r = d.feed(head.as_bytes(), &mut Vec::new());
        assert_eq!(r.is_ok(), ok, "{size} signed {signed}: {r:?}");
        if let Err(e) = r {
            assert_eq!(e.code, S3ErrorCode::InvalidRequest);
            assert!(
                e.message.contains("at most 16777216 bytes"),
                "{}",
                e.message
            );
        }
    }
}
