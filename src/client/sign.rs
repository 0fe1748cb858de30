//! SigV4 as a client computes it: the Authorization header of a request
//! and the signatures of aws-chunked chunks and trailers. Pure: the caller
//! passes the clock.

use crate::s3::sigv4::{self, uri_encode, ALGORITHM, EMPTY_SHA256_HEX};
use crate::s3::time;

/// Credentials and region of a signing client.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

/// What was signed: the headers to send (the caller's, plus `x-amz-date`,
/// `x-amz-content-sha256` and `authorization`) and, for aws-chunked
/// bodies, the state the chunk signatures chain from.
#[derive(Clone, Debug)]
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub chain: ChunkChain,
}

/// The seed and key of a chunk signature chain.
#[derive(Clone, Debug)]
pub struct ChunkChain {
    pub signing_key: [u8; 32],
    pub amz_date: String,
    pub scope: String,
    /// The last signature: the request's, then each chunk's in turn.
    pub previous: String,
}

impl ChunkChain {
    /// The signature of the next chunk (`data` empty for the final one),
    /// advancing the chain.
    pub fn next_chunk(&mut self, data: &[u8]) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256_HEX}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sigv4::sha256_hex(data)
        );
        self.previous = sigv4::signature(&self.signing_key, &to_sign);
        self.previous.clone()
    }

    /// The trailer signature over `name:value\n` lines.
    pub fn trailer(&mut self, trailers: &[(String, String)]) -> String {
        let mut canonical = String::new();
        for (n, v) in trailers {
            canonical.push_str(&n.to_ascii_lowercase());
            canonical.push(':');
            canonical.push_str(v.trim());
            canonical.push('\n');
        }
        let to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sigv4::sha256_hex(canonical.as_bytes())
        );
        self.previous = sigv4::signature(&self.signing_key, &to_sign);
        self.previous.clone()
    }
}

/// The wire form of a query: names and values UriEncoded, sorted, which
/// is also their canonical form.
pub fn encode_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(n, v)| {
            (
                uri_encode(n.as_bytes(), true),
                uri_encode(v.as_bytes(), true),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The wire path of an object or bucket (`/bucket/key`, key UriEncoded
/// with its slashes kept).
pub fn object_path(bucket: &str, key: &str) -> String {
    if key.is_empty() {
        format!("/{bucket}")
    } else {
        format!("/{bucket}/{}", uri_encode(key.as_bytes(), false))
    }
}

/// What a signature covers.
pub struct RequestToSign<'a> {
    pub method: &'a str,
    /// The wire path, already UriEncoded.
    pub path: &'a str,
    pub query: &'a [(String, String)],
    /// The Host header value.
    pub host: &'a str,
    /// The caller's own headers; every one is signed.
    pub headers: &'a [(String, String)],
    /// The x-amz-content-sha256 value.
    pub payload_line: &'a str,
}

/// Signs a request at `now_unix_secs`.
pub fn sign(creds: &Credentials, req: &RequestToSign<'_>, now_unix_secs: u64) -> Signed {
    let RequestToSign {
        method,
        path,
        query,
        host,
        headers,
        payload_line,
    } = *req;
    let amz_date = time::amz_date(now_unix_secs);
    let date = amz_date.get(..8).unwrap_or_default().to_owned();
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    all.push(("host".into(), host.to_owned()));
    all.push(("x-amz-date".into(), amz_date.clone()));
    all.push(("x-amz-content-sha256".into(), payload_line.to_owned()));
    all.sort();
    let signed_names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    let signed_names = signed_names.join(";");
    let mut canonical = format!("{method}\n{path}\n{}\n", encode_query(query));
    for (n, v) in &all {
        canonical.push_str(n);
        canonical.push(':');
        canonical.push_str(v);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_names);
    canonical.push('\n');
    canonical.push_str(payload_line);
    let scope = format!("{date}/{}/s3/aws4_request", creds.region);
    let to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sigv4::sha256_hex(canonical.as_bytes())
    );
    let key = sigv4::signing_key(&creds.secret_key, &date, &creds.region);
    let signature = sigv4::signature(&key, &to_sign);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_names}, Signature={signature}",
        creds.access_key
    );
    let mut out: Vec<(String, String)> = all.into_iter().filter(|(n, _)| n != "host").collect();
    out.push(("authorization".into(), authorization));
    Signed {
        headers: out,
        chain: ChunkChain {
            signing_key: key,
            amz_date,
            scope,
            previous: signature,
        },
    }
}

/// A presigned URL's path and query (no host) valid for `expires_secs`.
pub fn presign(
    creds: &Credentials,
    method: &str,
    path: &str,
    host: &str,
    expires_secs: u64,
    now_unix_secs: u64,
) -> String {
    presign_with_headers(creds, method, path, host, &[], expires_secs, now_unix_secs)
}

/// As [`presign`], also signing `headers` (name, value), which the
/// request must then carry with exactly these values.
pub fn presign_with_headers(
    creds: &Credentials,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(String, String)],
    expires_secs: u64,
    now_unix_secs: u64,
) -> String {
    let amz_date = time::amz_date(now_unix_secs);
    let date = amz_date.get(..8).unwrap_or_default().to_owned();
    let scope = format!("{date}/{}/s3/aws4_request", creds.region);
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    signed.push(("host".into(), host.to_owned()));
    signed.sort();
    let names = signed
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut query = vec![
        ("X-Amz-Algorithm".to_owned(), ALGORITHM.to_owned()),
        (
            "X-Amz-Credential".to_owned(),
            format!("{}/{scope}", creds.access_key),
        ),
        ("X-Amz-Date".to_owned(), amz_date.clone()),
        ("X-Amz-Expires".to_owned(), expires_secs.to_string()),
        ("X-Amz-SignedHeaders".to_owned(), names.clone()),
    ];
    let mut canonical = format!("{method}\n{path}\n{}\n", encode_query(&query));
    for (n, v) in &signed {
        canonical.push_str(&format!("{n}:{v}\n"));
    }
    canonical.push_str(&format!("\n{names}\nUNSIGNED-PAYLOAD"));
    let to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sigv4::sha256_hex(canonical.as_bytes())
    );
    let key = sigv4::signing_key(&creds.secret_key, &date, &creds.region);
    query.push((
        "X-Amz-Signature".to_owned(),
        sigv4::signature(&key, &to_sign),
    ));
    format!("{path}?{}", encode_query(&query))
}
