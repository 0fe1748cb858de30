//! Object reads: GET and HEAD (conditions, ranges, parts), object
//! attributes, and the response body read from the segment store.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use hyper::Response;
use tokio::sync::mpsc;

use super::{err, header, set_header, storage_class_name, xml_response, Op};
use crate::node::Node;
use crate::object::sse::ObjectCipher;
use crate::object::store::{etag_string, open_chunk, positions, FoundObject};
use crate::object::versioning::{format_version_id, parse_version_id, NULL_VERSION};
use crate::s3::checksum;
use crate::s3::conditional::{ReadConditions, ReadVerdict};
use crate::s3::{range, time, xml, S3Error, S3ErrorCode};
use crate::server::body::ResponseBody;

impl Op<'_> {
    pub(super) async fn get_object(
        &self,
        head_only: bool,
        bucket: &str,
        key: &[u8],
    ) -> Result<Response<ResponseBody>, S3Error> {
        let found = match self.q("versionId") {
            Some(v) => {
                let v = parse_version_id(v)?;
                self.store().get_object_version(bucket, key, v).await?
            }
            None => self.store().get_object(bucket, key).await?,
        };
        // An SSE-C object is shown (even by HEAD) only with its key.
        let sse_key = self.sse_read_key()?;
        let cipher = self
            .store()
            .unlock(found.head.sse.as_ref(), sse_key.as_ref())?;
        let shown_version = if found.head.versioned {
            Some(found.head.version_id)
        } else {
            self.store().bucket(bucket)?.shown_version(NULL_VERSION)
        };
        let size = found.head.size;
        let etag_quoted = format!(
            "\"{}\"",
            etag_string(&found.head.etag, found.head.etag_parts)
        );
        let conditions = ReadConditions::from_headers(|n| header(self.headers, n));
        match conditions.evaluate(
            etag_quoted.trim_matches('"'),
            found.head.mtime_nanos / 1_000_000_000,
        ) {
            ReadVerdict::Proceed => {}
            ReadVerdict::NotModified => {
                return Response::builder()
                    .status(StatusCode::NOT_MODIFIED)
                    .header("etag", &etag_quoted)
                    .header("last-modified", time::http_date(found.head.mtime_nanos))
                    .body(ResponseBody::empty())
                    .map_err(|e| err(S3ErrorCode::InternalError, e.to_string()));
            }
            ReadVerdict::PreconditionFailed(which) => {
                return Err(err(
                    S3ErrorCode::PreconditionFailed,
                    format!(
                        "At least one of the pre-conditions you specified did not hold ({which})"
                    ),
                ));
            }
        }
        let part = self.part_number()?;
        // The byte range to send, and whether it is partial.
        let (first, last, partial) = match part {
            Some(n) => part_range(&found, n)?,
            None => match header(self.headers, "range")
                .map(range::parse_range)
                .transpose()?
                .flatten()
            {
                Some(spec) => {
                    let (f, l) = range::resolve(spec, size)?;
                    (f, l, true)
                }
                None => (0, size.saturating_sub(1), false),
            },
        };
        let len = if size == 0 { 0 } else { last - first + 1 };
        let mut builder = Response::builder()
            .status(if partial {
                StatusCode::PARTIAL_CONTENT
            } else {
                StatusCode::OK
            })
            .header("content-length", len)
            .header("accept-ranges", "bytes")
            .header("etag", &etag_quoted)
            .header("last-modified", time::http_date(found.head.mtime_nanos));
        if partial {
            builder = builder.header("content-range", range::content_range(first, last, size));
        }
        if let Some(v) = shown_version {
            builder = builder.header("x-amz-version-id", format_version_id(&v));
        }
        if !found.head.parts.is_empty() {
            builder = builder.header("x-amz-mp-parts-count", found.head.parts.len());
        }
        if found.head.expiry_secs != 0 {
            builder = builder.header("x-delete-at", found.head.expiry_secs);
        }
        for (n, v) in crate::s3::object_lock::response_headers(&found.head.lock) {
            builder = builder.header(n, v);
        }
        if let Some((t, id)) = self.store().bucket(bucket)?.rule_expiry(
            key,
            found.head.size,
            &found.head.meta,
            found.head.mtime_nanos,
        ) {
            builder = builder.header(
                "x-amz-expiration",
                crate::s3::lifecycle::expiration_header(t, &id),
            );
        }
        let checksum_mode = header(self.headers, "x-amz-checksum-mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"));
        if let (true, Some(c)) = (checksum_mode, &found.head.checksum) {
            // A whole object shows its checksum; a part (partNumber) of a
            // composite one shows the part's; other ranges show none.
            let shown = match (part, partial) {
                (None, false) => Some(c.stored().value()),
                (Some(n), _) => usize::try_from(n)
                    .ok()
                    .and_then(|n| c.part_digests.get(n.checked_sub(1)?))
                    .map(|d| checksum::encode(d)),
                (None, true) => None,
            };
            if let Some(v) = shown {
                builder = builder
                    .header(c.algorithm.header(), v)
                    .header("x-amz-checksum-type", c.stored().kind());
            }
        }
        let mut has_type = false;
        let tag_count = crate::s3::tagging::tags_in(&found.head.meta).len();
        if tag_count > 0 {
            builder = builder.header("x-amz-tagging-count", tag_count);
        }
        for (n, v) in &found.head.meta {
            if n == crate::s3::tagging::TAGGING_META || n == crate::s3::acl::ACL_META {
                continue;
            }
            has_type |= n == "content-type";
            if let Ok(v) = HeaderValue::from_str(v) {
                builder = builder.header(n.as_str(), v);
            }
        }
        if !has_type {
            builder = builder.header("content-type", "binary/octet-stream");
        }
        let mut resp = builder
            .body(ResponseBody::empty())
            .map_err(|e| err(S3ErrorCode::InternalError, e.to_string()))?;
        for (q, h) in [
            ("response-content-type", "content-type"),
            ("response-content-language", "content-language"),
            ("response-expires", "expires"),
            ("response-cache-control", "cache-control"),
            ("response-content-disposition", "content-disposition"),
            ("response-content-encoding", "content-encoding"),
        ] {
            if let Some(v) = self.q(q).and_then(|v| HeaderValue::from_str(v).ok()) {
                resp.headers_mut().insert(h, v);
            }
        }
        super::sse::set_sse_headers(
            &mut resp,
            found.head.sse.as_ref().map(|s| s.mode),
            sse_key.as_ref(),
        );
        if head_only || len == 0 {
            return Ok(resp);
        }
        *resp.body_mut() = object_body(self.node, found, cipher, first, last).await?;
        Ok(resp)
    }

    /// GetObjectAttributes: what `x-amz-object-attributes` asks for (ETag,
    /// Checksum, ObjectParts, StorageClass, ObjectSize), parts paged by
    /// `x-amz-max-parts` and `x-amz-part-number-marker`.
    pub(super) async fn object_attributes(
        &self,
        bucket: &str,
        key: &[u8],
    ) -> Result<Response<ResponseBody>, S3Error> {
        let asked: Vec<String> = header(self.headers, "x-amz-object-attributes")
            .unwrap_or_default()
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        const KNOWN: [&str; 5] = [
            "ETag",
            "Checksum",
            "ObjectParts",
            "StorageClass",
            "ObjectSize",
        ];
        if asked.is_empty() {
            return Err(err(
                S3ErrorCode::InvalidArgument,
                "x-amz-object-attributes must name at least one of ETag, Checksum, ObjectParts, StorageClass, ObjectSize",
            ));
        }
        if let Some(a) = asked.iter().find(|a| !KNOWN.contains(&a.as_str())) {
            return Err(err(
                S3ErrorCode::InvalidArgument,
                format!("Invalid attribute name specified: {a}"),
            ));
        }
        let number = |name: &str, default: u32| -> Result<u32, S3Error> {
            match header(self.headers, name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| {
                    err(
                        S3ErrorCode::InvalidArgument,
                        format!("{name} must be a non-negative integer"),
                    )
                }),
            }
        };
        let max_parts = number("x-amz-max-parts", 1000)?.min(1000);
        let marker = number("x-amz-part-number-marker", 0)?;
        let found = match self.q("versionId") {
            Some(v) => {
                let v = parse_version_id(v)?;
                self.store().get_object_version(bucket, key, v).await?
            }
            None => self.store().get_object(bucket, key).await?,
        };
        let h = &found.head;
        // As GetObject shows it.
        let shown_version = if h.versioned {
            Some(h.version_id)
        } else {
            self.store().bucket(bucket)?.shown_version(NULL_VERSION)
        };
        let wants = |a: &str| asked.iter().any(|x| x == a);
        let checksum = h.checksum.as_ref();
        let mut attrs = xml::ObjectAttributes {
            etag: wants("ETag").then(|| etag_string(&h.etag, h.etag_parts)),
            checksum: checksum.filter(|_| wants("Checksum")).map(|c| {
                let s = c.stored();
                (c.algorithm.xml_element(), s.value(), s.kind())
            }),
            storage_class: wants("StorageClass")
                .then(|| storage_class_name(h.storage_class).to_string()),
            size: wants("ObjectSize").then_some(h.size),
            parts: None,
        };
        if wants("ObjectParts") && !h.parts.is_empty() {
            let total = h.parts.len() as u32;
            let page: Vec<_> = h
                .parts
                .iter()
                .enumerate()
                .map(|(i, p)| (i as u32 + 1, p))
                .filter(|(n, _)| *n > marker)
                .take(max_parts as usize)
                .map(|(n, p)| {
                    // Parts are listed with their checksums, when the
                    // object has per-part ones.
                    let ck = checksum.and_then(|c| {
                        let d = c.part_digests.get(n as usize - 1)?;
                        Some((c.algorithm.xml_element(), checksum::encode(d)))
                    });
                    (n, p.size, ck)
                })
                .collect();
            let last = page.last().map(|p| p.0);
            let truncated = last.is_some_and(|l| l < total);
            attrs.parts = Some(xml::ObjectPartsPage {
                total,
                marker,
                next_marker: last.filter(|_| truncated),
                max_parts,
                truncated,
                parts: page,
            });
        }
        let mut r = xml_response(StatusCode::OK, xml::object_attributes(&attrs))?;
        if let Ok(v) = HeaderValue::from_str(&time::http_date(h.mtime_nanos)) {
            r.headers_mut().insert("last-modified", v);
        }
        if let Some(v) = shown_version {
            set_header(&mut r, "x-amz-version-id", &format_version_id(&v));
        }
        Ok(r)
    }
}

/// Bytes [first, last] of part `n` of a multipart object (part 1 of a
/// single-part object is all of it).
pub(super) fn part_range(found: &FoundObject, n: u32) -> Result<(u64, u64, bool), S3Error> {
    let size = found.head.size;
    if found.head.parts.is_empty() {
        return if n == 1 {
            Ok((0, size.saturating_sub(1), false))
        } else {
            Err(err(
                S3ErrorCode::InvalidRange,
                "The requested partnumber is not satisfiable",
            ))
        };
    }
    let mut start = 0u64;
    for (i, p) in found.head.parts.iter().enumerate() {
        if i + 1 == n as usize {
            return Ok((start, start + p.size.saturating_sub(1), true));
        }
        start += p.size;
    }
    Err(err(
        S3ErrorCode::InvalidRange,
        "The requested partnumber is not satisfiable",
    ))
}

/// The body for bytes [first, last] of the object. Within one chunk (every
/// object up to a chunk's size) the chunk is read and verified before the
/// response starts, so headers and body leave in one write and an
/// unreadable chunk is an error response; a longer range is streamed.
pub(super) async fn object_body(
    node: &Node,
    found: FoundObject,
    cipher: Option<ObjectCipher>,
    first: u64,
    last: u64,
) -> Result<ResponseBody, S3Error> {
    let mut at = 0u64;
    let positions = positions(&found.head);
    for (c, pos) in found.head.chunks.iter().zip(positions) {
        let (start, end) = (at, at + u64::from(c.len));
        at = end;
        if end <= first {
            continue;
        }
        if last >= end {
            break; // spans more than this chunk
        }
        let rec = node.store.segments().read(c.loc).await.map_err(|e| {
            err(
                S3ErrorCode::InternalError,
                format!("reading the object: {e}"),
            )
        })?;
        let (from, to) = ((first - start) as usize, (last + 1 - start) as usize);
        let data = open_chunk(rec.payload, c, pos, cipher.as_ref())
            .map_err(|e| err(S3ErrorCode::InternalError, format!("object chunk: {e}")))?;
        if to > data.len() {
            return Err(err(
                S3ErrorCode::InternalError,
                "object chunk length differs from its head",
            ));
        }
        return Ok(ResponseBody::Full(Some(data.slice(from..to))));
    }
    Ok(stream_object(node, found, cipher, first, last))
}

/// A body that streams bytes [first, last] of the object, chunk by chunk
/// (each verified when read), one chunk ahead of the socket.
pub(super) fn stream_object(
    node: &Node,
    found: FoundObject,
    cipher: Option<ObjectCipher>,
    first: u64,
    last: u64,
) -> ResponseBody {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let segments = node.store.segments().clone();
    tokio::task::spawn_local(async move {
        let mut at = 0u64;
        let positions = positions(&found.head);
        for (c, pos) in found.head.chunks.iter().zip(positions) {
            let (start, end) = (at, at + u64::from(c.len));
            at = end;
            if end <= first || start > last {
                continue;
            }
            let from = first.saturating_sub(start) as usize;
            let to = ((last + 1).min(end) - start) as usize;
            // Only the chunks the range touches are read and opened.
            let piece = match segments.read(c.loc).await {
                Ok(rec) => match open_chunk(rec.payload, c, pos, cipher.as_ref()) {
                    Ok(d) if to <= d.len() => Ok(d.slice(from..to)),
                    Ok(_) => Err(std::io::Error::other(
                        "object chunk length differs from its head",
                    )),
                    Err(e) => Err(std::io::Error::other(e)),
                },
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let failed = piece.is_err();
            if tx.send(piece).await.is_err() || failed {
                // The client went away, or the data is unreadable: the
                // response is cut short (never filled with wrong bytes).
                return;
            }
        }
    });
    ResponseBody::Stream(rx)
}
