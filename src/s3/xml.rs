//! S3's XML: the request bodies shale reads ([`read`]) and the response
//! documents it writes ([`write`]), plus the two text encodings they share.
//!
//! Reading is `quick_xml::Reader` under a small well-formedness-checking
//! walk; anything that is not well-formed XML of the expected shape is
//! `MalformedXML`. Writing escapes every piece of text with
//! `quick_xml::escape::escape`, then turns the control characters it leaves
//! alone into character references (see [`escape_text`]).

mod read;
mod write;

use std::borrow::Cow;
use std::fmt::Write as _;

pub use read::{
    parse_access_control_policy, parse_bucket_encryption, parse_bucket_tagging,
    parse_complete_multipart, parse_complete_parts, parse_cors, parse_create_bucket, parse_delete,
    parse_legal_hold, parse_lifecycle, parse_object_lock_config, parse_public_access_block,
    parse_retention, parse_tagging, parse_versioning, CompletePart, DeleteRequest,
    COMPLETE_PARTS_MAX, DELETE_OBJECTS_MAX, ELEMENTS_MAX, NESTING_MAX,
};
pub use write::{
    access_control_policy, bucket_encryption, complete_multipart, complete_multipart_with_checksum,
    copy_result, cors, delete_result, initiate_multipart, legal_hold, lifecycle, list_buckets,
    list_buckets_page, list_multipart_uploads, list_objects_v1, list_objects_v2, list_parts,
    list_versions, location_constraint, object_attributes, object_lock_config, policy_status,
    post_response, public_access_block, retention, tagging, versioning, DeletedEntry, ListEntry,
    ListObjectsResult, ListPartsResult, ListUploadsResult, ListVersionsResult, ObjectAttributes,
    ObjectPartsPage, Owner, PartEntry, UploadEntry, VersionEntry,
};

/// The namespace on the root element of every S3 response document.
pub const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Escapes `s` for XML text content.
///
/// `quick_xml::escape::escape` does `& < > ' "`. Two more things decide
/// whether a key survives a real client's parser:
/// - `\r` must be a reference: XML parsers turn a raw CR (and CRLF) into LF
///   (XML 1.0 §2.11), so a raw one would come back as `\n`.
/// - The other C0 controls (U+0001–U+001F except TAB and LF) are not XML 1.0
///   characters at all. S3 writes them as references (`&#x1B;`), which Go's
///   and quick-xml's readers accept and expat/libxml2 reject — the reason
///   clients ask for `encoding-type=url`. We do the same.
///
/// U+0000 has no XML form, not even a reference (`&#0;` is refused by
/// quick-xml too), so it is written raw: lenient readers such as quick-xml
/// read it back, strict ones need `encoding-type=url`.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    let escaped = quick_xml::escape::escape(s);
    if !escaped.chars().any(needs_char_ref) {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 16);
    for c in escaped.chars() {
        if needs_char_ref(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "&#x{:X};", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_char_ref(c: char) -> bool {
    c < ' ' && !matches!(c, '\t' | '\n' | '\0')
}

/// S3's `encoding-type=url`: every byte of the UTF-8 percent-encoded
/// (`%XX`, upper-case hex) except the RFC 3986 unreserved characters
/// `A-Z a-z 0-9 - . _ ~` and `/`, which S3 leaves literal.
///
/// In particular a space is `%20` and `+` is `%2B`, never a bare `+` or
/// space: servers disagree on spaces (MinIO writes `+`), and clients decode
/// differently — botocore with `unquote_plus` (`+` is a space), the Go SDK
/// with `QueryUnescape` (likewise), others with a plain percent-decode (`+`
/// stays `+`). Without a bare `+` or space all of them read the same key.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
