//! A streaming decoder for aws-chunked request bodies:
//!
//! ```text
//! chunk   = hex-size [";chunk-signature=" 64hex] CRLF data CRLF
//! body    = *chunk "0" [";chunk-signature=" 64hex] CRLF trailers CRLF
//! trailers = *(name ":" value CRLF) ["x-amz-trailer-signature:" 64hex CRLF]
//! ```
//!
//! When chunks are signed, a chunk's bytes are held until its signature
//! checks and only then handed on, so nothing unauthenticated reaches the
//! object store; a signed chunk may therefore declare at most
//! [`SIGNED_CHUNK_BYTES_MAX`]. Unsigned (trailer-only) bodies pass straight
//! through. Besides, only one header or trailer line is ever buffered. Trailer
//! lines may end in a bare LF, and at end of body the last trailer line's
//! newline and the closing empty line may be missing: SDKs differ there
//! (the .NET SDK omits the final newline).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::s3::sigv4::{self, EMPTY_SHA256_HEX};
use crate::s3::{S3Error, S3ErrorCode};

/// The longest chunk header or trailer line kept while waiting for its end.
pub const LINE_BYTES_MAX: usize = 8 * 1024;
/// The largest signed chunk accepted, since each is held whole (per
/// request) until its signature checks. SDKs send 64 KiB (minio-go, the
/// Go SDK, aws-c-auth), 80 KiB (.NET) or 128 KiB (Java) chunks; AWS asks
/// for at least 8 KiB and recommends 64 KiB; 16 MiB leaves room for
/// clients that pick larger ones while bounding what a request holds.
pub const SIGNED_CHUNK_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// More hex digits than this cannot fit a u64.
const SIZE_HEX_DIGITS_MAX: usize = 16;
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// What is needed to check chunk signatures: from the verified request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkSigning {
    pub signing_key: [u8; 32],
    pub amz_date: String,
    pub scope: String,
    /// The request's own signature, which the first chunk chains from.
    pub seed_signature: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a chunk header line.
    Header,
    /// Inside a chunk's data, this many bytes to go.
    Data(u64),
    /// After a chunk's data: expecting CR then LF; `true` once CR is seen.
    DataEnd(bool),
    /// After the last chunk, when no trailers are expected: the empty line.
    FinalLine,
    /// Reading trailer lines up to the empty line.
    Trailers,
    Done,
}

pub struct ChunkedDecoder {
    signing: Option<ChunkSigning>,
    expect_trailer: bool,
    state: State,
    line: Vec<u8>,
    /// The current chunk's signature, checked once its data is in.
    chunk_signature: Option<String>,
    /// The current signed chunk's data, held until its signature checks.
    held: Vec<u8>,
    /// The signature the next chunk (or the trailer) chains from.
    previous: String,
    hasher: Sha256,
    decoded: u64,
    trailers: Vec<(String, String)>,
    /// `name:value\n` per trailer, what the trailer signature covers.
    trailer_canonical: Vec<u8>,
    trailer_signature: Option<String>,
    /// Once failed, always failed: a caller that retries gets the same answer.
    failed: Option<S3Error>,
}

impl ChunkedDecoder {
    /// `signing`: Some for STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER), and
    /// every chunk signature is then checked, as is the trailer signature
    /// when `expect_trailer`.
    pub fn new(signing: Option<ChunkSigning>, expect_trailer: bool) -> Self {
        let previous = signing
            .as_ref()
            .map(|s| s.seed_signature.clone())
            .unwrap_or_default();
        ChunkedDecoder {
            signing,
            expect_trailer,
            state: State::Header,
            line: Vec::new(),
            chunk_signature: None,
            held: Vec::new(),
            previous,
            hasher: Sha256::new(),
            decoded: 0,
            trailers: Vec::new(),
            trailer_canonical: Vec::new(),
            trailer_signature: None,
            failed: None,
        }
    }

    /// Decodes as much of `input` as possible, appending payload bytes to
    /// `out`. With signed chunks, only chunks whose signature checked are
    /// appended (each whole, once its last byte is in); without, bytes pass
    /// as they come. The body as a whole (its end, its trailer) is only
    /// complete once `finish` is Ok.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), S3Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.feed_inner(input, out);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.held = Vec::new();
        }
        r
    }

    /// The body ended: the trailers (lowercase name, value) if the encoding
    /// was complete, else IncompleteBody.
    pub fn finish(&mut self) -> Result<Vec<(String, String)>, S3Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.finish_inner();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    /// Payload bytes appended to an `out` so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    fn feed_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), S3Error> {
        while !input.is_empty() {
            match self.state {
                State::Data(remaining) => {
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    let (data, rest) = input.split_at(n);
                    if self.signing.is_some() {
                        self.hasher.update(data);
                        self.held.extend_from_slice(data);
                    } else {
                        out.extend_from_slice(data);
                        self.decoded = self.decoded.saturating_add(n as u64);
                    }
                    input = rest;
                    let remaining = remaining - n as u64;
                    self.state = State::Data(remaining);
                    if remaining == 0 {
                        self.end_of_chunk_data()?;
                        self.release_held(out);
                        self.state = State::DataEnd(false);
                    }
                }
                State::DataEnd(seen_cr) => {
                    let Some((&b, rest)) = input.split_first() else {
                        break;
                    };
                    input = rest;
                    self.state = match (seen_cr, b) {
                        (false, b'\r') => State::DataEnd(true),
                        (true, b'\n') => State::Header,
                        _ => return Err(malformed("chunk data is not followed by CRLF")),
                    };
                }
                State::Header | State::FinalLine | State::Trailers => {
                    let Some(line) = self.take_line(&mut input)? else {
                        return Ok(());
                    };
                    self.on_line(&line)?;
                }
                State::Done => return Err(malformed("data after the end of the aws-chunked body")),
            }
        }
        Ok(())
    }

    /// Moves bytes into the line buffer; Some(line without its line
    /// ending) once a LF arrives.
    fn take_line(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, S3Error> {
        let (taken, complete) = match input.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (input.len(), false),
        };
        let (head, rest) = input.split_at(taken);
        *input = rest;
        if self.line.len() + head.len() > LINE_BYTES_MAX + 2 {
            return Err(malformed(
                "an aws-chunked header or trailer line is longer than 8 KiB",
            ));
        }
        self.line.extend_from_slice(head);
        if !complete {
            return Ok(None);
        }
        let mut line = std::mem::take(&mut self.line);
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    fn on_line(&mut self, line: &[u8]) -> Result<(), S3Error> {
        match self.state {
            State::Header => self.on_chunk_header(line),
            State::FinalLine if line.is_empty() => {
                self.state = State::Done;
                Ok(())
            }
            State::FinalLine => Err(malformed(
                "unexpected trailer after the last chunk (none was declared)",
            )),
            _ => self.on_trailer_line(line),
        }
    }

    fn on_chunk_header(&mut self, line: &[u8]) -> Result<(), S3Error> {
        let (size_hex, ext) = match line.iter().position(|b| *b == b';') {
            Some(i) => line.split_at(i),
            None => (line, &[][..]),
        };
        let size = parse_size(size_hex)?;
        if self.signing.is_some() && size > SIGNED_CHUNK_BYTES_MAX {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                format!(
                    "an aws-chunked chunk declares {size} bytes; signed chunks may be at most {SIGNED_CHUNK_BYTES_MAX} bytes (16 MiB): send smaller chunks"
                ),
            ));
        }
        if self.signing.is_some() {
            let sig = ext
                .strip_prefix(b";chunk-signature=")
                .and_then(|s| std::str::from_utf8(s).ok())
                .ok_or_else(|| mismatch("a chunk has no chunk-signature"))?;
            self.chunk_signature = Some(sig.to_owned());
        }
        if size > 0 {
            self.state = State::Data(size);
            return Ok(());
        }
        self.end_of_chunk_data()?;
        self.state = if self.expect_trailer {
            State::Trailers
        } else {
            State::FinalLine
        };
        Ok(())
    }

    /// Hands a chunk whose signature checked to `out` (without a copy
    /// when `out` is empty, the usual case).
    fn release_held(&mut self, out: &mut Vec<u8>) {
        self.decoded = self.decoded.saturating_add(self.held.len() as u64);
        if out.is_empty() {
            std::mem::swap(out, &mut self.held);
            self.held.clear();
        } else {
            out.append(&mut self.held);
        }
    }

    /// Checks the just-finished chunk's signature over its data.
    fn end_of_chunk_data(&mut self) -> Result<(), S3Error> {
        let Some(signing) = &self.signing else {
            return Ok(());
        };
        let data_hash = sigv4::hex(&self.hasher.finalize_reset());
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256_HEX}\n{data_hash}",
            signing.amz_date, signing.scope, self.previous
        );
        let expected = sigv4::signature(&signing.signing_key, &string_to_sign);
        let given = self.chunk_signature.take().unwrap_or_default();
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(mismatch("a chunk signature does not match"));
        }
        self.previous = expected;
        Ok(())
    }

    fn on_trailer_line(&mut self, line: &[u8]) -> Result<(), S3Error> {
        if line.is_empty() {
            return self.end_of_trailers();
        }
        if self.trailer_signature.is_some() {
            return Err(malformed("a trailer follows x-amz-trailer-signature"));
        }
        let text =
            std::str::from_utf8(line).map_err(|_| malformed("a trailer line is not UTF-8"))?;
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| malformed("a trailer line is not name:value"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if name.is_empty() {
            return Err(malformed("a trailer line has an empty name"));
        }
        if name == TRAILER_SIGNATURE {
            self.trailer_signature = Some(value.to_owned());
            return Ok(());
        }
        self.trailer_canonical
            .extend_from_slice(format!("{name}:{value}\n").as_bytes());
        self.trailers.push((name, value.to_owned()));
        Ok(())
    }

    fn end_of_trailers(&mut self) -> Result<(), S3Error> {
        if let (Some(signing), true) = (&self.signing, self.expect_trailer) {
            let given = self
                .trailer_signature
                .as_deref()
                .ok_or_else(|| mismatch("the trailer has no x-amz-trailer-signature"))?;
            let string_to_sign = format!(
                "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
                signing.amz_date,
                signing.scope,
                self.previous,
                sigv4::sha256_hex(&self.trailer_canonical)
            );
            let expected = sigv4::signature(&signing.signing_key, &string_to_sign);
            if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
                return Err(mismatch("the trailer signature does not match"));
            }
        }
        self.state = State::Done;
        Ok(())
    }

    fn finish_inner(&mut self) -> Result<Vec<(String, String)>, S3Error> {
        if self.state == State::Trailers {
            // Lenient end: an unterminated last trailer line, or trailers
            // without the closing empty line.
            let partial = std::mem::take(&mut self.line);
            let partial = partial.strip_suffix(b"\r").unwrap_or(&partial);
            if !partial.is_empty() {
                self.on_trailer_line(partial)?;
            }
            let any = !self.trailers.is_empty() || self.trailer_signature.is_some();
            if any {
                let signed = self.signing.is_some();
                if signed && self.trailer_signature.is_none() {
                    return Err(incomplete());
                }
                self.end_of_trailers()?;
            }
        }
        if self.state == State::Done {
            Ok(self.trailers.clone())
        } else {
            Err(incomplete())
        }
    }
}

fn parse_size(hex: &[u8]) -> Result<u64, S3Error> {
    if hex.is_empty() || hex.len() > SIZE_HEX_DIGITS_MAX {
        return Err(malformed("a chunk size is not 1 to 16 hex digits"));
    }
    let mut size = 0u64;
    for &b in hex {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(malformed("a chunk size is not hex")),
        };
        size = size << 4 | u64::from(d);
    }
    Ok(size)
}

fn malformed(what: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidRequest,
        format!("malformed aws-chunked body: {what}"),
    )
}

fn mismatch(what: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::SignatureDoesNotMatch,
        format!("{what}; check the signing key and the chunk signing method"),
    )
}

fn incomplete() -> S3Error {
    S3Error::new(
        S3ErrorCode::IncompleteBody,
        "The request body terminated unexpectedly",
    )
}
