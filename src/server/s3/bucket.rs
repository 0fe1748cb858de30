//! Bucket operations: list buckets, the bucket subresources, listings
//! (objects, versions, multipart uploads), multi-object delete.

use base64::Engine;
use http::{HeaderValue, StatusCode};
use hyper::Response;

use super::object::content_md5;
use super::{empty, err, storage_class_name, xml_response, Op, XML_BODY_MAX};
use crate::index::listing::ListParams;
use crate::object::store::etag_string;
use crate::object::versioning::{format_version_id, parse_version_id};
use crate::s3::operation::{self, Operation};
use crate::s3::{time, xml, S3Error, S3ErrorCode};
use crate::server::body::{RequestBody, ResponseBody};

impl Op<'_> {
    /// ListBuckets: the caller's buckets (every bucket for a system
    /// user) by name, filtered by `prefix`, in pages of `max-buckets`
    /// (1 to 10000; all at once without it) resumed after the bucket a
    /// `continuation-token` names:
    /// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html>.
    pub(super) fn list_buckets(&self) -> Result<Response<ResponseBody>, S3Error> {
        let max = match self.q("max-buckets") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        err(
                            S3ErrorCode::InvalidArgument,
                            "max-buckets must be an integer between 1 and 10000",
                        )
                    })?,
            ),
        };
        let after = match self.q("continuation-token") {
            None => None,
            Some(t) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        err(
                            S3ErrorCode::InvalidArgument,
                            "The continuation token provided is incorrect",
                        )
                    })?,
            ),
        };
        let prefix = self.q("prefix").unwrap_or_default();
        let owner_filter = (!self.caller.system).then_some(self.caller.uid.as_str());
        let mut buckets: Vec<(String, String)> = self
            .store()
            .list_buckets(owner_filter)
            .into_iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .filter(|(n, _)| after.as_ref().is_none_or(|a| n > a))
            .map(|(n, t)| (n, time::iso8601_millis(t)))
            .collect();
        let next = match max {
            Some(m) if buckets.len() > m => {
                buckets.truncate(m);
                buckets
                    .last()
                    .map(|(n, _)| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n))
            }
            _ => None,
        };
        xml_response(
            StatusCode::OK,
            xml::list_buckets_page(
                &self.caller.uid,
                &self.caller.display_name,
                &buckets,
                next.as_deref(),
                self.q("prefix"),
            ),
        )
    }

    /// Runs a supported bucket operation.
    pub(super) async fn bucket_op(
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
                if !enabled && self.store().lock_config(bucket)?.is_some() {
                    return Err(err(
                        S3ErrorCode::InvalidBucketState,
                        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
                    ));
                }
                self.store().set_versioning(bucket, enabled).await?;
                empty(StatusCode::OK)
            }
            Operation::PutBucketLifecycleConfiguration => {
                self.store().bucket(bucket)?;
                let b = body.collect(XML_BODY_MAX).await?;
                let mut lc = xml::parse_lifecycle(&b)?;
                lc.assign_ids(|raw| {
                    getrandom::getrandom(raw).map_err(|e| {
                        err(S3ErrorCode::InternalError, format!("random rule id: {e}"))
                    })
                })?;
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
                let acl = self.header_acl(bucket)?;
                let lock = match super::header(self.headers, "x-amz-bucket-object-lock-enabled") {
                    None => false,
                    Some(v) if v.trim().eq_ignore_ascii_case("true") => true,
                    Some(v) if v.trim().eq_ignore_ascii_case("false") => false,
                    Some(_) => {
                        return Err(err(
                            S3ErrorCode::InvalidArgument,
                            "x-amz-bucket-object-lock-enabled must be true or false",
                        ))
                    }
                };
                let created = self
                    .store()
                    .create_bucket(bucket, location.as_deref(), &self.caller.uid)
                    .await;
                match created {
                    // In us-east-1 AWS answers 200 to a CreateBucket of a
                    // bucket the caller already owns (409 elsewhere):
                    // <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html>,
                    // "BucketAlreadyOwnedByYou".
                    Err(e)
                        if e.code == S3ErrorCode::BucketAlreadyOwnedByYou
                            && self.node.region == "us-east-1" => {}
                    other => other?,
                }
                if lock {
                    // Object Lock turns versioning on for good.
                    self.store().set_versioning(bucket, true).await?;
                    self.store()
                        .set_lock_config(bucket, &Default::default())
                        .await?;
                }
                if let Some(a) = acl.filter(|a| *a != crate::s3::acl::Acl::default()) {
                    self.store()
                        .set_bucket_config(
                            bucket,
                            crate::meta::mdlog::CONFIG_ACL,
                            a.encode().into_bytes(),
                        )
                        .await?;
                }
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
            Operation::PutBucketTagging
            | Operation::GetBucketTagging
            | Operation::DeleteBucketTagging
            | Operation::PutBucketCors
            | Operation::GetBucketCors
            | Operation::DeleteBucketCors => self.bucket_config_op(op, bucket, body).await,
            Operation::PutObjectLockConfiguration | Operation::GetObjectLockConfiguration => {
                self.bucket_lock_op(op, bucket, body).await
            }
            Operation::PutBucketEncryption
            | Operation::GetBucketEncryption
            | Operation::DeleteBucketEncryption => {
                self.bucket_encryption_op(op, bucket, body).await
            }
            // Not a bucket operation, or not supported (refused earlier).
            other => Err(operation::not_implemented(other)),
        }
    }

    /// What every listing takes from the query: max-keys (default 1000,
    /// not negative), encoding-type (only `url`), prefix and delimiter (an
    /// empty one is none).
    pub(super) fn listing_query(&self) -> Result<(i64, bool, String, Option<String>), S3Error> {
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

    pub(super) async fn list_objects(
        &self,
        bucket: &str,
    ) -> Result<Response<ResponseBody>, S3Error> {
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
    pub(super) async fn list_versions(
        &self,
        bucket: &str,
    ) -> Result<Response<ResponseBody>, S3Error> {
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

    pub(super) async fn delete_objects(
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
        let mut conditions = req.conditions.into_iter().peekable();
        for (i, (key, version)) in req.objects.into_iter().enumerate() {
            let condition = conditions.next_if(|(at, _)| *at == i).map(|(_, c)| c);
            let id = match version.as_deref().map(parse_version_id).transpose() {
                Ok(id) => id,
                Err(e) => {
                    errors.push((key, e.code.as_str().to_string(), e.message));
                    continue;
                }
            };
            if !self.may_delete(bucket, key.as_bytes(), id.is_some())? {
                errors.push((key, "AccessDenied".to_string(), "Access Denied".to_string()));
                continue;
            }
            let bypass = self.bypass_governance(bucket, key.as_bytes())?;
            let outcome = self
                .store()
                .delete_object_with(bucket, key.as_bytes(), id, condition.as_ref(), bypass)
                .await;
            match outcome {
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

    pub(super) fn list_uploads(&self, bucket: &str) -> Result<String, S3Error> {
        let max = self.max_param("max-uploads")?;
        let prefix = self.q("prefix").unwrap_or_default();
        let delimiter = self.q("delimiter").filter(|d| !d.is_empty());
        let key_marker = self.q("key-marker").unwrap_or_default();
        let id_marker = self.q("upload-id-marker").unwrap_or_default();
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut last: Option<(String, String)> = None;
        for (key, id, initiated) in self.node.uploads.uploads_of_now(bucket)? {
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
}
