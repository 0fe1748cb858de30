//! The S3 operation a request names (`GetObject`, `ListObjectsV2`, ...),
//! from its method, whether it addresses a bucket and a key, its query
//! and whether it copies. For metrics and logs; routing is `server::s3`.

use http::Method;

/// Whether the raw query has parameter `name`.
fn has(query: &str, name: &str) -> bool {
    query
        .split('&')
        .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == name)
}

/// The operation's name as the S3 API reference spells it, or `Unknown`.
pub fn operation_name(
    method: &Method,
    bucket: bool,
    key: bool,
    query: &str,
    copy: bool,
) -> &'static str {
    let q = |n| has(query, n);
    match (bucket, key) {
        (false, _) if *method == Method::GET => "ListBuckets",
        (false, _) => "Unknown",
        (true, false) => match *method {
            Method::PUT if q("versioning") => "PutBucketVersioning",
            Method::PUT if q("lifecycle") => "PutBucketLifecycleConfiguration",
            Method::GET if q("lifecycle") => "GetBucketLifecycleConfiguration",
            Method::DELETE if q("lifecycle") => "DeleteBucketLifecycle",
            Method::PUT => "CreateBucket",
            Method::HEAD => "HeadBucket",
            Method::DELETE => "DeleteBucket",
            Method::GET if q("location") => "GetBucketLocation",
            Method::GET if q("uploads") => "ListMultipartUploads",
            Method::GET if q("versioning") => "GetBucketVersioning",
            Method::GET if q("versions") => "ListObjectVersions",
            Method::GET if query.contains("list-type=2") => "ListObjectsV2",
            Method::GET => "ListObjects",
            Method::POST if q("delete") => "DeleteObjects",
            _ => "Unknown",
        },
        (true, true) => match *method {
            Method::PUT if copy && q("uploadId") => "UploadPartCopy",
            Method::PUT if copy => "CopyObject",
            Method::PUT if q("uploadId") => "UploadPart",
            Method::PUT if q("tagging") => "PutObjectTagging",
            Method::GET if q("tagging") => "GetObjectTagging",
            Method::DELETE if q("tagging") => "DeleteObjectTagging",
            Method::PUT => "PutObject",
            Method::GET if q("uploadId") => "ListParts",
            Method::GET if q("attributes") => "GetObjectAttributes",
            Method::GET => "GetObject",
            Method::HEAD => "HeadObject",
            Method::DELETE if q("uploadId") => "AbortMultipartUpload",
            Method::DELETE => "DeleteObject",
            Method::POST if q("uploads") => "CreateMultipartUpload",
            Method::POST if q("uploadId") => "CompleteMultipartUpload",
            _ => "Unknown",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            operation_name(&Method::GET, false, false, "", false),
            "ListBuckets"
        );
        assert_eq!(
            operation_name(&Method::GET, true, false, "list-type=2&prefix=a", false),
            "ListObjectsV2"
        );
        assert_eq!(
            operation_name(&Method::GET, true, false, "versions", false),
            "ListObjectVersions"
        );
        assert_eq!(
            operation_name(&Method::PUT, true, true, "partNumber=1&uploadId=x", true),
            "UploadPartCopy"
        );
        assert_eq!(
            operation_name(&Method::PUT, true, true, "", false),
            "PutObject"
        );
        assert_eq!(
            operation_name(&Method::POST, true, true, "uploadId=x", false),
            "CompleteMultipartUpload"
        );
        // A parameter's name, not a value that contains it.
        assert_eq!(
            operation_name(&Method::GET, true, true, "x=uploadId", false),
            "GetObject"
        );
    }
}
