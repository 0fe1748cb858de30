//! Request and response bodies: a request body read frame by frame (with
//! the aws-chunked encoding removed and the payload hash checked), and a
//! response body fed by a task that reads object chunks, so neither side
//! ever holds a whole object.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::body_rate::{MinRate, RateGate};
use crate::object::BodySource;
use crate::s3::chunked::ChunkedDecoder;
use crate::s3::{S3Error, S3ErrorCode};

/// A request body that sends nothing for this long is abandoned with
/// RequestTimeout, so a stalled client cannot hold a connection slot and
/// an open index transaction forever.
pub const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How the payload is protected.
pub enum Payload {
    /// UNSIGNED-PAYLOAD.
    Plain,
    /// The body must hash to this SHA-256.
    Sha256([u8; 32]),
    /// aws-chunked (signed chunks and/or trailers).
    Chunked(Box<ChunkedDecoder>),
}

pub struct RequestBody {
    body: Incoming,
    payload: Payload,
    sha: Option<Sha256>,
    /// Trailing checksum headers received (lowercase name, value).
    pub trailers: Vec<(String, String)>,
    done: bool,
    /// The minimum rate the body must come at.
    rate: RateGate,
    /// The authenticated user its upload buffers count against.
    owner: Option<String>,
}

impl RequestBody {
    pub fn new(body: Incoming, payload: Payload) -> RequestBody {
        let sha = matches!(payload, Payload::Sha256(_)).then(Sha256::new);
        RequestBody {
            body,
            payload,
            sha,
            trailers: Vec::new(),
            done: false,
            rate: RateGate::new(None),
            owner: None,
        }
    }

    /// The body of `owner`'s request, to come at `min_rate` at least.
    pub fn of_user(mut self, owner: &str, min_rate: Option<MinRate>) -> RequestBody {
        self.owner = Some(owner.to_owned());
        self.rate = RateGate::new(min_rate);
        self
    }

    /// The user its upload buffers count against, once known (a POST
    /// form's signer is known only after its fields are read).
    pub fn set_owner(&mut self, owner: &str) {
        self.owner = Some(owner.to_owned());
    }

    /// Whether the body is aws-chunked (its object length is declared in
    /// `x-amz-decoded-content-length`).
    pub fn is_chunked(&self) -> bool {
        matches!(self.payload, Payload::Chunked(_))
    }

    /// Reads the whole body (small XML request bodies), at most `limit`.
    pub async fn collect(&mut self, limit: usize) -> Result<Vec<u8>, S3Error> {
        let mut out = Vec::new();
        while let Some(b) = self.next().await {
            out.extend_from_slice(&b?);
            if out.len() > limit {
                return Err(S3Error::new(
                    S3ErrorCode::MalformedXML,
                    format!("request body larger than {limit} bytes"),
                ));
            }
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<(), S3Error> {
        if let Payload::Chunked(d) = &mut self.payload {
            self.trailers = d.finish()?;
            verify_trailing_checksums(&self.trailers)?;
        }
        if let (Payload::Sha256(want), Some(sha)) = (&self.payload, self.sha.take()) {
            let got: [u8; 32] = sha.finalize().into();
            if &got != want {
                return Err(S3Error::new(
                    S3ErrorCode::XAmzContentSHA256Mismatch,
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ));
            }
        }
        Ok(())
    }
}

impl BodySource for RequestBody {
    fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    async fn next(&mut self) -> Option<Result<Bytes, S3Error>> {
        loop {
            if self.done {
                return None;
            }
            // Waits at most until the rate window closes; only this wait is
            // the client's time.
            let limit = self
                .rate
                .deadline()
                .map_or(BODY_IDLE_TIMEOUT, |d| d.min(BODY_IDLE_TIMEOUT));
            let started = tokio::time::Instant::now();
            let frame = tokio::time::timeout(limit, self.body.frame()).await;
            let got = match &frame {
                Ok(Some(Ok(f))) => f.data_ref().map_or(0, |d| d.len() as u64),
                _ => 0,
            };
            let too_slow = self.rate.record(started.elapsed(), got).is_err();
            let frame = match frame {
                Ok(None) => {
                    self.done = true;
                    return self.finish().err().map(Err);
                }
                Ok(Some(Err(e))) => {
                    self.done = true;
                    return Some(Err(S3Error::new(
                        S3ErrorCode::IncompleteBody,
                        format!("reading the request body: {e}"),
                    )));
                }
                // Too slow, or nothing at all for the idle timeout.
                _ if too_slow => {
                    self.done = true;
                    return Some(Err(request_timeout()));
                }
                Err(_) if limit < BODY_IDLE_TIMEOUT => continue, // a window passed
                Err(_) => {
                    self.done = true;
                    return Some(Err(request_timeout()));
                }
                Ok(Some(Ok(f))) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue; // HTTP trailers: not used by S3 clients
            };
            match &mut self.payload {
                Payload::Chunked(d) => {
                    let mut out = Vec::with_capacity(data.len());
                    if let Err(e) = d.feed(&data, &mut out) {
                        self.done = true;
                        return Some(Err(e));
                    }
                    if !out.is_empty() {
                        return Some(Ok(Bytes::from(out)));
                    }
                }
                _ => {
                    if let Some(sha) = self.sha.as_mut() {
                        sha.update(&data);
                    }
                    if !data.is_empty() {
                        return Some(Ok(data));
                    }
                }
            }
        }
    }
}

/// The body stalled or came too slowly: S3's answer for a client that
/// does not send its body.
fn request_timeout() -> S3Error {
    S3Error::new(
        S3ErrorCode::RequestTimeout,
        "Your socket connection to the server was not read from or written to within the timeout period.",
    )
}

/// Checks `x-amz-checksum-crc32` / `-crc32c` trailers against nothing yet
/// computed: the values must at least be well-formed base64 of 4 bytes.
/// (Verifying them against the data is issue 5's additional checksums.)
fn verify_trailing_checksums(trailers: &[(String, String)]) -> Result<(), S3Error> {
    use base64::Engine;
    for (name, value) in trailers {
        if let Some(alg) = name.strip_prefix("x-amz-checksum-") {
            let want = match alg {
                "crc32" | "crc32c" => 4,
                "crc64nvme" => 8,
                "sha1" => 20,
                "sha256" => 32,
                _ => continue,
            };
            let ok = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .is_ok_and(|b| b.len() == want);
            if !ok {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!("malformed trailing checksum {name}"),
                ));
            }
        }
    }
    Ok(())
}

/// A response body: all at once, or streamed from a channel.
pub enum ResponseBody {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Result<Bytes, std::io::Error>>),
}

impl ResponseBody {
    pub fn empty() -> ResponseBody {
        ResponseBody::Full(None)
    }
    pub fn from_string(s: String) -> ResponseBody {
        ResponseBody::Full(Some(Bytes::from(s)))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            ResponseBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ResponseBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Stream(_) => SizeHint::default(),
        }
    }
}
