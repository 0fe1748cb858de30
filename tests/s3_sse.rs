//! boto3 against the real binary: server-side encryption — SSE-C on PUT,
//! GET, HEAD, multipart (ranged GETs across chunks and parts) and copies
//! between keys, the wrong or missing key refused; SSE-S3 and bucket
//! default encryption; aws:kms refused (`tests/clients/boto3_sse.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::clients::run_script;
use common::server::{creds_env, start};

fn sse(class: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    run_script("boto3_sse.py", &[class], node.addr, &[]);
}

#[test]
fn sse_c_objects_multipart_and_copies_open_only_with_their_key() {
    sse("SseC");
}

#[test]
fn sse_s3_and_bucket_default_encryption_encrypt_and_show_aes256() {
    sse("SseS3");
}

#[test]
fn aws_kms_is_refused_with_not_implemented() {
    sse("Kms");
}
