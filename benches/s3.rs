//! The pure hot paths of the S3 front, each beside its raw baseline:
//! SigV4 verification of a header-signed GET with a warm and a cold
//! signing-key cache (beside one HMAC-SHA256 and the key derivation
//! alone); aws-chunked decoding of a 1 MiB body of 64 KiB chunks, signed
//! and unsigned; payload hashing of 1 MiB (MD5, CRC32C, SHA-256, CRC32
//! alone, and combined in separate passes vs one pass over 64 KiB slices,
//! beside memcpy); ListObjectsV2 XML of 1000 entries; Range parsing.
//! Reports MiB/s or entries/s where it means something.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use hmac::{Hmac, Mac};
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, Method, Uri};
use md5::Md5;
use sha2::{Digest, Sha256};
use shale::client::sign::{self, ChunkChain, Credentials, RequestToSign};
use shale::s3::chunked::{ChunkSigning, ChunkedDecoder};
use shale::s3::range::{parse_range, resolve};
use shale::s3::sigv4::{self, SecretLookup, SigningKeyCache};
use shale::s3::xml::{list_objects_v2, ListEntry, ListObjectsResult};
use shale::segment::PayloadCrc;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
/// 2026-12-01T00:00:00Z: signing time and the server's clock.
const NOW: u64 = 1_796_083_200;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const BODY_BYTES: usize = 1024 * 1024;
/// aws-chunked chunk size, and the slice size of one-pass hashing.
const SLICE_BYTES: usize = 64 * 1024;
/// How much of an aws-chunked body each `feed` gets (a hyper frame).
const FRAME_BYTES: usize = 64 * 1024;
const LIST_ENTRIES: usize = 1000;

struct Keys(HashMap<String, String>);

impl SecretLookup for Keys {
    fn secret_for(&self, access_key: &str) -> Option<String> {
        self.0.get(access_key).cloned()
    }
}

fn keys() -> Keys {
    Keys(HashMap::from([(AK.to_owned(), SECRET.to_owned())]))
}

fn creds() -> Credentials {
    Credentials {
        access_key: AK.into(),
        secret_key: SECRET.into(),
        region: REGION.into(),
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn header_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    map
}

/// A GetObject as aws-cli v2 sends it over plain HTTP: botocore signs
/// every header but User-Agent; urllib3 adds Accept-Encoding after signing.
fn signed_get() -> (Uri, HeaderMap) {
    let host = "127.0.0.1:9000";
    let path = sign::object_path("photos", "2026/11/30/IMG_0042.jpg");
    let headers = owned(&[
        ("x-amz-checksum-mode", "ENABLED"),
        (
            "amz-sdk-invocation-id",
            "5f0c2b1e-8d7a-4c3b-9e21-7a6f4d2c9b10",
        ),
        ("amz-sdk-request", "attempt=1"),
    ]);
    let signed = sign::sign(
        &creds(),
        &RequestToSign {
            method: "GET",
            path: &path,
            query: &[],
            host,
            headers: &headers,
            payload_line: EMPTY_SHA256,
        },
        NOW,
    );
    let mut all = signed.headers;
    all.extend(owned(&[
        ("host", host),
        (
            "user-agent",
            "aws-cli/2.22.4 md/awscrt#0.23.4 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#debian.12 md/prompt#off md/command#s3api.get-object",
        ),
        ("accept-encoding", "identity"),
    ]));
    (path.parse().unwrap(), header_map(&all))
}

fn sigv4_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("sigv4");
    short(&mut g);
    let (uri, headers) = signed_get();
    let secrets = keys();
    let warm = SigningKeyCache::new();
    sigv4::verify(&Method::GET, &uri, &headers, NOW, REGION, &secrets, &warm).unwrap();
    g.bench_function("verify_get/warm_cache", |b| {
        b.iter(|| {
            sigv4::verify(
                &Method::GET,
                &uri,
                black_box(&headers),
                NOW,
                REGION,
                &secrets,
                &warm,
            )
            .unwrap()
        })
    });
    g.bench_function("verify_get/cold_cache", |b| {
        b.iter(|| {
            let cold = SigningKeyCache::new();
            sigv4::verify(
                &Method::GET,
                &uri,
                black_box(&headers),
                NOW,
                REGION,
                &secrets,
                &cold,
            )
            .unwrap()
        })
    });
    g.bench_function("baseline/signing_key_derive", |b| {
        b.iter(|| sigv4::signing_key(black_box(SECRET), "20261201", REGION))
    });
    let key = sigv4::signing_key(SECRET, "20261201", REGION);
    let string_to_sign = "AWS4-HMAC-SHA256\n20261201T000000Z\n20261201/us-east-1/s3/aws4_request\n\
                          0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    g.bench_function("baseline/hmac_sha256", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            mac.update(black_box(string_to_sign).as_bytes());
            mac.finalize().into_bytes()
        })
    });
    g.finish();
}

fn body() -> Vec<u8> {
    (0..BODY_BYTES).map(|i| (i * 31 % 251) as u8).collect()
}

/// The client's aws-chunked encoding (`encode_chunked` in src/client, which
/// is private), without trailers: one chunk per `chunk` bytes and a final
/// empty one, each signed when `chain` is given.
fn encode_chunked(data: &[u8], chunk: usize, mut chain: Option<&mut ChunkChain>) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / chunk * 100 + 256);
    for piece in data.chunks(chunk).chain(std::iter::once(&[][..])) {
        out.extend_from_slice(format!("{:x}", piece.len()).as_bytes());
        if let Some(c) = chain.as_deref_mut() {
            let sig = c.next_chunk(piece);
            out.extend_from_slice(format!(";chunk-signature={sig}").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !piece.is_empty() {
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The signing state of a PutObject with a
/// STREAMING-AWS4-HMAC-SHA256-PAYLOAD body, as verify hands it on.
fn streaming_put_chain() -> ChunkChain {
    let len = BODY_BYTES.to_string();
    let headers = owned(&[
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", &len),
    ]);
    sign::sign(
        &creds(),
        &RequestToSign {
            method: "PUT",
            path: "/photos/big.bin",
            query: &[],
            host: "127.0.0.1:9000",
            headers: &headers,
            payload_line: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        },
        NOW,
    )
    .chain
}

/// Decodes `wire` as the server does: one `feed` per frame, each into a
/// fresh buffer (src/server/body.rs).
fn decode(signing: Option<&ChunkSigning>, wire: &[u8]) -> u64 {
    let mut d = ChunkedDecoder::new(signing.cloned(), false);
    for frame in wire.chunks(FRAME_BYTES) {
        let mut out = Vec::with_capacity(frame.len());
        d.feed(frame, &mut out).unwrap();
        black_box(&out);
    }
    d.finish().unwrap();
    d.decoded_len()
}

fn chunked(c: &mut Criterion) {
    let mut g = c.benchmark_group("aws_chunked_1MiB_64KiB_chunks");
    short(&mut g);
    g.throughput(Throughput::Bytes(BODY_BYTES as u64));
    let data = body();
    let mut chain = streaming_put_chain();
    let signing = ChunkSigning {
        signing_key: chain.signing_key,
        amz_date: chain.amz_date.clone(),
        scope: chain.scope.clone(),
        seed_signature: chain.previous.clone(),
    };
    let signed = encode_chunked(&data, SLICE_BYTES, Some(&mut chain));
    let unsigned = encode_chunked(&data, SLICE_BYTES, None);
    assert_eq!(decode(Some(&signing), &signed), BODY_BYTES as u64);
    assert_eq!(decode(None, &unsigned), BODY_BYTES as u64);
    g.bench_function("decode/signed", |b| {
        b.iter(|| decode(Some(&signing), black_box(&signed)))
    });
    g.bench_function("decode/unsigned", |b| {
        b.iter(|| decode(None, black_box(&unsigned)))
    });
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash_1MiB");
    short(&mut g);
    g.throughput(Throughput::Bytes(BODY_BYTES as u64));
    let data = body();
    let mut copy = vec![0u8; BODY_BYTES];
    g.bench_function("baseline/memcpy", |b| {
        b.iter(|| copy.copy_from_slice(black_box(&data)))
    });
    g.bench_function("md5", |b| b.iter(|| Md5::digest(black_box(&data))));
    g.bench_function("crc32c", |b| b.iter(|| crc32c::crc32c(black_box(&data))));
    g.bench_function("sha256", |b| b.iter(|| Sha256::digest(black_box(&data))));
    g.bench_function("crc32", |b| b.iter(|| crc32fast::hash(black_box(&data))));
    // What write_data does per 1 MiB chunk today: md5.update(chunk), then
    // PayloadCrc::of(chunk), two passes.
    g.bench_function("md5+crc32c/two_passes_1MiB", |b| {
        b.iter(|| {
            let data = black_box(&data);
            let mut md5 = Md5::new();
            md5.update(data);
            (md5.finalize(), PayloadCrc::of(data).value())
        })
    });
    g.bench_function("md5+crc32c/one_pass_64KiB_slices", |b| {
        b.iter(|| {
            let mut md5 = Md5::new();
            let mut crc = PayloadCrc::default();
            for s in black_box(&data).chunks(SLICE_BYTES) {
                md5.update(s);
                crc = crc.update(s);
            }
            (md5.finalize(), crc.value())
        })
    });
    g.bench_function("md5+crc32c+sha256/three_passes_1MiB", |b| {
        b.iter(|| {
            let data = black_box(&data);
            let mut md5 = Md5::new();
            md5.update(data);
            let mut sha = Sha256::new();
            sha.update(data);
            (md5.finalize(), PayloadCrc::of(data).value(), sha.finalize())
        })
    });
    g.bench_function("md5+crc32c+sha256/one_pass_64KiB_slices", |b| {
        b.iter(|| {
            let mut md5 = Md5::new();
            let mut sha = Sha256::new();
            let mut crc = PayloadCrc::default();
            for s in black_box(&data).chunks(SLICE_BYTES) {
                md5.update(s);
                sha.update(s);
                crc = crc.update(s);
            }
            (md5.finalize(), crc.value(), sha.finalize())
        })
    });
    g.finish();
}

/// A full ListObjectsV2 page: 1000 keys of a photo bucket.
fn listing(encoding_url: bool) -> ListObjectsResult {
    let contents: Vec<ListEntry> = (0..LIST_ENTRIES)
        .map(|i| ListEntry {
            key: format!("2026/11/{:02}/IMG_{:04}.jpg", i % 30 + 1, i),
            last_modified_iso: format!("2026-11-{:02}T12:{:02}:07.000Z", i % 30 + 1, i % 60),
            etag_quoted: format!(
                "\"{:032x}\"",
                (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ),
            size: 2_000_000 + (i as u64) * 917,
            storage_class: "STANDARD".into(),
            owner: None,
        })
        .collect();
    ListObjectsResult {
        bucket: "photos".into(),
        prefix: "2026/".into(),
        max_keys: LIST_ENTRIES as u32,
        is_truncated: true,
        encoding_url,
        next_continuation_token: Some("MjAyNi8xMS8zMC9JTUdfMDk5OS5qcGc=".into()),
        key_count: LIST_ENTRIES as u32,
        contents,
        ..ListObjectsResult::default()
    }
}

fn xml(c: &mut Criterion) {
    let mut g = c.benchmark_group("list_objects_v2_xml_1000");
    short(&mut g);
    g.throughput(Throughput::Elements(LIST_ENTRIES as u64));
    let plain = listing(false);
    // aws-cli asks for encoding-type=url on every listing.
    let url = listing(true);
    g.bench_function("plain", |b| b.iter(|| list_objects_v2(black_box(&plain))));
    g.bench_function("encoding_url", |b| {
        b.iter(|| list_objects_v2(black_box(&url)))
    });
    g.finish();
}

fn range(c: &mut Criterion) {
    let mut g = c.benchmark_group("range");
    short(&mut g);
    let size = 64 * 1024 * 1024;
    for (name, header) in [
        ("first_KiB", "bytes=0-1023"),
        ("from", "bytes=1048576-"),
        ("suffix", "bytes=-500"),
        ("multi_ignored", "bytes=0-99,200-299"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                parse_range(black_box(header))
                    .unwrap()
                    .map(|spec| resolve(spec, size))
            })
        });
    }
    g.finish();
}

fn short<M: criterion::measurement::Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

criterion_group!(benches, sigv4_verify, chunked, hashing, xml, range);
criterion_main!(benches);
