//! A `multipart/form-data` body (RFC 7578) read as a stream: bytes are
//! pushed in as they arrive, events come out (a part's headers, its data,
//! its end, the end of the form). Pure, no I/O: the POST Object handler
//! feeds it from the socket and the fuzzer from anything.
//!
//! A part's data is handed out as soon as it cannot be the start of the
//! delimiter, so only a delimiter's length of bytes is ever held back
//! whatever the part's size; a delimiter split across two pushes is
//! found all the same.

use bytes::{Bytes, BytesMut};

/// The longest header block of one part.
pub const PART_HEADERS_MAX: usize = 8 * 1024;
/// The longest boundary RFC 2046 allows.
pub const BOUNDARY_MAX: usize = 70;

/// Why a body is not well-formed multipart/form-data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormError(pub String);

fn bad(what: impl Into<String>) -> FormError {
    FormError(what.into())
}

/// The headers of one part, as far as a form upload uses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartHeaders {
    /// `Content-Disposition: form-data; name="..."`.
    pub name: String,
    /// `filename="..."`, if given.
    pub filename: Option<String>,
    /// The part's `Content-Type`, if given.
    pub content_type: Option<String>,
}

/// What the scanner found next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A part begins.
    Part(PartHeaders),
    /// Bytes of the current part's data (never empty).
    Data(Bytes),
    /// The current part ended.
    PartEnd,
    /// The closing delimiter: the form is complete (an epilogue is
    /// ignored).
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (a preamble is skipped).
    Preamble,
    /// Just after a delimiter: `--` (the end) or line end.
    AfterDelimiter,
    Headers,
    Body,
    Done,
}

/// The streaming scanner.
pub struct FormScanner {
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
    buf: BytesMut,
    state: State,
}

/// The boundary of a `Content-Type: multipart/form-data; boundary=...`
/// header value, if it is one.
pub fn boundary_of(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (n, v) = p.split_once('=')?;
        if !n.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        let ok = !v.is_empty()
            && v.len() <= BOUNDARY_MAX
            && v.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        ok.then(|| v.to_string())
    })
}

impl FormScanner {
    pub fn new(boundary: &str) -> FormScanner {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        // The first delimiter has no line end before it: one is assumed.
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"\r\n");
        FormScanner {
            delimiter,
            buf,
            state: State::Preamble,
        }
    }

    /// Adds bytes that arrived.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether the closing delimiter was seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The next event, `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<Event>, FormError> {
        loop {
            match self.state {
                State::Done => {
                    // The epilogue.
                    self.buf.clear();
                    return Ok(None);
                }
                State::Preamble => match find(&self.buf, &self.delimiter) {
                    Some(i) => {
                        let _ = self.buf.split_to(i + self.delimiter.len());
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        let keep = self.delimiter.len().saturating_sub(1);
                        let drop = self.buf.len().saturating_sub(keep);
                        let _ = self.buf.split_to(drop);
                        return Ok(None);
                    }
                },
                State::AfterDelimiter => {
                    if self.buf.starts_with(b"--") {
                        self.state = State::Done;
                        return Ok(Some(Event::End));
                    }
                    // Transport padding (spaces, tabs) may precede the line end.
                    let pad = self
                        .buf
                        .iter()
                        .take_while(|b| matches!(b, b' ' | b'\t'))
                        .count();
                    if pad > 2 * BOUNDARY_MAX {
                        return Err(bad("too much padding after a boundary"));
                    }
                    let rest = self.buf.get(pad..).unwrap_or_default();
                    if rest.len() < 2 {
                        return Ok(None);
                    }
                    if !rest.starts_with(b"\r\n") {
                        return Err(bad("a boundary is not followed by a line end"));
                    }
                    let _ = self.buf.split_to(pad + 2);
                    self.state = State::Headers;
                }
                State::Headers => {
                    // A part without headers starts with its blank line.
                    let end = if self.buf.starts_with(b"\r\n") {
                        Some((0, 2))
                    } else {
                        find(&self.buf, b"\r\n\r\n").map(|i| (i, i + 4))
                    };
                    let Some((block_end, consumed)) = end else {
                        if self.buf.len() > PART_HEADERS_MAX {
                            return Err(bad("a part's headers are too long"));
                        }
                        return Ok(None);
                    };
                    if block_end > PART_HEADERS_MAX {
                        return Err(bad("a part's headers are too long"));
                    }
                    let block = self.buf.split_to(consumed);
                    let headers = parse_part_headers(block.get(..block_end).unwrap_or_default())?;
                    self.state = State::Body;
                    return Ok(Some(Event::Part(headers)));
                }
                State::Body => match find(&self.buf, &self.delimiter) {
                    Some(0) => {
                        let _ = self.buf.split_to(self.delimiter.len());
                        self.state = State::AfterDelimiter;
                        return Ok(Some(Event::PartEnd));
                    }
                    Some(i) => return Ok(Some(Event::Data(self.buf.split_to(i).freeze()))),
                    None => {
                        // What could be the start of a delimiter stays.
                        let keep = self.delimiter.len().saturating_sub(1);
                        let give = self.buf.len().saturating_sub(keep);
                        if give == 0 {
                            return Ok(None);
                        }
                        return Ok(Some(Event::Data(self.buf.split_to(give).freeze())));
                    }
                },
            }
        }
    }

    /// The body ended: anything but a complete form is an error.
    pub fn finish(&self) -> Result<(), FormError> {
        match self.state {
            State::Done => Ok(()),
            State::Preamble => Err(bad("no boundary found")),
            _ => Err(bad("the body ended before the closing boundary")),
        }
    }
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(off) = hay.get(from..)?.iter().position(|&b| b == first) {
        let at = from + off;
        match hay.get(at..at + needle.len()) {
            Some(w) if w == needle => return Some(at),
            Some(_) => from = at + 1,
            None => return None,
        }
    }
    None
}

fn parse_part_headers(block: &[u8]) -> Result<PartHeaders, FormError> {
    let text = std::str::from_utf8(block).map_err(|_| bad("a part's headers are not UTF-8"))?;
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("a part header has no colon: {line:?}")))?;
        let n = n.trim();
        if n.eq_ignore_ascii_case("content-disposition") {
            let (kind, params) = parse_disposition(v)?;
            if !kind.eq_ignore_ascii_case("form-data") {
                return Err(bad("a part's Content-Disposition is not form-data"));
            }
            for (k, v) in params {
                match k.to_ascii_lowercase().as_str() {
                    "name" => name = Some(v),
                    "filename" => filename = Some(v),
                    _ => {}
                }
            }
        } else if n.eq_ignore_ascii_case("content-type") {
            content_type = Some(v.trim().to_string());
        }
    }
    let name = name.ok_or_else(|| bad("a part has no Content-Disposition name"))?;
    Ok(PartHeaders {
        name,
        filename,
        content_type,
    })
}

/// `form-data; name="a"; filename="b"` -> ("form-data", [(name, a), ...]);
/// quoted values may escape a quote or backslash with a backslash.
fn parse_disposition(v: &str) -> Result<(String, Vec<(String, String)>), FormError> {
    let mut chars = v.chars().peekable();
    let mut kind = String::new();
    while let Some(&c) = chars.peek() {
        if c == ';' {
            break;
        }
        kind.push(c);
        chars.next();
    }
    let mut params = Vec::new();
    while chars.next() == Some(';') {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| *c == ' ') {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some(e) => value.push(e),
                            None => break,
                        },
                        c => value.push(c),
                    }
                }
                if !closed {
                    return Err(bad("an unterminated quoted value in Content-Disposition"));
                }
                while chars.peek().is_some_and(|c| *c != ';') {
                    chars.next();
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_string();
            }
        }
        params.push((key.trim().to_string(), value));
    }
    Ok((kind.trim().to_string(), params))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// Runs the whole body through the scanner in pieces of `step` bytes;
    /// returns the parts as (headers, data).
    fn scan(
        body: &[u8],
        boundary: &str,
        step: usize,
    ) -> Result<Vec<(PartHeaders, Vec<u8>)>, FormError> {
        let mut s = FormScanner::new(boundary);
        let mut parts: Vec<(PartHeaders, Vec<u8>)> = Vec::new();
        let mut ended = false;
        let mut feed = body.chunks(step.max(1));
        loop {
            match s.next_event()? {
                Some(Event::Part(h)) => parts.push((h, Vec::new())),
                Some(Event::Data(d)) => {
                    assert!(!d.is_empty());
                    parts.last_mut().unwrap().1.extend_from_slice(&d);
                }
                Some(Event::PartEnd) => {}
                Some(Event::End) => ended = true,
                None => match feed.next() {
                    Some(c) => s.push(c),
                    None => break,
                },
            }
        }
        s.finish()?;
        assert!(ended);
        Ok(parts)
    }

    fn form(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, filename, data) in parts {
            b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match filename {
                Some(f) => b.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
                ),
                None => b.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        b
    }

    #[test]
    fn every_split_of_the_body_gives_the_same_parts() {
        // Data that holds almost-delimiters and line ends.
        let data: &[u8] = b"a\r\n--xyZ\r\n--xy\r\r\n-\r\n--x tail\r\n";
        let body = form(
            "xyz",
            &[
                ("key", None, b"k/${filename}"),
                ("file", Some("f.txt"), data),
            ],
        );
        for step in 1..body.len() + 1 {
            let parts = scan(&body, "xyz", step).unwrap();
            assert_eq!(parts.len(), 2, "step {step}");
            assert_eq!(parts[0].0.name, "key");
            assert_eq!(parts[0].1, b"k/${filename}");
            assert_eq!(parts[1].0.filename.as_deref(), Some("f.txt"));
            assert_eq!(parts[1].0.content_type.as_deref(), Some("text/plain"));
            assert_eq!(parts[1].1, data, "step {step}");
        }
    }

    #[test]
    fn empty_parts_preamble_and_epilogue() {
        let mut body = b"preamble\r\n".to_vec();
        body.extend(form("b", &[("a", None, b""), ("file", Some(""), b"")]));
        body.extend_from_slice(b"epilogue --b--");
        let parts = scan(&body, "b", 3).unwrap();
        assert_eq!(parts.len(), 2);
        assert!(parts[0].1.is_empty() && parts[1].1.is_empty());
        assert_eq!(parts[1].0.filename.as_deref(), Some(""));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let good = form("b", &[("a", None, b"x")]);
        // Truncated anywhere before the closing delimiter.
        for cut in 0..good.len() - 4 {
            assert!(scan(&good[..cut], "b", 7).is_err(), "cut {cut}");
        }
        // No name; garbage after a boundary; headers never end.
        assert!(scan(
            b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
            "b",
            5
        )
        .is_err());
        assert!(scan(b"--bX\r\n\r\nx\r\n--b--", "b", 5).is_err());
        let long = format!("--b\r\nX-A: {}\r\n", "a".repeat(PART_HEADERS_MAX + 10));
        assert!(scan(long.as_bytes(), "b", 100).is_err());
    }

    #[test]
    fn disposition_parameters() {
        let (k, p) = parse_disposition(r#"form-data; name="a\"b"; filename=c.txt"#).unwrap();
        assert_eq!(k, "form-data");
        assert_eq!(
            p,
            vec![
                ("name".into(), "a\"b".into()),
                ("filename".into(), "c.txt".into())
            ]
        );
        assert!(parse_disposition(r#"form-data; name="open"#).is_err());
    }

    #[test]
    fn boundaries_of_content_types() {
        assert_eq!(
            boundary_of("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary_of("Multipart/Form-Data;boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary_of("multipart/mixed; boundary=abc"), None);
        assert_eq!(boundary_of("multipart/form-data"), None);
        assert_eq!(
            boundary_of(&format!("multipart/form-data; boundary={}", "x".repeat(71))),
            None
        );
    }
}
