//! Bucket configurations kept as documents in the metadata log: tagging
//! (Put/Get/DeleteBucketTagging) and CORS (Put/Get/DeleteBucketCors).
//! Each is parsed and validated before it is stored, and stored in the
//! canonical form shale renders, so what GET returns reads back the same.

use http::StatusCode;
use hyper::Response;

use super::object::content_md5;
use super::{empty, err, xml_response, Op, XML_BODY_MAX};
use crate::meta::mdlog::{CONFIG_CORS, CONFIG_TAGGING};
use crate::s3::operation::{self, Operation};
use crate::s3::{xml, S3Error, S3ErrorCode};
use crate::server::body::{RequestBody, ResponseBody};

impl Op<'_> {
    /// Runs a bucket tagging or CORS operation.
    pub(super) async fn bucket_config_op(
        &self,
        op: Operation,
        bucket: &str,
        body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let store = self.store();
        match op {
            Operation::PutBucketTagging => {
                store.bucket(bucket)?;
                let b = self.xml_body(body).await?;
                let tags = xml::parse_bucket_tagging(&b)?;
                let doc = xml::tagging(&tags).into_bytes();
                store.set_bucket_config(bucket, CONFIG_TAGGING, doc).await?;
                empty(StatusCode::NO_CONTENT)
            }
            Operation::GetBucketTagging => match store.bucket_config(bucket, CONFIG_TAGGING)? {
                Some(doc) => xml_response(StatusCode::OK, String::from_utf8_lossy(&doc).into()),
                None => Err(err(S3ErrorCode::NoSuchTagSet, "The TagSet does not exist")),
            },
            Operation::DeleteBucketTagging => {
                store.bucket(bucket)?;
                store
                    .set_bucket_config(bucket, CONFIG_TAGGING, Vec::new())
                    .await?;
                empty(StatusCode::NO_CONTENT)
            }
            Operation::PutBucketCors => {
                store.bucket(bucket)?;
                let b = self.xml_body(body).await?;
                let cors = xml::parse_cors(&b)?;
                let doc = xml::cors(&cors).into_bytes();
                store.set_bucket_config(bucket, CONFIG_CORS, doc).await?;
                empty(StatusCode::OK)
            }
            Operation::GetBucketCors => match store.bucket_config(bucket, CONFIG_CORS)? {
                Some(doc) => xml_response(StatusCode::OK, String::from_utf8_lossy(&doc).into()),
                None => Err(err(
                    S3ErrorCode::NoSuchCORSConfiguration,
                    "The CORS configuration does not exist",
                )),
            },
            Operation::DeleteBucketCors => {
                store.bucket(bucket)?;
                store
                    .set_bucket_config(bucket, CONFIG_CORS, Vec::new())
                    .await?;
                empty(StatusCode::NO_CONTENT)
            }
            other => Err(operation::not_implemented(other)),
        }
    }

    /// A configuration body, checked against its `Content-MD5` if one
    /// came.
    pub(super) async fn xml_body(&self, mut body: RequestBody) -> Result<Vec<u8>, S3Error> {
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
        Ok(b.to_vec())
    }
}
