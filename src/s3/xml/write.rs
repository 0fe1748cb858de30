//! Response documents. Each starts with the XML declaration and puts the
//! S3 namespace on its root; every piece of text goes through
//! [`escape_text`], and with `encoding_url` the key-like fields S3 lists for
//! `encoding-type=url` go through [`url_encode`] first.
//!
//! The argument structs are plain data: times are already ISO 8601
//! ([`crate::s3::time::iso8601_millis`]), ETags already quoted.

use std::borrow::Cow;

use super::{escape_text, url_encode, S3_XMLNS};

/// An owner or initiator, `(ID, DisplayName)`.
pub type Owner = (String, String);

/// One object of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListEntry {
    pub key: String,
    pub last_modified_iso: String,
    pub etag_quoted: String,
    pub size: u64,
    pub storage_class: String,
    /// `(ID, DisplayName)`; written by ListObjects (v1) when present, by
    /// ListObjectsV2 only with `fetch_owner`.
    pub owner: Option<Owner>,
}

/// One page of ListObjects (v1) or ListObjectsV2; each writer uses the
/// fields of its version and ignores the others'.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListObjectsResult {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub max_keys: u32,
    pub is_truncated: bool,
    /// `encoding-type=url`: encode Key, Prefix, Delimiter, Marker,
    /// NextMarker, StartAfter and common prefixes, and say so.
    pub encoding_url: bool,
    /// v1: the request's marker (written even when empty, as S3 does).
    pub marker: String,
    /// v1: written when `Some` (S3 sends it only for a truncated page of a
    /// listing with a delimiter).
    pub next_marker: Option<String>,
    /// v2: echoed when the request had one.
    pub continuation_token: Option<String>,
    /// v2: written when `Some` (a truncated page).
    pub next_continuation_token: Option<String>,
    /// v2: echoed when the request had one.
    pub start_after: Option<String>,
    /// v2: contents plus common prefixes of this page.
    pub key_count: u32,
    /// v2: write each entry's owner.
    pub fetch_owner: bool,
    pub contents: Vec<ListEntry>,
    pub common_prefixes: Vec<String>,
}

/// One part of ListParts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartEntry {
    pub part_number: u32,
    pub last_modified_iso: String,
    pub etag_quoted: String,
    pub size: u64,
}

/// One page of ListParts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPartsResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub initiator: Owner,
    pub owner: Owner,
    pub storage_class: String,
    pub part_number_marker: u32,
    pub next_part_number_marker: u32,
    pub max_parts: u32,
    pub is_truncated: bool,
    pub parts: Vec<PartEntry>,
}

/// One upload of ListMultipartUploads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiator: Owner,
    pub owner: Owner,
    pub storage_class: String,
    pub initiated_iso: String,
}

/// One page of ListMultipartUploads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListUploadsResult {
    pub bucket: String,
    /// The request's markers, written even when empty.
    pub key_marker: String,
    pub upload_id_marker: String,
    /// Written when `Some` (a truncated page).
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub max_uploads: u32,
    pub is_truncated: bool,
    /// `encoding-type=url`: encode Key, Prefix, Delimiter, KeyMarker,
    /// NextKeyMarker and common prefixes, and say so.
    pub encoding_url: bool,
    pub uploads: Vec<UploadEntry>,
    pub common_prefixes: Vec<String>,
}

/// A document being written: declaration, root with namespace, children.
struct Doc {
    out: String,
    root: &'static str,
}

impl Doc {
    fn new(root: &'static str) -> Doc {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(root);
        out.push_str(" xmlns=\"");
        out.push_str(S3_XMLNS);
        out.push_str("\">");
        Doc { out, root }
    }

    fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>text</name>`, the text escaped.
    fn leaf(&mut self, name: &str, text: &str) {
        self.open(name);
        self.out.push_str(&escape_text(text));
        self.close(name);
    }

    fn leaf_opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.leaf(name, text);
        }
    }

    fn owner(&mut self, name: &str, owner: &Owner) {
        self.open(name);
        self.leaf("ID", &owner.0);
        self.leaf("DisplayName", &owner.1);
        self.close(name);
    }

    fn common_prefixes(&mut self, prefixes: &[String], enc: impl Fn(&str) -> Cow<'_, str>) {
        for prefix in prefixes {
            self.open("CommonPrefixes");
            self.leaf("Prefix", &enc(prefix));
            self.close("CommonPrefixes");
        }
    }

    fn finish(mut self) -> String {
        let root = self.root;
        self.close(root);
        self.out
    }
}

/// The url-encoder of `encoding-type=url`, or none.
fn encoder(encoding_url: bool) -> impl Fn(&str) -> Cow<'_, str> {
    move |s| match encoding_url {
        true => Cow::Owned(url_encode(s)),
        false => Cow::Borrowed(s),
    }
}

/// ListBuckets (`ListAllMyBucketsResult`); `buckets` are `(name, creation
/// date in ISO 8601)`.
pub fn list_buckets(owner_id: &str, owner_name: &str, buckets: &[(String, String)]) -> String {
    list_buckets_page(owner_id, owner_name, buckets, None, None)
}

/// [`list_buckets`] of one page: the token of the next page if there is
/// one, and the `prefix` asked for.
pub fn list_buckets_page(
    owner_id: &str,
    owner_name: &str,
    buckets: &[(String, String)],
    continuation_token: Option<&str>,
    prefix: Option<&str>,
) -> String {
    let mut doc = Doc::new("ListAllMyBucketsResult");
    doc.open("Owner");
    doc.leaf("ID", owner_id);
    doc.leaf("DisplayName", owner_name);
    doc.close("Owner");
    doc.open("Buckets");
    for (name, creation_iso) in buckets {
        doc.open("Bucket");
        doc.leaf("Name", name);
        doc.leaf("CreationDate", creation_iso);
        doc.close("Bucket");
    }
    doc.close("Buckets");
    doc.leaf_opt("ContinuationToken", continuation_token);
    doc.leaf_opt("Prefix", prefix);
    doc.finish()
}

/// GetBucketLocation: an empty element for us-east-1 (`None` or
/// `"us-east-1"`), as S3 answers.
pub fn location_constraint(region: Option<&str>) -> String {
    let mut doc = Doc::new("LocationConstraint");
    if let Some(region) = region.filter(|r| !r.is_empty() && *r != "us-east-1") {
        doc.out.push_str(&escape_text(region));
    }
    doc.finish()
}

/// CreateMultipartUpload (`InitiateMultipartUploadResult`).
pub fn initiate_multipart(bucket: &str, key: &str, upload_id: &str) -> String {
    let mut doc = Doc::new("InitiateMultipartUploadResult");
    doc.leaf("Bucket", bucket);
    doc.leaf("Key", key);
    doc.leaf("UploadId", upload_id);
    doc.finish()
}

/// POST Object with `success_action_status` 201 (`PostResponse`).
pub fn post_response(location: &str, bucket: &str, key: &str, etag_quoted: &str) -> String {
    let mut doc = Doc::new("PostResponse");
    doc.leaf("Location", location);
    doc.leaf("Bucket", bucket);
    doc.leaf("Key", key);
    doc.leaf("ETag", etag_quoted);
    doc.finish()
}

/// CompleteMultipartUpload (`CompleteMultipartUploadResult`).
pub fn complete_multipart(location: &str, bucket: &str, key: &str, etag_quoted: &str) -> String {
    complete_multipart_with_checksum(location, bucket, key, etag_quoted, None)
}

/// [`complete_multipart`] with the object's checksum: (element such as
/// `ChecksumCRC32`, value, `COMPOSITE`/`FULL_OBJECT`).
pub fn complete_multipart_with_checksum(
    location: &str,
    bucket: &str,
    key: &str,
    etag_quoted: &str,
    checksum: Option<(&str, &str, &str)>,
) -> String {
    let mut doc = Doc::new("CompleteMultipartUploadResult");
    doc.leaf("Location", location);
    doc.leaf("Bucket", bucket);
    doc.leaf("Key", key);
    doc.leaf("ETag", etag_quoted);
    if let Some((element, value, kind)) = checksum {
        doc.leaf(element, value);
        doc.leaf("ChecksumType", kind);
    }
    doc.finish()
}

/// CopyObject (`CopyObjectResult`) or UploadPartCopy (`CopyPartResult`,
/// with `part`).
pub fn copy_result(part: bool, last_modified_iso: &str, etag_quoted: &str) -> String {
    let mut doc = Doc::new(if part {
        "CopyPartResult"
    } else {
        "CopyObjectResult"
    });
    doc.leaf("LastModified", last_modified_iso);
    doc.leaf("ETag", etag_quoted);
    doc.finish()
}

/// What GetObjectAttributes was asked for and found; `None` fields were
/// not asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectAttributes {
    /// Unquoted.
    pub etag: Option<String>,
    /// (element such as `ChecksumCRC32`, value, `FULL_OBJECT`/`COMPOSITE`).
    pub checksum: Option<(&'static str, String, &'static str)>,
    pub parts: Option<ObjectPartsPage>,
    pub storage_class: Option<String>,
    pub size: Option<u64>,
}

/// One page of an object's parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectPartsPage {
    pub total: u32,
    pub marker: u32,
    pub next_marker: Option<u32>,
    pub max_parts: u32,
    pub truncated: bool,
    pub parts: Vec<ObjectPartEntry>,
}

/// (part number, size, the checksum's element and value if the object
/// has per-part checksums).
pub type ObjectPartEntry = (u32, u64, Option<(&'static str, String)>);

/// GetObjectAttributes (`GetObjectAttributesResponse`).
pub fn object_attributes(a: &ObjectAttributes) -> String {
    let mut doc = Doc::new("GetObjectAttributesResponse");
    doc.leaf_opt("ETag", a.etag.as_deref());
    if let Some((element, value, kind)) = &a.checksum {
        doc.open("Checksum");
        doc.leaf(element, value);
        doc.leaf("ChecksumType", kind);
        doc.close("Checksum");
    }
    if let Some(p) = &a.parts {
        doc.open("ObjectParts");
        doc.leaf("PartsCount", &p.total.to_string());
        doc.leaf("PartNumberMarker", &p.marker.to_string());
        if let Some(n) = p.next_marker {
            doc.leaf("NextPartNumberMarker", &n.to_string());
        }
        doc.leaf("MaxParts", &p.max_parts.to_string());
        doc.leaf("IsTruncated", if p.truncated { "true" } else { "false" });
        for (number, size, checksum) in &p.parts {
            doc.open("Part");
            if let Some((element, value)) = checksum {
                doc.leaf(element, value);
            }
            doc.leaf("PartNumber", &number.to_string());
            doc.leaf("Size", &size.to_string());
            doc.close("Part");
        }
        doc.close("ObjectParts");
    }
    doc.leaf_opt("StorageClass", a.storage_class.as_deref());
    if let Some(n) = a.size {
        doc.leaf("ObjectSize", &n.to_string());
    }
    doc.finish()
}

/// GetBucketVersioning: `Enabled`, `Suspended`, or `None` for a bucket
/// that never had versioning (an empty configuration).
pub fn versioning(status: Option<&str>) -> String {
    let mut doc = Doc::new("VersioningConfiguration");
    doc.leaf_opt("Status", status);
    doc.finish()
}

/// One entry of ListObjectVersions: a version or a delete marker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionEntry {
    pub key: String,
    /// `null` or the id.
    pub version_id: String,
    pub is_latest: bool,
    pub delete_marker: bool,
    pub last_modified_iso: String,
    /// Versions only.
    pub etag_quoted: String,
    pub size: u64,
    pub storage_class: String,
    pub owner: Owner,
}

/// One page of ListObjectVersions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListVersionsResult {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: String,
    pub version_id_marker: String,
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
    pub max_keys: u32,
    pub is_truncated: bool,
    pub encoding_url: bool,
    /// In listing order (key ascending, newest version first).
    pub entries: Vec<VersionEntry>,
    pub common_prefixes: Vec<String>,
}

/// ListObjectVersions (`ListVersionsResult`).
pub fn list_versions(r: &ListVersionsResult) -> String {
    let enc = |s: &str| -> String {
        if r.encoding_url {
            url_encode(s)
        } else {
            s.to_string()
        }
    };
    let mut doc = Doc::new("ListVersionsResult");
    doc.leaf("Name", &r.bucket);
    doc.leaf("Prefix", &enc(&r.prefix));
    doc.leaf("KeyMarker", &enc(&r.key_marker));
    doc.leaf("VersionIdMarker", &r.version_id_marker);
    if let Some(m) = &r.next_key_marker {
        doc.leaf("NextKeyMarker", &enc(m));
    }
    doc.leaf_opt("NextVersionIdMarker", r.next_version_id_marker.as_deref());
    doc.leaf("MaxKeys", &r.max_keys.to_string());
    if let Some(d) = &r.delimiter {
        doc.leaf("Delimiter", &enc(d));
    }
    doc.leaf("IsTruncated", if r.is_truncated { "true" } else { "false" });
    if r.encoding_url {
        doc.leaf("EncodingType", "url");
    }
    for e in &r.entries {
        let element = if e.delete_marker {
            "DeleteMarker"
        } else {
            "Version"
        };
        doc.open(element);
        doc.leaf("Key", &enc(&e.key));
        doc.leaf("VersionId", &e.version_id);
        doc.leaf("IsLatest", if e.is_latest { "true" } else { "false" });
        doc.leaf("LastModified", &e.last_modified_iso);
        if !e.delete_marker {
            doc.leaf("ETag", &e.etag_quoted);
            doc.leaf("Size", &e.size.to_string());
            doc.leaf("StorageClass", &e.storage_class);
        }
        doc.open("Owner");
        doc.leaf("ID", &e.owner.0);
        doc.leaf("DisplayName", &e.owner.1);
        doc.close("Owner");
        doc.close(element);
    }
    for p in &r.common_prefixes {
        doc.open("CommonPrefixes");
        doc.leaf("Prefix", &enc(p));
        doc.close("CommonPrefixes");
    }
    doc.finish()
}

/// One `Deleted` element of a DeleteObjects result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletedEntry {
    pub key: String,
    /// The version id the request named, as it named it.
    pub version_id: Option<String>,
    /// A delete marker was made, or the version removed was one.
    pub delete_marker: bool,
    /// The id of a delete marker made.
    pub delete_marker_version_id: Option<String>,
}

/// DeleteObjects (`DeleteResult`): the deleted `(key, version id)` (none in
/// quiet mode; the caller leaves them out) and the failures `(key, code,
/// message)`, code as [`crate::s3::S3ErrorCode::as_str`] spells it.
pub fn delete_result(deleted: &[DeletedEntry], errors: &[(String, String, String)]) -> String {
    let mut doc = Doc::new("DeleteResult");
    for d in deleted {
        doc.open("Deleted");
        doc.leaf("Key", &d.key);
        doc.leaf_opt("VersionId", d.version_id.as_deref());
        if d.delete_marker {
            doc.leaf("DeleteMarker", "true");
        }
        doc.leaf_opt(
            "DeleteMarkerVersionId",
            d.delete_marker_version_id.as_deref(),
        );
        doc.close("Deleted");
    }
    for (key, code, message) in errors {
        doc.open("Error");
        doc.leaf("Key", key);
        doc.leaf("Code", code);
        doc.leaf("Message", message);
        doc.close("Error");
    }
    doc.finish()
}

/// ListObjects, version 1 (`ListBucketResult`).
pub fn list_objects_v1(r: &ListObjectsResult) -> String {
    let enc = encoder(r.encoding_url);
    let mut doc = Doc::new("ListBucketResult");
    doc.leaf("Name", &r.bucket);
    doc.leaf("Prefix", &enc(&r.prefix));
    doc.leaf("Marker", &enc(&r.marker));
    doc.leaf_opt("NextMarker", r.next_marker.as_deref().map(&enc).as_deref());
    doc.leaf("MaxKeys", &r.max_keys.to_string());
    doc.leaf_opt("Delimiter", r.delimiter.as_deref().map(&enc).as_deref());
    doc.leaf("IsTruncated", bool_text(r.is_truncated));
    if r.encoding_url {
        doc.leaf("EncodingType", "url");
    }
    for entry in &r.contents {
        contents(&mut doc, entry, entry.owner.as_ref(), &enc);
    }
    doc.common_prefixes(&r.common_prefixes, &enc);
    doc.finish()
}

/// ListObjectsV2 (`ListBucketResult`).
pub fn list_objects_v2(r: &ListObjectsResult) -> String {
    let enc = encoder(r.encoding_url);
    let mut doc = Doc::new("ListBucketResult");
    doc.leaf("Name", &r.bucket);
    doc.leaf("Prefix", &enc(&r.prefix));
    doc.leaf_opt("ContinuationToken", r.continuation_token.as_deref());
    doc.leaf_opt(
        "NextContinuationToken",
        r.next_continuation_token.as_deref(),
    );
    doc.leaf_opt("StartAfter", r.start_after.as_deref().map(&enc).as_deref());
    doc.leaf("KeyCount", &r.key_count.to_string());
    doc.leaf("MaxKeys", &r.max_keys.to_string());
    doc.leaf_opt("Delimiter", r.delimiter.as_deref().map(&enc).as_deref());
    doc.leaf("IsTruncated", bool_text(r.is_truncated));
    if r.encoding_url {
        doc.leaf("EncodingType", "url");
    }
    for entry in &r.contents {
        let owner = entry.owner.as_ref().filter(|_| r.fetch_owner);
        contents(&mut doc, entry, owner, &enc);
    }
    doc.common_prefixes(&r.common_prefixes, &enc);
    doc.finish()
}

fn contents(
    doc: &mut Doc,
    entry: &ListEntry,
    owner: Option<&Owner>,
    enc: &impl Fn(&str) -> Cow<'_, str>,
) {
    doc.open("Contents");
    doc.leaf("Key", &enc(&entry.key));
    doc.leaf("LastModified", &entry.last_modified_iso);
    doc.leaf("ETag", &entry.etag_quoted);
    doc.leaf("Size", &entry.size.to_string());
    if let Some(owner) = owner {
        doc.owner("Owner", owner);
    }
    doc.leaf("StorageClass", &entry.storage_class);
    doc.close("Contents");
}

/// ListParts (`ListPartsResult`).
pub fn list_parts(r: &ListPartsResult) -> String {
    let mut doc = Doc::new("ListPartsResult");
    doc.leaf("Bucket", &r.bucket);
    doc.leaf("Key", &r.key);
    doc.leaf("UploadId", &r.upload_id);
    doc.owner("Initiator", &r.initiator);
    doc.owner("Owner", &r.owner);
    doc.leaf("StorageClass", &r.storage_class);
    doc.leaf("PartNumberMarker", &r.part_number_marker.to_string());
    doc.leaf(
        "NextPartNumberMarker",
        &r.next_part_number_marker.to_string(),
    );
    doc.leaf("MaxParts", &r.max_parts.to_string());
    doc.leaf("IsTruncated", bool_text(r.is_truncated));
    for part in &r.parts {
        doc.open("Part");
        doc.leaf("PartNumber", &part.part_number.to_string());
        doc.leaf("LastModified", &part.last_modified_iso);
        doc.leaf("ETag", &part.etag_quoted);
        doc.leaf("Size", &part.size.to_string());
        doc.close("Part");
    }
    doc.finish()
}

/// ListMultipartUploads (`ListMultipartUploadsResult`).
pub fn list_multipart_uploads(r: &ListUploadsResult) -> String {
    let enc = encoder(r.encoding_url);
    let mut doc = Doc::new("ListMultipartUploadsResult");
    doc.leaf("Bucket", &r.bucket);
    doc.leaf("KeyMarker", &enc(&r.key_marker));
    doc.leaf("UploadIdMarker", &r.upload_id_marker);
    doc.leaf_opt(
        "NextKeyMarker",
        r.next_key_marker.as_deref().map(&enc).as_deref(),
    );
    doc.leaf_opt("NextUploadIdMarker", r.next_upload_id_marker.as_deref());
    doc.leaf_opt("Delimiter", r.delimiter.as_deref().map(&enc).as_deref());
    doc.leaf("Prefix", &enc(&r.prefix));
    doc.leaf("MaxUploads", &r.max_uploads.to_string());
    doc.leaf("IsTruncated", bool_text(r.is_truncated));
    if r.encoding_url {
        doc.leaf("EncodingType", "url");
    }
    for upload in &r.uploads {
        doc.open("Upload");
        doc.leaf("Key", &enc(&upload.key));
        doc.leaf("UploadId", &upload.upload_id);
        doc.owner("Initiator", &upload.initiator);
        doc.owner("Owner", &upload.owner);
        doc.leaf("StorageClass", &upload.storage_class);
        doc.leaf("Initiated", &upload.initiated_iso);
        doc.close("Upload");
    }
    doc.common_prefixes(&r.common_prefixes, &enc);
    doc.finish()
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// GetObjectTagging's `Tagging`.
pub fn tagging(tags: &[(String, String)]) -> String {
    let mut doc = Doc::new("Tagging");
    doc.open("TagSet");
    for (k, v) in tags {
        doc.open("Tag");
        doc.leaf("Key", k);
        doc.leaf("Value", v);
        doc.close("Tag");
    }
    doc.close("TagSet");
    doc.finish()
}

/// GetBucketCors's `CORSConfiguration`; it reads back (`parse_cors`) to
/// the same rules.
pub fn cors(c: &crate::s3::cors::Cors) -> String {
    let mut doc = Doc::new("CORSConfiguration");
    for r in &c.rules {
        doc.open("CORSRule");
        doc.leaf_opt("ID", r.id.as_deref());
        for h in &r.allowed_headers {
            doc.leaf("AllowedHeader", h);
        }
        for m in &r.allowed_methods {
            doc.leaf("AllowedMethod", m);
        }
        for o in &r.allowed_origins {
            doc.leaf("AllowedOrigin", o);
        }
        for h in &r.expose_headers {
            doc.leaf("ExposeHeader", h);
        }
        if let Some(n) = r.max_age_seconds {
            doc.leaf("MaxAgeSeconds", &n.to_string());
        }
        doc.close("CORSRule");
    }
    doc.finish()
}

/// GetBucketLifecycleConfiguration's `LifecycleConfiguration`; it reads
/// back (`parse_lifecycle`) to the same rules.
pub fn lifecycle(lc: &crate::s3::lifecycle::Lifecycle) -> String {
    use crate::s3::lifecycle::Expiration;
    let mut doc = Doc::new("LifecycleConfiguration");
    for r in &lc.rules {
        doc.open("Rule");
        if !r.id.is_empty() {
            doc.leaf("ID", &r.id);
        }
        let f = &r.filter;
        if f.legacy_prefix {
            doc.leaf("Prefix", &f.prefix);
        } else {
            doc.open("Filter");
            let tag = |doc: &mut Doc, k: &str, v: &str| {
                doc.open("Tag");
                doc.leaf("Key", k);
                doc.leaf("Value", v);
                doc.close("Tag");
            };
            if f.and {
                doc.open("And");
            }
            if !f.prefix.is_empty()
                || (!f.and
                    && f.tags.is_empty()
                    && f.size_greater_than.is_none()
                    && f.size_less_than.is_none())
            {
                doc.leaf("Prefix", &f.prefix);
            }
            for (k, v) in &f.tags {
                tag(&mut doc, k, v);
            }
            if let Some(n) = f.size_greater_than {
                doc.leaf("ObjectSizeGreaterThan", &n.to_string());
            }
            if let Some(n) = f.size_less_than {
                doc.leaf("ObjectSizeLessThan", &n.to_string());
            }
            if f.and {
                doc.close("And");
            }
            doc.close("Filter");
        }
        doc.leaf("Status", if r.enabled { "Enabled" } else { "Disabled" });
        if let Some(e) = &r.expiration {
            doc.open("Expiration");
            match e {
                Expiration::Days(d) => doc.leaf("Days", &d.to_string()),
                Expiration::Date(t) => doc.leaf(
                    "Date",
                    &crate::s3::time::iso8601_millis(t.saturating_mul(1_000_000_000)),
                ),
                Expiration::ExpiredObjectDeleteMarker => {
                    doc.leaf("ExpiredObjectDeleteMarker", "true")
                }
            }
            doc.close("Expiration");
        }
        if let Some(n) = &r.noncurrent {
            doc.open("NoncurrentVersionExpiration");
            doc.leaf("NoncurrentDays", &n.days.to_string());
            if let Some(k) = n.newer_noncurrent {
                doc.leaf("NewerNoncurrentVersions", &k.to_string());
            }
            doc.close("NoncurrentVersionExpiration");
        }
        if let Some(d) = r.abort_multipart_days {
            doc.open("AbortIncompleteMultipartUpload");
            doc.leaf("DaysAfterInitiation", &d.to_string());
            doc.close("AbortIncompleteMultipartUpload");
        }
        doc.close("Rule");
    }
    doc.finish()
}

/// GetBucketAcl's / GetObjectAcl's `AccessControlPolicy`: the owner and
/// each grant, its grantee typed by `xsi:type` as AWS writes it.
/// `display_name` gives a user's display name.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketAcl.html>
pub fn access_control_policy(
    owner: &Owner,
    grants: &[crate::s3::acl::Grant],
    display_name: &dyn Fn(&str) -> Option<String>,
) -> String {
    use crate::s3::acl::Grantee;
    let mut doc = Doc::new("AccessControlPolicy");
    doc.owner("Owner", owner);
    doc.open("AccessControlList");
    for g in grants {
        doc.open("Grant");
        let kind = match g.grantee {
            Grantee::User(_) => "CanonicalUser",
            _ => "Group",
        };
        doc.out.push_str(
            "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"",
        );
        doc.out.push_str(kind);
        doc.out.push_str("\">");
        match (&g.grantee, g.grantee.uri()) {
            (Grantee::User(id), _) => {
                doc.leaf("ID", id);
                if let Some(n) = display_name(id) {
                    doc.leaf("DisplayName", &n);
                }
            }
            (_, Some(uri)) => doc.leaf("URI", uri),
            (_, None) => {}
        }
        doc.close("Grantee");
        doc.leaf("Permission", g.permission.name());
        doc.close("Grant");
    }
    doc.close("AccessControlList");
    doc.finish()
}

/// GetPublicAccessBlock's `PublicAccessBlockConfiguration`.
pub fn public_access_block(b: &crate::s3::access::PublicAccessBlock) -> String {
    let mut doc = Doc::new("PublicAccessBlockConfiguration");
    doc.leaf("BlockPublicAcls", &b.block_public_acls.to_string());
    doc.leaf("IgnorePublicAcls", &b.ignore_public_acls.to_string());
    doc.leaf("BlockPublicPolicy", &b.block_public_policy.to_string());
    doc.leaf(
        "RestrictPublicBuckets",
        &b.restrict_public_buckets.to_string(),
    );
    doc.finish()
}

/// GetBucketPolicyStatus's `PolicyStatus`.
pub fn policy_status(public: bool) -> String {
    let mut doc = Doc::new("PolicyStatus");
    doc.leaf("IsPublic", &public.to_string());
    doc.finish()
}

/// GetObjectLockConfiguration's `ObjectLockConfiguration`.
pub fn object_lock_config(c: &crate::s3::object_lock::LockConfig) -> String {
    let mut doc = Doc::new("ObjectLockConfiguration");
    doc.leaf("ObjectLockEnabled", "Enabled");
    if let Some(d) = c.default {
        doc.open("Rule");
        doc.open("DefaultRetention");
        doc.leaf("Mode", d.mode.name());
        doc.leaf(if d.years { "Years" } else { "Days" }, &d.days.to_string());
        doc.close("DefaultRetention");
        doc.close("Rule");
    }
    doc.finish()
}

/// GetObjectRetention's `Retention`.
pub fn retention(r: &crate::s3::object_lock::Retention) -> String {
    let mut doc = Doc::new("Retention");
    doc.leaf("Mode", r.mode.name());
    doc.leaf(
        "RetainUntilDate",
        &super::super::time::iso8601_millis(r.until_secs.saturating_mul(1_000_000_000)),
    );
    doc.finish()
}

/// GetObjectLegalHold's `LegalHold`.
pub fn legal_hold(on: bool) -> String {
    let mut doc = Doc::new("LegalHold");
    doc.leaf("Status", if on { "ON" } else { "OFF" });
    doc.finish()
}

/// GetBucketEncryption's `ServerSideEncryptionConfiguration`: AES256 by
/// default (the only default shale has).
pub fn bucket_encryption() -> String {
    let mut doc = Doc::new("ServerSideEncryptionConfiguration");
    doc.open("Rule");
    doc.open("ApplyServerSideEncryptionByDefault");
    doc.leaf("SSEAlgorithm", "AES256");
    doc.close("ApplyServerSideEncryptionByDefault");
    doc.leaf("BucketKeyEnabled", "false");
    doc.close("Rule");
    doc.finish()
}
