//! boto3 against the real binary: Object Lock — lock buckets and their
//! default retention, GOVERNANCE and COMPLIANCE retention and legal hold
//! on PUT, copy and multipart, and no path (DELETE of a version,
//! DeleteObjects, a lifecycle rule, a purge job) removing a locked version
//! until its lock lets it go (`tests/clients/boto3_object_lock.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::clients::run_script;
use common::server::{creds_env, start};

fn object_lock(class: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let mut env = creds_env().to_vec();
    env.push(("SHALE_TEST_CLOCK", "1"));
    env.push(("SHALE_EXPIRY_INTERVAL_SECS", "0"));
    let node = start(tmp.path(), &env);
    let shale = std::ffi::OsStr::new(env!("CARGO_BIN_EXE_shale"));
    run_script(
        "boto3_object_lock.py",
        &[class],
        node.addr,
        &[("SHALE_BIN", shale)],
    );
}

#[test]
fn lock_buckets_stay_versioned_and_their_configuration_round_trips() {
    object_lock("LockConfiguration");
}

#[test]
fn a_compliance_locked_version_cannot_be_deleted_or_shortened_by_root() {
    object_lock("Compliance");
}

#[test]
fn only_a_user_allowed_to_bypass_governance_deletes_early() {
    object_lock("Governance");
}

#[test]
fn a_legal_hold_blocks_deletes_until_lifted() {
    object_lock("LegalHold");
}

#[test]
fn default_retention_copies_and_multipart_uploads_carry_locks() {
    object_lock("DefaultsCopyMultipart");
}

#[test]
fn lifecycle_expiry_and_purge_jobs_skip_locked_versions() {
    object_lock("LifecycleAndPurge");
}
