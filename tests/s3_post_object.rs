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

use common::clients::run_script;
use common::server::{creds_env, start};

/// Runs one test class of `boto3_post.py` against a fresh node.
fn run(class: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    run_script("boto3_post.py", &[class], node.addr, &[]);
}

#[test]
fn form_uploads_store_the_file_and_answer_as_asked() {
    run("Upload");
}

#[test]
fn forms_outside_their_policy_are_refused_and_store_nothing() {
    run("Refusals");
}
