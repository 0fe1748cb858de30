//! Server-side encryption in the S3 protocol: what a request's
//! `x-amz-server-side-encryption*` headers ask for, the headers a
//! response shows, and a bucket's default encryption
//! (`ServerSideEncryptionConfiguration`). Pure: no keys are kept here.
//!
//! Codes and messages follow AWS
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerSideEncryptionCustomerKeys.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>).
//! `aws:kms` and `aws:kms:dsse` are refused (501): shale has no KMS.

use base64::Engine;
use md5::{Digest, Md5};

use super::{S3Error, S3ErrorCode};

/// The only algorithm S3 knows for SSE-S3 and SSE-C.
pub const AES256: &str = "AES256";
/// The request headers of SSE-C (and, with `x-amz-copy-source-` in
/// front, of a copy source encrypted with SSE-C).
pub const CUSTOMER_PREFIX: &str = "x-amz-server-side-encryption-customer-";
pub const COPY_SOURCE_CUSTOMER_PREFIX: &str = "x-amz-copy-source-server-side-encryption-customer-";

/// An SSE-C key as a request gave it.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerKey {
    pub key: [u8; 32],
    /// Base64 of the key's MD5, as shown back in responses.
    pub key_md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey")
            .field("key_md5", &self.key_md5)
            .finish_non_exhaustive()
    }
}

/// What a write asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SseRequest {
    /// Nothing: the bucket's default encryption applies, if any.
    #[default]
    None,
    /// `x-amz-server-side-encryption: AES256`.
    S3,
    Customer(CustomerKey),
}

fn invalid(msg: &str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument, msg)
}

fn no_kms() -> S3Error {
    S3Error::new(
        S3ErrorCode::NotImplemented,
        "A header you provided implies functionality that is not implemented: SSE-KMS (aws:kms) needs a key management service and shale has none configured; use AES256 (SSE-S3) or SSE-C. Nothing was stored.",
    )
}

/// The SSE-C key given under `prefix` (`CUSTOMER_PREFIX` or
/// `COPY_SOURCE_CUSTOMER_PREFIX`): none if no such header came; the
/// algorithm must be AES256, the key 32 bytes of base64, and its MD5
/// given and matching.
pub fn customer_key<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    prefix: &str,
) -> Result<Option<CustomerKey>, S3Error> {
    let alg = get(&format!("{prefix}algorithm"));
    let key = get(&format!("{prefix}key"));
    let md5 = get(&format!("{prefix}key-md5"));
    if alg.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    let Some(alg) = alg else {
        return Err(invalid("Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."));
    };
    if alg.trim() != AES256 {
        return Err(S3Error::new(
            S3ErrorCode::InvalidEncryptionAlgorithmError,
            "The encryption request you specified is not valid. The valid value is AES256.",
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let key: [u8; 32] = key
        .and_then(|k| b64.decode(k.trim()).ok())
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| invalid("The secret key was invalid for the specified algorithm."))?;
    let Some(md5) = md5 else {
        return Err(invalid("Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key."));
    };
    let given = b64.decode(md5.trim()).ok();
    let actual: [u8; 16] = Md5::digest(key).into();
    if given.as_deref() != Some(&actual[..]) {
        return Err(invalid(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        ));
    }
    Ok(Some(CustomerKey {
        key,
        key_md5: b64.encode(actual),
    }))
}

/// What a write (PUT, copy destination, CreateMultipartUpload) asks for.
pub fn write_request<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<SseRequest, S3Error> {
    let customer = customer_key(&get, CUSTOMER_PREFIX)?;
    refuse_kms(&get)?;
    match (get("x-amz-server-side-encryption").map(str::trim), customer) {
        (None, None) => Ok(SseRequest::None),
        (None, Some(c)) => Ok(SseRequest::Customer(c)),
        (Some(_), Some(_)) => Err(invalid("Server Side Encryption with Customer provided key is incompatible with the encryption method specified")),
        (Some(AES256), None) => Ok(SseRequest::S3),
        (Some(v), None) if v.starts_with("aws:kms") => Err(no_kms()),
        (Some(_), None) => Err(invalid(
            "The encryption method specified is not supported (x-amz-server-side-encryption takes AES256)",
        )),
    }
}

/// The SSE-KMS headers (a key id, a context, S3 Bucket Keys) are refused:
/// there is no KMS.
fn refuse_kms<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<(), S3Error> {
    if get("x-amz-server-side-encryption-aws-kms-key-id").is_some()
        || get("x-amz-server-side-encryption-context").is_some()
        || get("x-amz-server-side-encryption-bucket-key-enabled")
            .is_some_and(|v| !v.trim().eq_ignore_ascii_case("false"))
    {
        return Err(no_kms());
    }
    Ok(())
}

/// What a request that continues an upload (UploadPart, UploadPartCopy)
/// gives: the upload's SSE-C key, if it has one. Asking for encryption
/// here is refused: the upload's was chosen by CreateMultipartUpload.
pub fn part_request<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<CustomerKey>, S3Error> {
    match write_request(get)? {
        SseRequest::S3 => Err(invalid(
            "x-amz-server-side-encryption is not allowed on UploadPart: CreateMultipartUpload chose the upload's encryption",
        )),
        SseRequest::Customer(k) => Ok(Some(k)),
        SseRequest::None => Ok(None),
    }
}

/// What a read (GET, HEAD) gives: an SSE-C key or none. Asking for
/// SSE-S3 on a read is refused, as AWS does.
pub fn read_request<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<CustomerKey>, S3Error> {
    if get("x-amz-server-side-encryption").is_some() {
        return Err(invalid(
            "x-amz-server-side-encryption header is not supported for this operation.",
        ));
    }
    refuse_kms(&get)?;
    customer_key(get, CUSTOMER_PREFIX)
}

/// The headers a response about an object encrypted in `mode` shows;
/// SSE-C shows the key's MD5 when the request gave the key.
pub fn response_headers(customer: bool, key_md5: Option<&str>) -> Vec<(&'static str, String)> {
    if customer {
        let mut h = vec![(
            "x-amz-server-side-encryption-customer-algorithm",
            AES256.to_string(),
        )];
        if let Some(m) = key_md5 {
            h.push((
                "x-amz-server-side-encryption-customer-key-md5",
                m.to_string(),
            ));
        }
        h
    } else {
        vec![("x-amz-server-side-encryption", AES256.to_string())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
    }

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn key_md5() -> String {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(KEY)
            .unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(Md5::digest(raw))
    }

    #[test]
    fn writes_ask_for_sse_s3_sse_c_or_nothing_and_kms_is_refused() {
        let md5 = key_md5();
        let code = |pairs: &[(&str, &str)]| write_request(headers(pairs)).map_err(|e| e.code);
        assert_eq!(code(&[]), Ok(SseRequest::None));
        assert_eq!(
            code(&[("x-amz-server-side-encryption", "AES256")]),
            Ok(SseRequest::S3)
        );
        let c = [
            ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
            ("x-amz-server-side-encryption-customer-key", KEY),
            (
                "x-amz-server-side-encryption-customer-key-md5",
                md5.as_str(),
            ),
        ];
        assert!(matches!(code(&c), Ok(SseRequest::Customer(k)) if k.key_md5 == md5));
        for (pairs, want) in [
            (
                vec![("x-amz-server-side-encryption", "aws:kms")],
                S3ErrorCode::NotImplemented,
            ),
            (
                vec![("x-amz-server-side-encryption", "aws:kms:dsse")],
                S3ErrorCode::NotImplemented,
            ),
            (
                vec![("x-amz-server-side-encryption", "AES128")],
                S3ErrorCode::InvalidArgument,
            ),
            (
                vec![("x-amz-server-side-encryption-aws-kms-key-id", "k")],
                S3ErrorCode::NotImplemented,
            ),
            (
                vec![
                    c[0],
                    c[1],
                    (
                        "x-amz-server-side-encryption-customer-key-md5",
                        "AAAAAAAAAAAAAAAAAAAAAA==",
                    ),
                ],
                S3ErrorCode::InvalidArgument,
            ),
            (vec![c[0], c[1]], S3ErrorCode::InvalidArgument),
            (vec![c[1], c[2]], S3ErrorCode::InvalidArgument),
            (
                vec![
                    ("x-amz-server-side-encryption-customer-algorithm", "AES128"),
                    c[1],
                    c[2],
                ],
                S3ErrorCode::InvalidEncryptionAlgorithmError,
            ),
            (
                vec![
                    c[0],
                    ("x-amz-server-side-encryption-customer-key", "c2hvcnQ="),
                    c[2],
                ],
                S3ErrorCode::InvalidArgument,
            ),
            (
                vec![c[0], c[1], c[2], ("x-amz-server-side-encryption", "AES256")],
                S3ErrorCode::InvalidArgument,
            ),
        ] {
            assert_eq!(code(&pairs), Err(want), "{pairs:?}");
        }
        assert!(read_request(headers(&[("x-amz-server-side-encryption", "AES256")])).is_err());
    }
}
