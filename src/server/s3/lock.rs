//! Object Lock operations: the bucket's ObjectLockConfiguration, a
//! version's retention and legal hold, and what writes and deletes take
//! from the request (lock headers, the governance bypass).
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html>

use http::StatusCode;
use hyper::Response;

use super::object::content_md5;
use super::{empty, err, set_header, xml_response, Op, XML_BODY_MAX};
use crate::object::store::BodySource;
use crate::object::versioning::{format_version_id, parse_version_id};
use crate::s3::object_lock::{self, LockMode, ObjectLock, Retention};
use crate::s3::operation::{self, Operation};
use crate::s3::{xml, S3Error, S3ErrorCode};
use crate::server::body::{RequestBody, ResponseBody};

impl Op<'_> {
    /// Refuses a request that must prove its body's integrity (AWS: lock
    /// carrying writes and the lock operations) but has neither
    /// Content-MD5 nor an additional checksum.
    fn require_integrity(&self) -> Result<(), S3Error> {
        if content_md5(self.headers)?.is_some() || self.checksum()?.is_some() {
            return Ok(());
        }
        Err(err(
            S3ErrorCode::InvalidRequest,
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
        ))
    }

    /// The lock a new version written by this request (PUT, copy,
    /// CreateMultipartUpload) gets: its lock headers (then the bucket
    /// must have Object Lock, and a PUT must carry Content-MD5 or a
    /// checksum), else the bucket's default retention.
    pub(super) fn write_lock(&self, bucket: &str, has_body: bool) -> Result<ObjectLock, S3Error> {
        let now = crate::clock::expiry_now_secs();
        let requested = object_lock::from_headers(self.headers, now)?;
        let lock = self.store().new_version_lock(bucket, requested, now)?;
        if has_body && !lock.is_empty() {
            self.require_integrity()?;
        }
        Ok(lock)
    }

    /// Whether this request bypasses GOVERNANCE retention: it asks to
    /// (`x-amz-bypass-governance-retention: true`) and may
    /// (`s3:BypassGovernanceRetention`; a system user and the bucket's
    /// owner may).
    pub(super) fn bypass_governance(&self, bucket: &str, key: &[u8]) -> Result<bool, S3Error> {
        if !object_lock::bypass_requested(self.headers) {
            return Ok(false);
        }
        self.may_action(bucket, key, "s3:BypassGovernanceRetention")
    }

    /// An XML body of a lock operation: Content-MD5 or a checksum must
    /// come, and match.
    async fn lock_body(&self, mut body: RequestBody) -> Result<Vec<u8>, S3Error> {
        self.require_integrity()?;
        let checksum = self.checksum()?;
        let b = match checksum {
            None => return self.xml_body(body).await,
            Some(c) => {
                let b = body.collect(XML_BODY_MAX).await?;
                c.verify(&c.algorithm.digest(&b), body.trailer(c.algorithm.header()))?;
                b
            }
        };
        if let Some(m) = content_md5(self.headers)? {
            use md5::Digest;
            let got: [u8; 16] = md5::Md5::digest(&b).into();
            if got != m {
                return Err(err(
                    S3ErrorCode::BadDigest,
                    "The Content-MD5 you specified did not match what we received.",
                ));
            }
        }
        Ok(b.to_vec())
    }

    /// Put/GetObjectLockConfiguration.
    pub(super) async fn bucket_lock_op(
        &self,
        op: Operation,
        bucket: &str,
        body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        match op {
            Operation::PutObjectLockConfiguration => {
                self.store().bucket(bucket)?;
                let b = self.lock_body(body).await?;
                let config = xml::parse_object_lock_config(&b)?;
                self.store().set_lock_config(bucket, &config).await?;
                empty(StatusCode::OK)
            }
            Operation::GetObjectLockConfiguration => match self.store().lock_config(bucket)? {
                Some(c) => xml_response(StatusCode::OK, xml::object_lock_config(&c)),
                None => Err(err(
                    S3ErrorCode::ObjectLockConfigurationNotFoundError,
                    "Object Lock configuration does not exist for this bucket",
                )),
            },
            other => Err(operation::not_implemented(other)),
        }
    }

    /// Put/GetObjectRetention and Put/GetObjectLegalHold (of the current
    /// version, or of `versionId`).
    pub(super) async fn object_lock_op(
        &self,
        op: Operation,
        bucket: &str,
        key: &[u8],
        body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let version = self.q("versionId").map(parse_version_id).transpose()?;
        if self.store().lock_config(bucket)?.is_none() {
            return Err(err(
                S3ErrorCode::InvalidRequest,
                "Bucket is missing Object Lock Configuration",
            ));
        }
        let found = match op {
            Operation::GetObjectRetention | Operation::GetObjectLegalHold => {
                let found = match version {
                    Some(v) => self.store().get_object_version(bucket, key, v).await?,
                    None => self.store().get_object(bucket, key).await?,
                };
                return match op {
                    Operation::GetObjectRetention => match found.head.lock.retention {
                        Some(r) => xml_response(StatusCode::OK, xml::retention(&r)),
                        None => Err(err(
                            S3ErrorCode::NoSuchObjectLockConfiguration,
                            "The specified object does not have a ObjectLock configuration",
                        )),
                    },
                    _ => xml_response(StatusCode::OK, xml::legal_hold(found.head.lock.legal_hold)),
                };
            }
            Operation::PutObjectRetention => {
                let b = self.lock_body(body).await?;
                let now = crate::clock::expiry_now_secs();
                let next = match xml::parse_retention(&b)? {
                    (None, None) => None,
                    (Some(m), Some(u)) => Some(Retention {
                        mode: LockMode::from_name(&m).ok_or_else(|| {
                            err(
                                S3ErrorCode::MalformedXML,
                                "Unknown Object Lock retention mode",
                            )
                        })?,
                        until_secs: object_lock::parse_until(&u, now)?,
                    }),
                    _ => {
                        return Err(err(
                            S3ErrorCode::MalformedXML,
                            "A Retention needs both Mode and RetainUntilDate",
                        ))
                    }
                };
                let bypass = self.bypass_governance(bucket, key)?;
                self.store()
                    .rewrite_head(bucket, key, version, |h| {
                        if h.delete_marker {
                            return Err(err(
                                S3ErrorCode::MethodNotAllowed,
                                "The specified method is not allowed against a delete marker",
                            ));
                        }
                        let now = crate::clock::expiry_now_secs();
                        h.lock.may_change_retention(next, now, bypass)?;
                        let mut h = h.clone();
                        h.lock.retention = next;
                        Ok(h)
                    })
                    .await?
            }
            Operation::PutObjectLegalHold => {
                let b = self.lock_body(body).await?;
                let on = object_lock::parse_hold(&xml::parse_legal_hold(&b)?).map_err(|_| {
                    err(
                        S3ErrorCode::MalformedXML,
                        "Legal Hold Status must be ON or OFF",
                    )
                })?;
                self.store()
                    .rewrite_head(bucket, key, version, |h| {
                        let mut h = h.clone();
                        h.lock.legal_hold = on;
                        Ok(h)
                    })
                    .await?
            }
            other => return Err(operation::not_implemented(other)),
        };
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
}
