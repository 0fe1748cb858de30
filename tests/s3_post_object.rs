//! Browser form uploads (POST Object) against the real binary, built
//! from boto3's `generate_presigned_post` and sent as real
//! multipart/form-data (`tests/clients/boto3_post.py`, one class per
//! test here): stored byte-identical, answered 201/204/303 as asked, and
//! refused with AWS's codes — storing nothing — when the file is outside
//! the length range, the policy expired, a field or the policy was
//! tampered with, the key leaves the policy's prefix or the form is
//! malformed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::{creds_env, start, ACCESS_KEY, SECRET_KEY};

fn python() -> PathBuf {
    let p = std::env::var_os("SHALE_TEST_PYTHON").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target/s3-venv/bin/python"
            ))
        },
        PathBuf::from,
    );
    assert!(
        p.exists(),
        "{} not found: run `bash tools/test.sh`, which installs boto3 (or set SHALE_TEST_PYTHON)",
        p.display()
    );
    p
}

/// Runs one test class of `boto3_post.py` against a fresh node.
fn run(class: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/boto3_post.py");
    let out = Command::new(python())
        .arg(script)
        .arg(class)
        .env("S3_ENDPOINT", format!("http://{}", node.addr))
        .env("S3_ACCESS_KEY", ACCESS_KEY)
        .env("S3_SECRET_KEY", SECRET_KEY)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{class} failed:\n{text}");
    eprintln!("{text}");
}

#[test]
fn form_uploads_store_the_file_and_answer_as_asked() {
    run("Upload");
}

#[test]
fn forms_outside_their_policy_are_refused_and_store_nothing() {
    run("Refusals");
}
