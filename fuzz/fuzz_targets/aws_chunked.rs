//! The aws-chunked decoder never panics on any bytes fed in any pieces,
//! signed or not, with trailers or not; never yields more than it was
//! fed; never yields a byte of a signed chunk whose signature fails (so
//! none at all from forged bytes); and a body encoded with valid
//! signatures decodes to its payload, or, with one chunk's signature
//! corrupted, to exactly the chunks before it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use shale::s3::chunked::{ChunkSigning, ChunkedDecoder};
use shale::s3::sigv4::{signature, signing_key, EMPTY_SHA256_HEX};

const AMZ_DATE: &str = "20130524T000000Z";
const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
const SEED: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn signing() -> ChunkSigning {
    ChunkSigning {
        signing_key: signing_key("secret", "20130524", "us-east-1"),
        amz_date: AMZ_DATE.to_owned(),
        scope: SCOPE.to_owned(),
        seed_signature: SEED.to_owned(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `payload` in signed chunks of `size` bytes; the signature of chunk
/// `corrupt` (if any) has one digit changed.
fn encode_signed(payload: &[u8], size: usize, corrupt: Option<usize>) -> Vec<u8> {
    let key = signing().signing_key;
    let mut prev = SEED.to_owned();
    let mut out = Vec::new();
    let mut chunks: Vec<&[u8]> = payload.chunks(size).collect();
    chunks.push(&[]);
    for (i, c) in chunks.into_iter().enumerate() {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{AMZ_DATE}\n{SCOPE}\n{prev}\n{EMPTY_SHA256_HEX}\n{}",
            hex(&Sha256::digest(c))
        );
        prev = signature(&key, &sts);
        let mut sig = prev.clone();
        if corrupt == Some(i) {
            let first = if sig.starts_with('0') { "1" } else { "0" };
            sig.replace_range(0..1, first);
        }
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // First byte: bit 0 signed, bit 1 trailers, bit 2 round trip, the rest
    // the piece size.
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let piece = usize::from(mode >> 3) + 1;
    if mode & 4 != 0 {
        // Round trip; with bit 0, chunk `piece % chunks` has a bad signature.
        let size = piece * 37;
        let chunks = rest.len().div_ceil(size) + 1;
        let corrupt = (mode & 1 != 0).then_some(piece % chunks);
        let body = encode_signed(rest, size, corrupt);
        let mut d = ChunkedDecoder::new(Some(signing()), false);
        let mut out = Vec::new();
        let mut failed = false;
        for p in body.chunks(piece) {
            if d.feed(p, &mut out).is_err() {
                failed = true;
                break;
            }
        }
        match corrupt {
            None => {
                assert_eq!(d.finish().unwrap(), vec![]);
                assert_eq!(out, rest);
            }
            Some(k) => {
                assert!(failed && d.finish().is_err());
                assert_eq!(out, &rest[..(k * size).min(rest.len())]);
            }
        }
        return;
    }
    let mut d = ChunkedDecoder::new((mode & 1 != 0).then(signing), mode & 2 != 0);
    let mut out = Vec::new();
    for p in rest.chunks(piece) {
        if d.feed(p, &mut out).is_err() {
            break;
        }
    }
    let _ = d.finish();
    assert_eq!(out.len() as u64, d.decoded_len());
    assert!(out.len() <= rest.len());
    if mode & 1 != 0 {
        // Without the key no chunk signature can check, so nothing passes.
        assert!(out.is_empty());
    }
});
