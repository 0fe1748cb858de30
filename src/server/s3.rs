//! The S3 API: authenticate, route, run the operation on the object
//! store, answer. Every failure is an [`S3Error`] rendered as S3 XML with
//! the request id; nothing is changed by a request that fails before its
//! commit point.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::sync::mpsc;

use super::body::{Payload, RequestBody, ResponseBody};
use super::front::Front;
use crate::index::listing::ListParams;
use crate::meta::mdlog::UserRecord;
use crate::node::Node;
use crate::object::store::{etag_string, FoundObject, ObjectRange, PutOptions};
use crate::object::versioning::{format_version_id, parse_version_id, NULL_VERSION};
use crate::object::ObjectStore;
use crate::s3::checksum::{self, Algorithm, Expected};
use crate::s3::chunked::{ChunkSigning, ChunkedDecoder};
use crate::s3::conditional::{ReadConditions, ReadVerdict, WriteCondition};
use crate::s3::copy_source::{parse_copy_range, parse_copy_source, CopySource};
use crate::s3::operation::{self, NoRoute, Operation, Shape};
use crate::s3::sigv4::{self, PayloadHash, Verified};
use crate::s3::{percent_decode, range, time, xml, S3Error, S3ErrorCode};

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
    let name = routed.as_ref().map_or("Unknown", |o| o.name());
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
        _ => match route(req, &front, addressed).await {
            Ok(r) => r,
            Err(e) => {
                if e.code.status().is_server_error() {
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
    let (auth, caller) = authenticate(&req, front)?;
    let ((bucket, key), op) = routed.unwrap_or_else(|| {
        let e = NoRoute::MethodNotAllowed {
            method: req.method().to_string(),
            sub: None,
        };
        (Default::default(), Err(e))
    });
    // Refusals come before anything is read or changed.
    let op = op.map_err(|e| e.error())?;
    if !op.supported() {
        return Err(operation::not_implemented(op));
    }
    crate::s3::unsupported::refuse_headers(req.headers(), req.uri().query().unwrap_or_default())?;
    let query = parse_query(req.uri().query());
    let headers = req.headers().clone();
    let payload = payload_of(&auth, &headers)?;
    let body = RequestBody::new(req.into_body(), payload).of_user(&caller.uid, front.body_min_rate);
    let ctx = Op {
        node: &front.node,
        headers: &headers,
        query: &query,
        caller: &caller,
    };
    if let Some(b) = &bucket {
        // CreateBucket on a taken name answers BucketAlreadyExists.
        if op != Operation::CreateBucket {
            ctx.check_access(b)?;
        }
    }
    match (bucket, key) {
        (None, _) if op == Operation::ListBuckets => ctx.list_buckets(),
        (None, _) => Err(operation::not_implemented(op)),
        (Some(b), None) => ctx.bucket_op(op, &b, body).await,
        (Some(b), Some(k)) => ctx.object_op(op, &b, &k, body).await,
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

/// The declared length of the object bytes: `x-amz-decoded-content-length`
/// for aws-chunked bodies, else `Content-Length`.
fn object_length(headers: &HeaderMap, chunked: bool) -> Result<Option<u64>, S3Error> {
    let name = if chunked {
        "x-amz-decoded-content-length"
    } else {
        "content-length"
    };
    match header(headers, name) {
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            err(
                S3ErrorCode::InvalidArgument,
                format!("{name} is not a number"),
            )
        }),
        None if chunked => Err(err(
            S3ErrorCode::MissingContentLength,
            "x-amz-decoded-content-length is required with aws-chunked bodies",
        )),
        None => Ok(None),
    }
}

fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, S3Error> {
    match header(headers, "content-md5") {
        None => Ok(None),
        Some(v) => base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(Some)
            .ok_or_else(|| {
                err(
                    S3ErrorCode::InvalidDigest,
                    "The Content-MD5 you specified is not valid.",
                )
            }),
    }
}

/// Headers stored with an object and returned on GET/HEAD.
const STORED_HEADERS: [&str; 6] = [
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
];

/// `meta` with the tag set of an `x-amz-tagging` header, if one came.
fn with_header_tags(
    meta: Vec<(String, String)>,
    headers: &HeaderMap,
) -> Result<Vec<(String, String)>, S3Error> {
    match header(headers, "x-amz-tagging") {
        Some(v) => Ok(crate::s3::tagging::with_tags(
            &meta,
            &crate::s3::tagging::parse_header(v)?,
        )),
        None => Ok(meta),
    }
}

fn object_meta(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut meta = Vec::new();
    for (name, value) in headers {
        let n = name.as_str();
        let Ok(v) = value.to_str() else { continue };
        if n == "content-encoding" {
            // aws-chunked is transport framing, not the object's encoding.
            let rest: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|t| !t.eq_ignore_ascii_case("aws-chunked") && !t.is_empty())
                .collect();
            if !rest.is_empty() {
                meta.push((n.to_string(), rest.join(",")));
            }
        } else if n.starts_with("x-amz-meta-") || STORED_HEADERS.contains(&n) {
            meta.push((n.to_string(), v.to_string()));
        }
    }
    meta
}

struct Op<'a> {
    node: &'a Node,
    headers: &'a HeaderMap,
    query: &'a HashMap<String, String>,
    /// The signer, not suspended.
    caller: &'a UserRecord,
}

impl Op<'_> {
    fn store(&self) -> &ObjectStore {
        &self.node.store
    }

    fn q(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// A user reaches the buckets it owns; a system user reaches all. An
    /// absent bucket passes (the operation answers NoSuchBucket).
    fn check_access(&self, bucket: &str) -> Result<(), S3Error> {
        if let Ok(b) = self.store().bucket(bucket) {
            if let Some((id, due)) = self.node.purge_of_bucket(bucket, &b.meta.owner) {
                return Err(err(
                    S3ErrorCode::AllAccessDisabled,
                    format!(
                        "Bucket {bucket} is scheduled for removal with its data at {} (job {id}); until then the operator can cancel it (shale admin job cancel {id}).",
                        crate::s3::time::http_date(due)
                    ),
                ));
            }
        }
        if self.caller.system {
            return Ok(());
        }
        match self.store().bucket(bucket) {
            Ok(b) if b.meta.owner != self.caller.uid => {
                Err(err(S3ErrorCode::AccessDenied, "Access Denied"))
            }
            _ => Ok(()),
        }
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

    /// PutObjectTagging / DeleteObjectTagging (empty `tags`).
    async fn set_tags(
        &self,
        bucket: &str,
        key: &[u8],
        tags: &[(String, String)],
    ) -> Result<Response<ResponseBody>, S3Error> {
        let version = self.q("versionId").map(parse_version_id).transpose()?;
        let found = self.store().retag(bucket, key, version, tags).await?;
        let mut r = empty(StatusCode::OK)?;
        if let Some(v) = self
            .store()
            .bucket(bucket)?
            .shown_version(found.head.version_id)
        {
            set_header(&mut r, "x-amz-version-id", &format_version_id(&v));
        }
        Ok(r)
    }

    fn list_buckets(&self) -> Result<Response<ResponseBody>, S3Error> {
        let owner_filter = (!self.caller.system).then_some(self.caller.uid.as_str());
        let buckets: Vec<(String, String)> = self
            .store()
            .list_buckets(owner_filter)
            .into_iter()
            .map(|(n, t)| (n, time::iso8601_millis(t)))
            .collect();
        xml_response(
            StatusCode::OK,
            xml::list_buckets(&self.caller.uid, &self.caller.display_name, &buckets),
        )
    }

    /// Runs a supported bucket operation.
    async fn bucket_op(
        &self,
        op: Operation,
        bucket: &str,
        mut body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        match op {
            Operation::PutBucketVersioning => {
                self.store().bucket(bucket)?;
                let b = body.collect(XML_BODY_MAX).await?;
                let enabled = xml::parse_versioning(&b)?;
                self.store().set_versioning(bucket, enabled).await?;
                empty(StatusCode::OK)
            }
            Operation::PutBucketLifecycleConfiguration => {
                self.store().bucket(bucket)?;
                let b = body.collect(XML_BODY_MAX).await?;
                let lc = xml::parse_lifecycle(&b)?;
                self.store().set_lifecycle(bucket, Some(lc)).await?;
                empty(StatusCode::OK)
            }
            Operation::GetBucketLifecycleConfiguration => {
                let b = self.store().bucket(bucket)?;
                match b.lifecycle() {
                    Some(lc) => xml_response(StatusCode::OK, xml::lifecycle(&lc)),
                    None => Err(err(
                        S3ErrorCode::NoSuchLifecycleConfiguration,
                        "The lifecycle configuration does not exist",
                    )),
                }
            }
            Operation::DeleteBucketLifecycle => {
                self.store().bucket(bucket)?;
                self.store().set_lifecycle(bucket, None).await?;
                empty(StatusCode::NO_CONTENT)
            }
            Operation::CreateBucket => {
                // Everything is checked before anything is made.
                self.store().check_new_bucket_name(bucket)?;
                let b = body.collect(XML_BODY_MAX).await?;
                let location = xml::parse_create_bucket(&b)?;
                self.store()
                    .create_bucket(bucket, location.as_deref(), &self.caller.uid)
                    .await?;
                let mut r = empty(StatusCode::OK)?;
                if let Ok(v) = HeaderValue::from_str(&format!("/{bucket}")) {
                    r.headers_mut().insert("location", v);
                }
                Ok(r)
            }
            Operation::HeadBucket => {
                self.store().bucket(bucket)?;
                let mut r = empty(StatusCode::OK)?;
                if let Ok(v) = HeaderValue::from_str(&self.node.region) {
                    r.headers_mut().insert("x-amz-bucket-region", v);
                }
                Ok(r)
            }
            Operation::DeleteBucket => {
                self.store().delete_bucket(bucket).await?;
                empty(StatusCode::NO_CONTENT)
            }
            Operation::GetBucketLocation => {
                let b = self.store().bucket(bucket)?;
                let loc = Some(b.meta.location.as_str()).filter(|l| !l.is_empty());
                xml_response(StatusCode::OK, xml::location_constraint(loc))
            }
            Operation::ListMultipartUploads => {
                self.store().bucket(bucket)?;
                xml_response(StatusCode::OK, self.list_uploads(bucket)?)
            }
            Operation::GetBucketVersioning => {
                let b = self.store().bucket(bucket)?;
                xml_response(StatusCode::OK, xml::versioning(b.versioning().status()))
            }
            Operation::ListObjectVersions => self.list_versions(bucket).await,
            Operation::ListObjects | Operation::ListObjectsV2 => self.list_objects(bucket).await,
            Operation::DeleteObjects => self.delete_objects(bucket, body).await,
            // Not a bucket operation, or not supported (refused earlier).
            other => Err(operation::not_implemented(other)),
        }
    }

    /// What every listing takes from the query: max-keys (default 1000,
    /// not negative), encoding-type (only `url`), prefix and delimiter (an
    /// empty one is none).
    fn listing_query(&self) -> Result<(i64, bool, String, Option<String>), S3Error> {
        let max_keys = match self.q("max-keys") {
            Some(m) => m
                .parse::<i64>()
                .map_err(|_| err(S3ErrorCode::InvalidArgument, "max-keys must be an integer"))?,
            None => 1000,
        };
        if max_keys < 0 {
            return Err(err(
                S3ErrorCode::InvalidArgument,
                "max-keys must not be negative",
            ));
        }
        let encoding_url = match self.q("encoding-type") {
            None => false,
            Some("url") => true,
            Some(_) => {
                return Err(err(
                    S3ErrorCode::InvalidArgument,
                    "Invalid Encoding Method specified in Request",
                ))
            }
        };
        let prefix = self.q("prefix").unwrap_or_default().to_string();
        let delimiter = self
            .q("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        Ok((max_keys, encoding_url, prefix, delimiter))
    }

    async fn list_objects(&self, bucket: &str) -> Result<Response<ResponseBody>, S3Error> {
        let v2 = self.q("list-type") == Some("2");
        let (max_keys, encoding_url, prefix, delimiter) = self.listing_query()?;
        let token = match self.q("continuation-token") {
            Some(t) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t)
                    .map_err(|_| {
                        err(
                            S3ErrorCode::InvalidArgument,
                            "The continuation token provided is incorrect",
                        )
                    })?,
            ),
            None => None,
        };
        let start_after = if v2 {
            let sa = self.q("start-after").map(|s| s.as_bytes().to_vec());
            match (sa, token.clone()) {
                (Some(a), Some(t)) => Some(a.max(t)),
                (a, t) => t.or(a),
            }
        } else {
            self.q("marker").map(|s| s.as_bytes().to_vec())
        };
        let params = ListParams {
            prefix: prefix.as_bytes().to_vec(),
            delimiter: delimiter.as_ref().map(|d| d.as_bytes().to_vec()),
            start_after,
            start_after_version: None,
            max_keys: max_keys.clamp(0, 1000) as usize,
        };
        let page = if params.max_keys == 0 {
            crate::index::listing::ListPage {
                items: Vec::new(),
                common_prefixes: Vec::new(),
                truncated: false,
                next_marker: None,
            }
        } else {
            self.store().list_objects(bucket, &params).await?
        };
        let owner = (!v2 || self.q("fetch-owner") == Some("true")).then(|| self.owner(bucket));
        let contents = page
            .items
            .iter()
            .map(|(k, e)| xml::ListEntry {
                key: String::from_utf8_lossy(k).into_owned(),
                last_modified_iso: time::iso8601_millis(e.mtime_nanos),
                etag_quoted: format!("\"{}\"", etag_string(&e.etag, e.etag_parts)),
                size: e.size,
                storage_class: "STANDARD".to_string(),
                owner: owner.clone(),
            })
            .collect();
        let next = page
            .next_marker
            .as_ref()
            .filter(|_| page.truncated)
            .map(|m| String::from_utf8_lossy(m).into_owned());
        let result = xml::ListObjectsResult {
            bucket: bucket.to_string(),
            prefix,
            delimiter,
            max_keys: max_keys.clamp(0, 1000) as u32,
            is_truncated: page.truncated,
            encoding_url,
            marker: self.q("marker").unwrap_or_default().to_string(),
            next_marker: next.clone(),
            continuation_token: self.q("continuation-token").map(str::to_string),
            next_continuation_token: page
                .next_marker
                .as_ref()
                .filter(|_| page.truncated)
                .map(|m| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m)),
            start_after: self.q("start-after").map(str::to_string),
            key_count: (page.items.len() + page.common_prefixes.len()) as u32,
            fetch_owner: owner.is_some(),
            contents,
            common_prefixes: page
                .common_prefixes
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect(),
        };
        let body = if v2 {
            xml::list_objects_v2(&result)
        } else {
            xml::list_objects_v1(&result)
        };
        xml_response(StatusCode::OK, body)
    }

    /// ListObjectVersions: every version and delete marker, key ascending
    /// and newest first within a key; `key-marker` and
    /// `version-id-marker` resume after a version.
    async fn list_versions(&self, bucket: &str) -> Result<Response<ResponseBody>, S3Error> {
        let (max_keys, encoding_url, prefix, delimiter) = self.listing_query()?;
        let key_marker = self.q("key-marker").filter(|m| !m.is_empty());
        let version_marker = self.q("version-id-marker").filter(|m| !m.is_empty());
        if version_marker.is_some() && key_marker.is_none() {
            return Err(err(
                S3ErrorCode::InvalidArgument,
                "A version-id marker cannot be specified without a key marker.",
            ));
        }
        let params = ListParams {
            prefix: prefix.as_bytes().to_vec(),
            delimiter: delimiter.as_ref().map(|d| d.as_bytes().to_vec()),
            start_after: key_marker.map(|m| m.as_bytes().to_vec()),
            start_after_version: version_marker.map(parse_version_id).transpose()?,
            max_keys: max_keys.clamp(0, 1000) as usize,
        };
        let (page, current) = if params.max_keys == 0 {
            Default::default()
        } else {
            self.store().list_versions(bucket, &params).await?
        };
        let owner = self.owner(bucket);
        let entries: Vec<xml::VersionEntry> = page
            .items
            .iter()
            .map(|(k, e)| {
                // An unversioned key's object is its null version (id 0).
                let id = e.version_id;
                xml::VersionEntry {
                    key: String::from_utf8_lossy(k).into_owned(),
                    version_id: format_version_id(&id),
                    is_latest: current.get(k) == Some(&id),
                    delete_marker: e.delete_marker,
                    last_modified_iso: time::iso8601_millis(e.mtime_nanos),
                    etag_quoted: format!("\"{}\"", etag_string(&e.etag, e.etag_parts)),
                    size: e.size,
                    storage_class: storage_class_name(e.storage_class).to_string(),
                    owner: owner.clone(),
                }
            })
            .collect();
        // Where the next page starts: after the last version listed, or
        // after the last common prefix if that came last.
        let (next_key, next_version) = match (page.truncated, page.next_marker.as_ref()) {
            (true, Some(m)) => {
                let last_item = page.items.last().filter(|(k, _)| k == m);
                let v = last_item.map(|_| {
                    entries
                        .last()
                        .map(|e| e.version_id.clone())
                        .unwrap_or_default()
                });
                (Some(String::from_utf8_lossy(m).into_owned()), v)
            }
            _ => (None, None),
        };
        let result = xml::ListVersionsResult {
            bucket: bucket.to_string(),
            prefix,
            delimiter,
            key_marker: key_marker.unwrap_or_default().to_string(),
            version_id_marker: version_marker.unwrap_or_default().to_string(),
            next_key_marker: next_key,
            next_version_id_marker: next_version,
            max_keys: max_keys.clamp(0, 1000) as u32,
            is_truncated: page.truncated,
            encoding_url,
            entries,
            common_prefixes: page
                .common_prefixes
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect(),
        };
        xml_response(StatusCode::OK, xml::list_versions(&result))
    }

    async fn delete_objects(
        &self,
        bucket: &str,
        mut body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        self.store().bucket(bucket)?;
        let md5 = content_md5(self.headers)?;
        let b = body.collect(XML_BODY_MAX).await?;
        if let Some(m) = md5 {
            use md5::Digest;
            let got: [u8; 16] = md5::Md5::digest(&b).into();
            if got != m {
                return Err(err(
                    S3ErrorCode::BadDigest,
                    "The Content-MD5 you specified did not match what we received.",
                ));
            }
        }
        let req = xml::parse_delete(&b)?;
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for (key, version) in req.objects {
            let id = match version.as_deref().map(parse_version_id).transpose() {
                Ok(id) => id,
                Err(e) => {
                    errors.push((key, e.code.as_str().to_string(), e.message));
                    continue;
                }
            };
            match self.store().delete_object(bucket, key.as_bytes(), id).await {
                Ok(out) => {
                    if !req.quiet {
                        deleted.push(xml::DeletedEntry {
                            key,
                            delete_marker: out.delete_marker,
                            // A marker made (no version named) has its id.
                            delete_marker_version_id: out
                                .version_id
                                .filter(|_| version.is_none() && out.delete_marker)
                                .map(|v| format_version_id(&v)),
                            version_id: version,
                        });
                    }
                }
                Err(e) => errors.push((key, e.code.as_str().to_string(), e.message)),
            }
        }
        xml_response(StatusCode::OK, xml::delete_result(&deleted, &errors))
    }

    /// Runs a supported object operation.
    async fn object_op(
        &self,
        op: Operation,
        bucket: &str,
        key: &[u8],
        mut body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let upload_id = self.q("uploadId");
        match op {
            Operation::UploadPartCopy => {
                self.upload_part_copy(bucket, key, upload_id.unwrap_or_default())
                    .await
            }
            Operation::CopyObject => self.copy_object(bucket, key).await,
            Operation::PutObjectTagging => {
                let b = body.collect(XML_BODY_MAX).await?;
                let tags = xml::parse_tagging(&b)?;
                self.set_tags(bucket, key, &tags).await
            }
            Operation::DeleteObjectTagging => {
                let mut r = self.set_tags(bucket, key, &[]).await?;
                *r.status_mut() = StatusCode::NO_CONTENT;
                Ok(r)
            }
            Operation::GetObjectTagging => {
                let version = self.q("versionId").map(parse_version_id).transpose()?;
                let found = match version {
                    Some(v) => self.store().get_object_version(bucket, key, v).await?,
                    None => self.store().get_object(bucket, key).await?,
                };
                let tags = crate::s3::tagging::tags_in(&found.head.meta);
                let mut r = xml_response(StatusCode::OK, xml::tagging(&tags))?;
                if let Some(v) = self
                    .store()
                    .bucket(bucket)?
                    .shown_version(found.head.version_id)
                {
                    set_header(&mut r, "x-amz-version-id", &format_version_id(&v));
                }
                Ok(r)
            }
            Operation::UploadPart => {
                let part = self.required_part_number()?;
                self.upload_part(bucket, key, upload_id.unwrap_or_default(), part, body)
                    .await
            }
            Operation::PutObject => self.put_object(bucket, key, body).await,
            Operation::ListParts => {
                let out = self
                    .list_parts(bucket, key, upload_id.unwrap_or_default())
                    .await?;
                xml_response(StatusCode::OK, out)
            }
            Operation::GetObjectAttributes => self.object_attributes(bucket, key).await,
            Operation::GetObject | Operation::HeadObject => {
                self.get_object(op == Operation::HeadObject, bucket, key)
                    .await
            }
            Operation::AbortMultipartUpload => {
                self.node
                    .uploads
                    .abort(bucket, key, upload_id.unwrap_or_default())?;
                empty(StatusCode::NO_CONTENT)
            }
            Operation::DeleteObject => {
                let version = self.q("versionId").map(parse_version_id).transpose()?;
                let out = self.store().delete_object(bucket, key, version).await?;
                let mut r = empty(StatusCode::NO_CONTENT)?;
                if let Some(v) = out.version_id {
                    set_header(&mut r, "x-amz-version-id", &format_version_id(&v));
                }
                if out.delete_marker {
                    set_header(&mut r, "x-amz-delete-marker", "true");
                }
                Ok(r)
            }
            Operation::CreateMultipartUpload => {
                self.store().bucket(bucket)?;
                crate::s3::names::validate_object_key(key)?;
                let algorithm = match header(self.headers, "x-amz-checksum-algorithm") {
                    None => None,
                    Some(n) => Some(Algorithm::from_name(n).ok_or_else(|| {
                        err(
                            S3ErrorCode::InvalidRequest,
                            format!("Checksum algorithm provided is unsupported: {n}"),
                        )
                    })?),
                };
                self.node.uploads.check_limits(self.store(), bucket)?;
                let id = self.node.uploads.create(
                    bucket,
                    key,
                    with_header_tags(object_meta(self.headers), self.headers)?,
                    algorithm,
                )?;
                let mut r = xml_response(
                    StatusCode::OK,
                    xml::initiate_multipart(bucket, &String::from_utf8_lossy(key), &id),
                )?;
                if let Some(a) = algorithm {
                    r.headers_mut().insert(
                        "x-amz-checksum-algorithm",
                        HeaderValue::from_static(a.name()),
                    );
                }
                Ok(r)
            }
            Operation::CompleteMultipartUpload => {
                self.complete_multipart(bucket, key, upload_id.unwrap_or_default(), body)
                    .await
            }
            // Not an object operation, or not supported (refused earlier).
            other => Err(operation::not_implemented(other)),
        }
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

    async fn list_parts(&self, bucket: &str, key: &[u8], id: &str) -> Result<String, S3Error> {
        let m = self.node.uploads.manifest(bucket, key, id).await?;
        let max = self.max_param("max-parts")?;
        let marker: u32 = self
            .q("part-number-marker")
            .map(|m| m.parse().unwrap_or(0))
            .unwrap_or(0);
        let after: Vec<_> = m.parts.iter().filter(|p| p.number > marker).collect();
        let page: Vec<_> = after.iter().take(max as usize).collect();
        let truncated = after.len() > page.len();
        let parts = page
            .iter()
            .map(|p| xml::PartEntry {
                part_number: p.number,
                last_modified_iso: time::iso8601_millis(p.mtime_nanos),
                etag_quoted: format!("\"{}\"", p.md5_hex),
                size: p.size,
            })
            .collect();
        Ok(xml::list_parts(&xml::ListPartsResult {
            bucket: bucket.to_string(),
            key: String::from_utf8_lossy(key).into_owned(),
            upload_id: id.to_string(),
            initiator: self.owner(bucket),
            owner: self.owner(bucket),
            storage_class: "STANDARD".to_string(),
            part_number_marker: marker,
            next_part_number_marker: page.last().map_or(marker, |p| p.number),
            max_parts: max,
            is_truncated: truncated,
            parts,
        }))
    }

    fn list_uploads(&self, bucket: &str) -> Result<String, S3Error> {
        let max = self.max_param("max-uploads")?;
        let prefix = self.q("prefix").unwrap_or_default();
        let delimiter = self.q("delimiter").filter(|d| !d.is_empty());
        let key_marker = self.q("key-marker").unwrap_or_default();
        let id_marker = self.q("upload-id-marker").unwrap_or_default();
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut last: Option<(String, String)> = None;
        for (key, id, initiated) in self.node.uploads.uploads_of(bucket) {
            let k = String::from_utf8_lossy(&key).into_owned();
            if !k.starts_with(prefix) {
                continue;
            }
            let after_marker = k.as_str() > key_marker
                || (k == key_marker && !id_marker.is_empty() && id.as_str() > id_marker);
            if !key_marker.is_empty() && !after_marker {
                continue;
            }
            if let Some(d) = delimiter {
                if let Some(at) = k.get(prefix.len()..).and_then(|r| r.find(d)) {
                    let cp = k
                        .get(..prefix.len() + at + d.len())
                        .unwrap_or_default()
                        .to_string();
                    if prefixes.last() != Some(&cp) {
                        if uploads.len() + prefixes.len() >= max as usize {
                            truncated = true;
                            break;
                        }
                        prefixes.push(cp);
                    }
                    continue;
                }
            }
            if uploads.len() + prefixes.len() >= max as usize {
                truncated = true;
                break;
            }
            last = Some((k.clone(), id.clone()));
            uploads.push(xml::UploadEntry {
                key: k,
                upload_id: id,
                initiator: self.owner(bucket),
                owner: self.owner(bucket),
                storage_class: "STANDARD".to_string(),
                initiated_iso: time::iso8601_millis(initiated),
            });
        }
        Ok(xml::list_multipart_uploads(&xml::ListUploadsResult {
            bucket: bucket.to_string(),
            key_marker: key_marker.to_string(),
            upload_id_marker: id_marker.to_string(),
            next_key_marker: last.as_ref().filter(|_| truncated).map(|l| l.0.clone()),
            next_upload_id_marker: last.filter(|_| truncated).map(|l| l.1),
            prefix: prefix.to_string(),
            delimiter: delimiter.map(str::to_string),
            max_uploads: max,
            is_truncated: truncated,
            encoding_url: self.q("encoding-type") == Some("url"),
            uploads,
            common_prefixes: prefixes,
        }))
    }

    /// The current object `x-amz-copy-source` names, once its
    /// `x-amz-copy-source-if-*` conditions hold (412 otherwise, including
    /// where a GET would answer 304).
    async fn copy_source(&self) -> Result<(CopySource, FoundObject), S3Error> {
        let source =
            parse_copy_source(header(self.headers, "x-amz-copy-source").unwrap_or_default())?;
        self.check_access(&source.bucket)?;
        let found = match source.version_id.as_deref() {
            Some(v) => {
                let v = parse_version_id(v)?;
                let found = self
                    .store()
                    .get_object_version(&source.bucket, &source.key, v)
                    .await;
                // A delete marker cannot be copied: 400, as S3 answers.
                found.map_err(|e| match e.code {
                    S3ErrorCode::MethodNotAllowed => err(
                        S3ErrorCode::InvalidRequest,
                        "The source of a copy request may not specifically refer to a delete marker by version id.",
                    ),
                    _ => e,
                })?
            }
            None => self.store().get_object(&source.bucket, &source.key).await?,
        };
        let conditions = ReadConditions::from_headers(|n| {
            header(self.headers, &format!("x-amz-copy-source-{n}"))
        });
        let etag = etag_string(&found.head.etag, found.head.etag_parts);
        match conditions.evaluate(&etag, found.head.mtime_nanos / 1_000_000_000) {
            ReadVerdict::Proceed => Ok((source, found)),
            ReadVerdict::NotModified => Err(err(
                S3ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold (x-amz-copy-source-if-none-match / if-modified-since)",
            )),
            ReadVerdict::PreconditionFailed(which) => Err(err(
                S3ErrorCode::PreconditionFailed,
                format!("At least one of the pre-conditions you specified did not hold (x-amz-copy-source-{})", which.to_ascii_lowercase()),
            )),
        }
    }

    /// CopyObject: a new object from a current one, metadata copied
    /// (`x-amz-metadata-directive: COPY`, the default) or replaced by the
    /// request's (`REPLACE`); copying an object onto itself must replace.
    async fn copy_object(
        &self,
        bucket: &str,
        key: &[u8],
    ) -> Result<Response<ResponseBody>, S3Error> {
        let replace =
            match header(self.headers, "x-amz-metadata-directive") {
                None | Some("COPY") => false,
                Some("REPLACE") => true,
                Some(_) => return Err(err(
                    S3ErrorCode::InvalidArgument,
                    "Unknown metadata directive: x-amz-metadata-directive takes COPY or REPLACE",
                )),
            };
        let (source, found) = self.copy_source().await?;
        self.check_quota(bucket, key, found.head.size)?;
        if !replace && source.bucket == bucket && source.key == key {
            return Err(err(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let mut meta = if replace {
            object_meta(self.headers)
        } else {
            found.head.meta.clone()
        };
        // x-amz-tagging-directive: the source's tags (COPY, the default)
        // or those of x-amz-tagging (REPLACE).
        let tags = match header(self.headers, "x-amz-tagging-directive") {
            None | Some("COPY") => crate::s3::tagging::tags_in(&found.head.meta),
            Some("REPLACE") => match header(self.headers, "x-amz-tagging") {
                Some(v) => crate::s3::tagging::parse_header(v)?,
                None => Vec::new(),
            },
            Some(_) => {
                return Err(err(
                    S3ErrorCode::InvalidArgument,
                    "Unknown tagging directive: x-amz-tagging-directive takes COPY or REPLACE",
                ))
            }
        };
        meta = crate::s3::tagging::with_tags(&meta, &tags);
        let out = self
            .store()
            .copy_object(&found, bucket, key, meta, self.write_condition()?)
            .await?;
        let mut r = xml_response(
            StatusCode::OK,
            xml::copy_result(
                false,
                &time::iso8601_millis(out.mtime_nanos),
                &format!("\"{}\"", etag_string(&out.etag, 0)),
            ),
        )?;
        if let Some(v) = out.version_id {
            set_header(&mut r, "x-amz-version-id", &format_version_id(&v));
        }
        if found.head.versioned {
            let v = format_version_id(&found.head.version_id);
            set_header(&mut r, "x-amz-copy-source-version-id", &v);
        }
        Ok(r)
    }

    /// UploadPartCopy: a part from a current object, whole or
    /// `x-amz-copy-source-range`.
    async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &[u8],
        upload_id: &str,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let part = self.required_part_number()?;
        let (_, found) = self.copy_source().await?;
        let size = found.head.size;
        self.store().check_space(size)?;
        let (first, end) = match header(self.headers, "x-amz-copy-source-range") {
            Some(r) => {
                let (f, l) = parse_copy_range(r, size)?;
                (f, l + 1)
            }
            None => (0, size),
        };
        let mut body = ObjectRange::new(self.store(), &found.head, first, end);
        let (etag, _) = self
            .node
            .uploads
            .upload_part(
                self.store(),
                bucket,
                key,
                upload_id,
                part,
                Some(end - first),
                None,
                None,
                &mut body,
            )
            .await?;
        xml_response(
            StatusCode::OK,
            xml::copy_result(
                true,
                &time::iso8601_millis(crate::clock::now_nanos()),
                &format!("\"{}\"", etag_string(&etag, 0)),
            ),
        )
    }

    /// GetObjectAttributes: what `x-amz-object-attributes` asks for (ETag,
    /// Checksum, ObjectParts, StorageClass, ObjectSize), parts paged by
    /// `x-amz-max-parts` and `x-amz-part-number-marker`.
    async fn object_attributes(
        &self,
        bucket: &str,
        key: &[u8],
    ) -> Result<Response<ResponseBody>, S3Error> {
        let asked: Vec<String> = header(self.headers, "x-amz-object-attributes")
            .unwrap_or_default()
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        const KNOWN: [&str; 5] = [
            "ETag",
            "Checksum",
            "ObjectParts",
            "StorageClass",
            "ObjectSize",
        ];
        if asked.is_empty() {
            return Err(err(
                S3ErrorCode::InvalidArgument,
                "x-amz-object-attributes must name at least one of ETag, Checksum, ObjectParts, StorageClass, ObjectSize",
            ));
        }
        if let Some(a) = asked.iter().find(|a| !KNOWN.contains(&a.as_str())) {
            return Err(err(
                S3ErrorCode::InvalidArgument,
                format!("Invalid attribute name specified: {a}"),
            ));
        }
        let number = |name: &str, default: u32| -> Result<u32, S3Error> {
            match header(self.headers, name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| {
                    err(
                        S3ErrorCode::InvalidArgument,
                        format!("{name} must be a non-negative integer"),
                    )
                }),
            }
        };
        let max_parts = number("x-amz-max-parts", 1000)?.min(1000);
        let marker = number("x-amz-part-number-marker", 0)?;
        let found = self.store().get_object(bucket, key).await?;
        let h = &found.head;
        let wants = |a: &str| asked.iter().any(|x| x == a);
        let checksum = h.checksum.as_ref();
        let mut attrs = xml::ObjectAttributes {
            etag: wants("ETag").then(|| etag_string(&h.etag, h.etag_parts)),
            checksum: checksum.filter(|_| wants("Checksum")).map(|c| {
                let s = c.stored();
                (c.algorithm.xml_element(), s.value(), s.kind())
            }),
            storage_class: wants("StorageClass")
                .then(|| storage_class_name(h.storage_class).to_string()),
            size: wants("ObjectSize").then_some(h.size),
            parts: None,
        };
        if wants("ObjectParts") && !h.parts.is_empty() {
            let total = h.parts.len() as u32;
            let page: Vec<_> = h
                .parts
                .iter()
                .enumerate()
                .map(|(i, p)| (i as u32 + 1, p))
                .filter(|(n, _)| *n > marker)
                .take(max_parts as usize)
                .map(|(n, p)| {
                    // Parts are listed with their checksums, when the
                    // object has per-part ones.
                    let ck = checksum.and_then(|c| {
                        let d = c.part_digests.get(n as usize - 1)?;
                        Some((c.algorithm.xml_element(), checksum::encode(d)))
                    });
                    (n, p.size, ck)
                })
                .collect();
            let last = page.last().map(|p| p.0);
            let truncated = last.is_some_and(|l| l < total);
            attrs.parts = Some(xml::ObjectPartsPage {
                total,
                marker,
                next_marker: last.filter(|_| truncated),
                max_parts,
                truncated,
                parts: page,
            });
        }
        let mut r = xml_response(StatusCode::OK, xml::object_attributes(&attrs))?;
        if let Ok(v) = HeaderValue::from_str(&time::http_date(h.mtime_nanos)) {
            r.headers_mut().insert("last-modified", v);
        }
        Ok(r)
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

    async fn put_object(
        &self,
        bucket: &str,
        key: &[u8],
        mut body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let chunked = body.is_chunked();
        let len = object_length(self.headers, chunked)?;
        self.check_quota(bucket, key, len.unwrap_or(0))?;
        let put = PutOptions {
            meta: with_header_tags(object_meta(self.headers), self.headers)?,
            expected_len: len,
            content_md5: content_md5(self.headers)?,
            condition: self.write_condition()?,
            checksum: self.checksum()?,
            expiry_secs: crate::s3::delete_at::parse(
                header(self.headers, "x-delete-at"),
                header(self.headers, "x-delete-after"),
                crate::clock::expiry_now_secs(),
            )?,
        };
        let algorithm = put.checksum.as_ref().map(|c| c.algorithm);
        let out = self.store().put_object(bucket, key, put, &mut body).await?;
        let mut r = empty(StatusCode::OK)?;
        if let Some((t, id)) = &out.expiration {
            set_header(
                &mut r,
                "x-amz-expiration",
                &crate::s3::lifecycle::expiration_header(*t, id),
            );
        }
        if let Some(v) = out.version_id {
            set_header(&mut r, "x-amz-version-id", &format_version_id(&v));
        }
        if let (Some(a), Some(d)) = (algorithm, &out.checksum) {
            if let Ok(v) = HeaderValue::from_str(&checksum::encode(d)) {
                r.headers_mut().insert(a.header(), v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", etag_string(&out.etag, 0))) {
            r.headers_mut().insert("etag", v);
        }
        Ok(r)
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &[u8],
        upload_id: &str,
        part: u32,
        mut body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let chunked = body.is_chunked();
        let len = object_length(self.headers, chunked)?;
        // Parts count in quotas (checked again while the body streams).
        self.check_quota(bucket, key, len.unwrap_or(0))?;
        let md5 = content_md5(self.headers)?;
        let expected = self.checksum()?;
        let algorithm = expected.as_ref().map(|c| c.algorithm);
        let (etag, shown) = self
            .node
            .uploads
            .upload_part(
                self.store(),
                bucket,
                key,
                upload_id,
                part,
                len,
                md5,
                expected,
                &mut body,
            )
            .await?;
        let mut r = empty(StatusCode::OK)?;
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", etag_string(&etag, 0))) {
            r.headers_mut().insert("etag", v);
        }
        if let (Some(a), Some(v)) = (
            algorithm,
            shown.and_then(|s| HeaderValue::from_str(&s).ok()),
        ) {
            r.headers_mut().insert(a.header(), v);
        }
        Ok(r)
    }

    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &[u8],
        upload_id: &str,
        mut body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let condition = self.write_condition()?;
        let b = body.collect(XML_BODY_MAX).await?;
        let parts = xml::parse_complete_multipart(&b)?;
        let manifest = self.node.uploads.manifest(bucket, key, upload_id).await?;
        let size: u64 = manifest
            .parts
            .iter()
            .filter(|p| parts.iter().any(|c| c.0 == p.number))
            .map(|p| p.size)
            .sum();
        // The upload's parts already count as used; completing turns them
        // into the object (and releases the parts left out).
        let in_parts: u64 = manifest.parts.iter().map(|p| p.size).sum();
        self.check_quota(bucket, key, size.saturating_sub(in_parts))?;
        let (etag, parts_n, version) = self
            .node
            .uploads
            .complete(
                self.store(),
                bucket,
                key,
                upload_id,
                &parts,
                condition.as_ref(),
            )
            .await?;
        let key_s = String::from_utf8_lossy(key);
        let mut r = xml_response(
            StatusCode::OK,
            xml::complete_multipart(
                &format!("/{bucket}/{key_s}"),
                bucket,
                &key_s,
                &format!("\"{}\"", etag_string(&etag, parts_n)),
            ),
        )?;
        if let Some(v) = version {
            set_header(&mut r, "x-amz-version-id", &format_version_id(&v));
        }
        Ok(r)
    }

    async fn get_object(
        &self,
        head_only: bool,
        bucket: &str,
        key: &[u8],
    ) -> Result<Response<ResponseBody>, S3Error> {
        let found = match self.q("versionId") {
            Some(v) => {
                let v = parse_version_id(v)?;
                self.store().get_object_version(bucket, key, v).await?
            }
            None => self.store().get_object(bucket, key).await?,
        };
        let shown_version = if found.head.versioned {
            Some(found.head.version_id)
        } else {
            self.store().bucket(bucket)?.shown_version(NULL_VERSION)
        };
        let size = found.head.size;
        let etag_quoted = format!(
            "\"{}\"",
            etag_string(&found.head.etag, found.head.etag_parts)
        );
        let conditions = ReadConditions::from_headers(|n| header(self.headers, n));
        match conditions.evaluate(
            etag_quoted.trim_matches('"'),
            found.head.mtime_nanos / 1_000_000_000,
        ) {
            ReadVerdict::Proceed => {}
            ReadVerdict::NotModified => {
                return Response::builder()
                    .status(StatusCode::NOT_MODIFIED)
                    .header("etag", &etag_quoted)
                    .header("last-modified", time::http_date(found.head.mtime_nanos))
                    .body(ResponseBody::empty())
                    .map_err(|e| err(S3ErrorCode::InternalError, e.to_string()));
            }
            ReadVerdict::PreconditionFailed(which) => {
                return Err(err(
                    S3ErrorCode::PreconditionFailed,
                    format!(
                        "At least one of the pre-conditions you specified did not hold ({which})"
                    ),
                ));
            }
        }
        let part = self.part_number()?;
        // The byte range to send, and whether it is partial.
        let (first, last, partial) = match part {
            Some(n) => part_range(&found, n)?,
            None => match header(self.headers, "range")
                .map(range::parse_range)
                .transpose()?
                .flatten()
            {
                Some(spec) => {
                    let (f, l) = range::resolve(spec, size)?;
                    (f, l, true)
                }
                None => (0, size.saturating_sub(1), false),
            },
        };
        let len = if size == 0 { 0 } else { last - first + 1 };
        let mut builder = Response::builder()
            .status(if partial {
                StatusCode::PARTIAL_CONTENT
            } else {
                StatusCode::OK
            })
            .header("content-length", len)
            .header("accept-ranges", "bytes")
            .header("etag", &etag_quoted)
            .header("last-modified", time::http_date(found.head.mtime_nanos));
        if partial {
            builder = builder.header("content-range", range::content_range(first, last, size));
        }
        if let Some(v) = shown_version {
            builder = builder.header("x-amz-version-id", format_version_id(&v));
        }
        if !found.head.parts.is_empty() {
            builder = builder.header("x-amz-mp-parts-count", found.head.parts.len());
        }
        if found.head.expiry_secs != 0 {
            builder = builder.header("x-delete-at", found.head.expiry_secs);
        }
        if let Some((t, id)) = self.store().bucket(bucket)?.rule_expiry(
            key,
            found.head.size,
            &found.head.meta,
            found.head.mtime_nanos,
        ) {
            builder = builder.header(
                "x-amz-expiration",
                crate::s3::lifecycle::expiration_header(t, &id),
            );
        }
        let checksum_mode = header(self.headers, "x-amz-checksum-mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"));
        if let (true, Some(c)) = (checksum_mode, &found.head.checksum) {
            // A whole object shows its checksum; a part (partNumber) of a
            // composite one shows the part's; other ranges show none.
            let shown = match (part, partial) {
                (None, false) => Some(c.stored().value()),
                (Some(n), _) => usize::try_from(n)
                    .ok()
                    .and_then(|n| c.part_digests.get(n.checked_sub(1)?))
                    .map(|d| checksum::encode(d)),
                (None, true) => None,
            };
            if let Some(v) = shown {
                builder = builder
                    .header(c.algorithm.header(), v)
                    .header("x-amz-checksum-type", c.stored().kind());
            }
        }
        let mut has_type = false;
        let tag_count = crate::s3::tagging::tags_in(&found.head.meta).len();
        if tag_count > 0 {
            builder = builder.header("x-amz-tagging-count", tag_count);
        }
        for (n, v) in &found.head.meta {
            if n == crate::s3::tagging::TAGGING_META {
                continue;
            }
            has_type |= n == "content-type";
            if let Ok(v) = HeaderValue::from_str(v) {
                builder = builder.header(n.as_str(), v);
            }
        }
        if !has_type {
            builder = builder.header("content-type", "binary/octet-stream");
        }
        let mut resp = builder
            .body(ResponseBody::empty())
            .map_err(|e| err(S3ErrorCode::InternalError, e.to_string()))?;
        for (q, h) in [
            ("response-content-type", "content-type"),
            ("response-content-language", "content-language"),
            ("response-expires", "expires"),
            ("response-cache-control", "cache-control"),
            ("response-content-disposition", "content-disposition"),
            ("response-content-encoding", "content-encoding"),
        ] {
            if let Some(v) = self.q(q).and_then(|v| HeaderValue::from_str(v).ok()) {
                resp.headers_mut().insert(h, v);
            }
        }
        if head_only || len == 0 {
            return Ok(resp);
        }
        *resp.body_mut() = object_body(self.node, found, first, last).await?;
        Ok(resp)
    }
}

/// Bytes [first, last] of part `n` of a multipart object (part 1 of a
/// single-part object is all of it).
fn part_range(found: &FoundObject, n: u32) -> Result<(u64, u64, bool), S3Error> {
    let size = found.head.size;
    if found.head.parts.is_empty() {
        return if n == 1 {
            Ok((0, size.saturating_sub(1), false))
        } else {
            Err(err(
                S3ErrorCode::InvalidRange,
                "The requested partnumber is not satisfiable",
            ))
        };
    }
    let mut start = 0u64;
    for (i, p) in found.head.parts.iter().enumerate() {
        if i + 1 == n as usize {
            return Ok((start, start + p.size.saturating_sub(1), true));
        }
        start += p.size;
    }
    Err(err(
        S3ErrorCode::InvalidRange,
        "The requested partnumber is not satisfiable",
    ))
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

/// The body for bytes [first, last] of the object. Within one chunk (every
/// object up to a chunk's size) the chunk is read and verified before the
/// response starts, so headers and body leave in one write and an
/// unreadable chunk is an error response; a longer range is streamed.
async fn object_body(
    node: &Node,
    found: FoundObject,
    first: u64,
    last: u64,
) -> Result<ResponseBody, S3Error> {
    let mut at = 0u64;
    for c in &found.head.chunks {
        let (start, end) = (at, at + u64::from(c.len));
        at = end;
        if end <= first {
            continue;
        }
        if last >= end {
            break; // spans more than this chunk
        }
        let rec = node.store.segments().read(c.loc).await.map_err(|e| {
            err(
                S3ErrorCode::InternalError,
                format!("reading the object: {e}"),
            )
        })?;
        let (from, to) = ((first - start) as usize, (last + 1 - start) as usize);
        if rec.payload.len() != c.len as usize || to > rec.payload.len() {
            return Err(err(
                S3ErrorCode::InternalError,
                "object chunk length differs from its head",
            ));
        }
        return Ok(ResponseBody::Full(Some(rec.payload.slice(from..to))));
    }
    Ok(stream_object(node, found, first, last))
}

/// A body that streams bytes [first, last] of the object, chunk by chunk
/// (each verified when read), one chunk ahead of the socket.
fn stream_object(node: &Node, found: FoundObject, first: u64, last: u64) -> ResponseBody {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let segments = node.store.segments().clone();
    tokio::task::spawn_local(async move {
        let mut at = 0u64;
        for c in &found.head.chunks {
            let (start, end) = (at, at + u64::from(c.len));
            at = end;
            if end <= first || start > last {
                continue;
            }
            let from = first.saturating_sub(start) as usize;
            let to = ((last + 1).min(end) - start) as usize;
            let piece = match segments.read(c.loc).await {
                Ok(rec) if rec.payload.len() == c.len as usize && to <= rec.payload.len() => {
                    Ok(rec.payload.slice(from..to))
                }
                Ok(_) => Err(std::io::Error::other(
                    "object chunk length differs from its head",
                )),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let failed = piece.is_err();
            if tx.send(piece).await.is_err() || failed {
                // The client went away, or the data is unreadable: the
                // response is cut short (never filled with wrong bytes).
                return;
            }
        }
    });
    ResponseBody::Stream(rx)
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
            "x-amz-metadata-directive",
            "if-match",
            "if-none-match",
        ];
        for m in [Method::PUT, Method::POST] {
            for n in super::STORED_HEADERS.iter().chain(&acted_on) {
                assert!(
                    must_sign(&m, n) || WRITE_UNSIGNED_STORED.contains(n),
                    "{m} {n}"
                );
            }
        }
    }
}
