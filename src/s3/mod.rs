//! The S3 protocol, as pure logic the server and the fuzzers share:
//! errors, SigV4 (and which headers it must cover), aws-chunked bodies,
//! Range headers, XML bodies, names, conditional requests, copy sources,
//! additional checksums.
//! No I/O here.

pub mod access;
pub mod acl;
pub mod checksum;
pub mod chunked;
pub mod conditional;
pub mod copy_source;
pub mod cors;
pub mod delete_at;
pub mod error;
pub mod error_xml;
pub mod form;
pub mod lifecycle;
pub mod names;
pub mod object_lock;
pub mod operation;
pub mod policy;
pub mod post_policy;
pub mod range;
pub mod signed_headers;
pub mod sigv4;
pub mod sse;
pub mod tagging;
pub mod time;
pub mod unsupported;
pub mod xml;

pub use error::{S3Error, S3ErrorCode};

/// Percent-decodes a URI component into bytes ('+' stays '+').
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}
