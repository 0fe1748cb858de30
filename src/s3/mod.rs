//! The S3 protocol, as pure logic the server and the fuzzers share:
//! errors, SigV4, aws-chunked bodies, Range headers, XML bodies, names.
//! No I/O here.

pub mod error;

pub use error::{S3Error, S3ErrorCode};
