//! The aws-chunked decoder never panics on any bytes fed in any pieces,
//! signed or not, with trailers or not; never yields more than it was
//! fed; and a body encoded with valid signatures decodes to its payload.
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

/// `payload` in signed chunks of `size` bytes.
fn encode_signed(payload: &[u8], size: usize) -> Vec<u8> {
    let key = signing().signing_key;
    let mut prev = SEED.to_owned();
    let mut out = Vec::new();
    let mut chunks: Vec<&[u8]> = payload.chunks(size).collect();
    chunks.push(&[]);
    for c in chunks {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{AMZ_DATE}\n{SCOPE}\n{prev}\n{EMPTY_SHA256_HEX}\n{}",
            hex(&Sha256::digest(c))
        );
        prev = signature(&key, &sts);
        out.extend_from_slice(format!("{:x};chunk-signature={prev}\r\n", c.len()).as_bytes());
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
        let body = encode_signed(rest, piece * 37);
        let mut d = ChunkedDecoder::new(Some(signing()), false);
        let mut out = Vec::new();
        for p in body.chunks(piece) {
            d.feed(p, &mut out).unwrap();
        }
        assert_eq!(d.finish().unwrap(), vec![]);
        assert_eq!(out, rest);
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
});
