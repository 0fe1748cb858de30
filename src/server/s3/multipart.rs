//! Multipart uploads: parts (uploaded or copied), listing parts,
//! completion.

use http::{HeaderValue, StatusCode};
use hyper::Response;

use super::object::{content_md5, object_length};
use super::sse::set_sse_headers;
use super::{empty, header, set_header, xml_response, Op, XML_BODY_MAX};
use crate::object::store::{etag_string, ObjectRange};
use crate::object::versioning::format_version_id;
use crate::s3::copy_source::parse_copy_range;
use crate::s3::{time, xml, S3Error, S3ErrorCode};
use crate::server::body::{RequestBody, ResponseBody};

impl Op<'_> {
    pub(super) async fn list_parts(
        &self,
        bucket: &str,
        key: &[u8],
        id: &str,
    ) -> Result<String, S3Error> {
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

    /// UploadPartCopy: a part from a current object, whole or
    /// `x-amz-copy-source-range`.
    pub(super) async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &[u8],
        upload_id: &str,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let part = self.required_part_number()?;
        let (_, found) = self.copy_source().await?;
        let source_cipher = self
            .store()
            .unlock(found.head.sse.as_ref(), self.copy_source_key()?.as_ref())?;
        let sse_key = self.sse_customer_key()?;
        let size = found.head.size;
        self.store().check_space(size)?;
        let (first, end) = match header(self.headers, "x-amz-copy-source-range") {
            Some(r) => {
                let (f, l) = parse_copy_range(r, size)?;
                (f, l + 1)
            }
            None => (0, size),
        };
        let mut body =
            ObjectRange::new(self.store(), &found.head, first, end).with_cipher(source_cipher);
        let (etag, _, mode) = self
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
                sse_key.as_ref(),
                &mut body,
            )
            .await?;
        let mut r = xml_response(
            StatusCode::OK,
            xml::copy_result(
                true,
                &time::iso8601_millis(crate::clock::now_nanos()),
                &format!("\"{}\"", etag_string(&etag, 0)),
            ),
        )?;
        set_sse_headers(&mut r, mode, sse_key.as_ref());
        Ok(r)
    }

    pub(super) async fn upload_part(
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
        let sse_key = self.sse_customer_key()?;
        let (etag, shown, mode) = self
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
                sse_key.as_ref(),
                &mut body,
            )
            .await?;
        let mut r = empty(StatusCode::OK)?;
        set_sse_headers(&mut r, mode, sse_key.as_ref());
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

    pub(super) async fn complete_multipart(
        &self,
        bucket: &str,
        key: &[u8],
        upload_id: &str,
        mut body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let condition = self.write_condition()?;
        let sse_key = self.sse_key_only()?;
        let b = body.collect(XML_BODY_MAX).await?;
        let parts = xml::parse_complete_parts(&b)?;
        // An upload no longer open may be a completion retried after its
        // response was lost: `complete` answers that (or NoSuchUpload).
        match self.node.uploads.manifest(bucket, key, upload_id).await {
            Ok(manifest) => {
                let size: u64 = manifest
                    .parts
                    .iter()
                    .filter(|p| parts.iter().any(|c| c.number == p.number))
                    .map(|p| p.size)
                    .sum();
                // The upload's parts already count as used; completing turns them
                // into the object (and releases the parts left out).
                let in_parts: u64 = manifest.parts.iter().map(|p| p.size).sum();
                self.check_quota(bucket, key, size.saturating_sub(in_parts))?;
            }
            Err(e) if e.code == S3ErrorCode::NoSuchUpload => {}
            Err(e) => return Err(e),
        }
        let done = self
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
        // The object's checksum, as AWS shows it in the response
        // (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html>).
        let shown = done.checksum.as_ref().and_then(|c| {
            let a = c.algorithm?;
            Some((a, c.value(), c.kind()))
        });
        let mut r = xml_response(
            StatusCode::OK,
            xml::complete_multipart_with_checksum(
                &format!("/{bucket}/{key_s}"),
                bucket,
                &key_s,
                &format!("\"{}\"", etag_string(&done.etag, done.parts)),
                shown
                    .as_ref()
                    .map(|(a, v, k)| (a.xml_element(), v.as_str(), *k)),
            ),
        )?;
        if let Some(v) = done.version {
            set_header(&mut r, "x-amz-version-id", &format_version_id(&v));
        }
        if let Some((a, v, k)) = &shown {
            set_header(&mut r, a.header(), v);
            set_header(&mut r, "x-amz-checksum-type", k);
        }
        set_sse_headers(&mut r, done.sse, sse_key.as_ref());
        Ok(r)
    }
}
