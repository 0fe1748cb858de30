//! Which S3 operation a request is: ONE table ([`ROUTES`]) from method,
//! whether a bucket and a key are addressed, the sub-resource named in
//! the query and a few conditions, to an [`Operation`]. The server
//! dispatches on the result and metrics and logs use its name, so a
//! request is never run as one operation and counted as another.
//!
//! The table holds every operation of the S3 API (botocore's model of
//! 2006-03-01, plus the browser form `PostObject`), supported or not: an
//! operation shale does not do is refused by name, never run as the
//! plain operation on the same path. A request that matches no entry
//! (a sub-resource with a method it has no operation for, two
//! sub-resources at once, POST to an object without `uploads` or
//! `uploadId`) is refused too ([`NoRoute`]).
//!
//! Query parameters that are not sub-resources (listing parameters,
//! `versionId`, `partNumber`, `response-*`, boto3's `x-id`, presigned
//! URLs' `X-Amz-*`, a cache-busting `?v=2`) do not change the operation,
//! as on AWS.
//!
//! Operations that share a path with a newer one (GetBucketLifecycle,
//! PutBucketLifecycle, GetBucketNotification, PutBucketNotification) are
//! named after the newer one; ListDirectoryBuckets is `GET /` on the
//! S3 Express endpoint, here ListBuckets.

use http::Method;

use super::{percent_decode, S3Error, S3ErrorCode};

/// Declares [`Operation`] with each operation's name and whether shale
/// supports it.
macro_rules! operations {
    ($($op:ident: $supported:literal,)*) => {
        /// An S3 operation, named as the S3 API reference spells it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($op,)*
        }

        impl Operation {
            /// Every operation.
            pub const ALL: &'static [Operation] = &[$(Operation::$op,)*];

            /// The name as the S3 API reference spells it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$op => stringify!($op),)*
                }
            }

            /// Whether shale runs it (otherwise it answers 501).
            pub fn supported(self) -> bool {
                match self {
                    $(Operation::$op => $supported,)*
                }
            }
        }
    };
}

operations! {
    AbortMultipartUpload: true,
    CompleteMultipartUpload: true,
    CopyObject: true,
    CreateBucket: true,
    CreateBucketMetadataConfiguration: false,
    CreateBucketMetadataTableConfiguration: false,
    CreateMultipartUpload: true,
    CreateSession: false,
    DeleteBucket: true,
    DeleteBucketAnalyticsConfiguration: false,
    DeleteBucketCors: true,
    DeleteBucketEncryption: true,
    DeleteBucketIntelligentTieringConfiguration: false,
    DeleteBucketInventoryConfiguration: false,
    DeleteBucketLifecycle: true,
    DeleteBucketMetadataConfiguration: false,
    DeleteBucketMetadataTableConfiguration: false,
    DeleteBucketMetricsConfiguration: false,
    DeleteBucketOwnershipControls: false,
    DeleteBucketPolicy: true,
    DeleteBucketReplication: false,
    DeleteBucketTagging: true,
    DeleteBucketWebsite: false,
    DeleteObject: true,
    DeleteObjectAnnotation: false,
    DeleteObjectTagging: true,
    DeleteObjects: true,
    DeletePublicAccessBlock: true,
    GetBucketAbac: false,
    GetBucketAccelerateConfiguration: false,
    GetBucketAcl: true,
    GetBucketAnalyticsConfiguration: false,
    GetBucketCors: true,
    GetBucketEncryption: true,
    GetBucketIntelligentTieringConfiguration: false,
    GetBucketInventoryConfiguration: false,
    GetBucketLifecycleConfiguration: true,
    GetBucketLocation: true,
    GetBucketLogging: false,
    GetBucketMetadataConfiguration: false,
    GetBucketMetadataTableConfiguration: false,
    GetBucketMetricsConfiguration: false,
    GetBucketNotificationConfiguration: false,
    GetBucketOwnershipControls: false,
    GetBucketPolicy: true,
    GetBucketPolicyStatus: true,
    GetBucketReplication: false,
    GetBucketRequestPayment: false,
    GetBucketTagging: true,
    GetBucketVersioning: true,
    GetBucketWebsite: false,
    GetObject: true,
    GetObjectAcl: true,
    GetObjectAnnotation: false,
    GetObjectAttributes: true,
    GetObjectLegalHold: true,
    GetObjectLockConfiguration: true,
    GetObjectRetention: true,
    GetObjectTagging: true,
    GetObjectTorrent: false,
    GetPublicAccessBlock: true,
    HeadBucket: true,
    HeadObject: true,
    ListBucketAnalyticsConfigurations: false,
    ListBucketIntelligentTieringConfigurations: false,
    ListBucketInventoryConfigurations: false,
    ListBucketMetricsConfigurations: false,
    ListBuckets: true,
    ListMultipartUploads: true,
    ListObjectAnnotations: false,
    ListObjectVersions: true,
    ListObjects: true,
    ListObjectsV2: true,
    ListParts: true,
    PostObject: true,
    PutBucketAbac: false,
    PutBucketAccelerateConfiguration: false,
    PutBucketAcl: true,
    PutBucketAnalyticsConfiguration: false,
    PutBucketCors: true,
    PutBucketEncryption: true,
    PutBucketIntelligentTieringConfiguration: false,
    PutBucketInventoryConfiguration: false,
    PutBucketLifecycleConfiguration: true,
    PutBucketLogging: false,
    PutBucketMetricsConfiguration: false,
    PutBucketNotificationConfiguration: false,
    PutBucketOwnershipControls: false,
    PutBucketPolicy: true,
    PutBucketReplication: false,
    PutBucketRequestPayment: false,
    PutBucketTagging: true,
    PutBucketVersioning: true,
    PutBucketWebsite: false,
    PutObject: true,
    PutObjectAcl: true,
    PutObjectAnnotation: false,
    PutObjectLegalHold: true,
    PutObjectLockConfiguration: true,
    PutObjectRetention: true,
    PutObjectTagging: true,
    PutPublicAccessBlock: true,
    RenameObject: false,
    RestoreObject: false,
    SelectObjectContent: false,
    UpdateBucketMetadataAnnotationTableConfiguration: false,
    UpdateBucketMetadataInventoryTableConfiguration: false,
    UpdateBucketMetadataJournalTableConfiguration: false,
    UpdateObjectEncryption: false,
    UploadPart: true,
    UploadPartCopy: true,
    WriteGetObjectResponse: false,
}

/// The methods S3 operations use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Head,
    Put,
    Post,
    Delete,
}

impl Verb {
    pub const ALL: [Verb; 5] = [Verb::Get, Verb::Head, Verb::Put, Verb::Post, Verb::Delete];

    /// The verb of `method`, if S3 has operations with it.
    pub fn of(method: &Method) -> Option<Verb> {
        Some(match *method {
            Method::GET => Verb::Get,
            Method::HEAD => Verb::Head,
            Method::PUT => Verb::Put,
            Method::POST => Verb::Post,
            Method::DELETE => Verb::Delete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Head => "HEAD",
            Verb::Put => "PUT",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
        }
    }
}

/// What the path addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Service,
    Bucket,
    Object,
}

/// What else an entry needs of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    /// `x-amz-copy-source` is present.
    Copy,
    /// The query has this (non sub-resource) parameter.
    Param(&'static str),
    /// The query has this parameter with this value.
    ParamIs(&'static str, &'static str),
    /// The bucket has this exact name (`POST /WriteGetObjectResponse`).
    BucketIs(&'static str),
}

/// One entry of the table.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub verb: Verb,
    pub target: Target,
    /// The sub-resource (a query parameter) that names the operation, or
    /// none: then the query must name no sub-resource.
    pub sub: Option<&'static str>,
    pub when: When,
    pub op: Operation,
}

const fn r(verb: Verb, target: Target, sub: Option<&'static str>, op: Operation) -> Route {
    Route {
        verb,
        target,
        sub,
        when: When::Always,
        op,
    }
}

const fn rw(
    verb: Verb,
    target: Target,
    sub: Option<&'static str>,
    when: When,
    op: Operation,
) -> Route {
    Route {
        verb,
        target,
        sub,
        when,
        op,
    }
}

use Operation as O;
use Target::{Bucket as B, Object as K, Service as S};
use Verb::{Delete as DEL, Get as GET, Head as HEAD, Post as POST, Put as PUT};

/// Every S3 operation. The first entry that matches wins: an entry with a
/// condition comes before the one without for the same method, target and
/// sub-resource.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    // The service.
    r(GET, S, None, O::ListBuckets),
    // Buckets, no sub-resource.
    r(PUT, B, None, O::CreateBucket),
    r(HEAD, B, None, O::HeadBucket),
    r(DEL, B, None, O::DeleteBucket),
    rw(GET, B, None, When::ParamIs("list-type", "2"), O::ListObjectsV2),
    r(GET, B, None, O::ListObjects),
    rw(POST, B, None, When::BucketIs("WriteGetObjectResponse"), O::WriteGetObjectResponse),
    r(POST, B, None, O::PostObject),
    // Bucket sub-resources.
    r(GET, B, Some("abac"), O::GetBucketAbac),
    r(PUT, B, Some("abac"), O::PutBucketAbac),
    r(GET, B, Some("accelerate"), O::GetBucketAccelerateConfiguration),
    r(PUT, B, Some("accelerate"), O::PutBucketAccelerateConfiguration),
    r(GET, B, Some("acl"), O::GetBucketAcl),
    r(PUT, B, Some("acl"), O::PutBucketAcl),
    rw(GET, B, Some("analytics"), When::Param("id"), O::GetBucketAnalyticsConfiguration),
    r(GET, B, Some("analytics"), O::ListBucketAnalyticsConfigurations),
    r(PUT, B, Some("analytics"), O::PutBucketAnalyticsConfiguration),
    r(DEL, B, Some("analytics"), O::DeleteBucketAnalyticsConfiguration),
    r(GET, B, Some("cors"), O::GetBucketCors),
    r(PUT, B, Some("cors"), O::PutBucketCors),
    r(DEL, B, Some("cors"), O::DeleteBucketCors),
    r(POST, B, Some("delete"), O::DeleteObjects),
    r(GET, B, Some("encryption"), O::GetBucketEncryption),
    r(PUT, B, Some("encryption"), O::PutBucketEncryption),
    r(DEL, B, Some("encryption"), O::DeleteBucketEncryption),
    rw(GET, B, Some("intelligent-tiering"), When::Param("id"), O::GetBucketIntelligentTieringConfiguration),
    r(GET, B, Some("intelligent-tiering"), O::ListBucketIntelligentTieringConfigurations),
    r(PUT, B, Some("intelligent-tiering"), O::PutBucketIntelligentTieringConfiguration),
    r(DEL, B, Some("intelligent-tiering"), O::DeleteBucketIntelligentTieringConfiguration),
    rw(GET, B, Some("inventory"), When::Param("id"), O::GetBucketInventoryConfiguration),
    r(GET, B, Some("inventory"), O::ListBucketInventoryConfigurations),
    r(PUT, B, Some("inventory"), O::PutBucketInventoryConfiguration),
    r(DEL, B, Some("inventory"), O::DeleteBucketInventoryConfiguration),
    r(GET, B, Some("lifecycle"), O::GetBucketLifecycleConfiguration),
    r(PUT, B, Some("lifecycle"), O::PutBucketLifecycleConfiguration),
    r(DEL, B, Some("lifecycle"), O::DeleteBucketLifecycle),
    r(GET, B, Some("location"), O::GetBucketLocation),
    r(GET, B, Some("logging"), O::GetBucketLogging),
    r(PUT, B, Some("logging"), O::PutBucketLogging),
    r(POST, B, Some("metadataConfiguration"), O::CreateBucketMetadataConfiguration),
    r(GET, B, Some("metadataConfiguration"), O::GetBucketMetadataConfiguration),
    r(DEL, B, Some("metadataConfiguration"), O::DeleteBucketMetadataConfiguration),
    r(PUT, B, Some("metadataAnnotationTable"), O::UpdateBucketMetadataAnnotationTableConfiguration),
    r(PUT, B, Some("metadataInventoryTable"), O::UpdateBucketMetadataInventoryTableConfiguration),
    r(PUT, B, Some("metadataJournalTable"), O::UpdateBucketMetadataJournalTableConfiguration),
    r(POST, B, Some("metadataTable"), O::CreateBucketMetadataTableConfiguration),
    r(GET, B, Some("metadataTable"), O::GetBucketMetadataTableConfiguration),
    r(DEL, B, Some("metadataTable"), O::DeleteBucketMetadataTableConfiguration),
    rw(GET, B, Some("metrics"), When::Param("id"), O::GetBucketMetricsConfiguration),
    r(GET, B, Some("metrics"), O::ListBucketMetricsConfigurations),
    r(PUT, B, Some("metrics"), O::PutBucketMetricsConfiguration),
    r(DEL, B, Some("metrics"), O::DeleteBucketMetricsConfiguration),
    r(GET, B, Some("notification"), O::GetBucketNotificationConfiguration),
    r(PUT, B, Some("notification"), O::PutBucketNotificationConfiguration),
    r(GET, B, Some("object-lock"), O::GetObjectLockConfiguration),
    r(PUT, B, Some("object-lock"), O::PutObjectLockConfiguration),
    r(GET, B, Some("ownershipControls"), O::GetBucketOwnershipControls),
    r(PUT, B, Some("ownershipControls"), O::PutBucketOwnershipControls),
    r(DEL, B, Some("ownershipControls"), O::DeleteBucketOwnershipControls),
    r(GET, B, Some("policy"), O::GetBucketPolicy),
    r(PUT, B, Some("policy"), O::PutBucketPolicy),
    r(DEL, B, Some("policy"), O::DeleteBucketPolicy),
    r(GET, B, Some("policyStatus"), O::GetBucketPolicyStatus),
    r(GET, B, Some("publicAccessBlock"), O::GetPublicAccessBlock),
    r(PUT, B, Some("publicAccessBlock"), O::PutPublicAccessBlock),
    r(DEL, B, Some("publicAccessBlock"), O::DeletePublicAccessBlock),
    r(GET, B, Some("replication"), O::GetBucketReplication),
    r(PUT, B, Some("replication"), O::PutBucketReplication),
    r(DEL, B, Some("replication"), O::DeleteBucketReplication),
    r(GET, B, Some("requestPayment"), O::GetBucketRequestPayment),
    r(PUT, B, Some("requestPayment"), O::PutBucketRequestPayment),
    r(GET, B, Some("session"), O::CreateSession),
    r(GET, B, Some("tagging"), O::GetBucketTagging),
    r(PUT, B, Some("tagging"), O::PutBucketTagging),
    r(DEL, B, Some("tagging"), O::DeleteBucketTagging),
    r(GET, B, Some("uploads"), O::ListMultipartUploads),
    r(GET, B, Some("versioning"), O::GetBucketVersioning),
    r(PUT, B, Some("versioning"), O::PutBucketVersioning),
    r(GET, B, Some("versions"), O::ListObjectVersions),
    r(GET, B, Some("website"), O::GetBucketWebsite),
    r(PUT, B, Some("website"), O::PutBucketWebsite),
    r(DEL, B, Some("website"), O::DeleteBucketWebsite),
    // Objects, no sub-resource.
    rw(PUT, K, None, When::Copy, O::CopyObject),
    r(PUT, K, None, O::PutObject),
    r(GET, K, None, O::GetObject),
    r(HEAD, K, None, O::HeadObject),
    r(DEL, K, None, O::DeleteObject),
    // Object sub-resources.
    r(GET, K, Some("acl"), O::GetObjectAcl),
    r(PUT, K, Some("acl"), O::PutObjectAcl),
    rw(GET, K, Some("annotation"), When::Param("annotationName"), O::GetObjectAnnotation),
    r(GET, K, Some("annotation"), O::ListObjectAnnotations),
    r(PUT, K, Some("annotation"), O::PutObjectAnnotation),
    r(DEL, K, Some("annotation"), O::DeleteObjectAnnotation),
    r(GET, K, Some("attributes"), O::GetObjectAttributes),
    r(PUT, K, Some("encryption"), O::UpdateObjectEncryption),
    r(GET, K, Some("legal-hold"), O::GetObjectLegalHold),
    r(PUT, K, Some("legal-hold"), O::PutObjectLegalHold),
    r(PUT, K, Some("renameObject"), O::RenameObject),
    r(POST, K, Some("restore"), O::RestoreObject),
    r(GET, K, Some("retention"), O::GetObjectRetention),
    r(PUT, K, Some("retention"), O::PutObjectRetention),
    r(POST, K, Some("select"), O::SelectObjectContent),
    r(GET, K, Some("tagging"), O::GetObjectTagging),
    r(PUT, K, Some("tagging"), O::PutObjectTagging),
    r(DEL, K, Some("tagging"), O::DeleteObjectTagging),
    r(GET, K, Some("torrent"), O::GetObjectTorrent),
    rw(PUT, K, Some("uploadId"), When::Copy, O::UploadPartCopy),
    r(PUT, K, Some("uploadId"), O::UploadPart),
    r(GET, K, Some("uploadId"), O::ListParts),
    r(POST, K, Some("uploadId"), O::CompleteMultipartUpload),
    r(DEL, K, Some("uploadId"), O::AbortMultipartUpload),
    r(POST, K, Some("uploads"), O::CreateMultipartUpload),
];

/// A request as routing sees it.
#[derive(Clone, Copy, Debug)]
pub struct Shape<'a> {
    pub method: &'a Method,
    /// The bucket addressed, if any.
    pub bucket: Option<&'a str>,
    /// A key is addressed.
    pub key: bool,
    /// The raw query string.
    pub query: &'a str,
    /// `x-amz-copy-source` is present.
    pub copy: bool,
}

/// Why a request is no S3 operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoRoute {
    /// No operation has this method for this resource and sub-resource.
    MethodNotAllowed {
        method: String,
        sub: Option<&'static str>,
    },
    /// The query names two sub-resources.
    Conflict(&'static str, &'static str),
}

impl NoRoute {
    /// The refusal the client gets: 405 MethodNotAllowed, as S3 answers a
    /// method a resource has no operation for; 400 InvalidRequest for two
    /// sub-resources at once.
    pub fn error(&self) -> S3Error {
        match self {
            NoRoute::MethodNotAllowed { method, sub } => S3Error::new(
                S3ErrorCode::MethodNotAllowed,
                match sub {
                    Some(s) => format!(
                        "The specified method is not allowed against this resource: no S3 operation is {method} with the {s:?} sub-resource here."
                    ),
                    None => "The specified method is not allowed against this resource.".into(),
                },
            ),
            NoRoute::Conflict(a, b) => S3Error::new(
                S3ErrorCode::InvalidRequest,
                format!("A request names one sub-resource; this one names both {a:?} and {b:?}."),
            ),
        }
    }
}

/// The sub-resource `name` is, if it is one (spelled as in [`ROUTES`]).
fn subresource(name: &str) -> Option<&'static str> {
    ROUTES.iter().filter_map(|r| r.sub).find(|s| *s == name)
}

/// Every sub-resource the table knows, each once.
pub fn subresources() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = ROUTES.iter().filter_map(|r| r.sub).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The query's parameters: (name, value), percent-decoded.
fn params(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let dec = |s: &str| String::from_utf8_lossy(&percent_decode(s)).into_owned();
        (dec(k), dec(v))
    })
}

/// The operation `shape` is, or why it is none.
pub fn resolve(shape: &Shape<'_>) -> Result<Operation, NoRoute> {
    let target = match (shape.bucket.is_some(), shape.key) {
        (false, _) => Target::Service,
        (true, false) => Target::Bucket,
        (true, true) => Target::Object,
    };
    let mut sub: Option<&'static str> = None;
    for (name, _) in params(shape.query) {
        match (sub, subresource(&name)) {
            (Some(a), Some(b)) if a != b => return Err(NoRoute::Conflict(a.min(b), a.max(b))),
            (None, Some(b)) => sub = Some(b),
            _ => {}
        }
    }
    let refused = || NoRoute::MethodNotAllowed {
        method: shape.method.as_str().to_string(),
        sub,
    };
    let verb = Verb::of(shape.method).ok_or_else(refused)?;
    let holds = |when: When| match when {
        When::Always => true,
        When::Copy => shape.copy,
        When::Param(p) => params(shape.query).any(|(k, _)| k == p),
        When::ParamIs(p, v) => params(shape.query).any(|(k, x)| k == p && x == v),
        When::BucketIs(b) => shape.bucket == Some(b),
    };
    ROUTES
        .iter()
        .find(|r| r.verb == verb && r.target == target && r.sub == sub && holds(r.when))
        .map(|r| r.op)
        .ok_or_else(refused)
}

/// The operation's name, or `Unknown` for a request that is none.
pub fn operation_name(shape: &Shape<'_>) -> &'static str {
    resolve(shape).map_or("Unknown", Operation::name)
}

/// The refusal of an operation shale does not support.
pub fn not_implemented(op: Operation) -> S3Error {
    S3Error::new(
        S3ErrorCode::NotImplemented,
        format!("{} is not implemented by shale.", op.name()),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn method(v: Verb) -> Method {
        match v {
            Verb::Get => Method::GET,
            Verb::Head => Method::HEAD,
            Verb::Put => Method::PUT,
            Verb::Post => Method::POST,
            Verb::Delete => Method::DELETE,
        }
    }

    /// Resolves (method, target, query, copy) against bucket `b`.
    fn op(m: Method, target: Target, query: &str, copy: bool) -> Result<Operation, NoRoute> {
        resolve(&Shape {
            method: &m,
            bucket: (target != Target::Service).then_some("b"),
            key: target == Target::Object,
            query,
            copy,
        })
    }

    /// Every entry is reached by a request built from it (no entry is
    /// hidden behind an earlier one), and every operation has an entry.
    #[test]
    fn every_entry_resolves_to_itself() {
        let mut seen = HashSet::new();
        for r in ROUTES {
            let mut query: Vec<String> = r.sub.iter().map(|s| s.to_string()).collect();
            let mut bucket = "b";
            match r.when {
                When::Param(p) => query.push(format!("{p}=x")),
                When::ParamIs(p, v) => query.push(format!("{p}={v}")),
                When::BucketIs(b) => bucket = b,
                When::Always | When::Copy => {}
            }
            let m = method(r.verb);
            let query = query.join("&");
            let shape = Shape {
                method: &m,
                bucket: (r.target != Target::Service).then_some(bucket),
                key: r.target == Target::Object,
                query: &query,
                copy: r.when == When::Copy,
            };
            assert_eq!(resolve(&shape), Ok(r.op), "{r:?}");
            seen.insert(r.op);
        }
        for o in Operation::ALL {
            assert!(seen.contains(o), "{o:?} has no route");
        }
    }

    /// Names are unique; the ones metrics and logs always used stay.
    #[test]
    fn names() {
        let names: HashSet<&str> = Operation::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(names.len(), Operation::ALL.len());
        let t = |m: Method, target, q: &str, copy| op(m, target, q, copy).map(Operation::name);
        assert_eq!(
            t(Method::GET, Target::Service, "", false),
            Ok("ListBuckets")
        );
        assert_eq!(
            t(Method::GET, Target::Bucket, "list-type=2&prefix=a", false),
            Ok("ListObjectsV2")
        );
        assert_eq!(
            t(Method::GET, Target::Bucket, "versions", false),
            Ok("ListObjectVersions")
        );
        assert_eq!(
            t(Method::PUT, Target::Object, "partNumber=1&uploadId=x", true),
            Ok("UploadPartCopy")
        );
        assert_eq!(t(Method::PUT, Target::Object, "", false), Ok("PutObject"));
        assert_eq!(
            t(Method::POST, Target::Object, "uploadId=x", false),
            Ok("CompleteMultipartUpload")
        );
        // A parameter's name, not a value that contains it.
        assert_eq!(
            t(Method::GET, Target::Object, "x=uploadId", false),
            Ok("GetObject")
        );
    }

    /// The sub-resources of the robustness finding name their own
    /// operations, never the plain one on the same path.
    #[test]
    fn subresources_never_fall_through() {
        let cases = [
            (Method::PUT, Target::Object, "acl", O::PutObjectAcl),
            (Method::GET, Target::Object, "acl", O::GetObjectAcl),
            (
                Method::PUT,
                Target::Object,
                "retention",
                O::PutObjectRetention,
            ),
            (
                Method::PUT,
                Target::Object,
                "legal-hold",
                O::PutObjectLegalHold,
            ),
            (Method::DELETE, Target::Bucket, "cors", O::DeleteBucketCors),
            (
                Method::DELETE,
                Target::Bucket,
                "policy",
                O::DeleteBucketPolicy,
            ),
            (
                Method::DELETE,
                Target::Bucket,
                "tagging",
                O::DeleteBucketTagging,
            ),
            (
                Method::DELETE,
                Target::Bucket,
                "website",
                O::DeleteBucketWebsite,
            ),
            (
                Method::DELETE,
                Target::Bucket,
                "encryption",
                O::DeleteBucketEncryption,
            ),
            (Method::GET, Target::Bucket, "website", O::GetBucketWebsite),
            (Method::PUT, Target::Object, "tagging", O::PutObjectTagging),
            (
                Method::GET,
                Target::Bucket,
                "analytics&id=a",
                O::GetBucketAnalyticsConfiguration,
            ),
            (
                Method::GET,
                Target::Bucket,
                "analytics",
                O::ListBucketAnalyticsConfigurations,
            ),
            (
                Method::POST,
                Target::Object,
                "select&select-type=2",
                O::SelectObjectContent,
            ),
            (Method::POST, Target::Bucket, "", O::PostObject),
            // Percent-encoded names are the same names.
            (Method::PUT, Target::Object, "%61cl", O::PutObjectAcl),
        ];
        for (m, target, q, want) in cases {
            assert_eq!(op(m.clone(), target, q, false), Ok(want), "{m} {q}");
        }
        // A copy header does not make a tagging request a copy.
        assert_eq!(
            op(Method::PUT, Target::Object, "tagging", true),
            Ok(O::PutObjectTagging)
        );
    }

    #[test]
    fn plain_parameters_keep_the_operation() {
        for q in [
            "versionId=3",
            "partNumber=2",
            "response-content-type=text/plain",
            "x-id=GetObject",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab",
            "v=2",
        ] {
            assert_eq!(
                op(Method::GET, Target::Object, q, false),
                Ok(O::GetObject),
                "{q}"
            );
        }
        assert_eq!(
            op(Method::PUT, Target::Object, "x-id=PutObject", false),
            Ok(O::PutObject)
        );
        assert_eq!(
            op(
                Method::GET,
                Target::Bucket,
                "prefix=a&delimiter=/&max-keys=3",
                false
            ),
            Ok(O::ListObjects)
        );
    }

    #[test]
    fn requests_that_are_no_operation_are_refused() {
        let refused =
            |m: Method, target, q: &str| op(m, target, q, false).map_err(|e| e.error().code);
        for (m, target, q) in [
            (Method::POST, Target::Object, ""),
            (Method::POST, Target::Object, "partNumber=1"),
            (Method::DELETE, Target::Bucket, "location"),
            (Method::GET, Target::Bucket, "retention"),
            (Method::HEAD, Target::Object, "acl"),
            (Method::PUT, Target::Service, ""),
            (Method::GET, Target::Service, "acl"),
            (Method::PATCH, Target::Object, ""),
            (Method::OPTIONS, Target::Bucket, ""),
            (Method::GET, Target::Bucket, "uploadId=x"),
            (Method::POST, Target::Bucket, "uploads"),
        ] {
            assert_eq!(
                refused(m.clone(), target, q),
                Err(S3ErrorCode::MethodNotAllowed),
                "{m} {target:?} {q}"
            );
        }
        assert_eq!(
            refused(Method::PUT, Target::Object, "acl&tagging"),
            Err(S3ErrorCode::InvalidRequest)
        );
        assert_eq!(
            refused(Method::GET, Target::Bucket, "versions&uploads"),
            Err(S3ErrorCode::InvalidRequest)
        );
        // The same sub-resource twice is one.
        assert_eq!(
            op(Method::GET, Target::Object, "tagging&tagging", false),
            Ok(O::GetObjectTagging)
        );
    }

    #[test]
    fn unsupported_operations_are_refused_by_name() {
        let e = not_implemented(O::PutBucketWebsite);
        assert_eq!(e.code, S3ErrorCode::NotImplemented);
        assert!(e.message.contains("PutBucketWebsite"));
        let supported = Operation::ALL.iter().filter(|o| o.supported()).count();
        assert_eq!(supported, 57);
    }
}
