//! The object-layer formats of format-spec/object.md: the test vectors in
//! the page match the code byte for byte and decode back; any flipped
//! byte or cut is refused (never a panic) or, in a head, decodes to a
//! different head, with no byte ignored; non-zero reserved bytes, an
//! unknown storage class or versioning state, and inconsistent sizes are
//! refused, by the encoder exactly as by the decoder; multipart manifests
//! load, and are refused, as the page says; and object heads and bucket
//! records round-trip, and what decodes from arbitrary bytes re-encodes
//! to exactly those bytes (property tests).

mod common;

use common::spec::unhex;
use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use shale::index::entry::IndexEntry;
use shale::io::Io;
use shale::object::bucket_meta::{BucketMeta, BucketMetaError, VERSIONING_MAX};
use shale::object::head::{
    Chunk, HeadChecksum, HeadError, ObjectHead, Part, HEAD_FIXED_LEN, STORAGE_CLASS_MAX,
};
use shale::object::multipart::{Manifest, Uploads};
use shale::object::sse::{SseInfo, SseMode};
use shale::s3::checksum::Algorithm;
use shale::segment::format::{self, RecordKind, RECORD_HEADER_LEN};
use shale::segment::RecordLoc;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn arr16(s: &str) -> [u8; 16] {
    unhex(s).try_into().unwrap()
}

fn vectors() -> Vec<HashMap<String, String>> {
    common::spec::vectors("object.md")
}

fn of_kind(kind: &str) -> Vec<HashMap<String, String>> {
    vectors()
        .into_iter()
        .filter(|v| v["kind"] == kind)
        .collect()
}

/// `a,b,c; d,e,f` -> [[a,b,c],[d,e,f]]; empty -> [].
fn rows(s: &str) -> Vec<Vec<u64>> {
    s.split(';')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.split(',').map(|x| x.trim().parse().unwrap()).collect())
        .collect()
}

fn head_of(v: &HashMap<String, String>) -> ObjectHead {
    let flags: u16 = v["flags"].parse().unwrap();
    ObjectHead {
        delete: flags & 1 != 0,
        delete_marker: flags & 2 != 0,
        versioned: flags & 4 != 0,
        expiry_secs: v.get("expiry_secs").map_or(0, |e| e.parse().unwrap()),
        lock: common::spec::lock_of(v),
        sse: sse_of(v),
        tag: v["tag"].parse().unwrap(),
        mtime_nanos: v["mtime_nanos"].parse().unwrap(),
        size: v["size"].parse().unwrap(),
        etag: arr16(&v["etag_hex"]),
        etag_parts: v["etag_parts"].parse().unwrap(),
        storage_class: v["storage_class"].parse().unwrap(),
        version_id: arr16(&v["version_hex"]),
        bucket: v["bucket"].clone(),
        key: unhex(&v["key_hex"]),
        meta: v["meta"]
            .split(';')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(|m| {
                let (n, val) = m.split_once('=').unwrap();
                (n.to_string(), val.to_string())
            })
            .collect(),
        chunks: rows(&v["chunks"])
            .into_iter()
            .map(|c| Chunk {
                loc: RecordLoc {
                    segment: c[0],
                    offset: c[1],
                    len: c[2] as u32,
                },
                len: c[3] as u32,
            })
            .collect(),
        parts: rows(&v["parts"])
            .into_iter()
            .map(|p| Part {
                size: p[0],
                chunks: p[1] as u32,
            })
            .collect(),
        checksum: v.get("checksum_alg").map(|a| HeadChecksum {
            algorithm: Algorithm::from_name(a).unwrap(),
            digest: unhex(&v["checksum_hex"]),
            parts: v["checksum_parts"].parse().unwrap(),
            part_digests: v["part_checksums_hex"]
                .split(';')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(unhex)
                .collect(),
        }),
    }
}

/// The SSE section of a head vector (`sse_*` fields), if it has one.
fn sse_of(v: &HashMap<String, String>) -> Option<SseInfo> {
    let mode = v.get("sse_mode")?;
    let fixed = |name: &str, out: &mut [u8]| out.copy_from_slice(&unhex(&v[name]));
    let mut s = SseInfo {
        mode: if mode == "1" {
            SseMode::S3
        } else {
            SseMode::Customer
        },
        key_id: v["sse_key_id"].parse().unwrap(),
        object_id: [0; 16],
        wrap_nonce: [0; 12],
        wrapped_key: [0; 48],
        salt: [0; 16],
        key_check: [0; 32],
        part_numbers: v["sse_part_numbers"]
            .split(';')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap())
            .collect(),
    };
    fixed("sse_object_id_hex", &mut s.object_id);
    fixed("sse_wrap_nonce_hex", &mut s.wrap_nonce);
    fixed("sse_wrapped_key_hex", &mut s.wrapped_key);
    fixed("sse_salt_hex", &mut s.salt);
    fixed("sse_key_check_hex", &mut s.key_check);
    Some(s)
}

/// Bytes of the SSE section (version 4: the last ones).
fn sse_len(h: &ObjectHead) -> usize {
    h.sse.as_ref().map_or(0, SseInfo::encoded_len)
}

fn bucket_of(v: &HashMap<String, String>) -> BucketMeta {
    BucketMeta {
        created_nanos: v["created_nanos"].parse().unwrap(),
        shards: v["shards"].parse().unwrap(),
        versioning: v["versioning"].parse().unwrap(),
        location: v["location"].clone(),
        owner: v["owner"].clone(),
    }
}

/// Offsets of an encoded head that the page reserves (must be zero).
fn reserved_head_bytes(h: &ObjectHead, len: usize) -> BTreeSet<usize> {
    let mut s: BTreeSet<usize> = match h.checksum {
        None => (70..72).chain(88..96).collect(),
        // Version 2: 88 and 90..92 are the checksum's algorithm and parts.
        Some(_) => (70..72).chain(89..90).chain(92..96).collect(),
    };
    // Versions 3 and 4: 88 is the checksum algorithm, 0 for none.
    if !h.lock.is_empty() || h.sse.is_some() {
        s.remove(&88);
    }
    // With the expires flag, 92..96 is the expiry time.
    if h.expiry_secs != 0 {
        s.retain(|i| !(92..96).contains(i));
    }
    let parts_at = len - 16 * h.parts.len() - checksum_len(h) - lock_len(h) - sse_len(h);
    for p in 0..h.parts.len() {
        s.extend(parts_at + 16 * p + 12..parts_at + 16 * p + 16);
    }
    // The lock section's reserved bytes 2..8.
    let lock_end = len - sse_len(h);
    if lock_len(h) > 0 {
        s.extend(lock_end - 14..lock_end - 8);
    }
    // The SSE section's reserved bytes 1..4.
    if sse_len(h) > 0 {
        s.extend(lock_end + 1..lock_end + 4);
    }
    s
}

/// Bytes of the lock section (version 3: the last 16).
fn lock_len(h: &ObjectHead) -> usize {
    if h.lock.is_empty() {
        0
    } else {
        16
    }
}

/// Bytes of the checksum section (after the part entries).
fn checksum_len(h: &ObjectHead) -> usize {
    h.checksum
        .as_ref()
        .map_or(0, |c| c.algorithm.digest_len() * (1 + c.part_digests.len()))
}

/// The bytes the page's tables give for `h`, checked or not: `h` with
/// its storage class, size and part spans made valid is encoded, and
/// those fields are then written as they are in `h`.
fn spec_bytes(h: &ObjectHead) -> Vec<u8> {
    let mut ok = h.clone();
    ok.storage_class = 0;
    ok.size = h.chunks.iter().map(|c| u64::from(c.len)).sum();
    for p in &mut ok.parts {
        p.chunks = 0;
    }
    if let Some(last) = ok.parts.last_mut() {
        last.chunks = h.chunks.len() as u32;
    }
    let mut b = ok.encode().unwrap();
    b[66] = h.storage_class;
    b[24..32].copy_from_slice(&h.size.to_le_bytes());
    let parts_at = b.len() - 16 * h.parts.len() - checksum_len(h) - lock_len(h) - sse_len(h);
    for (i, p) in h.parts.iter().enumerate() {
        let at = parts_at + 16 * i + 8;
        b[at..at + 4].copy_from_slice(&p.chunks.to_le_bytes());
    }
    b
}

/// The encoder accepts `h` exactly when the decoder accepts its bytes,
/// and then writes those bytes; otherwise both give the same error.
fn encoder_agrees_with_decoder(h: &ObjectHead) -> Result<(), TestCaseError> {
    let b = spec_bytes(h);
    match (h.encode(), ObjectHead::decode(&b)) {
        (Ok(enc), Ok(dec)) => {
            prop_assert_eq!(hex(&enc), hex(&b));
            prop_assert_eq!(&dec, h);
        }
        (Err(e), Err(d)) => prop_assert_eq!(e, d),
        (enc, dec) => prop_assert!(false, "encode {:?} but decode {:?}", enc.map(|_| ()), dec),
    }
    Ok(())
}

fn bucket_record_with(b: &[u8], at: usize, x: u8) -> Vec<u8> {
    let mut c = b.to_vec();
    c[at] = x;
    let body = c.len() - 4;
    let crc = crc32c::crc32c(&c[..body]);
    c[body..].copy_from_slice(&crc.to_le_bytes());
    c
}

#[test]
fn head_vectors_match_the_code() {
    let vs = of_kind("head");
    assert_eq!(vs.len(), 9, "the page's head vectors");
    for v in vs {
        let name = &v["name"];
        let h = head_of(&v);
        let want = unhex(&v["hex"]);
        let got = h.encode().unwrap();
        assert_eq!(hex(&got), hex(&want), "{name}");
        assert_eq!(h.encoded_len(), want.len(), "{name}");
        assert_eq!(ObjectHead::decode(&want).unwrap(), h, "{name}");

        // As a segment record: kind 3 iff the delete flag is set.
        let Some(record_hex) = v.get("record_hex") else {
            continue;
        };
        let seg: u64 = v["record_segment"].parse().unwrap();
        let batch: u64 = v["record_batch"].parse().unwrap();
        let kind = if h.delete {
            RecordKind::Tombstone
        } else {
            RecordKind::ObjectHead
        };
        let mut rec = Vec::new();
        format::encode_record(&mut rec, seg, kind, batch, &want);
        assert_eq!(&hex(&rec), record_hex, "{name}: record");
        let r = format::decode_record(seg, &rec).unwrap();
        assert_eq!((r.kind, r.batch, r.payload), (kind, batch, &want[..]));
    }
}

#[test]
fn any_changed_head_byte_is_refused_or_changes_the_head_and_a_cut_is_refused() {
    for v in of_kind("head") {
        let name = &v["name"];
        let h = head_of(&v);
        let b = unhex(&v["hex"]);
        // Every byte, every value: no byte of a head is ignored.
        for i in 0..b.len() {
            for x in 0..=255u8 {
                if x == b[i] {
                    continue;
                }
                let mut c = b.clone();
                c[i] = x;
                let got = ObjectHead::decode(&c);
                assert!(
                    got.as_ref() != Ok(&h),
                    "{name}: byte {i} = {x:#x} unnoticed"
                );
            }
        }
        for n in 0..b.len() {
            assert!(ObjectHead::decode(&b[..n]).is_err(), "{name}: cut at {n}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(
            ObjectHead::decode(&longer),
            Err(HeadError::TrailingBytes(1)),
            "{name}"
        );
    }
}

#[test]
fn a_non_zero_reserved_head_byte_is_refused_with_its_offset() {
    for v in of_kind("head") {
        let name = &v["name"];
        let h = head_of(&v);
        let b = unhex(&v["hex"]);
        let reserved = reserved_head_bytes(&h, b.len());
        let fixed = if h.checksum.is_some() || !h.lock.is_empty() || h.sse.is_some() {
            9 - usize::from(h.checksum.is_some()) * 2
        } else {
            10
        } - if h.expiry_secs != 0 { 4 } else { 0 };
        let lock = if h.lock.is_empty() { 0 } else { 6 };
        let sse = if h.sse.is_some() { 3 } else { 0 };
        assert_eq!(
            reserved.len(),
            fixed + 4 * h.parts.len() + lock + sse,
            "{name}"
        );
        for &i in &reserved {
            assert_eq!(b[i], 0, "{name}: the encoder writes byte {i} as zero");
            for x in [0x01u8, 0x80, 0xFF] {
                let mut c = b.clone();
                c[i] = x;
                assert_eq!(
                    ObjectHead::decode(&c),
                    Err(HeadError::ReservedNotZero { offset: i }),
                    "{name}: byte {i} = {x:#x}"
                );
            }
        }
    }
}

#[test]
fn a_storage_class_past_7_is_refused_by_the_encoder_and_the_decoder() {
    let mut h = head_of(&of_kind("head")[0]);
    for class in 0..=255u8 {
        h.storage_class = class;
        let want = if class <= 7 {
            Ok(())
        } else {
            Err(HeadError::UnknownStorageClass(class))
        };
        assert_eq!(h.encode().map(|_| ()), want, "encode {class}");
        assert_eq!(
            ObjectHead::decode(&spec_bytes(&h)).map(|_| ()),
            want,
            "decode {class}"
        );
    }
}

#[test]
fn the_head_storage_class_range_is_the_index_entry_range() {
    // A head's class is copied into its index entry (store::head_entry).
    assert_eq!(STORAGE_CLASS_MAX, 7);
    let entry = |storage_class| IndexEntry {
        storage_class,
        ..IndexEntry::default()
    };
    assert!(entry(STORAGE_CLASS_MAX).validate().is_ok());
    assert!(entry(STORAGE_CLASS_MAX + 1).validate().is_err());
}

#[test]
fn a_size_other_than_the_chunks_is_refused_by_the_encoder_and_the_decoder() {
    for v in of_kind("head") {
        let name = &v["name"];
        let mut h = head_of(&v);
        let chunks = h.size;
        for size in [chunks.wrapping_sub(1), chunks + 1, u64::MAX] {
            h.size = size;
            let want = Err(HeadError::SizeMismatch { chunks, size });
            assert_eq!(h.encode().map(|_| ()), want, "{name}: encode {size}");
            assert_eq!(
                ObjectHead::decode(&spec_bytes(&h)).map(|_| ()),
                want,
                "{name}"
            );
        }
    }
}

#[test]
fn parts_that_do_not_span_the_chunks_are_refused_by_the_encoder_and_the_decoder() {
    let v = of_kind("head")
        .into_iter()
        .find(|v| !v["parts"].is_empty())
        .unwrap();
    let h = head_of(&v);
    assert_eq!((h.chunks.len(), h.parts.len()), (6, 2));
    for (first, second) in [(5, 0), (5, 2), (0, 0), (u32::MAX, 7)] {
        let mut bad = h.clone();
        bad.parts[0].chunks = first;
        bad.parts[1].chunks = second;
        let want = Err(HeadError::PartsMismatch {
            parts: u64::from(first) + u64::from(second),
            chunks: 6,
        });
        assert_eq!(bad.encode().map(|_| ()), want, "encode {first},{second}");
        assert_eq!(ObjectHead::decode(&spec_bytes(&bad)).map(|_| ()), want);
    }
    // Any split that spans all six chunks is accepted, empty parts too.
    for (first, second) in [(6, 0), (0, 6), (3, 3)] {
        let mut ok = h.clone();
        ok.parts[0].chunks = first;
        ok.parts[1].chunks = second;
        let b = ok.encode().unwrap();
        assert_eq!(ObjectHead::decode(&b).unwrap(), ok);
    }
}

#[test]
fn a_metadata_length_near_4_gib_is_refused_without_wrapping() {
    let mut h = head_of(&of_kind("head")[0]);
    h.meta = vec![(String::new(), String::new())];
    let mut b = h.encode().unwrap();
    let meta_at = HEAD_FIXED_LEN + h.bucket.len() + h.key.len();
    for (name_len, value_len) in [(0u16, u32::MAX), (u16::MAX, u32::MAX), (0, u32::MAX - 5)] {
        b[meta_at..meta_at + 2].copy_from_slice(&name_len.to_le_bytes());
        b[meta_at + 2..meta_at + 6].copy_from_slice(&value_len.to_le_bytes());
        assert!(
            matches!(ObjectHead::decode(&b), Err(HeadError::Truncated { .. })),
            "{name_len} {value_len}"
        );
    }
}

#[test]
fn any_changed_byte_or_cut_of_a_head_record_is_refused() {
    for v in of_kind("head") {
        let name = &v["name"];
        let Some(record_hex) = v.get("record_hex") else {
            continue;
        };
        let seg: u64 = v["record_segment"].parse().unwrap();
        let rec = unhex(record_hex);
        let len = RECORD_HEADER_LEN + unhex(&v["hex"]).len();
        for i in 0..len {
            for mask in [0x01u8, 0x80, 0xFF] {
                let mut c = rec.clone();
                c[i] ^= mask;
                assert!(
                    format::decode_record(seg, &c).is_err(),
                    "{name}: record byte {i} ^ {mask:#x}"
                );
            }
        }
        for n in 0..len {
            assert!(format::decode_record(seg, &rec[..n]).is_err(), "{name}");
        }
        assert!(format::decode_record(seg + 1, &rec).is_err(), "{name}");
    }
}

#[test]
fn bucket_vectors_match_and_any_changed_byte_or_cut_is_refused() {
    let vs = of_kind("bucket");
    assert_eq!(vs.len(), 2, "the page's bucket record vectors");
    for v in vs {
        let name = &v["name"];
        let m = bucket_of(&v);
        let want = unhex(&v["hex"]);
        assert_eq!(hex(&m.encode().unwrap()), hex(&want), "{name}");
        assert_eq!(BucketMeta::decode(&want).unwrap(), m, "{name}");
        for i in 0..want.len() {
            for mask in [0x01u8, 0x80, 0xFF] {
                let mut c = want.clone();
                c[i] ^= mask;
                assert!(BucketMeta::decode(&c).is_err(), "{name}: byte {i}");
            }
        }
        for n in 0..want.len() {
            assert!(BucketMeta::decode(&want[..n]).is_err(), "{name}: cut {n}");
        }
        let mut longer = want.clone();
        longer.push(0);
        assert!(BucketMeta::decode(&longer).is_err(), "{name}");
    }
}

#[test]
fn a_bucket_record_with_a_non_zero_reserved_byte_is_refused() {
    for v in of_kind("bucket") {
        let b = unhex(&v["hex"]);
        assert_eq!(b[6..8], [0, 0], "{}", v["name"]);
        for at in 6..8 {
            for x in [0x01u8, 0x80, 0xFF] {
                assert_eq!(
                    BucketMeta::decode(&bucket_record_with(&b, at, x)),
                    Err(BucketMetaError::ReservedNotZero { offset: at }),
                    "{}: byte {at} = {x:#x} (checksum made good)",
                    v["name"]
                );
            }
        }
    }
}

#[test]
fn a_versioning_state_past_2_is_refused_by_the_encoder_and_the_decoder() {
    assert_eq!(VERSIONING_MAX, 2);
    let v = &of_kind("bucket")[0];
    let b = unhex(&v["hex"]);
    let mut m = bucket_of(v);
    for state in 0..=255u8 {
        m.versioning = state;
        let c = bucket_record_with(&b, 20, state);
        if state <= 2 {
            assert_eq!(hex(&m.encode().unwrap()), hex(&c), "{state}");
            assert_eq!(BucketMeta::decode(&c).unwrap(), m, "{state}");
        } else {
            let want = Err(BucketMetaError::UnknownVersioning(state));
            assert_eq!(m.encode().map(|_| ()), want, "{state}");
            assert_eq!(BucketMeta::decode(&c).map(|_| ()), want, "{state}");
        }
    }
}

#[test]
fn manifest_vector_matches_the_code_and_loads() {
    let vs = of_kind("manifest");
    assert_eq!(vs.len(), 1, "the page's manifest vector");
    let v = &vs[0];
    let json = &v["json"];
    let m: Manifest = serde_json::from_str(json).unwrap();
    assert_eq!(m.version, 1);
    assert_eq!(m.upload_id, v["upload_id"]);
    assert_eq!(m.key(), b"a.jpg");
    assert_eq!(m.parts.len(), 1);
    assert_eq!(m.parts[0].chunks, vec![(1, 64, 29, 5)]);
    // What the code writes is exactly the vector (compact, field order).
    assert_eq!(&serde_json::to_string(&m).unwrap(), json);

    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("uploads");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::write(up.join(format!("{}.json", m.upload_id)), json).unwrap();
    // A temporary file of an unfinished replace is ignored.
    std::fs::write(up.join("0123.json.tmp"), b"{ torn").unwrap();
    let uploads = Uploads::open(&Io::portable(), dir.path(), Default::default()).unwrap();
    let listed = uploads.uploads_of("photos");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, b"a.jpg");
    assert_eq!(listed[0].1, m.upload_id);
    assert_eq!(listed[0].2, m.initiated_nanos);
}

#[test]
fn a_bad_manifest_stops_the_loader_and_listings_refuse() {
    let v = &of_kind("manifest")[0];
    let json = &v["json"];
    let id = &v["upload_id"];
    let cases = [
        (
            "wrong version",
            id.clone(),
            json.replace("\"version\":1", "\"version\":2"),
        ),
        ("file name is not the id", "00".repeat(16), json.clone()),
        ("cut short", id.clone(), json[..json.len() - 1].to_string()),
        (
            "a field missing",
            id.clone(),
            json.replace("\"initiated_nanos\":1795312496000000001,", ""),
        ),
    ];
    for (what, file_id, body) in cases {
        assert_ne!(
            (&file_id, &body),
            (id, json),
            "{what}: the case changes something"
        );
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path().join("uploads");
        std::fs::create_dir_all(&up).unwrap();
        std::fs::write(up.join(format!("{file_id}.json")), body).unwrap();
        // The open does not read manifests; the loader stops at the bad
        // one, and nothing may rely on the list of uploads after that.
        let uploads = Uploads::open(&Io::portable(), dir.path(), Default::default()).unwrap();
        let _ = uploads.uploads_of("photos");
        let e = uploads.uploads_of_now("photos").unwrap_err();
        assert_eq!(e.code, shale::s3::S3ErrorCode::InternalError, "{what}");
        assert!(e.message.contains("manifest"), "{what}: {}", e.message);
    }
}

#[test]
fn a_new_upload_writes_its_manifest_whole_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let uploads = Uploads::open(&io, dir.path(), Default::default()).unwrap();
    let meta = vec![("content-type".to_string(), "text/plain".to_string())];
    let id = uploads
        .create("photos", b"k\x00\xff", meta, None, Default::default(), None)
        .unwrap();
    assert_eq!(id.len(), 32);
    assert!(id
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let up = dir.path().join("uploads");
    let names: Vec<String> = std::fs::read_dir(&up)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec![format!("{id}.json")], "no temporary file left");
    let path = up.join(format!("{id}.json"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let m: Manifest = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!((m.version, m.upload_id.as_str()), (1, id.as_str()));
    assert_eq!(
        (m.bucket.as_str(), m.key_hex.as_str()),
        ("photos", "6b00ff")
    );
    assert!(m.parts.is_empty());
    // And it loads again.
    let again = Uploads::open(&io, dir.path(), Default::default()).unwrap();
    assert_eq!(again.uploads_of("photos").len(), 1);
}

// ---- property tests ----

fn chunk() -> impl Strategy<Value = Chunk> {
    (any::<u64>(), any::<u64>(), any::<u32>(), any::<u32>()).prop_map(|(s, o, l, n)| Chunk {
        loc: RecordLoc {
            segment: s,
            offset: o,
            len: l,
        },
        len: n,
    })
}

/// Heads the decoder accepts: size = the chunks' bytes, and parts (if
/// any) span exactly the chunks.
fn head() -> impl Strategy<Value = ObjectHead> {
    let parts = prop::collection::vec((any::<u64>(), 0u32..4), 0..5);
    let names = (
        ".{0,40}",
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec((".{0,12}", ".{0,40}"), 0..5),
    );
    let fixed = (
        any::<[bool; 3]>(),
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 16]>(),
        any::<u16>(),
        0..=STORAGE_CLASS_MAX,
        any::<[u8; 16]>(),
    );
    parts
        .prop_flat_map(|parts| {
            let spanned = parts.iter().map(|p| p.1 as usize).sum::<usize>();
            let n = if parts.is_empty() {
                0..8
            } else {
                spanned..spanned + 1
            };
            (Just(parts), prop::collection::vec(chunk(), n))
        })
        .prop_flat_map(move |pc| (Just(pc), names.clone(), fixed.clone()))
        .prop_map(|((parts, chunks), (bucket, key, meta), f)| ObjectHead {
            delete: f.0[0],
            delete_marker: f.0[1],
            versioned: f.0[2],
            tag: f.1,
            mtime_nanos: f.2,
            size: chunks.iter().map(|c| u64::from(c.len)).sum(),
            etag: f.3,
            etag_parts: f.4,
            storage_class: f.5,
            version_id: f.6,
            bucket,
            key,
            meta,
            chunks,
            parts: parts
                .into_iter()
                .map(|(size, chunks)| Part { size, chunks })
                .collect(),
            checksum: None,
            // Every fourth head expires.
            expiry_secs: if f.1 % 4 == 0 { (f.2 as u32).max(1) } else { 0 },
            lock: Default::default(),
            sse: None,
        })
        .prop_flat_map(|h| (Just(h), 0u8..=5, any::<bool>(), any::<u64>()))
        .prop_map(|(mut h, alg, composite, seed)| {
            // Version 2 heads: a checksum of each algorithm, whole or
            // composite (when there are parts).
            h.checksum = Algorithm::from_code(alg).map(|algorithm| {
                let len = algorithm.digest_len();
                let bytes = |k: u64| -> Vec<u8> {
                    (0..len)
                        .map(|i| (seed.rotate_left(i as u32 * 7) ^ k) as u8)
                        .collect()
                };
                let composite = composite && !h.parts.is_empty();
                HeadChecksum {
                    algorithm,
                    digest: bytes(0),
                    parts: if composite { h.parts.len() as u16 } else { 0 },
                    part_digests: if composite {
                        (1..=h.parts.len() as u64).map(bytes).collect()
                    } else {
                        Vec::new()
                    },
                }
            });
            // Version 3 heads: a lock on every third (mode from the seed,
            // a legal hold on some).
            if seed % 3 == 0 {
                use shale::s3::object_lock::{LockMode, ObjectLock, Retention};
                let mode = match (seed >> 8) % 3 {
                    0 => None,
                    1 => Some(LockMode::Governance),
                    _ => Some(LockMode::Compliance),
                };
                h.lock = ObjectLock {
                    retention: mode.map(|mode| Retention {
                        mode,
                        until_secs: (seed >> 16).max(1),
                    }),
                    legal_hold: mode.is_none() || (seed >> 12) % 2 == 0,
                };
            }
            // Version 4 heads: an SSE section on every fifth (SSE-S3 or
            // SSE-C, part numbers ascending from 1 with gaps).
            if seed % 5 == 0 {
                let customer = (seed >> 20) % 2 == 0;
                let byte = |k: u64| (seed.rotate_left(k as u32) & 0xff) as u8;
                let mut at = 0u32;
                h.sse = Some(SseInfo {
                    mode: if customer {
                        SseMode::Customer
                    } else {
                        SseMode::S3
                    },
                    key_id: if customer {
                        0
                    } else {
                        ((seed >> 24) as u32).max(1)
                    },
                    object_id: [byte(1); 16],
                    wrap_nonce: [byte(2); 12],
                    wrapped_key: [byte(3); 48],
                    salt: if customer { [byte(4); 16] } else { [0; 16] },
                    key_check: if customer { [byte(5); 32] } else { [0; 32] },
                    part_numbers: (0..h.parts.len() as u64)
                        .map(|i| {
                            at += 1 + ((seed >> (i % 60)) % 3) as u32;
                            at
                        })
                        .collect(),
                });
            }
            h
        })
}

fn bucket() -> impl Strategy<Value = BucketMeta> {
    (
        any::<u64>(),
        any::<u32>(),
        0..=VERSIONING_MAX,
        ".{0,60}",
        ".{0,200}",
    )
        .prop_map(
            |(created_nanos, shards, versioning, location, owner)| BucketMeta {
                created_nanos,
                shards,
                versioning,
                location,
                owner,
            },
        )
}

/// A head that decodes encodes again to exactly the bytes it came from
/// (no byte is ignored, so there is one encoding per head).
fn re_encodes(h: &ObjectHead, from: &[u8]) -> Result<(), TestCaseError> {
    let again = h.encode().unwrap();
    prop_assert_eq!(again.len(), h.encoded_len());
    prop_assert_eq!(hex(&again), hex(from));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn heads_round_trip_and_any_cut_is_refused(h in head(), cut in any::<prop::sample::Index>()) {
        let b = h.encode().unwrap();
        prop_assert_eq!(b.len(), h.encoded_len());
        prop_assert!(b.len() >= HEAD_FIXED_LEN);
        prop_assert_eq!(&ObjectHead::decode(&b).unwrap(), &h);
        let n = cut.index(b.len());
        prop_assert!(ObjectHead::decode(&b[..n]).is_err());
    }

    #[test]
    fn bucket_records_round_trip_and_any_cut_is_refused(m in bucket(), cut in any::<prop::sample::Index>()) {
        let b = m.encode().unwrap();
        prop_assert_eq!(b.len(), 28 + m.location.len() + m.owner.len());
        prop_assert_eq!(&BucketMeta::decode(&b).unwrap(), &m);
        let n = cut.index(b.len());
        prop_assert!(BucketMeta::decode(&b[..n]).is_err());
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(b in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(h) = ObjectHead::decode(&b) {
            re_encodes(&h, &b)?;
        }
        if let Ok(m) = BucketMeta::decode(&b) {
            prop_assert_eq!(hex(&m.encode().unwrap()), hex(&b));
        }
    }

    #[test]
    fn the_encoder_refuses_exactly_what_the_decoder_refuses(
        h in head(),
        class in prop_oneof![0..=STORAGE_CLASS_MAX, any::<u8>()],
        size in any::<Option<u64>>(),
        span in any::<Option<(prop::sample::Index, u32)>>(),
    ) {
        let mut h = h;
        h.storage_class = class;
        if let Some(size) = size {
            h.size = size;
        }
        if let (Some((at, n)), false) = (span, h.parts.is_empty()) {
            let i = at.index(h.parts.len());
            h.parts[i].chunks = n % 4;
        }
        encoder_agrees_with_decoder(&h)?;
    }

    #[test]
    fn decoding_a_damaged_head_never_panics(h in head(), hits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut b = h.encode().unwrap();
        for (at, x) in &hits {
            let i = at.index(b.len());
            b[i] = *x;
        }
        if let Ok(h2) = ObjectHead::decode(&b) {
            re_encodes(&h2, &b)?;
        }
    }

    #[test]
    fn decoding_a_damaged_bucket_record_never_panics(m in bucket(), hits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut b = m.encode().unwrap();
        for (at, x) in &hits {
            let i = at.index(b.len());
            b[i] = *x;
        }
        // The checksum covers every byte; a damaged record that still
        // decodes was not damaged (the hits rewrote the same bytes).
        if let Ok(m2) = BucketMeta::decode(&b) {
            prop_assert_eq!(m2, m);
        }
    }
}

#[test]
fn the_sse_chunk_vector_opens_with_its_key_and_nowhere_else() {
    let vs = of_kind("sse_chunk");
    assert_eq!(vs.len(), 1, "the page's SSE vector");
    for v in vs {
        let kek: [u8; 32] = unhex(&v["kek_hex"]).try_into().unwrap();
        let section = unhex(&v["section_hex"]);
        let info = SseInfo::decode(&section, 0).unwrap();
        assert_eq!(info.encode(), section);
        assert_eq!(info.mode, SseMode::Customer);
        assert!(info.customer_key_matches(&kek));
        let mut other = kek;
        other[0] ^= 1;
        assert!(!info.customer_key_matches(&other));
        assert!(info.open(&other).is_err(), "another key opens nothing");
        let cipher = info.open(&kek).unwrap();
        let (part, index): (u32, u32) = (v["part"].parse().unwrap(), v["index"].parse().unwrap());
        let sealed = unhex(&v["sealed_hex"]);
        assert_eq!(
            cipher.open_chunk(part, index, &sealed).unwrap(),
            v["plain"].as_bytes()
        );
        assert!(cipher.open_chunk(part, index + 1, &sealed).is_err());
        assert!(cipher.open_chunk(part + 1, index, &sealed).is_err());
        let md5: [u8; 16] = unhex(&v["md5_hex"]).try_into().unwrap();
        assert_eq!(cipher.etag(md5).to_vec(), unhex(&v["etag_hex"]));
    }
}
