//! The S3 API: authenticate, route, run the operation on the object
//! store, answer. Every failure is an [`S3Error`] rendered as S3 XML with
//! the request id; nothing is changed by a request that fails before its
//! commit point.
//!
//! Here: naming the request, authenticating it, routing it, and what the
//! operations share (`Op`). The operations by area: [`bucket`] (listings,
//! subresources, multi-object delete), [`object`] (writes), [`read`]
//! (GET, HEAD, attributes), [`multipart`].

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::body::{Payload, RequestBody, ResponseBody};
use super::front::Front;
use crate::meta::mdlog::UserRecord;
use crate::node::Node;
use crate::object::ObjectStore;
use crate::s3::checksum::Expected;
use crate::s3::chunked::{ChunkSigning, ChunkedDecoder};
use crate::s3::conditional::WriteCondition;
use crate::s3::operation::{self, NoRoute, Operation, Shape};
use crate::s3::sigv4::{self, PayloadHash, Verified};
use crate::s3::{percent_decode, S3Error, S3ErrorCode};

mod access;
mod bucket;
mod config;
mod cors;
mod lock;
mod multipart;
mod object;
mod post;
mod read;
mod sse;

/// Bytes of an XML request body shale reads (a 1000-key delete is ~100 KiB).
const XML_BODY_MAX: usize = 2 * 1024 * 1024;

fn err(code: S3ErrorCode, msg: impl Into<String>) -> S3Error {
    S3Error::new(code, msg)
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for pair in q.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        m.insert(
            String::from_utf8_lossy(&percent_decode(k)).into_owned(),
            String::from_utf8_lossy(&percent_decode(v)).into_owned(),
        );
    }
    m
}

/// (bucket, key) the request addresses.
fn address(front: &Front, req: &Request<Incoming>) -> (Option<String>, Option<Vec<u8>>) {
    let path = req.uri().path();
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            h.rsplit_once(':')
                .map_or(h, |(a, _)| a)
                .to_ascii_lowercase()
        });
    let virtual_bucket = match (&front.base_domain, host) {
        (Some(d), Some(h)) => h
            .strip_suffix(d.as_str())
            .and_then(|b| b.strip_suffix('.'))
            .filter(|b| !b.is_empty())
            .map(str::to_string),
        _ => None,
    };
    let rest = path.strip_prefix('/').unwrap_or(path);
    match virtual_bucket {
        Some(b) => {
            let key = percent_decode(rest);
            (Some(b), (!key.is_empty()).then_some(key))
        }
        None => {
            let (b, k) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket = String::from_utf8_lossy(&percent_decode(b)).into_owned();
            let key = percent_decode(k);
            (
                (!bucket.is_empty()).then_some(bucket),
                (!key.is_empty()).then_some(key),
            )
        }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn xml_response(status: StatusCode, body: String) -> Result<Response<ResponseBody>, S3Error> {
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(ResponseBody::from_string(body))
        .map_err(|e| err(S3ErrorCode::InternalError, e.to_string()))
}

fn empty(status: StatusCode) -> Result<Response<ResponseBody>, S3Error> {
    Response::builder()
        .status(status)
        .body(ResponseBody::empty())
        .map_err(|e| err(S3ErrorCode::InternalError, e.to_string()))
}

/// Serves one request.
/// The (bucket, key) an S3 request addresses.
type Address = (Option<String>, Option<Vec<u8>>);

/// An S3 request's address and the operation it is (or why it is none),
/// worked out once.
type Routed = (Address, Result<Operation, NoRoute>);

/// What a request is, for routing the node's own endpoints and for
/// metrics and logs; for an S3 request also its address and operation.
fn request_operation(front: &Front, req: &Request<Incoming>) -> (&'static str, Option<Routed>) {
    let path = req.uri().path();
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    match path {
        "/health" if read => return ("Health", None),
        "/ready" if read => return ("Ready", None),
        "/metrics" if read => return ("Metrics", None),
        p if super::admin::is_admin_path(p) => return ("Admin", None),
        _ => {}
    }
    let (bucket, key) = address(front, req);
    let routed = operation::resolve(&Shape {
        method: req.method(),
        bucket: bucket.as_deref(),
        key: key.is_some(),
        query: req.uri().query().unwrap_or_default(),
        copy: req.headers().contains_key("x-amz-copy-source"),
    });
    let name = match *req.method() {
        // A browser's CORS preflight: no S3 operation, answered unsigned.
        Method::OPTIONS => "CorsPreflight",
        _ => routed.as_ref().map_or("Unknown", |o| o.name()),
    };
    (name, Some(((bucket, key), routed)))
}

fn plain(status: StatusCode, content_type: &'static str, body: String) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::from_string(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    r
}

/// Serves one request: the node's own endpoints (`/health`, `/ready`,
/// `/metrics`, `/admin/`) or S3; counts it and logs it (failures always,
/// every request with the access log on) under its request id.
pub async fn handle(req: Request<Incoming>, front: Arc<Front>) -> Response<ResponseBody> {
    let started = std::time::Instant::now();
    let id = format!("{:016X}", front.next_request_id());
    let resource = req.uri().path().to_string();
    let method = req.method().clone();
    let head_request = method == Method::HEAD;
    let (op, addressed) = request_operation(&front, &req);
    let bytes_in = ["x-amz-decoded-content-length", "content-length"]
        .iter()
        .find_map(|n| header(req.headers(), n))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut failure: Option<String> = None;
    // What CORS needs after the request is consumed.
    let bucket = addressed.as_ref().and_then(|((b, _), _)| b.clone());
    let origin = header(req.headers(), "origin").map(str::to_string);
    let mut resp = match op {
        "Health" => plain(StatusCode::OK, "text/plain", "ok\n".into()),
        "Ready" if front.node.is_draining() => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "stopping\n".into(),
        ),
        "Ready" => plain(StatusCode::OK, "text/plain", "ready\n".into()),
        "Metrics" if !metrics_allowed(&req, &front) => {
            let mut r = plain(
                StatusCode::UNAUTHORIZED,
                "text/plain",
                "metrics need Authorization: Bearer <metrics.token> or a system user's signature\n"
                    .into(),
            );
            r.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
            r
        }
        "Metrics" => plain(
            StatusCode::OK,
            super::metrics::CONTENT_TYPE,
            super::metrics::render(&front),
        ),
        "Admin" => super::admin::handle(req, &front).await,
        _ => match if op == "CorsPreflight" {
            cors::preflight(&front.node.store, bucket.as_deref(), req.headers())
        } else {
            route(req, &front, addressed).await
        } {
            Ok(r) => r,
            Err(e) => {
                // Load shedding (503 SlowDown) is counted in the metrics by
                // status, not logged: a client could flood the log with it.
                let status = e.code.status();
                if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
                    failure = Some(e.message.clone());
                }
                let body = if head_request {
                    ResponseBody::empty()
                } else {
                    ResponseBody::from_string(e.to_xml(&resource, &id))
                };
                let mut r = Response::new(body);
                *r.status_mut() = e.code.status();
                for (name, value) in &e.headers {
                    if let Ok(v) = HeaderValue::from_str(value) {
                        r.headers_mut().insert(*name, v);
                    }
                }
                if !head_request {
                    r.headers_mut()
                        .insert("content-type", HeaderValue::from_static("application/xml"));
                }
                r
            }
        },
    };
    if let (Some(b), Some(o), false) = (&bucket, &origin, op == "CorsPreflight") {
        cors::add_headers(&front.node.store, b, o, &method, &mut resp);
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-amz-request-id", v);
    }
    h.insert("server", HeaderValue::from_static("shale"));
    let status = resp.status().as_u16();
    let bytes_out = header(resp.headers(), "content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| hyper::body::Body::size_hint(resp.body()).lower());
    let seconds = started.elapsed().as_secs_f64();
    front.metrics.observe(
        op,
        status,
        seconds,
        bytes_in,
        if head_request { 0 } else { bytes_out },
    );
    if let Some(error) = failure {
        tracing::error!(request_id = %id, op, %method, path = %resource, status, %error, "request failed");
    } else if front.access_log() {
        tracing::info!(
            request_id = %id,
            op,
            %method,
            path = %resource,
            status,
            bytes_in,
            bytes_out,
            ms = seconds * 1000.0,
            "request"
        );
    }
    resp
}

/// Whether `/metrics` may be read: always without `metrics.token`; with
/// it, by that bearer token (compared in constant time) or a request
/// signed by a system user.
fn metrics_allowed(req: &Request<Incoming>, front: &Front) -> bool {
    let token = front.metrics_options.read().token.clone();
    if token.is_empty() {
        return true;
    }
    let bearer = header(req.headers(), "authorization").and_then(|v| v.strip_prefix("Bearer "));
    if let Some(given) = bearer {
        use subtle::ConstantTimeEq;
        return bool::from(given.trim().as_bytes().ct_eq(token.as_bytes()));
    }
    authenticate(req, front).is_ok_and(|(_, user)| user.system)
}

/// Verifies the request's signature and finds its (not suspended) user.
pub(crate) fn authenticate(
    req: &Request<Incoming>,
    front: &Front,
) -> Result<(Verified, UserRecord), S3Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let auth = sigv4::verify(
        req.method(),
        req.uri(),
        req.headers(),
        now,
        &front.node.region,
        front.node.meta.as_ref(),
        &front.keys,
    )?;
    let caller = front
        .node
        .meta
        .read(|t| t.user_of_key(&auth.access_key).map(|(_, u)| u.clone()))
        .ok_or_else(|| {
            err(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        })?;
    if caller.suspended {
        return Err(err(
            S3ErrorCode::AccountSuspended,
            "Your account is suspended; ask the operator to enable it.",
        ));
    }
    if let Some((id, due)) = front.node.purge_of_user(&caller.uid) {
        return Err(err(
            S3ErrorCode::AccountSuspended,
            format!(
                "Your account is scheduled for removal with its data at {} (job {id}); until then the operator can cancel it (shale admin job cancel {id}).",
                crate::s3::time::http_date(due)
            ),
        ));
    }
    Ok((auth, caller))
}

async fn route(
    req: Request<Incoming>,
    front: &Front,
    routed: Option<Routed>,
) -> Result<Response<ResponseBody>, S3Error> {
    // A browser form upload is signed by its policy, not its headers.
    if let Some(((Some(bucket), None), Ok(Operation::PostObject))) = &routed {
        return post::post_object(req, front, bucket).await;
    }
    let peer = req.extensions().get::<super::PeerAddr>().map(|p| p.0);
    // A request without credentials is anonymous: it gets only what a
    // bucket's policy or ACL gives everyone (`Op::authorize`).
    let anonymous = sigv4::is_anonymous(req.uri(), req.headers());
    let (payload, caller) = if anonymous {
        (unsigned_payload(req.headers()), anonymous_caller())
    } else {
        let (auth, caller) = authenticate(&req, front)?;
        (payload_of(&auth, req.headers())?, caller)
    };
    let ((bucket, key), op) = routed.unwrap_or_else(|| {
        let e = NoRoute::MethodNotAllowed {
            method: req.method().to_string(),
            sub: None,
        };
        (Default::default(), Err(e))
    });
    let denied = || err(S3ErrorCode::AccessDenied, "Access Denied");
    // Refusals come before anything is read or changed; an anonymous
    // request learns nothing from them.
    let op = op.map_err(|e| if anonymous { denied() } else { e.error() })?;
    if !op.supported() {
        return Err(if anonymous {
            denied()
        } else {
            operation::not_implemented(op)
        });
    }
    crate::s3::unsupported::refuse_headers(req.headers(), req.uri().query().unwrap_or_default())?;
    let query = parse_query(req.uri().query());
    let headers = req.headers().clone();
    let body = RequestBody::new(req.into_body(), payload).of_user(&caller.uid, front.body_min_rate);
    let ctx = Op {
        node: &front.node,
        headers: &headers,
        query: &query,
        caller: &caller,
        anonymous,
        peer,
    };
    match &bucket {
        // CreateBucket on a taken name answers BucketAlreadyExists.
        Some(_) if op == Operation::CreateBucket && anonymous => return Err(denied()),
        Some(_) if op == Operation::CreateBucket => {}
        Some(b) => ctx.authorize(op, b, key.as_deref()).await?,
        None if anonymous => return Err(denied()),
        None => {}
    }
    let out = match (&bucket, key) {
        (None, _) if op == Operation::ListBuckets => ctx.list_buckets(),
        (None, _) => Err(operation::not_implemented(op)),
        (Some(b), k) if is_access_op(op) => ctx.access_op(op, b, k.as_deref(), body).await,
        (Some(b), None) => ctx.bucket_op(op, b, body).await,
        (Some(b), Some(k)) => ctx.object_op(op, b, &k, body).await,
    };
    match (out, &bucket) {
        (Err(e), Some(b))
            if matches!(e.code, S3ErrorCode::NoSuchKey | S3ErrorCode::NoSuchVersion)
                && !ctx.may_list(b)? =>
        {
            Err(denied())
        }
        (out, _) => out,
    }
}

/// The operations on ACLs, policies and PublicAccessBlocks (`access`).
fn is_access_op(op: Operation) -> bool {
    use Operation as O;
    matches!(
        op,
        O::GetBucketAcl
            | O::PutBucketAcl
            | O::GetObjectAcl
            | O::PutObjectAcl
            | O::GetBucketPolicy
            | O::PutBucketPolicy
            | O::DeleteBucketPolicy
            | O::GetBucketPolicyStatus
            | O::GetPublicAccessBlock
            | O::PutPublicAccessBlock
            | O::DeletePublicAccessBlock
    )
}

/// The caller record of an anonymous request: no user, no rights of its
/// own.
fn anonymous_caller() -> UserRecord {
    UserRecord::default()
}

/// How an anonymous request's body is framed: as its
/// `x-amz-content-sha256` says (a digest to check, an unsigned aws-chunked
/// body with trailer), else plain.
fn unsigned_payload(headers: &HeaderMap) -> Payload {
    match header(headers, "x-amz-content-sha256") {
        Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER") => {
            Payload::Chunked(Box::new(ChunkedDecoder::new(None, true)))
        }
        Some(h) => match sigv4::parse_hex32(h) {
            Some(d) => Payload::Sha256(d),
            None => Payload::Plain,
        },
        None => Payload::Plain,
    }
}

/// How the request body is protected, from the verified signature.
pub(crate) fn payload_of(auth: &Verified, headers: &HeaderMap) -> Result<Payload, S3Error> {
    let signing = || ChunkSigning {
        signing_key: auth.signing_key,
        amz_date: auth.amz_date.clone(),
        scope: auth.scope.clone(),
        seed_signature: auth.signature.clone(),
    };
    let _ = headers;
    Ok(match &auth.payload {
        PayloadHash::Unsigned => Payload::Plain,
        PayloadHash::Sha256(h) => Payload::Sha256(*h),
        PayloadHash::StreamingSigned => {
            Payload::Chunked(Box::new(ChunkedDecoder::new(Some(signing()), false)))
        }
        PayloadHash::StreamingSignedTrailer => {
            Payload::Chunked(Box::new(ChunkedDecoder::new(Some(signing()), true)))
        }
        PayloadHash::StreamingUnsignedTrailer => {
            Payload::Chunked(Box::new(ChunkedDecoder::new(None, true)))
        }
    })
}

struct Op<'a> {
    node: &'a Node,
    headers: &'a HeaderMap,
    query: &'a HashMap<String, String>,
    /// The signer, not suspended (a record with no rights for an
    /// anonymous request).
    caller: &'a UserRecord,
    /// The request carries no credentials.
    anonymous: bool,
    /// The client's address.
    peer: Option<std::net::IpAddr>,
}

impl Op<'_> {
    fn store(&self) -> &ObjectStore {
        &self.node.store
    }

    fn q(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// Refuses (QuotaExceeded) a write of one object of `size` bytes into
    /// `bucket` at `key` that would take the bucket or its owner past a
    /// quota. An overwritten object's size counts as freed. Checked
    /// before the body is read; concurrent writers can overshoot by what
    /// they write at once.
    fn check_quota(&self, bucket: &str, key: &[u8], size: u64) -> Result<(), S3Error> {
        self.store().check_space(size)?;
        self.store().check_quota(bucket, key, size)
    }

    /// (id, display name) of the bucket's owner.
    fn owner(&self, bucket: &str) -> (String, String) {
        let uid = self
            .store()
            .bucket(bucket)
            .map(|b| b.meta.owner.clone())
            .unwrap_or_default();
        let name = self
            .node
            .meta
            .read(|t| t.users.get(&uid).map(|u| u.display_name.clone()))
            .unwrap_or_else(|| uid.clone());
        (uid, name)
    }

    fn max_param(&self, name: &str) -> Result<u32, S3Error> {
        match self.q(name) {
            None => Ok(1000),
            Some(v) => v.parse::<u32>().map(|n| n.min(1000)).map_err(|_| {
                err(
                    S3ErrorCode::InvalidArgument,
                    format!("{name} must be an integer"),
                )
            }),
        }
    }

    /// The additional checksum the request's body carries or announces.
    fn checksum(&self) -> Result<Option<Expected>, S3Error> {
        Expected::from_headers(self.headers.keys().map(|k| k.as_str()), |n| {
            header(self.headers, n)
        })
    }

    /// `If-None-Match: *` or `If-Match` of a PutObject or
    /// CompleteMultipartUpload.
    fn write_condition(&self) -> Result<Option<WriteCondition>, S3Error> {
        WriteCondition::from_headers(|n| header(self.headers, n))
    }

    /// UploadPart and UploadPartCopy: `partNumber` must come with `uploadId`.
    fn required_part_number(&self) -> Result<u32, S3Error> {
        self.part_number()?.ok_or_else(|| {
            err(
                S3ErrorCode::InvalidArgument,
                "partNumber is required with uploadId",
            )
        })
    }

    fn part_number(&self) -> Result<Option<u32>, S3Error> {
        match self.q("partNumber") {
            None => Ok(None),
            Some(p) => p
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    err(
                        S3ErrorCode::InvalidArgument,
                        "Part number must be an integer between 1 and 10000, inclusive",
                    )
                }),
        }
    }
}

/// Sets a response header whose value may not be a valid header value
/// (then it is left out).
fn set_header(r: &mut Response<ResponseBody>, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// S3's name of a storage class code (`format-spec/index.md`).
fn storage_class_name(code: u8) -> &'static str {
    match code {
        1 => "REDUCED_REDUNDANCY",
        2 => "STANDARD_IA",
        3 => "ONEZONE_IA",
        4 => "INTELLIGENT_TIERING",
        5 => "GLACIER",
        6 => "DEEP_ARCHIVE",
        7 => "GLACIER_IR",
        _ => "STANDARD",
    }
}

#[cfg(test)]
mod tests {
    use crate::s3::signed_headers::{must_sign, WRITE_UNSIGNED_STORED};
    use http::Method;

    /// What a write stores or acts on from its headers must be covered by
    /// the signature, or a presigned URL's holder could add it.
    #[test]
    fn every_header_a_write_stores_or_acts_on_must_be_signed() {
        let acted_on = [
            "content-md5",
            "x-delete-at",
            "x-delete-after",
            "x-amz-meta-anything",
            "x-amz-tagging",
            "x-amz-copy-source",
            "x-amz-acl",
            "x-amz-grant-read",
            "x-amz-metadata-directive",
            "if-match",
            "if-none-match",
        ];
        for m in [Method::PUT, Method::POST] {
            for n in super::object::STORED_HEADERS.iter().chain(&acted_on) {
                assert!(
                    must_sign(&m, n) || WRITE_UNSIGNED_STORED.contains(n),
                    "{m} {n}"
                );
            }
        }
    }
}
