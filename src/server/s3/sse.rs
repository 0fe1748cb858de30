//! Server-side encryption in requests: how a write is encrypted (its
//! headers, else the bucket's default), the SSE-C keys a read or a copy
//! source gives, the headers responses show, and the bucket's default
//! encryption (Put/Get/DeleteBucketEncryption).
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/serv-side-encryption.html>

use http::{HeaderValue, StatusCode};
use hyper::Response;

use super::{empty, err, header, xml_response, Op};
use crate::object::sse::SseMode;
use crate::object::store::SseWrite;
use crate::s3::operation::{self, Operation};
use crate::s3::sse::{self, CustomerKey, SseRequest};
use crate::s3::{xml, S3Error, S3ErrorCode};
use crate::server::body::{RequestBody, ResponseBody};

impl Op<'_> {
    /// What this write request asks for (`x-amz-server-side-encryption`,
    /// SSE-C headers).
    pub(super) fn sse_request(&self) -> Result<SseRequest, S3Error> {
        sse::write_request(|n| header(self.headers, n))
    }

    /// How a new object of `bucket` written by this request is encrypted,
    /// and the SSE-C key it gave (shown back by its MD5).
    pub(super) fn sse_write(
        &self,
        bucket: &str,
    ) -> Result<(Option<SseWrite>, Option<CustomerKey>), S3Error> {
        let req = self.sse_request()?;
        let key = match &req {
            SseRequest::Customer(k) => Some(k.clone()),
            _ => None,
        };
        Ok((self.store().new_sse(bucket, &req)?, key))
    }

    /// The SSE-C key a request may repeat where it changes nothing
    /// (CompleteMultipartUpload), shown back in the response.
    pub(super) fn sse_key_only(&self) -> Result<Option<CustomerKey>, S3Error> {
        sse::customer_key(|n| header(self.headers, n), sse::CUSTOMER_PREFIX)
    }

    /// The SSE-C key a read (GET, HEAD) gives.
    pub(super) fn sse_read_key(&self) -> Result<Option<CustomerKey>, S3Error> {
        sse::read_request(|n| header(self.headers, n))
    }

    /// The SSE-C key a request gives without asking for encryption of its
    /// own (UploadPart: the upload's key).
    pub(super) fn sse_customer_key(&self) -> Result<Option<CustomerKey>, S3Error> {
        sse::part_request(|n| header(self.headers, n))
    }

    /// The SSE-C key of the copy source
    /// (`x-amz-copy-source-server-side-encryption-customer-*`).
    pub(super) fn copy_source_key(&self) -> Result<Option<CustomerKey>, S3Error> {
        sse::customer_key(
            |n| header(self.headers, n),
            sse::COPY_SOURCE_CUSTOMER_PREFIX,
        )
    }

    /// Put/Get/DeleteBucketEncryption.
    pub(super) async fn bucket_encryption_op(
        &self,
        op: Operation,
        bucket: &str,
        body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        match op {
            Operation::PutBucketEncryption => {
                self.store().bucket(bucket)?;
                let b = self.xml_body(body).await?;
                xml::parse_bucket_encryption(&b)?;
                self.store().set_bucket_encryption(bucket, true).await?;
                empty(StatusCode::OK)
            }
            Operation::GetBucketEncryption => {
                if self.store().bucket_encryption(bucket)? {
                    xml_response(StatusCode::OK, xml::bucket_encryption())
                } else {
                    Err(err(
                        S3ErrorCode::ServerSideEncryptionConfigurationNotFoundError,
                        "The server side encryption configuration was not found",
                    ))
                }
            }
            Operation::DeleteBucketEncryption => {
                self.store().bucket(bucket)?;
                self.store().set_bucket_encryption(bucket, false).await?;
                empty(StatusCode::NO_CONTENT)
            }
            other => Err(operation::not_implemented(other)),
        }
    }
}

/// Sets the SSE response headers of an object encrypted in `mode` (SSE-C
/// shows the MD5 of the key the request gave).
pub(super) fn set_sse_headers(
    r: &mut Response<ResponseBody>,
    mode: Option<SseMode>,
    key: Option<&CustomerKey>,
) {
    let Some(mode) = mode else { return };
    let customer = mode == SseMode::Customer;
    for (n, v) in sse::response_headers(customer, key.map(|k| k.key_md5.as_str())) {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(n, v);
        }
    }
}
