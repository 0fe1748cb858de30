//! boto3 against the real binary: ACLs (canned, by header, by body; on
//! buckets and objects), bucket policies (a prefix denied to one user,
//! malformed ones refused), unsigned clients let through exactly where an
//! ACL or policy gives everyone the operation, PublicAccessBlock, and all
//! of it kept across a restart (`tests/clients/boto3_access.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::clients::run_script;
use common::server::{creds_env, start, stop};

/// Runs test classes of `boto3_access.py` against the node at `addr`.
fn run(addr: std::net::SocketAddr, classes: &[&str], state: &Path) {
    let shale = std::ffi::OsStr::new(env!("CARGO_BIN_EXE_shale"));
    run_script(
        "boto3_access.py",
        classes,
        addr,
        &[("SHALE_BIN", shale), ("STATE_FILE", state.as_os_str())],
    );
}

fn access(class: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    run(node.addr, &[class], &tmp.path().join("state"));
}

#[test]
fn unsigned_clients_get_exactly_what_acls_and_policies_give_everyone() {
    access("AnonymousAccess");
}

#[test]
fn a_policy_denies_one_prefix_to_one_user_and_bad_policies_are_refused() {
    access("PolicyDeniesPrefix");
}

#[test]
fn bucket_and_object_acls_round_trip() {
    access("AclRoundTrips");
}

#[test]
fn public_access_block_blocks_and_ignores_public_acls_and_policies() {
    access("PublicAccessBlock");
}

#[test]
fn acls_policies_and_public_access_blocks_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let state = tmp.path().join("state");
    let node = start(&data, &creds_env());
    run(node.addr, &["PersistWrite"], &state);
    let (ok, err) = stop(node);
    assert!(ok, "{err}");
    let node = start(&data, &creds_env());
    run(node.addr, &["PersistRead"], &state);
}
