//! Running the Python client scripts (`tests/clients/*.py`, boto3 in the
//! venv `tools/test.sh` makes) against a node.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::server::{ACCESS_KEY, SECRET_KEY};

/// The Python with boto3: `SHALE_TEST_PYTHON`, else the venv.
pub fn python() -> PathBuf {
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

/// Runs `tests/clients/<script>` with `args` against the node at `addr`
/// (endpoint and test credentials in `S3_ENDPOINT`, `S3_ACCESS_KEY`,
/// `S3_SECRET_KEY`, plus `env`); fails the test with its output if the
/// script fails.
pub fn run_script(script: &str, args: &[&str], addr: SocketAddr, env: &[(&str, &OsStr)]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let mut cmd = Command::new(python());
    cmd.arg(path)
        .args(args)
        .env("S3_ENDPOINT", format!("http://{addr}"))
        .env("S3_ACCESS_KEY", ACCESS_KEY)
        .env("S3_SECRET_KEY", SECRET_KEY);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} {args:?} failed:\n{text}");
    eprintln!("{text}");
}
