//! Every error an S3 request can end in, and how it is answered: one
//! exhaustive table from case to S3 code and HTTP status. Handlers return
//! [`S3Error`]; the server renders it as the S3 XML error document.

use http::StatusCode;

/// An S3 error: which one, and a message for the person reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Error {
    pub code: S3ErrorCode,
    pub message: String,
    /// Response headers the error carries (a GET of a key whose current
    /// version is a delete marker answers 404 with `x-amz-delete-marker`).
    pub headers: Vec<(&'static str, String)>,
}

/// The S3 error codes shale answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum S3ErrorCode {
    AccessDenied,
    /// A CORS preflight the bucket's rules do not allow.
    AccessForbidden,
    AccountSuspended,
    /// A bucket (or its owner) is scheduled for removal with its data.
    AllAccessDisabled,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BadDigest,
    BadRequest,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    /// A conflicting operation on the resource is under way (409).
    OperationAborted,
    EntityTooLarge,
    EntityTooSmall,
    IncompleteBody,
    /// A POST Object form without exactly one file.
    IncorrectNumberOfFilesInPostRequest,
    InsufficientStorage,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    InvalidBucketState,
    InvalidDigest,
    /// An SSE-C algorithm other than AES256.
    InvalidEncryptionAlgorithmError,
    InvalidLocationConstraint,
    InvalidPart,
    InvalidPartOrder,
    /// A POST Object policy document that is not one.
    InvalidPolicyDocument,
    InvalidRange,
    InvalidRequest,
    InvalidTag,
    KeyTooLongError,
    MalformedPOSTRequest,
    MalformedXML,
    /// POST Object form fields before the file over their limit.
    MaxPostPreDataLengthExceeded,
    /// An AccessControlPolicy body that names no valid grants.
    MalformedACLError,
    /// A bucket policy that is not valid JSON of the policy language.
    MalformedPolicy,
    /// An object's metadata (user metadata, tags, ACL) beyond what its
    /// head holds.
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    MissingSecurityHeader,
    NoSuchBucket,
    NoSuchBucketPolicy,
    NoSuchCORSConfiguration,
    NoSuchKey,
    NoSuchLifecycleConfiguration,
    NoSuchObjectLockConfiguration,
    NoSuchPublicAccessBlockConfiguration,
    NoSuchTagSet,
    NoSuchUpload,
    NoSuchVersion,
    NotImplemented,
    ObjectLockConfigurationNotFoundError,
    PreconditionFailed,
    QuotaExceeded,
    RequestTimeTooSkewed,
    RequestTimeout,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    ServerSideEncryptionConfigurationNotFoundError,
    SlowDown,
    TooManyParts,
    /// A grant by e-mail address that names no user.
    UnresolvableGrantByEmailAddress,
    XAmzContentSHA256Mismatch,
}

impl S3ErrorCode {
    /// The code as S3 spells it in `<Code>`.
    pub fn as_str(self) -> &'static str {
        use S3ErrorCode::*;
        match self {
            AccessDenied => "AccessDenied",
            AccessForbidden => "AccessForbidden",
            AccountSuspended => "AccountSuspended",
            AllAccessDisabled => "AllAccessDisabled",
            AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            BadDigest => "BadDigest",
            BadRequest => "BadRequest",
            BucketAlreadyExists => "BucketAlreadyExists",
            BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            BucketNotEmpty => "BucketNotEmpty",
            OperationAborted => "OperationAborted",
            EntityTooLarge => "EntityTooLarge",
            EntityTooSmall => "EntityTooSmall",
            IncompleteBody => "IncompleteBody",
            IncorrectNumberOfFilesInPostRequest => "IncorrectNumberOfFilesInPostRequest",
            InsufficientStorage => "InsufficientStorage",
            InternalError => "InternalError",
            InvalidAccessKeyId => "InvalidAccessKeyId",
            InvalidArgument => "InvalidArgument",
            InvalidBucketName => "InvalidBucketName",
            InvalidBucketState => "InvalidBucketState",
            InvalidDigest => "InvalidDigest",
            InvalidEncryptionAlgorithmError => "InvalidEncryptionAlgorithmError",
            InvalidLocationConstraint => "InvalidLocationConstraint",
            InvalidPart => "InvalidPart",
            InvalidPartOrder => "InvalidPartOrder",
            InvalidPolicyDocument => "InvalidPolicyDocument",
            InvalidRange => "InvalidRange",
            InvalidRequest => "InvalidRequest",
            InvalidTag => "InvalidTag",
            KeyTooLongError => "KeyTooLongError",
            MalformedPOSTRequest => "MalformedPOSTRequest",
            MalformedXML => "MalformedXML",
            MaxPostPreDataLengthExceeded => "MaxPostPreDataLengthExceeded",
            MalformedACLError => "MalformedACLError",
            MalformedPolicy => "MalformedPolicy",
            MetadataTooLarge => "MetadataTooLarge",
            MethodNotAllowed => "MethodNotAllowed",
            MissingContentLength => "MissingContentLength",
            MissingSecurityHeader => "MissingSecurityHeader",
            NoSuchBucket => "NoSuchBucket",
            NoSuchBucketPolicy => "NoSuchBucketPolicy",
            NoSuchPublicAccessBlockConfiguration => "NoSuchPublicAccessBlockConfiguration",
            NoSuchCORSConfiguration => "NoSuchCORSConfiguration",
            NoSuchTagSet => "NoSuchTagSet",
            NoSuchKey => "NoSuchKey",
            NoSuchLifecycleConfiguration => "NoSuchLifecycleConfiguration",
            NoSuchObjectLockConfiguration => "NoSuchObjectLockConfiguration",
            ObjectLockConfigurationNotFoundError => "ObjectLockConfigurationNotFoundError",
            NoSuchUpload => "NoSuchUpload",
            NoSuchVersion => "NoSuchVersion",
            NotImplemented => "NotImplemented",
            PreconditionFailed => "PreconditionFailed",
            QuotaExceeded => "QuotaExceeded",
            RequestTimeTooSkewed => "RequestTimeTooSkewed",
            RequestTimeout => "RequestTimeout",
            ServiceUnavailable => "ServiceUnavailable",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ServerSideEncryptionConfigurationNotFoundError => {
                "ServerSideEncryptionConfigurationNotFoundError"
            }
            SlowDown => "SlowDown",
            TooManyParts => "TooManyParts",
            UnresolvableGrantByEmailAddress => "UnresolvableGrantByEmailAddress",
            XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status S3 answers this code with.
    pub fn status(self) -> StatusCode {
        use S3ErrorCode::*;
        match self {
            AccessDenied
            | AccessForbidden
            | AccountSuspended
            | AllAccessDisabled
            | InvalidAccessKeyId
            | QuotaExceeded
            | RequestTimeTooSkewed
            | SignatureDoesNotMatch => StatusCode::FORBIDDEN,
            AuthorizationHeaderMalformed
            | AuthorizationQueryParametersError
            | BadDigest
            | BadRequest
            | EntityTooLarge
            | EntityTooSmall
            | IncompleteBody
            | IncorrectNumberOfFilesInPostRequest
            | InvalidArgument
            | InvalidBucketName
            | InvalidDigest
            | InvalidEncryptionAlgorithmError
            | InvalidLocationConstraint
            | InvalidPart
            | InvalidPartOrder
            | InvalidPolicyDocument
            | InvalidRequest
            | InvalidTag
            | KeyTooLongError
            | MalformedPOSTRequest
            | MalformedXML
            | MaxPostPreDataLengthExceeded
            | MalformedACLError
            | MalformedPolicy
            | MetadataTooLarge
            | MissingSecurityHeader
            | RequestTimeout
            | TooManyParts
            | UnresolvableGrantByEmailAddress
            | XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
            BucketAlreadyExists
            | BucketAlreadyOwnedByYou
            | BucketNotEmpty
            | InvalidBucketState
            | OperationAborted => StatusCode::CONFLICT,
            NoSuchBucket
            | NoSuchBucketPolicy
            | NoSuchPublicAccessBlockConfiguration
            | NoSuchCORSConfiguration
            | NoSuchKey
            | NoSuchLifecycleConfiguration
            | NoSuchObjectLockConfiguration
            | ObjectLockConfigurationNotFoundError
            | ServerSideEncryptionConfigurationNotFoundError
            | NoSuchTagSet
            | NoSuchUpload
            | NoSuchVersion => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            MissingContentLength => StatusCode::LENGTH_REQUIRED,
            PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            InvalidRange => StatusCode::RANGE_NOT_SATISFIABLE,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ServiceUnavailable | SlowDown => StatusCode::SERVICE_UNAVAILABLE,
            InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
        }
    }
}

/// What a client is told of an internal error.
pub const INTERNAL_ERROR_MESSAGE: &str = "We encountered an internal error. Please try again.";

impl S3Error {
    pub fn new(code: S3ErrorCode, message: impl Into<String>) -> S3Error {
        S3Error {
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// The error with a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.headers.push((name, value.into()));
        self
    }

    /// The S3 XML error document for this error. An internal error's
    /// message (which may name files, paths or system errors) stays in the
    /// server's log under the request id; the client gets AWS's words.
    pub fn to_xml(&self, resource: &str, request_id: &str) -> String {
        let message = match self.code {
            S3ErrorCode::InternalError => INTERNAL_ERROR_MESSAGE,
            _ => &self.message,
        };
        super::error_xml::error_body(self.code.as_str(), message, resource, request_id)
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for S3Error {}
