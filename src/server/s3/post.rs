//! POST Object: a browser's form upload
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html>).
//! The request carries no `Authorization`: the form's fields up to the
//! `file` part are read (at most [`FIELDS_BYTES_MAX`]), the policy's
//! signature and conditions are checked ([`post_policy`]), and only then
//! is the file part streamed into the store through the same path as a
//! PUT (quotas, the upload buffer budget, the body minimum rate), never
//! held whole. Fields after the file are ignored, as on AWS.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::object::object_meta;
use super::{err, header, parse_query, set_header, Op};
use crate::meta::mdlog::UserRecord;
use crate::object::store::{etag_string, PutOptions};
use crate::object::versioning::format_version_id;
use crate::object::BodySource;
use crate::s3::checksum::Expected;
use crate::s3::form::{boundary_of, Event, FormScanner};
use crate::s3::post_policy::{
    self, check_policy, missing_field, verify_signature, Fields, FIELDS_BYTES_MAX,
};
use crate::s3::{sigv4, xml, S3Error, S3ErrorCode};
use crate::server::body::{Payload, RequestBody, ResponseBody};
use crate::server::front::Front;

/// Bytes after the file part read to reach the closing boundary (so the
/// connection can be reused); past it the rest is left unread.
const TRAILING_BYTES_MAX: u64 = 1024 * 1024;

/// Bytes a form field's part takes besides its name and value (its
/// delimiter line and `Content-Disposition: form-data; name=""`).
const PART_OVERHEAD: usize = 48;

fn check_fields_size(total: usize) -> Result<(), S3Error> {
    if total > FIELDS_BYTES_MAX {
        return Err(err(
            S3ErrorCode::MaxPostPreDataLengthExceeded,
            "Your POST request fields preceding the upload file were too large.",
        ));
    }
    Ok(())
}

fn malformed(why: impl std::fmt::Display) -> S3Error {
    err(
        S3ErrorCode::MalformedPOSTRequest,
        format!("The body of your POST request is not well-formed multipart/form-data: {why}"),
    )
}

/// The request body and the form scanner over it.
struct Form {
    body: RequestBody,
    scanner: FormScanner,
}

impl Form {
    /// The next form event, reading the body as needed.
    async fn next(&mut self) -> Result<Event, S3Error> {
        loop {
            if let Some(e) = self.scanner.next_event().map_err(|e| malformed(e.0))? {
                return Ok(e);
            }
            match self.body.next().await {
                Some(Ok(b)) => self.scanner.push(&b),
                Some(Err(e)) => return Err(e),
                None => {
                    self.scanner.finish().map_err(|e| malformed(e.0))?;
                    // Done: only the epilogue is left.
                    return Ok(Event::End);
                }
            }
        }
    }

    /// Reads the fields before the part named `file`; returns them with
    /// the file's name.
    async fn fields(&mut self) -> Result<(Fields, Option<String>), S3Error> {
        let mut fields = Fields::default();
        let mut total = 0usize;
        let mut current: Option<(String, Vec<u8>)> = None;
        loop {
            match self.next().await? {
                Event::Part(h) if h.name.eq_ignore_ascii_case("file") => {
                    return Ok((fields, h.filename));
                }
                Event::Part(h) => {
                    // A part costs at least its delimiter and disposition
                    // line, so many empty fields reach the limit too.
                    total += h.name.len() + PART_OVERHEAD;
                    check_fields_size(total)?;
                    current = Some((h.name, Vec::new()));
                }
                Event::Data(d) => {
                    total += d.len();
                    check_fields_size(total)?;
                    if let Some((_, v)) = current.as_mut() {
                        v.extend_from_slice(&d);
                    }
                }
                Event::PartEnd => {
                    if let Some((name, value)) = current.take() {
                        let value = String::from_utf8(value).map_err(|_| {
                            err(
                                S3ErrorCode::InvalidArgument,
                                format!("The form field {name} is not UTF-8."),
                            )
                        })?;
                        fields.add(&name, value)?;
                    }
                }
                Event::End => {
                    return Err(err(
                        S3ErrorCode::IncorrectNumberOfFilesInPostRequest,
                        "POST requires exactly one file upload per request.",
                    ))
                }
            }
        }
    }

    /// Reads on to the closing boundary, ignoring fields after the file;
    /// stops quietly past [`TRAILING_BYTES_MAX`] or at a malformed rest.
    async fn drain(&mut self) {
        let mut seen = 0u64;
        while !self.scanner.is_done() && seen < TRAILING_BYTES_MAX {
            match self.next().await {
                Ok(Event::Data(d)) => seen += d.len() as u64,
                Ok(Event::End) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

/// The file part as a PUT's body: its data up to its closing delimiter,
/// held to the policy's `content-length-range`.
struct FilePart<'a> {
    form: &'a mut Form,
    min: u64,
    max: u64,
    size: u64,
    done: bool,
    /// Why the file was refused (returned as is, never turned into the
    /// store's own errors).
    refusal: Option<S3Error>,
}

impl FilePart<'_> {
    fn refuse(&mut self, e: S3Error) -> Option<Result<Bytes, S3Error>> {
        self.done = true;
        self.refusal = Some(e.clone());
        Some(Err(e))
    }
}

impl BodySource for FilePart<'_> {
    fn owner(&self) -> Option<&str> {
        self.form.body.owner()
    }

    async fn next(&mut self) -> Option<Result<Bytes, S3Error>> {
        if self.done {
            return None;
        }
        match self.form.next().await {
            Ok(Event::Data(d)) => {
                self.size += d.len() as u64;
                if self.size > self.max {
                    return self.refuse(err(
                        S3ErrorCode::EntityTooLarge,
                        format!(
                            "Your proposed upload exceeds the maximum allowed size ({} bytes by the policy's content-length-range)",
                            self.max
                        ),
                    ));
                }
                Some(Ok(d))
            }
            Ok(Event::PartEnd) if self.size < self.min => self.refuse(err(
                S3ErrorCode::EntityTooSmall,
                format!(
                    "Your proposed upload is smaller than the minimum allowed size ({} bytes by the policy's content-length-range)",
                    self.min
                ),
            )),
            Ok(Event::PartEnd) => {
                self.done = true;
                None
            }
            Ok(_) => self.refuse(malformed("the file part does not end")),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The user who owns the access key that signed the policy, if not
/// suspended (the checks of [`super::authenticate`], for a form).
fn signer(front: &Front, access_key: &str) -> Result<UserRecord, S3Error> {
    let user = front
        .node
        .meta
        .read(|t| t.user_of_key(access_key).map(|(_, u)| u.clone()))
        .ok_or_else(|| {
            err(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        })?;
    if user.suspended || front.node.purge_of_user(&user.uid).is_some() {
        return Err(err(
            S3ErrorCode::AccountSuspended,
            "Your account is suspended or scheduled for removal.",
        ));
    }
    Ok(user)
}

/// The fields a PUT would take from headers, as headers: the content
/// headers and `x-amz-*` (meta, checksums, and what the unsupported-
/// feature check refuses).
fn fields_as_headers(fields: &Fields) -> Result<HeaderMap, S3Error> {
    let mut h = HeaderMap::new();
    for (name, value) in fields.iter() {
        let wanted = name.starts_with("x-amz-") || super::object::STORED_HEADERS.contains(&name);
        if !wanted || name == "x-amz-signature" {
            continue;
        }
        let bad = || {
            err(
                S3ErrorCode::InvalidArgument,
                format!("The form field {name} has a name or value that cannot be stored."),
            )
        };
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let v = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| bad())?;
        h.insert(n, v);
    }
    Ok(h)
}

/// Where `success_action_redirect` sends the browser, if it is a URL
/// (AWS ignores one that is not): with `bucket`, `key` and `etag` added
/// to its query.
fn redirect_target(url: &str, bucket: &str, key: &str, etag_quoted: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return None;
    }
    let enc = |s: &str| sigv4::uri_encode(s.as_bytes(), true);
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!(
        "{url}{sep}bucket={}&key={}&etag={}",
        enc(bucket),
        enc(key),
        enc(etag_quoted)
    ))
}

/// Serves POST Object to `bucket`.
pub(super) async fn post_object(
    req: Request<Incoming>,
    front: &Front,
    bucket: &str,
) -> Result<Response<ResponseBody>, S3Error> {
    let boundary = header(req.headers(), "content-type")
        .and_then(boundary_of)
        .ok_or_else(|| {
            err(
                S3ErrorCode::PreconditionFailed,
                "Bucket POST must be of the enclosure-type multipart/form-data",
            )
        })?;
    let host = header(req.headers(), "host")
        .unwrap_or("localhost")
        .to_string();
    let request_headers = req.headers().clone();
    let query = parse_query(req.uri().query());
    let peer = req
        .extensions()
        .get::<super::super::PeerAddr>()
        .map(|p| p.0);
    // The owner is known once the policy is verified; the minimum rate
    // holds from the first byte.
    let body = RequestBody::new(req.into_body(), Payload::Plain).of_user("", front.body_min_rate);
    let mut form = Form {
        body,
        scanner: FormScanner::new(&boundary),
    };
    let (fields, filename) = form.fields().await?;
    let key_field = fields.required("key")?.to_string();
    let signed = verify_signature(&fields, &front.node.region, front.node.meta.as_ref())?;
    let caller = signer(front, &signed.access_key)?;
    let ctx = Op {
        node: &front.node,
        headers: &request_headers,
        query: &query,
        caller: &caller,
        anonymous: false,
        peer,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (min, max) = check_policy(&signed.policy, &fields, bucket, now)?;
    let key = post_policy::object_key(&key_field, filename.as_deref());
    if key.is_empty() {
        return Err(missing_field("key"));
    }
    // The form's signer writes the object: as a PUT of the key by them.
    ctx.authorize(
        crate::s3::operation::Operation::PutObject,
        bucket,
        Some(key.as_bytes()),
    )
    .await?;
    let as_headers = fields_as_headers(&fields)?;
    crate::s3::unsupported::refuse_form_fields(&as_headers)?;
    let mut meta = object_meta(&as_headers)?;
    if let Some(t) = fields.get("tagging") {
        meta = crate::s3::tagging::with_tags(&meta, &xml::parse_tagging(t.as_bytes())?);
    }
    let checksum = Expected::from_headers(as_headers.keys().map(|k| k.as_str()), |n| {
        header(&as_headers, n)
    })?;
    // The `acl` field, like PUT's x-amz-acl, stores no grants (yet).
    ctx.check_quota(bucket, key.as_bytes(), min)?;
    form.body.set_owner(&caller.uid);
    // Lock fields (x-amz-object-lock-*) or the bucket's default retention.
    let now = crate::clock::expiry_now_secs();
    let requested = crate::s3::object_lock::from_headers(&as_headers, now)?;
    let lock = ctx.store().new_version_lock(bucket, requested, now)?;
    let put = PutOptions {
        meta,
        expected_len: None,
        content_md5: None,
        condition: None,
        checksum,
        expiry_secs: 0,
        lock,
        // A form cannot ask for encryption; the bucket's default applies.
        sse: ctx.store().new_sse(bucket, &Default::default())?,
    };
    let mut file = FilePart {
        form: &mut form,
        min,
        max,
        size: 0,
        done: false,
        refusal: None,
    };
    let stored = front
        .node
        .store
        .put_object(bucket, key.as_bytes(), put, &mut file)
        .await;
    let out = match stored {
        Ok(o) => o,
        Err(e) => return Err(file.refusal.take().unwrap_or(e)),
    };
    form.drain().await;
    let etag = format!("\"{}\"", etag_string(&out.etag, 0));
    // The object's URL in the style the form was posted in.
    let encoded_key = sigv4::uri_encode(key.as_bytes(), false);
    let location = match host.strip_prefix(bucket).and_then(|h| h.strip_prefix('.')) {
        Some(_) => format!("http://{host}/{encoded_key}"),
        None => format!("http://{host}/{bucket}/{encoded_key}"),
    };
    let redirect = fields
        .get("success_action_redirect")
        .or_else(|| fields.get("redirect"))
        .and_then(|u| redirect_target(u, bucket, &key, &etag));
    let mut r = match (redirect, fields.get("success_action_status")) {
        (Some(to), _) => {
            let mut r = super::empty(StatusCode::SEE_OTHER)?;
            set_header(&mut r, "location", &to);
            r
        }
        (None, Some("201")) => {
            let mut r = super::xml_response(
                StatusCode::CREATED,
                xml::post_response(&location, bucket, &key, &etag),
            )?;
            set_header(&mut r, "location", &location);
            r
        }
        (None, Some("200")) => {
            let mut r = super::empty(StatusCode::OK)?;
            set_header(&mut r, "location", &location);
            r
        }
        _ => {
            let mut r = super::empty(StatusCode::NO_CONTENT)?;
            set_header(&mut r, "location", &location);
            r
        }
    };
    set_header(&mut r, "etag", &etag);
    if let Some(v) = out.version_id {
        set_header(&mut r, "x-amz-version-id", &format_version_id(&v));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_carry_bucket_key_and_etag() {
        assert_eq!(
            redirect_target("https://example.com/done", "b", "a b/c", "\"e\"").as_deref(),
            Some("https://example.com/done?bucket=b&key=a%20b%2Fc&etag=%22e%22")
        );
        assert_eq!(
            redirect_target("http://example.com/?x=1", "b", "k", "\"e\"").as_deref(),
            Some("http://example.com/?x=1&bucket=b&key=k&etag=%22e%22")
        );
        assert_eq!(redirect_target("/relative", "b", "k", "e"), None);
        assert_eq!(redirect_target("javascript:alert(1)", "b", "k", "e"), None);
    }
}
