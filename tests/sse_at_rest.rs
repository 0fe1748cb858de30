//! On disk, an encrypted object's plaintext is nowhere: every file under
//! the data dir is searched for the recognisable bodies of SSE-S3, SSE-C
//! and SSE-C multipart objects (none found), and for a plain object's
//! (found, so the search works); after a restart the objects read back
//! with the master key file `serve` created (mode 0600).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use md5::Digest;
use shale::client::{xml_texts, PayloadMode, Request, S3Client};

use common::server::{client, creds_env, start, stop};

/// A body of `n` bytes that is `marker` over and over.
fn body(marker: &str, n: usize) -> Vec<u8> {
    marker.as_bytes().iter().copied().cycle().take(n).collect()
}

/// Every regular file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(p.display().to_string());
                }
            }
        }
    }
    found
}

fn ssec_headers(key: &[u8; 32]) -> Vec<(String, String)> {
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

fn put(c: &mut S3Client, key: &str, headers: Vec<(String, String)>, data: &[u8]) {
    let r = c
        .send(
            "PUT",
            "vault",
            key,
            Request {
                query: vec![],
                headers,
                body: data,
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

fn get(c: &mut S3Client, key: &str, headers: Vec<(String, String)>) -> Vec<u8> {
    let r = c
        .send(
            "GET",
            "vault",
            key,
            Request {
                query: vec![],
                headers,
                body: &[],
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.body
}

/// A one-part SSE-C multipart upload of `data`.
fn multipart(c: &mut S3Client, key: &str, ck: &[u8; 32], data: &[u8]) {
    let mut send = |method: &str, query: Vec<(String, String)>, headers, body: &[u8]| {
        let r = c
            .send(
                method,
                "vault",
                key,
                Request {
                    query,
                    headers,
                    body,
                },
                PayloadMode::Signed,
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r
    };
    let r = send(
        "POST",
        vec![("uploads".into(), String::new())],
        ssec_headers(ck),
        &[],
    );
    let id = xml_texts(&r.body, "InitiateMultipartUploadResult", "UploadId")
        .pop()
        .unwrap();
    let r = send(
        "PUT",
        vec![
            ("partNumber".into(), "1".into()),
            ("uploadId".into(), id.clone()),
        ],
        ssec_headers(ck),
        data,
    );
    let etag = r.header("etag").unwrap().to_string();
    let doc = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    send(
        "POST",
        vec![("uploadId".into(), id)],
        vec![],
        doc.as_bytes(),
    );
}

#[test]
fn no_file_in_the_data_dir_holds_an_encrypted_objects_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    let mut c = client(node.addr);
    assert_eq!(c.create_bucket("vault").unwrap().status, 200);
    let ck = [42u8; 32];
    let s3 = body(
        "SSE-S3 PLAINTEXT marker 0123456789 / ",
        3 * 1024 * 1024 + 17,
    );
    let cust = body("SSE-C PLAINTEXT marker abcdefghij / ", 100_000);
    let parts = body(
        "SSE-C MULTIPART PLAINTEXT marker zyx / ",
        2 * 1024 * 1024 + 5,
    );
    let plain = body("PLAIN TEXT control marker 9876543210 / ", 200_000);
    put(
        &mut c,
        "s3",
        vec![("x-amz-server-side-encryption".into(), "AES256".into())],
        &s3,
    );
    put(&mut c, "c", ssec_headers(&ck), &cust);
    multipart(&mut c, "mp", &ck, &parts);
    put(&mut c, "plain", vec![], &plain);
    // Read back before and after a restart (the master key file is kept).
    assert_eq!(get(&mut c, "s3", vec![]), s3);
    assert_eq!(get(&mut c, "c", ssec_headers(&ck)), cust);
    assert_eq!(get(&mut c, "mp", ssec_headers(&ck)), parts);
    let (ok, err) = stop(node);
    assert!(ok, "{err}");

    for (what, data) in [
        ("SSE-S3", &s3),
        ("SSE-C", &cust),
        ("SSE-C multipart", &parts),
    ] {
        // Any 40 bytes of the body (a whole period of the marker and more).
        let needle = &data[..40];
        assert_eq!(
            files_holding(tmp.path(), needle),
            Vec::<String>::new(),
            "{what} plaintext found on disk"
        );
    }
    let found = files_holding(tmp.path(), &plain[..40]);
    assert!(
        found.iter().any(|f| f.contains("segments")),
        "the plain object must be found in a segment file (the search works): {found:?}"
    );

    let key_file = tmp.path().join("sse-master.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "master key file mode {mode:o}");
    let node = start(tmp.path(), &creds_env());
    let mut c = client(node.addr);
    assert_eq!(get(&mut c, "s3", vec![]), s3);
    assert_eq!(get(&mut c, "mp", ssec_headers(&ck)), parts);
    let (ok, err) = stop(node);
    assert!(ok, "{err}");
}
