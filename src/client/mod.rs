//! A small blocking S3 client: what shale's own tools need to talk to a
//! node (the load generator, crash tests, later `shale admin`). It signs
//! with SigV4 in every payload mode real clients use, so tests can drive
//! the server exactly as minio-go or the AWS SDKs do.

mod conn;
pub mod sign;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

pub use conn::{Body, Conn, ConnError, Response};
pub use sign::Credentials;

use crate::s3::sigv4::{self, EMPTY_SHA256_HEX};

/// How the request body is covered by the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadMode {
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// The body's SHA-256 is signed.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, chunks of this many bytes,
    /// every one signed (minio-go over http; no Content-Encoding header).
    StreamingSigned { chunk: usize },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER` with an `x-amz-checksum-crc32`
    /// trailer (current AWS SDKs and the aws cli).
    StreamingUnsignedTrailer { chunk: usize },
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a
    /// signed crc32 trailer.
    StreamingSignedTrailer { chunk: usize },
}

impl PayloadMode {
    pub fn name(self) -> &'static str {
        match self {
            PayloadMode::Unsigned => "unsigned",
            PayloadMode::Signed => "signed",
            PayloadMode::StreamingSigned { .. } => "streaming-signed",
            PayloadMode::StreamingUnsignedTrailer { .. } => "streaming-unsigned-trailer",
            PayloadMode::StreamingSignedTrailer { .. } => "streaming-signed-trailer",
        }
    }
}

/// One request's parts beyond method and path.
#[derive(Default)]
pub struct Request<'a> {
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

pub struct S3Client {
    conn: Conn,
    creds: Credentials,
    host: String,
    /// Corrupts the first chunk signature (tests of the server's checks).
    pub tamper_chunk_signature: bool,
}

impl S3Client {
    pub fn new(addr: SocketAddr, creds: Credentials) -> Self {
        S3Client {
            conn: Conn::new(addr, Duration::from_secs(120)),
            creds,
            host: addr.to_string(),
            tamper_chunk_signature: false,
        }
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.creds.region
    }

    /// Signs later requests for `region`.
    pub fn set_region(&mut self, region: String) {
        self.creds.region = region;
    }

    /// Sends a signed request to `/bucket/key` (key may be empty; bucket
    /// may be empty for the service).
    pub fn send(
        &mut self,
        method: &str,
        bucket: &str,
        key: &str,
        req: Request<'_>,
        mode: PayloadMode,
    ) -> Result<Response, ConnError> {
        let path = if bucket.is_empty() {
            "/".to_owned()
        } else {
            sign::object_path(bucket, key)
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut headers = req.headers;
        let body_len = req.body.len();
        let (payload_line, chunk) = match mode {
            PayloadMode::Unsigned => ("UNSIGNED-PAYLOAD".to_owned(), None),
            PayloadMode::Signed => (
                if body_len == 0 {
                    EMPTY_SHA256_HEX.to_owned()
                } else {
                    sigv4::sha256_hex(req.body)
                },
                None,
            ),
            PayloadMode::StreamingSigned { chunk } => {
                ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned(), Some(chunk))
            }
            PayloadMode::StreamingUnsignedTrailer { chunk } => {
                ("STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_owned(), Some(chunk))
            }
            PayloadMode::StreamingSignedTrailer { chunk } => (
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER".to_owned(),
                Some(chunk),
            ),
        };
        let trailer = matches!(
            mode,
            PayloadMode::StreamingUnsignedTrailer { .. }
                | PayloadMode::StreamingSignedTrailer { .. }
        );
        if chunk.is_some() {
            headers.push(("x-amz-decoded-content-length".into(), body_len.to_string()));
        }
        if trailer {
            headers.push(("content-encoding".into(), "aws-chunked".into()));
            headers.push(("x-amz-trailer".into(), "x-amz-checksum-crc32".into()));
        }
        let to_sign = sign::RequestToSign {
            method,
            path: &path,
            query: &req.query,
            host: &self.host,
            headers: &headers,
            payload_line: &payload_line,
        };
        let signed = sign::sign(&self.creds, &to_sign, now);
        let target = if req.query.is_empty() {
            path
        } else {
            format!("{path}?{}", sign::encode_query(&req.query))
        };
        let body = match chunk {
            None if body_len == 0 => Body::Empty,
            None => Body::Bytes(req.body),
            Some(size) => {
                let signed_chunks = !matches!(mode, PayloadMode::StreamingUnsignedTrailer { .. });
                let mut chain = signed.chain.clone();
                let tamper = self.tamper_chunk_signature;
                Body::Encoded(encode_chunked(
                    req.body,
                    size.max(1),
                    signed_chunks.then_some(&mut chain),
                    trailer,
                    tamper,
                ))
            }
        };
        self.conn.request(method, &target, &signed.headers, &body)
    }

    /// A presigned GET URL's path and query.
    pub fn presign_get(&self, bucket: &str, key: &str, expires_secs: u64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        sign::presign(
            &self.creds,
            "GET",
            &sign::object_path(bucket, key),
            &self.host,
            expires_secs,
            now,
        )
    }

    /// An unsigned raw request (for presigned URLs).
    pub fn send_raw(&mut self, method: &str, target: &str) -> Result<Response, ConnError> {
        self.conn.request(method, target, &[], &Body::Empty)
    }

    pub fn create_bucket(&mut self, bucket: &str) -> Result<Response, ConnError> {
        self.send("PUT", bucket, "", Request::default(), PayloadMode::Signed)
    }

    pub fn put_object(
        &mut self,
        bucket: &str,
        key: &str,
        data: &[u8],
        mode: PayloadMode,
    ) -> Result<Response, ConnError> {
        self.put_object_with(bucket, key, data, Vec::new(), mode)
    }

    /// PutObject with extra headers (SSE-C key, lock, Content-MD5).
    pub fn put_object_with(
        &mut self,
        bucket: &str,
        key: &str,
        data: &[u8],
        headers: Vec<(String, String)>,
        mode: PayloadMode,
    ) -> Result<Response, ConnError> {
        let req = Request {
            query: Vec::new(),
            headers,
            body: data,
        };
        self.send("PUT", bucket, key, req, mode)
    }

    /// PutObject of `len` bytes read from `reader`, UNSIGNED-PAYLOAD: the
    /// object is streamed, never held whole.
    pub fn put_object_from(
        &mut self,
        bucket: &str,
        key: &str,
        len: u64,
        reader: &mut dyn std::io::Read,
    ) -> Result<Response, ConnError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let path = sign::object_path(bucket, key);
        let signed = sign::sign(
            &self.creds,
            &sign::RequestToSign {
                method: "PUT",
                path: &path,
                query: &[],
                host: &self.host,
                headers: &[],
                payload_line: "UNSIGNED-PAYLOAD",
            },
            now,
        );
        let body = Body::Reader(std::cell::RefCell::new(reader), len);
        self.conn.request("PUT", &path, &signed.headers, &body)
    }

    pub fn get_object(&mut self, bucket: &str, key: &str) -> Result<Response, ConnError> {
        self.send(
            "GET",
            bucket,
            key,
            Request::default(),
            PayloadMode::Unsigned,
        )
    }

    /// GetObject with extra headers (an SSE-C key) and query (a
    /// `versionId`).
    pub fn get_object_with(
        &mut self,
        bucket: &str,
        key: &str,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
    ) -> Result<Response, ConnError> {
        let req = Request {
            query,
            headers,
            body: &[],
        };
        self.send("GET", bucket, key, req, PayloadMode::Unsigned)
    }

    pub fn head_object(&mut self, bucket: &str, key: &str) -> Result<Response, ConnError> {
        self.send(
            "HEAD",
            bucket,
            key,
            Request::default(),
            PayloadMode::Unsigned,
        )
    }

    pub fn delete_object(&mut self, bucket: &str, key: &str) -> Result<Response, ConnError> {
        self.send(
            "DELETE",
            bucket,
            key,
            Request::default(),
            PayloadMode::Unsigned,
        )
    }

    /// Every key of the bucket under `prefix` (following continuation
    /// tokens), or the first failed response.
    pub fn list_all(
        &mut self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Result<Vec<String>, Response>, ConnError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type".to_owned(), "2".to_owned()),
                ("prefix".to_owned(), prefix.to_owned()),
            ];
            if let Some(t) = &token {
                query.push(("continuation-token".to_owned(), t.clone()));
            }
            let r = self.send(
                "GET",
                bucket,
                "",
                Request {
                    query,
                    ..Request::default()
                },
                PayloadMode::Unsigned,
            )?;
            if r.status != 200 {
                return Ok(Err(r));
            }
            let contents = xml_texts(&r.body, "Contents", "Key");
            keys.extend(contents);
            let next = xml_texts(&r.body, "ListBucketResult", "NextContinuationToken");
            match next.into_iter().next() {
                Some(t) => token = Some(t),
                None => return Ok(Ok(keys)),
            }
        }
    }

    /// CreateMultipartUpload; the upload id, or the failed response.
    pub fn create_multipart(
        &mut self,
        bucket: &str,
        key: &str,
    ) -> Result<Result<String, Response>, ConnError> {
        self.create_multipart_with(bucket, key, Vec::new())
    }

    /// CreateMultipartUpload with extra headers (SSE, lock, metadata).
    pub fn create_multipart_with(
        &mut self,
        bucket: &str,
        key: &str,
        headers: Vec<(String, String)>,
    ) -> Result<Result<String, Response>, ConnError> {
        let req = Request {
            query: vec![("uploads".to_owned(), String::new())],
            headers,
            ..Request::default()
        };
        let r = self.send("POST", bucket, key, req, PayloadMode::Signed)?;
        match xml_texts(&r.body, "InitiateMultipartUploadResult", "UploadId")
            .into_iter()
            .next()
        {
            Some(id) if r.status == 200 => Ok(Ok(id)),
            _ => Ok(Err(r)),
        }
    }

    pub fn upload_part(
        &mut self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: u32,
        data: &[u8],
        mode: PayloadMode,
    ) -> Result<Response, ConnError> {
        self.upload_part_with(bucket, key, upload_id, part, data, Vec::new(), mode)
    }

    /// UploadPart with extra headers (an SSE-C upload's key on every part).
    #[allow(clippy::too_many_arguments)]
    pub fn upload_part_with(
        &mut self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: u32,
        data: &[u8],
        headers: Vec<(String, String)>,
        mode: PayloadMode,
    ) -> Result<Response, ConnError> {
        let req = Request {
            query: vec![
                ("partNumber".to_owned(), part.to_string()),
                ("uploadId".to_owned(), upload_id.to_owned()),
            ],
            headers,
            body: data,
        };
        self.send("PUT", bucket, key, req, mode)
    }

    /// CompleteMultipartUpload of `(part number, ETag)` pairs.
    pub fn complete_multipart(
        &mut self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<Response, ConnError> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, etag) in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
                quick_xml::escape::escape(etag.as_str())
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let req = Request {
            query: vec![("uploadId".to_owned(), upload_id.to_owned())],
            body: xml.as_bytes(),
            ..Request::default()
        };
        self.send("POST", bucket, key, req, PayloadMode::Signed)
    }
    /// DeleteObjects (`POST ?delete`) of up to 1000 keys, sent with the
    /// Content-MD5 that S3 requires on it; `quiet` asks for errors only.
    /// The per-key results are in the body (`Deleted` / `Error`).
    pub fn delete_objects<K: AsRef<str>>(
        &mut self,
        bucket: &str,
        keys: &[K],
        quiet: bool,
    ) -> Result<Response, ConnError> {
        use md5::Digest;
        let mut xml = String::from("<Delete>");
        if quiet {
            xml.push_str("<Quiet>true</Quiet>");
        }
        for key in keys {
            xml.push_str("<Object><Key>");
            xml.push_str(&quick_xml::escape::escape(key.as_ref()));
            xml.push_str("</Key></Object>");
        }
        xml.push_str("</Delete>");
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&xml));
        let req = Request {
            query: vec![("delete".to_owned(), String::new())],
            headers: vec![("content-md5".to_owned(), md5)],
            body: xml.as_bytes(),
        };
        self.send("POST", bucket, "", req, PayloadMode::Signed)
    }
}

/// The three SSE-C request headers for a 256-bit customer key (on PUT,
/// GET, HEAD, CreateMultipartUpload and UploadPart).
pub fn sse_c_headers(key: &[u8; 32]) -> Vec<(String, String)> {
    use md5::Digest;
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        (
            "x-amz-server-side-encryption-customer-algorithm".into(),
            "AES256".into(),
        ),
        (
            "x-amz-server-side-encryption-customer-key".into(),
            b64.encode(key),
        ),
        (
            "x-amz-server-side-encryption-customer-key-md5".into(),
            b64.encode(md5::Md5::digest(key)),
        ),
    ]
}

/// `Content-MD5` of `body`, as a header.
pub fn content_md5_header(body: &[u8]) -> (String, String) {
    use md5::Digest;
    let b64 = base64::engine::general_purpose::STANDARD;
    ("content-md5".into(), b64.encode(md5::Md5::digest(body)))
}

/// aws-chunked encoding of `data` in `chunk`-byte chunks; signed when a
/// chain is given; with an `x-amz-checksum-crc32` trailer when `trailer`.
fn encode_chunked(
    data: &[u8],
    chunk: usize,
    mut chain: Option<&mut sign::ChunkChain>,
    trailer: bool,
    tamper: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / chunk * 100 + 256);
    let mut first = true;
    for piece in data.chunks(chunk).chain(std::iter::once(&[][..])) {
        out.extend_from_slice(format!("{:x}", piece.len()).as_bytes());
        if let Some(c) = chain.as_deref_mut() {
            let mut sig = c.next_chunk(piece);
            if tamper && first {
                sig.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
            }
            out.extend_from_slice(format!(";chunk-signature={sig}").as_bytes());
        }
        first = false;
        out.extend_from_slice(b"\r\n");
        if !piece.is_empty() {
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
    }
    if trailer {
        let crc =
            base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(data).to_be_bytes());
        let trailers = vec![("x-amz-checksum-crc32".to_owned(), crc)];
        for (n, v) in &trailers {
            out.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
        }
        if let Some(c) = chain {
            let sig = c.trailer(&trailers);
            out.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The unescaped texts of every `<child>` directly inside a `<parent>`.
pub fn xml_texts(xml: &[u8], parent: &str, child: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => path.push(e.local_name().as_ref().to_vec()),
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Empty(e)) => {
                let n = path.len();
                if e.local_name().as_ref() == child.as_bytes()
                    && n >= 1
                    && path.get(n - 1).is_some_and(|p| p == parent.as_bytes())
                {
                    out.push(String::new());
                }
            }
            Ok(Event::Text(t)) => {
                let n = path.len();
                if n >= 2
                    && path.get(n - 1).is_some_and(|p| p == child.as_bytes())
                    && path.get(n - 2).is_some_and(|p| p == parent.as_bytes())
                {
                    if let Ok(s) = t.unescape() {
                        out.push(s.into_owned());
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    out
}
