//! boto3 (and raw HTTP for the CORS preflight) against the real binary:
//! conditional deletes, multipart checksums and retried completions,
//! bucket tagging, bucket CORS and the smaller S3 answers of issue 22
//! part A (`tests/clients/boto3_surface.py`, one class per test here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::clients::run_script;
use common::server::{creds_env, start};

/// Runs one test class of `boto3_surface.py` against a fresh node.
fn surface(class: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    run_script("boto3_surface.py", &[class], node.addr, &[]);
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
