//! A blocking HTTP/1.1 keep-alive connection, enough for an S3 client:
//! requests with a body from memory (sent whole or aws-chunked), responses
//! with Content-Length, chunked transfer coding, or read to close.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Response heads larger than this are refused.
const HEAD_BYTES_MAX: usize = 64 * 1024;
const HEADERS_MAX: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    #[error("malformed response: {0}")]
    Malformed(String),
}

/// A response read whole.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Lowercase names, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the request body goes on the wire.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// Already encoded (e.g. aws-chunked) bytes; Content-Length is theirs.
    Encoded(Vec<u8>),
    /// `len` bytes streamed from a reader (large objects never held whole).
    Reader(std::cell::RefCell<&'a mut dyn Read>, u64),
}

pub struct Conn {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    timeout: Duration,
}

impl Conn {
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Conn {
            addr,
            stream: None,
            timeout,
        }
    }

    fn stream(&mut self) -> Result<&mut BufReader<TcpStream>, ConnError> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, self.timeout)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(self.timeout))?;
            s.set_write_timeout(Some(self.timeout))?;
            self.stream = Some(BufReader::with_capacity(64 * 1024, s));
        }
        self.stream
            .as_mut()
            .ok_or_else(|| ConnError::Malformed("no stream".into()))
    }

    /// Sends one request and reads its response. A request on a reused
    /// connection that fails before any response byte is retried once on a
    /// fresh connection (the server may have closed an idle one).
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &Body<'_>,
    ) -> Result<Response, ConnError> {
        let reused = self.stream.is_some();
        match self.try_request(method, target, headers, body) {
            // A streamed body cannot be sent twice.
            Err(ConnError::Io(e))
                if reused && is_stale(&e) && !matches!(body, Body::Reader(..)) =>
            {
                self.stream = None;
                self.try_request(method, target, headers, body)
            }
            r => r,
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &Body<'_>,
    ) -> Result<Response, ConnError> {
        let addr = self.addr;
        let r = (|| {
            let stream = self.stream()?;
            let payload: &[u8] = match body {
                Body::Empty | Body::Reader(..) => &[],
                Body::Bytes(b) => b,
                Body::Encoded(b) => b,
            };
            let payload_len = match body {
                Body::Reader(_, len) => *len,
                _ => payload.len() as u64,
            };
            let mut head = format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\n");
            for (n, v) in headers {
                head.push_str(n);
                head.push_str(": ");
                head.push_str(v);
                head.push_str("\r\n");
            }
            if !matches!(body, Body::Empty) || method == "PUT" || method == "POST" {
                head.push_str(&format!("content-length: {payload_len}\r\n"));
            }
            head.push_str("\r\n");
            let s = stream.get_mut();
            if payload.len() <= 64 * 1024 {
                let mut all = head.into_bytes();
                all.extend_from_slice(payload);
                s.write_all(&all)?;
            } else {
                s.write_all(head.as_bytes())?;
                s.write_all(payload)?;
            }
            if let Body::Reader(reader, len) = body {
                let mut reader = reader.borrow_mut();
                let copied = io::copy(&mut (&mut **reader).take(*len), s)?;
                if copied < *len {
                    return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
                }
            }
            read_response(stream, method == "HEAD")
        })();
        match &r {
            Ok(resp) if resp.header("connection") == Some("close") => self.stream = None,
            Ok(_) => {}
            Err(_) => self.stream = None,
        }
        r
    }
}

fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

fn read_response(
    stream: &mut BufReader<TcpStream>,
    head_only: bool,
) -> Result<Response, ConnError> {
    let mut raw = Vec::with_capacity(1024);
    loop {
        let n = stream.read_until(b'\n', &mut raw)?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        if raw.ends_with(b"\r\n\r\n") || raw.ends_with(b"\n\n") {
            break;
        }
        if raw.len() > HEAD_BYTES_MAX {
            return Err(ConnError::Malformed("response head too large".into()));
        }
    }
    let mut slots = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(&raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(ConnError::Malformed("partial head".into())),
        Err(e) => return Err(ConnError::Malformed(e.to_string())),
    }
    let status = parsed.code.unwrap_or(0);
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let mut body = Vec::new();
    let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
    if !no_body {
        if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            read_chunked(stream, &mut body)?;
        } else if let Some(len) = find("content-length") {
            let len: u64 = len
                .trim()
                .parse()
                .map_err(|_| ConnError::Malformed(format!("content-length {len:?}")))?;
            stream.take(len).read_to_end(&mut body)?;
            if (body.len() as u64) < len {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
        } else {
            stream.read_to_end(&mut body)?;
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn read_chunked(stream: &mut BufReader<TcpStream>, body: &mut Vec<u8>) -> Result<(), ConnError> {
    let mut line = String::new();
    loop {
        line.clear();
        stream.read_line(&mut line)?;
        let size_hex = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size_hex, 16)
            .map_err(|_| ConnError::Malformed(format!("chunk size {line:?}")))?;
        if size == 0 {
            // Trailers up to the empty line.
            loop {
                line.clear();
                if stream.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        let before = body.len();
        stream.take(size).read_to_end(body)?;
        if ((body.len() - before) as u64) < size {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        line.clear();
        stream.read_line(&mut line)?;
    }
}
