//! boto3 (and raw HTTP for the CORS preflight) against the real binary:
//! conditional deletes, multipart checksums and retried completions,
//! bucket tagging, bucket CORS and the smaller S3 answers of issue 22
//! part A (`tests/clients/boto3_surface.py`, one class per test here).

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

/// Runs one test class of `boto3_surface.py` against a fresh node.
fn surface(class: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/boto3_surface.py");
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
fn conditional_deletes_hold_atomically_and_delete_nothing_when_refused() {
    surface("ConditionalDeletes");
}

#[test]
fn multipart_complete_shows_and_checks_checksums_and_answers_a_retry() {
    surface("MultipartChecksums");
}

#[test]
fn bucket_tagging_is_stored_validated_and_removed() {
    surface("BucketTagging");
}

#[test]
fn cors_rules_answer_preflights_and_mark_matching_responses() {
    surface("Cors");
}

#[test]
fn small_answers_match_aws() {
    surface("SmallAnswers");
}
