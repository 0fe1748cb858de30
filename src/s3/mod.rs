//! The S3 protocol, as pure logic the server and the fuzzers share:
//! errors, SigV4, aws-chunked bodies, Range headers, XML bodies, names.
//! No I/O here.

pub mod chunked;
pub mod error;
pub mod names;
pub mod range;
pub mod sigv4;
pub mod time;
pub mod xml;

pub use error::{S3Error, S3ErrorCode};
