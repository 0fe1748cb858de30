//! Object writes: the object operations' dispatch, PUT, copy, tagging,
//! and the stored headers a write takes from the request.

use base64::Engine;
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper::Response;

use super::sse::set_sse_headers;
use super::{empty, err, header, set_header, xml_response, Op, XML_BODY_MAX};
use crate::object::store::{etag_string, FoundObject, PutOptions};
use crate::object::versioning::{format_version_id, parse_version_id};
use crate::s3::checksum::{self, Algorithm};
use crate::s3::conditional::{ReadConditions, ReadVerdict};
use crate::s3::copy_source::{parse_copy_source, CopySource};
use crate::s3::operation::{self, Operation};
use crate::s3::{time, xml, S3Error, S3ErrorCode};
use crate::server::body::{RequestBody, ResponseBody};

impl Op<'_> {
    /// `meta` with the ACL of the request's `x-amz-acl` / `x-amz-grant-*`
    /// headers, if any came.
    /// Setting an ACL takes s3:PutObjectAcl besides the write's own
    /// permission (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>,
    /// "Permissions").
    fn with_header_acl(
        &self,
        bucket: &str,
        key: &[u8],
        meta: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, S3Error> {
        let meta = match self.header_acl(bucket)? {
            Some(a) => {
                if !self.may_set_acl(bucket, key)? {
                    return Err(err(
                        S3ErrorCode::AccessDenied,
                        "Access Denied: setting an object's ACL needs s3:PutObjectAcl",
                    ));
                }
                crate::s3::acl::with_acl(&meta, &a)
            }
            None => meta,
        };
        fits_head(&meta)?;
        Ok(meta)
    }

    /// PutObjectTagging / DeleteObjectTagging (empty `tags`).
    pub(super) async fn set_tags(
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

    /// Runs a supported object operation.
    pub(super) async fn object_op(
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
                let condition = crate::s3::conditional::DeleteCondition::from_headers(|n| {
                    header(self.headers, n)
                })?;
                let bypass = self.bypass_governance(bucket, key)?;
                let out = self
                    .store()
                    .delete_object_with(bucket, key, version, condition.as_ref(), bypass)
                    .await?;
                let mut r = empty(StatusCode::NO_CONTENT)?;
                if let Some(v) = out.version_id {
                    set_header(&mut r, "x-amz-version-id", &format_version_id(&v));
                }
                if out.delete_marker {
                    set_header(&mut r, "x-amz-delete-marker", "true");
                }
                Ok(r)
            }
            Operation::PutObjectRetention
            | Operation::GetObjectRetention
            | Operation::PutObjectLegalHold
            | Operation::GetObjectLegalHold => self.object_lock_op(op, bucket, key, body).await,
            Operation::CreateMultipartUpload => {
                self.store().bucket(bucket)?;
                crate::s3::names::validate_object_key(key)?;
                let lock = self.write_lock(bucket, false)?;
                let (sse, sse_key) = self.sse_write(bucket)?;
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
                    self.with_header_acl(
                        bucket,
                        key,
                        with_header_tags(object_meta(self.headers)?, self.headers)?,
                    )?,
                    algorithm,
                    lock,
                    sse.as_ref().map(|s| &s.info),
                )?;
                let mut r = xml_response(
                    StatusCode::OK,
                    xml::initiate_multipart(bucket, &String::from_utf8_lossy(key), &id),
                )?;
                set_sse_headers(&mut r, sse.map(|s| s.info.mode), sse_key.as_ref());
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

    /// The current object `x-amz-copy-source` names, once its
    /// `x-amz-copy-source-if-*` conditions hold (412 otherwise, including
    /// where a GET would answer 304).
    pub(super) async fn copy_source(&self) -> Result<(CopySource, FoundObject), S3Error> {
        let source =
            parse_copy_source(header(self.headers, "x-amz-copy-source").unwrap_or_default())?;
        self.authorize(Operation::GetObject, &source.bucket, Some(&source.key))
            .await?;
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
    pub(super) async fn copy_object(
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
        let source_cipher = self
            .store()
            .unlock(found.head.sse.as_ref(), self.copy_source_key()?.as_ref())?;
        self.check_quota(bucket, key, found.head.size)?;
        let sse_req = self.sse_request()?;
        let sse_key = match &sse_req {
            crate::s3::sse::SseRequest::Customer(k) => Some(k.clone()),
            _ => None,
        };
        // A copy onto itself that (re)encrypts changes the object.
        let encrypts = sse_req != crate::s3::sse::SseRequest::None;
        if !replace && !encrypts && source.bucket == bucket && source.key == key {
            return Err(err(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let mut meta = if replace {
            object_meta(self.headers)?
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
        // A copy does not keep the source's ACL: it gets the request's
        // (private without one), as on AWS.
        // <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>
        meta = crate::s3::acl::with_acl(&meta, &crate::s3::acl::Acl::default());
        meta = self.with_header_acl(bucket, key, meta)?;
        let lock = self.write_lock(bucket, false)?;
        let sse = self.store().new_sse(bucket, &sse_req)?;
        let mode = sse.as_ref().map(|s| s.info.mode);
        let out = self
            .store()
            .copy_object(
                &found,
                source_cipher,
                bucket,
                key,
                meta,
                self.write_condition()?,
                lock,
                sse,
            )
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
        set_sse_headers(&mut r, mode, sse_key.as_ref());
        Ok(r)
    }

    pub(super) async fn put_object(
        &self,
        bucket: &str,
        key: &[u8],
        mut body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let chunked = body.is_chunked();
        let len = object_length(self.headers, chunked)?;
        self.check_quota(bucket, key, len.unwrap_or(0))?;
        let lock = self.write_lock(bucket, true)?;
        let (sse, sse_key) = self.sse_write(bucket)?;
        let mode = sse.as_ref().map(|s| s.info.mode);
        let put = PutOptions {
            lock,
            sse,
            meta: self.with_header_acl(
                bucket,
                key,
                with_header_tags(object_meta(self.headers)?, self.headers)?,
            )?,
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
        set_sse_headers(&mut r, mode, sse_key.as_ref());
        Ok(r)
    }
}

/// The declared length of the object bytes: `x-amz-decoded-content-length`
/// for aws-chunked bodies, else `Content-Length`.
pub(super) fn object_length(headers: &HeaderMap, chunked: bool) -> Result<Option<u64>, S3Error> {
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

pub(super) fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, S3Error> {
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
pub(super) const STORED_HEADERS: [&str; 6] = [
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
];

/// `meta` with the tag set of an `x-amz-tagging` header, if one came.
pub(super) fn with_header_tags(
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

/// The content headers and `x-amz-meta-*` a write stores. A metadata
/// value that is not ASCII is kept RFC 2047-encoded (`=?UTF-8?B?...?=`),
/// as AWS stores and returns it
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html>,
/// "User-defined object metadata"); one that is not UTF-8 either is
/// refused.
pub(super) fn object_meta(headers: &HeaderMap) -> Result<Vec<(String, String)>, S3Error> {
    let mut meta = Vec::new();
    for (name, value) in headers {
        let n = name.as_str();
        if !(n.starts_with("x-amz-meta-") || STORED_HEADERS.contains(&n)) {
            continue;
        }
        let v = match value.to_str() {
            Ok(v) => v.to_string(),
            Err(_) => match std::str::from_utf8(value.as_bytes()) {
                Ok(text) => format!(
                    "=?UTF-8?B?{}?=",
                    base64::engine::general_purpose::STANDARD.encode(text)
                ),
                Err(_) => {
                    return Err(err(
                        S3ErrorCode::InvalidArgument,
                        format!("The value of header {n} is not UTF-8"),
                    ))
                }
            },
        };
        if n == "content-encoding" {
            // aws-chunked is transport framing, not the object's encoding;
            // anything else is stored as sent ("deflate, gzip" stays so).
            let tokens: Vec<&str> = v.split(',').map(str::trim).collect();
            if tokens.iter().any(|t| t.eq_ignore_ascii_case("aws-chunked")) {
                let rest: Vec<&str> = tokens
                    .into_iter()
                    .filter(|t| !t.eq_ignore_ascii_case("aws-chunked") && !t.is_empty())
                    .collect();
                if !rest.is_empty() {
                    meta.push((n.to_string(), rest.join(", ")));
                }
            } else {
                meta.push((n.to_string(), v));
            }
        } else {
            meta.push((n.to_string(), v));
        }
    }
    Ok(meta)
}

/// Refuses (MetadataTooLarge) metadata, tags and ACL together larger than
/// an object head holds (`format-spec/object.md`, `meta_len`), before
/// anything is stored.
pub(super) fn fits_head(meta: &[(String, String)]) -> Result<(), S3Error> {
    let len: usize = meta.iter().map(|(n, v)| 6 + n.len() + v.len()).sum();
    if len > crate::object::head::META_BYTES_MAX {
        return Err(err(
            S3ErrorCode::MetadataTooLarge,
            format!(
                "Your metadata headers, tags and ACL take {len} bytes; an object holds at most {}",
                crate::object::head::META_BYTES_MAX
            ),
        ));
    }
    Ok(())
}
