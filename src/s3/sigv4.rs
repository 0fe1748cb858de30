//! AWS Signature Version 4 as an S3 server checks it: the `Authorization`
//! header form and presigned query strings. Pure: the caller passes the
//! clock and the secret lookup, so every case is testable.
//!
//! What the signature covers is rebuilt from the request exactly as it
//! arrived (S3 neither normalizes nor double-encodes the path); only the
//! encoding is made canonical, so `%20`/`%2B`-style variants still match.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use hmac::{Hmac, Mac};
use http::header::{AUTHORIZATION, DATE, HOST};
use http::{HeaderMap, Method, Uri};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::s3::signed_headers;
use crate::s3::time::{self, parse_amz_date};
use crate::s3::{S3Error, S3ErrorCode};

/// The only algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a header-signed request's time may be from the server's.
pub const CLOCK_SKEW_SECS_MAX: u64 = 15 * 60;
/// The longest `X-Amz-Expires` S3 accepts: one week.
pub const PRESIGNED_EXPIRES_SECS_MAX: u64 = 604_800;
/// Hex SHA-256 of the empty string (chunk string-to-sign filler).
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Derived keys kept before the cache is emptied; one per key and day in
/// practice, so this is only reached under churn or abuse.
const SIGNING_KEY_CACHE_ENTRIES_MAX: usize = 1024;

const SERVICE: &str = "s3";
const TERMINATOR: &str = "aws4_request";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

type HmacSha256 = Hmac<Sha256>;

/// Where verify finds the secret key for an access key id.
pub trait SecretLookup: Send + Sync {
    fn secret_for(&self, access_key: &str) -> Option<String>;
}

/// Derived signing keys, so a busy key costs one HMAC per request instead
/// of five.
pub struct SigningKeyCache {
    keys: Mutex<HashMap<CacheKey, CachedKey>>,
}

/// (access key, date, region, service)
type CacheKey = (String, String, String, String);

struct CachedKey {
    /// SHA-256 of the secret it was derived from, so a rotated secret
    /// is never answered with the old key.
    secret_digest: [u8; 32],
    key: [u8; 32],
}

impl SigningKeyCache {
    pub fn new() -> Self {
        SigningKeyCache {
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn get_or_derive(&self, access_key: &str, secret: &str, date: &str, region: &str) -> [u8; 32] {
        let secret_digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let id = (
            access_key.to_owned(),
            date.to_owned(),
            region.to_owned(),
            SERVICE.to_owned(),
        );
        let mut keys = self.keys.lock();
        if let Some(c) = keys.get(&id) {
            if bool::from(c.secret_digest.ct_eq(&secret_digest)) {
                return c.key;
            }
        }
        let key = signing_key(secret, date, region);
        if keys.len() >= SIGNING_KEY_CACHE_ENTRIES_MAX {
            keys.clear();
        }
        keys.insert(id, CachedKey { secret_digest, key });
        key
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new()
    }
}

/// What the client says about the body, as signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadHash {
    /// `UNSIGNED-PAYLOAD`: the body is not covered.
    Unsigned,
    /// The body's SHA-256 as the client claims it; the server must compare
    /// it with the body it receives.
    Sha256([u8; 32]),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, each chunk signed.
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: as above plus a signed trailer.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, unsigned, with trailer.
    StreamingUnsignedTrailer,
}

/// A request whose signature checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub access_key: String,
    pub region: String,
    /// yyyymmdd
    pub date: String,
    /// yyyymmddThhmmssZ
    pub amz_date: String,
    /// date/region/s3/aws4_request
    pub scope: String,
    pub signing_key: [u8; 32],
    /// Lowercase hex; the seed of the chunk signature chain.
    pub signature: String,
    pub payload: PayloadHash,
    pub presigned: bool,
}

/// The signing key: the HMAC chain "AWS4"+secret -> date -> region -> "s3"
/// -> "aws4_request".
pub fn signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
    let k_secret = format!("AWS4{secret}");
    let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, SERVICE.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// The signature of `string_to_sign`, lowercase hex.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex(&hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// AWS UriEncode: every byte but A-Za-z0-9 `-._~` (and `/` unless
/// `encode_slash`) as `%XX`, uppercase hex.
pub fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (b == b'/' && !encode_slash)
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4).to_ascii_uppercase());
            out.push(hex_digit(b & 0xf).to_ascii_uppercase());
        }
    }
    out
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(hex_digit(b >> 4));
        s.push(hex_digit(b & 0xf));
    }
    s
}

/// Lowercase hex of the SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` returns Result only
    // because it implements a general key-init trait.
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Whether the request carries no credentials at all: no `Authorization`
/// header and no presigned-URL (or SigV2 `AWSAccessKeyId`) parameters.
/// Such a request is anonymous; one that carries credentials is verified
/// and refused if they do not hold, never downgraded to anonymous.
pub fn is_anonymous(uri: &Uri, headers: &HeaderMap) -> bool {
    let query = parse_query(uri.query().unwrap_or(""));
    headers.get_all(AUTHORIZATION).iter().next().is_none()
        && !query.iter().any(|(n, _)| {
            matches!(
                n.as_slice(),
                b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature" | b"AWSAccessKeyId"
            )
        })
}

/// Checks the request's SigV4 signature (header or presigned form) at time
/// `now_unix_secs`, for a node serving `region`: the credential scope must
/// name that region, and every header the server would act on must be
/// covered by the signature ([`signed_headers`]).
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    now_unix_secs: u64,
    region: &str,
    secrets: &dyn SecretLookup,
    cache: &SigningKeyCache,
) -> Result<Verified, S3Error> {
    let query = parse_query(uri.query().unwrap_or(""));
    let presign = query.iter().any(|(n, _)| {
        matches!(
            n.as_slice(),
            b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature"
        )
    });
    let auth_count = headers.get_all(AUTHORIZATION).iter().count();
    let claim = match (auth_count, presign) {
        (0, true) => parse_presigned(&query, headers, now_unix_secs)?,
        (0, false) if query.iter().any(|(n, _)| n == b"AWSAccessKeyId") => {
            return Err(unsupported())
        }
        (0, false) => return Err(err(S3ErrorCode::AccessDenied, ANONYMOUS)),
        (1, false) => parse_header_auth(headers, now_unix_secs)?,
        (_, true) => return Err(err(S3ErrorCode::InvalidArgument, TWO_MECHANISMS)),
        (_, false) => return Err(err(S3ErrorCode::AuthorizationHeaderMalformed, TWO_HEADERS)),
    };
    check_region(&claim, region)?;
    let Some(secret) = secrets.secret_for(&claim.access_key) else {
        return Err(err(
            S3ErrorCode::InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records.",
        ));
    };
    let key = cache.get_or_derive(&claim.access_key, &secret, &claim.date, &claim.region);
    let canonical = canonical_request(method, uri, headers, &query, &claim);
    let scope = format!("{}/{}/{SERVICE}/{TERMINATOR}", claim.date, claim.region);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        claim.amz_date,
        sha256_hex(&canonical)
    );
    let expected = signature(&key, &string_to_sign);
    if !bool::from(expected.as_bytes().ct_eq(claim.signature.as_bytes())) {
        return Err(err(
            S3ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ));
    }
    check_signed_headers(method, headers, &claim)?;
    Ok(Verified {
        access_key: claim.access_key,
        region: claim.region,
        date: claim.date,
        amz_date: claim.amz_date,
        scope,
        signing_key: key,
        signature: expected,
        payload: claim.payload,
        presigned: claim.presigned,
    })
}

/// The scope must name the node's region, as AWS requires of a request
/// sent to one region's endpoint; the answer names the expected region
/// (also as `x-amz-bucket-region`, which SDKs follow to re-sign).
fn check_region(claim: &Claim, region: &str) -> Result<(), S3Error> {
    if claim.region == region {
        return Ok(());
    }
    let wrong = format!(
        "the region '{}' is wrong; expecting '{region}'",
        claim.region
    );
    let e = if claim.presigned {
        err(
            S3ErrorCode::AuthorizationQueryParametersError,
            format!("Error parsing the X-Amz-Credential parameter; {wrong}"),
        )
    } else {
        err(
            S3ErrorCode::AuthorizationHeaderMalformed,
            format!("The authorization header is malformed; {wrong}"),
        )
    };
    Err(e.with_header("x-amz-bucket-region", region))
}

/// Refuses a verified request that carries headers the server acts on but
/// the signature does not cover: whoever holds a presigned URL (or relays
/// a signed request) could otherwise add them. The payload line and the
/// request time are covered by the signature whatever SignedHeaders says.
fn check_signed_headers(
    method: &Method,
    headers: &HeaderMap,
    claim: &Claim,
) -> Result<(), S3Error> {
    let bound = [
        (X_AMZ_CONTENT_SHA256, claim.payload_line.as_str()),
        (X_AMZ_DATE, claim.amz_date.as_str()),
    ];
    let missing = signed_headers::unsigned(method, headers, &claim.signed_headers, &bound);
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(", ");
    let field = if claim.presigned {
        "X-Amz-SignedHeaders"
    } else {
        "SignedHeaders"
    };
    Err(err(
        S3ErrorCode::AccessDenied,
        format!("There were headers present in the request which were not signed: {list}. Sign them (name them in {field}) or leave them out of the request."),
    ))
}

/// What the request claims, parsed and time-checked, not yet verified.
struct Claim {
    access_key: String,
    date: String,
    region: String,
    /// Lowercase, sorted.
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    /// The payload line of the canonical request, as sent.
    payload_line: String,
    payload: PayloadHash,
    presigned: bool,
}

fn parse_header_auth(headers: &HeaderMap, now: u64) -> Result<Claim, S3Error> {
    let malformed = S3ErrorCode::AuthorizationHeaderMalformed;
    let value = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            err(
                malformed,
                "The authorization header is malformed; it is not visible ASCII.",
            )
        })?;
    let value = value.trim_matches(' ');
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(if algorithm == "AWS" || algorithm.starts_with("AWS4-") {
            unsupported()
        } else {
            err(
                malformed,
                "The authorization header is malformed; unsupported authorization type.",
            )
        });
    }
    let (mut credential, mut signed, mut sig) = (None, None, None);
    for part in rest
        .split(',')
        .map(|p| p.trim_matches(' '))
        .filter(|p| !p.is_empty())
    {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            err(
                malformed,
                format!("The authorization header is malformed; '{part}' is not key=value."),
            )
        })?;
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut sig,
            _ => {
                return Err(err(
                    malformed,
                    format!("The authorization header is malformed; unknown component '{k}'."),
                ))
            }
        };
        if slot.replace(v).is_some() {
            return Err(err(
                malformed,
                format!("The authorization header is malformed; {k} appears twice."),
            ));
        }
    }
    let (Some(credential), Some(signed), Some(sig)) = (credential, signed, sig) else {
        return Err(err(
            malformed,
            "The authorization header is malformed; it needs Credential, SignedHeaders and Signature.",
        ));
    };
    let cred = parse_credential(credential, malformed)?;
    let signed_headers = parse_signed_headers(signed, malformed)?;
    let (amz_date, t) = header_time(headers)?;
    check_credential_date(&cred.date, &amz_date, malformed)?;
    if now.abs_diff(t) > CLOCK_SKEW_SECS_MAX {
        return Err(err(
            S3ErrorCode::RequestTimeTooSkewed,
            "The difference between the request time and the server's time is too large.",
        ));
    }
    let mut sha = headers.get_all(X_AMZ_CONTENT_SHA256).iter();
    let payload_line = match (sha.next(), sha.next()) {
        (None, _) => {
            return Err(err(
                S3ErrorCode::InvalidRequest,
                "Missing required header for this request: x-amz-content-sha256",
            ))
        }
        (Some(v), None) => v.to_str().map_err(|_| bad_content_sha256())?.to_owned(),
        (Some(_), Some(_)) => return Err(bad_content_sha256()),
    };
    let payload = parse_payload_hash(&payload_line)?;
    Ok(Claim {
        access_key: cred.access_key,
        date: cred.date,
        region: cred.region,
        signed_headers,
        signature: sig.to_owned(),
        amz_date,
        payload_line,
        payload,
        presigned: false,
    })
}

fn parse_presigned(
    query: &[(Vec<u8>, Vec<u8>)],
    headers: &HeaderMap,
    now: u64,
) -> Result<Claim, S3Error> {
    let code = S3ErrorCode::AuthorizationQueryParametersError;
    let algorithm = query_param(query, "X-Amz-Algorithm")?;
    let credential = query_param(query, "X-Amz-Credential")?;
    let amz_date = query_param(query, "X-Amz-Date")?;
    let expires = query_param(query, "X-Amz-Expires")?;
    let signed = query_param(query, "X-Amz-SignedHeaders")?;
    let sig = query_param(query, "X-Amz-Signature")?;
    let (Some(algorithm), Some(credential), Some(amz_date), Some(expires), Some(signed), Some(sig)) =
        (algorithm, credential, amz_date, expires, signed, sig)
    else {
        return Err(err(
            code,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        ));
    };
    if algorithm != ALGORITHM {
        return Err(err(
            code,
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let cred = parse_credential(&credential, code)?;
    let signed_headers = parse_signed_headers(&signed, code)?;
    let t = parse_amz_date(&amz_date).ok_or_else(|| {
        err(
            code,
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    })?;
    check_credential_date(&cred.date, &amz_date, code)?;
    if expires.starts_with('-') {
        return Err(err(code, "X-Amz-Expires must be non-negative"));
    }
    let expires =
        parse_decimal(&expires).ok_or_else(|| err(code, "X-Amz-Expires should be a number"))?;
    // At least one second: "The minimum value you can set is 1"
    // (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>).
    if expires == 0 {
        return Err(err(
            code,
            "X-Amz-Expires must be at least 1 second (the minimum value is 1)",
        ));
    }
    if expires > PRESIGNED_EXPIRES_SECS_MAX {
        return Err(err(
            code,
            "X-Amz-Expires must be less than a week (in seconds) that is; 604800 seconds",
        ));
    }
    if now.saturating_add(CLOCK_SKEW_SECS_MAX) < t {
        return Err(err(S3ErrorCode::AccessDenied, "Request is not valid yet"));
    }
    if now > t.saturating_add(expires) {
        return Err(err(S3ErrorCode::AccessDenied, "Request has expired"));
    }
    // A presigned URL normally leaves the body unsigned; a client may still
    // have signed a hash, in the query or the header.
    let payload_line = match query_param(query, "X-Amz-Content-Sha256")? {
        Some(v) => v,
        None => match headers.get(X_AMZ_CONTENT_SHA256) {
            Some(v) => v.to_str().map_err(|_| bad_content_sha256())?.to_owned(),
            None => UNSIGNED_PAYLOAD.to_owned(),
        },
    };
    let payload = parse_payload_hash(&payload_line)?;
    Ok(Claim {
        access_key: cred.access_key,
        date: cred.date,
        region: cred.region,
        signed_headers,
        signature: sig,
        amz_date,
        payload_line,
        payload,
        presigned: true,
    })
}

/// The one value of query parameter `name`, or None; twice is an error.
fn query_param(query: &[(Vec<u8>, Vec<u8>)], name: &str) -> Result<Option<String>, S3Error> {
    let code = S3ErrorCode::AuthorizationQueryParametersError;
    let mut found = query.iter().filter(|(n, _)| n == name.as_bytes());
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some((_, v)), None) => String::from_utf8(v.clone())
            .map(Some)
            .map_err(|_| err(code, format!("{name} is not valid UTF-8"))),
        (Some(_), Some(_)) => Err(err(code, format!("{name} appears more than once"))),
    }
}

/// A parsed credential scope (also of a POST form's `x-amz-credential`).
pub(crate) struct Credential {
    pub(crate) access_key: String,
    pub(crate) date: String,
    pub(crate) region: String,
}

/// `AK/yyyymmdd/region/s3/aws4_request`, split from the right so the key
/// id is whatever precedes the scope.
pub(crate) fn parse_credential(s: &str, code: S3ErrorCode) -> Result<Credential, S3Error> {
    let bad = || {
        err(
            code,
            format!("the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\", got \"{s}\"."),
        )
    };
    let mut parts = s.rsplitn(5, '/');
    let (Some(terminator), Some(service), Some(region), Some(date), Some(access_key)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    if access_key.is_empty()
        || region.is_empty()
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    if service != SERVICE {
        return Err(err(
            code,
            format!("incorrect service \"{service}\"; this endpoint only accepts \"s3\"."),
        ));
    }
    if terminator != TERMINATOR {
        return Err(err(
            code,
            format!("incorrect terminal \"{terminator}\"; expecting \"aws4_request\"."),
        ));
    }
    Ok(Credential {
        access_key: access_key.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
    })
}

/// `a;b;c` -> lowercase, sorted; must name `host`.
fn parse_signed_headers(s: &str, code: S3ErrorCode) -> Result<Vec<String>, S3Error> {
    let mut names = Vec::new();
    for name in s.split(';') {
        let valid = !name.is_empty()
            && name.bytes().all(|b| {
                b.is_ascii_graphic() && !matches!(b, b':' | b'(' | b')' | b',' | b';' | b'"')
            });
        if !valid {
            return Err(err(
                code,
                format!("SignedHeaders has an invalid header name \"{name}\"."),
            ));
        }
        names.push(name.to_ascii_lowercase());
    }
    names.sort();
    names.dedup();
    if !names.iter().any(|n| n == "host") {
        return Err(err(code, "SignedHeaders must include host."));
    }
    Ok(names)
}

/// The request time: x-amz-date, else an RFC 1123 `Date` header.
fn header_time(headers: &HeaderMap) -> Result<(String, u64), S3Error> {
    let no_date = || {
        err(
            S3ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    };
    if let Some(v) = headers.get(X_AMZ_DATE) {
        let s = v.to_str().map_err(|_| no_date())?;
        let t = parse_amz_date(s).ok_or_else(no_date)?;
        return Ok((s.to_owned(), t));
    }
    let v = headers.get(DATE).ok_or_else(no_date)?;
    let t = v
        .to_str()
        .ok()
        .and_then(|s| httpdate::parse_http_date(s).ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .ok_or_else(no_date)?
        .as_secs();
    Ok((time::amz_date(t), t))
}

fn check_credential_date(
    cred_date: &str,
    amz_date: &str,
    code: S3ErrorCode,
) -> Result<(), S3Error> {
    if amz_date.get(..8) == Some(cred_date) {
        Ok(())
    } else {
        Err(err(
            code,
            "Invalid credential date. Date is not the same as X-Amz-Date.",
        ))
    }
}

fn parse_payload_hash(s: &str) -> Result<PayloadHash, S3Error> {
    Ok(match s {
        UNSIGNED_PAYLOAD => PayloadHash::Unsigned,
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => PayloadHash::StreamingSigned,
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => PayloadHash::StreamingSignedTrailer,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => PayloadHash::StreamingUnsignedTrailer,
        _ => PayloadHash::Sha256(parse_hex32(s).ok_or_else(bad_content_sha256)?),
    })
}

pub(crate) fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [h, l] => (hex_value(*h)?, hex_value(*l)?),
            _ => return None,
        };
        *o = hi << 4 | lo;
    }
    Some(out)
}

// ---- canonical request ----

fn canonical_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    query: &[(Vec<u8>, Vec<u8>)],
    claim: &Claim,
) -> Vec<u8> {
    let mut c = Vec::with_capacity(512);
    c.extend_from_slice(method.as_str().as_bytes());
    c.push(b'\n');
    let path = uri.path();
    if path.is_empty() {
        c.push(b'/');
    } else {
        c.extend_from_slice(uri_encode(&percent_decode(path.as_bytes(), false), false).as_bytes());
    }
    c.push(b'\n');
    c.extend_from_slice(canonical_query(query, claim.presigned).as_bytes());
    c.push(b'\n');
    for name in &claim.signed_headers {
        c.extend_from_slice(name.as_bytes());
        c.push(b':');
        canonical_header_value(headers, uri, name, &mut c);
        c.push(b'\n');
    }
    c.push(b'\n');
    c.extend_from_slice(claim.signed_headers.join(";").as_bytes());
    c.push(b'\n');
    c.extend_from_slice(claim.payload_line.as_bytes());
    c
}

/// Names and values UriEncoded (slash too), sorted by name then value.
fn canonical_query(query: &[(Vec<u8>, Vec<u8>)], presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(n, _)| !(presigned && n == b"X-Amz-Signature"))
        .map(|(n, v)| (uri_encode(n, true), uri_encode(v, true)))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// All values of `name`, each trimmed with inner runs of blanks collapsed,
/// joined by ','. A missing Host falls back to the URI's authority.
fn canonical_header_value(headers: &HeaderMap, uri: &Uri, name: &str, out: &mut Vec<u8>) {
    if name == "host" && !headers.contains_key(HOST) {
        if let Some(a) = uri.authority() {
            out.extend_from_slice(a.as_str().as_bytes());
        }
        return;
    }
    for (i, v) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut words = v
            .as_bytes()
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|w| !w.is_empty());
        if let Some(first) = words.next() {
            out.extend_from_slice(first);
        }
        for w in words {
            out.push(b' ');
            out.extend_from_slice(w);
        }
    }
}

/// Splits a raw query into percent-decoded (name, value) pairs; a '+' is a
/// space (S3 reads queries as form-encoded), a name without '=' has an
/// empty value.
fn parse_query(q: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(n.as_bytes(), true),
                percent_decode(v.as_bytes(), true),
            )
        })
        .collect()
}

/// `%XX` -> byte; a '%' not followed by two hex digits stays as it is.
fn percent_decode(s: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let hi = s.get(i + 1).and_then(|h| hex_value(*h));
            let lo = s.get(i + 2).and_then(|l| hex_value(*l));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(if b == b'+' && plus_is_space { b' ' } else { b });
        i += 1;
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_digit(n: u8) -> char {
    char::from(
        b"0123456789abcdef"
            .get(usize::from(n & 0xf))
            .copied()
            .unwrap_or(b'0'),
    )
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

// ---- errors ----

const ANONYMOUS: &str = "anonymous access is not allowed";
const TWO_MECHANISMS: &str = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified";
const TWO_HEADERS: &str = "more than one Authorization header";

fn err(code: S3ErrorCode, message: impl Into<String>) -> S3Error {
    S3Error::new(code, message)
}

fn unsupported() -> S3Error {
    err(
        S3ErrorCode::InvalidRequest,
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
    )
}

fn bad_content_sha256() -> S3Error {
    err(
        S3ErrorCode::InvalidArgument,
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_broken_escapes() {
        assert_eq!(percent_decode(b"a%20b%2Bc+%zz%4", true), b"a b+c %zz%4");
        assert_eq!(percent_decode(b"a+b", false), b"a+b");
        assert_eq!(uri_encode(b"a b+/~", false), "a%20b%2B/~");
        assert_eq!(uri_encode(b"a/\xff", true), "a%2F%FF");
    }
}
