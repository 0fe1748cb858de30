//! Real S3 clients against the real binary over 127.0.0.1: the boto3
//! suite (`tests/clients/boto3_suite.py`, every operation and error case,
//! default client settings), boto3 conditional requests and copies
//! (`boto3_depth.py`), the aws cli (`s3 cp` of a 100 MiB file, which
//! goes multipart, and `s3 sync` of a tree) and rclone (`copy` and
//! `check`). `bash tools/test.sh` installs the clients (pinned boto3 in a
//! venv, aws cli and rclone from Debian) and says where they are.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::{creds_env, start, ACCESS_KEY, SECRET_KEY};

fn tool(env: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(env) {
        Some(p) => PathBuf::from(p),
        None => {
            let p = PathBuf::from(fallback);
            assert!(
                p.exists() || which(fallback),
                "{fallback} not found: run `bash tools/test.sh`, which installs the S3 clients (or set {env})"
            );
            p
        }
    }
}

fn which(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout + &stderr
}

/// Runs one boto3 script (`tests/clients/NAME`) against a fresh node.
fn boto3_script(name: &str) {
    boto3_script_with(name, &[]);
}

/// [`boto3_script`] with more environment for the node.
fn boto3_script_with(name: &str, node_env: &[(&str, &str)]) {
    let python = tool(
        "SHALE_TEST_PYTHON",
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/s3-venv/bin/python"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut env = creds_env().to_vec();
    env.extend_from_slice(node_env);
    let node = start(tmp.path(), &env);
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name);
    let out = run(
        Command::new(python)
            .arg(script)
            .env("S3_ENDPOINT", format!("http://{}", node.addr))
            .env("S3_ACCESS_KEY", ACCESS_KEY)
            .env("S3_SECRET_KEY", SECRET_KEY)
            .env("S3_SERVER_PID", node.child.id().to_string())
            .env("SHALE_BIN", env!("CARGO_BIN_EXE_shale")),
        name,
    );
    eprintln!("{out}");
}

/// Users and keys made with `shale admin`, used from boto3: isolation
/// between users, suspension, key removal at once, user and bucket
/// quotas (multipart included), the admin API for system users only.
#[test]
fn boto3_users_and_quotas() {
    boto3_script("boto3_users.py");
}

/// Object tagging and lifecycle configurations through boto3, valid and
/// invalid, and lifecycle rules taking effect (new and existing objects,
/// tag filters, rule removal, aborting incomplete uploads) on a test
/// clock.
#[test]
fn boto3_tagging_and_lifecycle() {
    boto3_script_with(
        "boto3_lifecycle.py",
        &[
            ("SHALE_TEST_CLOCK", "1"),
            ("SHALE_EXPIRY_INTERVAL_SECS", "0"),
        ],
    );
}

#[test]
fn boto3_suite() {
    boto3_script("boto3_suite.py");
}

/// Conditional reads (RFC 9110 precedence) and writes (`If-None-Match: *`,
/// `If-Match`), including racing conditional writers (exactly one wins);
/// CopyObject and UploadPartCopy, including a 1 GiB copy with the
/// server's memory flat.
#[test]
fn boto3_s3_depth() {
    boto3_script("boto3_depth.py");
}

fn write_tree(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (i, rel) in [
        "a.txt",
        "dir/b.bin",
        "dir/sub/c d.txt",
        "dir/sub/ü+%.dat",
        "empty",
    ]
    .iter()
    .enumerate()
    {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let len = if *rel == "empty" {
            0
        } else {
            1000 * (i + 1) * (i + 1) * 37
        };
        let data: Vec<u8> = (0..len).map(|j| (j * 31 + i) as u8).collect();
        std::fs::write(&p, data).unwrap();
        files.push(p);
    }
    files
}

#[test]
fn aws_cli_copies_100_mib_multipart_and_syncs_a_tree() {
    let aws = tool("SHALE_TEST_AWS", "aws");
    let tmp = tempfile::tempdir().unwrap();
    let node = start(&tmp.path().join("data"), &creds_env());
    let endpoint = format!("http://{}", node.addr);
    let aws_cmd = |args: &[&str]| {
        let mut c = Command::new(&aws);
        c.args(["--endpoint-url", &endpoint, "--region", "us-east-1"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_CONFIG_FILE", tmp.path().join("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", tmp.path().join("no-creds"))
            .env("AWS_PAGER", "");
        c
    };
    run(&mut aws_cmd(&["s3", "mb", "s3://cli-bucket"]), "aws s3 mb");
    let big = tmp.path().join("big.bin");
    let data: Vec<u8> = (0..100 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&big, &data).unwrap();
    run(
        &mut aws_cmd(&["s3", "cp", big.to_str().unwrap(), "s3://cli-bucket/big.bin"]),
        "aws s3 cp up",
    );
    let back = tmp.path().join("back.bin");
    run(
        &mut aws_cmd(&[
            "s3",
            "cp",
            "s3://cli-bucket/big.bin",
            back.to_str().unwrap(),
        ]),
        "aws s3 cp down",
    );
    assert!(
        std::fs::read(&back).unwrap() == data,
        "100 MiB round trip differs"
    );
    let head = run(
        &mut aws_cmd(&[
            "s3api",
            "head-object",
            "--bucket",
            "cli-bucket",
            "--key",
            "big.bin",
        ]),
        "head-object",
    );
    assert!(head.contains("\"ETag\": \"\\\""), "{head}");
    assert!(
        head.contains("-"),
        "a 100 MiB aws cli upload is multipart: {head}"
    );
    let src = tmp.path().join("tree");
    write_tree(&src);
    run(
        &mut aws_cmd(&["s3", "sync", src.to_str().unwrap(), "s3://cli-bucket/tree"]),
        "aws s3 sync up",
    );
    let dst = tmp.path().join("tree-back");
    run(
        &mut aws_cmd(&["s3", "sync", "s3://cli-bucket/tree", dst.to_str().unwrap()]),
        "aws s3 sync down",
    );
    for rel in [
        "a.txt",
        "dir/b.bin",
        "dir/sub/c d.txt",
        "dir/sub/ü+%.dat",
        "empty",
    ] {
        assert_eq!(
            std::fs::read(src.join(rel)).unwrap(),
            std::fs::read(dst.join(rel)).unwrap(),
            "{rel}"
        );
    }
    // A second sync has nothing to do.
    let again = run(
        &mut aws_cmd(&["s3", "sync", src.to_str().unwrap(), "s3://cli-bucket/tree"]),
        "aws s3 sync again",
    );
    assert!(!again.contains("upload:"), "{again}");
}

#[test]
fn rclone_copies_and_checks_a_tree() {
    let rclone = tool("SHALE_TEST_RCLONE", "rclone");
    let tmp = tempfile::tempdir().unwrap();
    let node = start(&tmp.path().join("data"), &creds_env());
    let src = tmp.path().join("tree");
    write_tree(&src);
    // The remote is configured through rclone's environment variables:
    // the inline `:s3,endpoint=http://host:port` form trips on the colon.
    let remote = "shale:rc-bucket/tree".to_string();
    let endpoint = format!("http://{}", node.addr);
    let rc = |args: &[&str]| {
        let mut c = Command::new(&rclone);
        // A CA bundle from the environment makes rclone refuse plain http.
        c.args(args)
            .env("RCLONE_CONFIG", tmp.path().join("rclone.conf"))
            .env("RCLONE_CONFIG_SHALE_TYPE", "s3")
            .env("RCLONE_CONFIG_SHALE_PROVIDER", "Other")
            .env("RCLONE_CONFIG_SHALE_ACCESS_KEY_ID", ACCESS_KEY)
            .env("RCLONE_CONFIG_SHALE_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("RCLONE_CONFIG_SHALE_ENDPOINT", &endpoint)
            .env("RCLONE_CONFIG_SHALE_REGION", "us-east-1")
            .env("RCLONE_CONFIG_SHALE_FORCE_PATH_STYLE", "true")
            .env_remove("AWS_CA_BUNDLE");
        c
    };
    run(&mut rc(&["mkdir", &remote]), "rclone mkdir");
    run(
        &mut rc(&["copy", src.to_str().unwrap(), &remote]),
        "rclone copy",
    );
    run(
        &mut rc(&["check", src.to_str().unwrap(), &remote]),
        "rclone check",
    );
    let dst = tmp.path().join("back");
    run(
        &mut rc(&["copy", &remote, dst.to_str().unwrap()]),
        "rclone copy back",
    );
    run(
        &mut rc(&["check", src.to_str().unwrap(), dst.to_str().unwrap()]),
        "rclone check local",
    );
}
