//! One S3 operation each, checked the way a benchmark must (status, size,
//! every byte): what a worker times. A failure is a line for the person
//! reading the report, with the S3 error code when the server sent one.

use std::net::SocketAddr;

use shale::client::{xml_texts, ConnError, Credentials, PayloadMode, Request, Response, S3Client};

use crate::content;

/// What every worker of a run shares.
pub struct Ctx {
    pub addr: SocketAddr,
    pub creds: Credentials,
    pub bucket: String,
    /// This run's objects are `{prefix}/{n:010}`.
    pub prefix: String,
    /// What the list operation lists: this run's keys (`{prefix}/`) or
    /// the existing objects under --existing-prefix.
    pub list_prefix: String,
    /// The list operation's delimiter.
    pub delimiter: Option<String>,
    pub size: usize,
    pub mode: PayloadMode,
    /// Objects go to `bucket` (1) or spread over `bucket-NNNNNN`.
    pub buckets: u64,
}

impl Ctx {
    /// A client with its own keep-alive connection.
    pub fn client(&self) -> S3Client {
        S3Client::new(self.addr, self.creds.clone())
    }

    /// The bucket object `n` goes to.
    pub fn bucket_for(&self, n: u64) -> std::borrow::Cow<'_, str> {
        match self.buckets {
            0 | 1 => std::borrow::Cow::Borrowed(&self.bucket),
            b => std::borrow::Cow::Owned(self.bucket_name(n % b)),
        }
    }

    /// The name of the `i`-th bucket of a --buckets run.
    pub fn bucket_name(&self, i: u64) -> String {
        format!("{}-{i:06}", self.bucket)
    }

    pub fn key(&self, n: u64) -> String {
        format!("{}/{n:010}", self.prefix)
    }

    /// The prefix to clean up: this run's keys and nothing else.
    pub fn own_prefix(&self) -> String {
        format!("{}/", self.prefix)
    }
}

/// What a successful operation moved.
#[derive(Clone, Copy, Debug, Default)]
pub struct Done {
    /// Object bytes sent or received.
    pub bytes: u64,
    /// Keys listed or deleted.
    pub objects: u64,
}

/// A failed operation: a line for the report.
pub type OpResult = Result<Done, String>;

/// Creates `bucket` as a measured operation.
pub fn create_bucket_op(c: &mut S3Client, bucket: &str) -> OpResult {
    create_bucket(c, bucket).map(|()| Done {
        bytes: 0,
        objects: 1,
    })
}

/// Creates the bucket; one that exists and is ours is fine.
pub fn create_bucket(c: &mut S3Client, bucket: &str) -> Result<(), String> {
    let r = c
        .create_bucket(bucket)
        .map_err(|e| transport("create bucket", bucket, &e))?;
    match (r.status, s3_code(&r).as_deref()) {
        (200, _) | (409, Some("BucketAlreadyOwnedByYou")) => Ok(()),
        _ => Err(failed("create bucket", bucket, &r)),
    }
}

/// PUTs the object `key` of `ctx.size` bytes; `buf` is scratch space.
pub fn put(c: &mut S3Client, ctx: &Ctx, key: &str, buf: &mut Vec<u8>) -> OpResult {
    put_to(c, ctx, &ctx.bucket, key, buf)
}

/// [`put`] to `bucket`.
pub fn put_to(c: &mut S3Client, ctx: &Ctx, bucket: &str, key: &str, buf: &mut Vec<u8>) -> OpResult {
    buf.resize(ctx.size, 0);
    content::fill(content::seed(key), 0, buf);
    let r = c
        .put_object(bucket, key, buf, ctx.mode)
        .map_err(|e| transport("PUT", key, &e))?;
    if !ok(r.status) {
        return Err(failed("PUT", key, &r));
    }
    Ok(Done {
        bytes: ctx.size as u64,
        objects: 1,
    })
}

/// GETs `key`, checking its size and every byte.
pub fn get(c: &mut S3Client, ctx: &Ctx, key: &str) -> OpResult {
    let r = c
        .get_object(&ctx.bucket, key)
        .map_err(|e| transport("GET", key, &e))?;
    if r.status != 200 {
        return Err(failed("GET", key, &r));
    }
    if r.body.len() != ctx.size {
        return Err(format!(
            "GET {key}: {} bytes, expected {}",
            r.body.len(),
            ctx.size
        ));
    }
    if let Some(at) = content::first_difference(content::seed(key), &r.body) {
        return Err(format!("GET {key}: content differs at byte {at}"));
    }
    Ok(Done {
        bytes: r.body.len() as u64,
        objects: 1,
    })
}

/// HEADs `key`, checking its Content-Length.
pub fn stat(c: &mut S3Client, ctx: &Ctx, key: &str) -> OpResult {
    let r = c
        .head_object(&ctx.bucket, key)
        .map_err(|e| transport("HEAD", key, &e))?;
    if r.status != 200 {
        return Err(failed("HEAD", key, &r));
    }
    let len = r.header("content-length").unwrap_or("(none)");
    if len.trim().parse::<usize>() != Ok(ctx.size) {
        return Err(format!(
            "HEAD {key}: Content-Length {len}, expected {}",
            ctx.size
        ));
    }
    Ok(Done {
        bytes: 0,
        objects: 1,
    })
}

/// DELETEs one object.
pub fn delete(c: &mut S3Client, ctx: &Ctx, key: &str) -> OpResult {
    let r = c
        .delete_object(&ctx.bucket, key)
        .map_err(|e| transport("DELETE", key, &e))?;
    if !ok(r.status) {
        return Err(failed("DELETE", key, &r));
    }
    Ok(Done {
        bytes: 0,
        objects: 1,
    })
}

/// One DeleteObjects request for `keys`; every key must be deleted.
pub fn delete_batch(c: &mut S3Client, bucket: &str, keys: &[String]) -> OpResult {
    let what = format!("DeleteObjects ({} keys from", keys.len());
    let first = keys.first().map(String::as_str).unwrap_or("");
    let r = c
        .delete_objects(bucket, keys, true)
        .map_err(|e| transport(&what, &format!("{first})"), &e))?;
    if r.status != 200 {
        return Err(failed(&what, &format!("{first})"), &r));
    }
    // Quiet mode: the body names only the keys that failed.
    let codes = xml_texts(&r.body, "Error", "Code");
    if let Some(code) = codes.first() {
        let key = xml_texts(&r.body, "Error", "Key").into_iter().next();
        return Err(format!(
            "DeleteObjects: {} of {} keys failed, first {}: {code}",
            codes.len(),
            keys.len(),
            key.unwrap_or_default()
        ));
    }
    Ok(Done {
        bytes: 0,
        objects: keys.len() as u64,
    })
}

/// Every key under the run's prefix (a full ListObjectsV2 walk).
pub fn list_keys(c: &mut S3Client, ctx: &Ctx) -> Result<Vec<String>, String> {
    let prefix = ctx.own_prefix();
    match c.list_all(&ctx.bucket, &prefix) {
        Ok(Ok(keys)) => Ok(keys),
        Ok(Err(r)) => Err(failed("LIST", &prefix, &r)),
        Err(e) => Err(transport("LIST", &prefix, &e)),
    }
}

/// One full ListObjectsV2 walk of `ctx.list_prefix` (with
/// `ctx.delimiter`, if any), following continuation tokens; the entries
/// (keys and common prefixes) must come in strictly ascending order,
/// and, when `expect` is given, number that many.
pub fn list(c: &mut S3Client, ctx: &Ctx, expect: Option<u64>) -> OpResult {
    let prefix = &ctx.list_prefix;
    let mut token: Option<String> = None;
    let mut last: Option<String> = None;
    let mut n = 0u64;
    loop {
        let mut query = vec![
            ("list-type".to_owned(), "2".to_owned()),
            ("prefix".to_owned(), prefix.clone()),
        ];
        if let Some(d) = &ctx.delimiter {
            query.push(("delimiter".to_owned(), d.clone()));
        }
        if let Some(t) = token.take() {
            query.push(("continuation-token".to_owned(), t));
        }
        let req = Request {
            query,
            ..Request::default()
        };
        let r = c
            .send("GET", &ctx.bucket, "", req, PayloadMode::Unsigned)
            .map_err(|e| transport("LIST", prefix, &e))?;
        if r.status != 200 {
            return Err(failed("LIST", prefix, &r));
        }
        let page = ListPage::parse(&r.body);
        for entry in page.entries() {
            if last.as_ref().is_some_and(|l| entry.as_str() <= l.as_str()) {
                return Err(format!(
                    "LIST {prefix}: {entry:?} after {:?}: out of order or repeated",
                    last.unwrap_or_default()
                ));
            }
            if !entry.starts_with(prefix.as_str()) {
                return Err(format!("LIST {prefix}: {entry:?} is outside the prefix"));
            }
            last = Some(entry);
            n += 1;
        }
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    match expect {
        Some(want) if want != n => Err(format!("LIST {prefix}: {n} entries, expected {want}")),
        _ => Ok(Done {
            bytes: 0,
            objects: n,
        }),
    }
}

/// What one ListObjectsV2 page says, read in one pass.
#[derive(Debug, Default, PartialEq, Eq)]
struct ListPage {
    keys: Vec<String>,
    prefixes: Vec<String>,
    next_token: Option<String>,
}

impl ListPage {
    fn parse(xml: &[u8]) -> ListPage {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_reader(xml);
        let mut path: Vec<Vec<u8>> = Vec::new();
        let mut page = ListPage::default();
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e)) => path.push(e.local_name().as_ref().to_vec()),
                Ok(Event::End(_)) => {
                    path.pop();
                }
                Ok(Event::Text(t)) => {
                    let Ok(text) = t.unescape() else { continue };
                    let n = path.len();
                    let at = |i: usize| path.get(n.wrapping_sub(i)).map(Vec::as_slice);
                    match (at(2), at(1)) {
                        (Some(b"Contents"), Some(b"Key")) => page.keys.push(text.into_owned()),
                        (Some(b"CommonPrefixes"), Some(b"Prefix")) => {
                            page.prefixes.push(text.into_owned())
                        }
                        (Some(b"ListBucketResult"), Some(b"NextContinuationToken")) => {
                            page.next_token = Some(text.into_owned())
                        }
                        _ => {}
                    }
                }
                Ok(Event::Eof) | Err(_) => break,
                _ => {}
            }
            buf.clear();
        }
        page
    }

    /// Keys and common prefixes in the order S3 sorts them (as one list).
    /// Each list must be ascending on its own; merging them keeps a wrong
    /// order within either visible to the caller's check.
    fn entries(&self) -> Vec<String> {
        let (mut k, mut p) = (self.keys.iter().peekable(), self.prefixes.iter().peekable());
        let mut out = Vec::with_capacity(self.keys.len() + self.prefixes.len());
        loop {
            let next = match (k.peek(), p.peek()) {
                (Some(a), Some(b)) if a <= b => k.next(),
                (Some(_), Some(_)) => p.next(),
                (Some(_), None) => k.next(),
                (None, _) => p.next(),
            };
            match next {
                Some(e) => out.push(e.clone()),
                None => return out,
            }
        }
    }
}

/// Uploads `key` (`ctx.size` bytes) as a multipart upload of
/// `part_bytes` parts; aborts the upload when a part fails.
pub fn multipart(
    c: &mut S3Client,
    ctx: &Ctx,
    key: &str,
    part_bytes: usize,
    buf: &mut Vec<u8>,
) -> OpResult {
    let id = match c.create_multipart(&ctx.bucket, key) {
        Ok(Ok(id)) => id,
        Ok(Err(r)) => return Err(failed("CreateMultipartUpload", key, &r)),
        Err(e) => return Err(transport("CreateMultipartUpload", key, &e)),
    };
    let seed = content::seed(key);
    let mut parts = Vec::new();
    let mut offset = 0usize;
    while offset < ctx.size {
        let len = part_bytes.min(ctx.size - offset);
        buf.resize(len, 0);
        content::fill(seed, offset as u64, buf);
        let number = parts.len() as u32 + 1;
        let what = format!("UploadPart {number} of");
        let etag = match c.upload_part(&ctx.bucket, key, &id, number, buf, ctx.mode) {
            Ok(r) if r.status == 200 => r
                .header("etag")
                .map(str::to_owned)
                .ok_or_else(|| format!("UploadPart {number} of {key}: no ETag in the response")),
            Ok(r) => Err(failed(&what, key, &r)),
            Err(e) => Err(transport(&what, key, &e)),
        };
        match etag {
            Ok(etag) => parts.push((number, etag)),
            Err(e) => {
                abort(c, ctx, key, &id);
                return Err(e);
            }
        }
        offset += len;
    }
    let r = c
        .complete_multipart(&ctx.bucket, key, &id, &parts)
        .map_err(|e| transport("CompleteMultipartUpload", key, &e))?;
    // S3 may answer 200 and still fail, with an Error document.
    if r.status != 200 || s3_code(&r).is_some() {
        return Err(failed("CompleteMultipartUpload", key, &r));
    }
    Ok(Done {
        bytes: ctx.size as u64,
        objects: 1,
    })
}

/// AbortMultipartUpload, best effort (the run has failed already).
fn abort(c: &mut S3Client, ctx: &Ctx, key: &str, id: &str) {
    let req = Request {
        query: vec![("uploadId".to_owned(), id.to_owned())],
        ..Request::default()
    };
    let _ = c.send("DELETE", &ctx.bucket, key, req, PayloadMode::Unsigned);
}

fn ok(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The `<Code>` of an S3 error document.
fn s3_code(r: &Response) -> Option<String> {
    xml_texts(&r.body, "Error", "Code").into_iter().next()
}

fn failed(what: &str, key: &str, r: &Response) -> String {
    match s3_code(r) {
        Some(code) => {
            let message = xml_texts(&r.body, "Error", "Message")
                .into_iter()
                .next()
                .unwrap_or_default();
            format!("{what} {key}: HTTP {} {code}: {message}", r.status)
        }
        None if r.body.is_empty() => format!("{what} {key}: HTTP {} (no error body)", r.status),
        None => format!("{what} {key}: HTTP {} (no S3 error code)", r.status),
    }
}

fn transport(what: &str, key: &str, e: &ConnError) -> String {
    format!("{what} {key}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_page_reads_keys_prefixes_and_the_token() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>d/</Prefix>
<Contents><Key>d/a</Key><Size>0</Size></Contents><Contents><Key>d/c&amp;</Key></Contents>
<CommonPrefixes><Prefix>d/b/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>d/e/</Prefix></CommonPrefixes>
<IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken></ListBucketResult>"#;
        let page = ListPage::parse(xml);
        assert_eq!(page.keys, ["d/a", "d/c&"]);
        assert_eq!(page.prefixes, ["d/b/", "d/e/"]);
        assert_eq!(page.next_token.as_deref(), Some("tok"));
        assert_eq!(page.entries(), ["d/a", "d/b/", "d/c&", "d/e/"]);
    }
}
