//! `shale-bench` against the real server: every operation runs for a
//! second at small sizes and reports operations and no errors in its JSON
//! line (GETs are checked byte for byte, lists key for key, so a wrong
//! answer counts as an error), cleans up after itself, and a wrong secret
//! key fails the run with the S3 code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use common::server::{client, creds_env, start, ACCESS_KEY, SECRET_KEY};

/// Runs shale-bench with `args`, 4 workers, JSON out, for 1 s unless
/// `args` say otherwise.
fn bench(addr: std::net::SocketAddr, secret: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shale-bench"));
    cmd.args(args).args(["--concurrency", "4", "--json"]);
    if !args.contains(&"--duration") {
        cmd.args(["--duration", "1s"]);
    }
    cmd.env("SHALE_BENCH_ENDPOINT", format!("http://{addr}"))
        .env("SHALE_BENCH_ACCESS_KEY", ACCESS_KEY)
        .env("SHALE_BENCH_SECRET_KEY", secret)
        .output()
        .unwrap()
}

/// Runs a case that must succeed; its JSON report.
fn run_ok(addr: std::net::SocketAddr, args: &[&str]) -> serde_json::Value {
    let out = bench(addr, SECRET_KEY, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{args:?}: {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one JSON line: {stdout}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert!(v["ops"].as_u64().unwrap() > 0, "{args:?}: {v}");
    assert_eq!(v["errors"].as_u64(), Some(0), "{args:?}: {v}");
    for op in v["operations"].as_array().unwrap() {
        assert_eq!(op["errors"].as_u64(), Some(0), "{args:?}: {op}");
        assert!(
            op["latency_us"]["max"].as_u64().unwrap() >= op["latency_us"]["p50"].as_u64().unwrap()
        );
    }
    v
}

#[test]
fn every_operation_runs_clean_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(&tmp.path().join("data"), &creds_env());
    let addr = node.addr;
    let cases: &[&[&str]] = &[
        &["put", "--size", "4KiB"],
        &["put", "--size", "100KiB", "--payload", "signed"],
        &["put", "--size", "1KiB", "--payload", "unsigned"],
        &["get", "--size", "64KiB", "--objects", "20"],
        &["stat", "--size", "1KiB", "--objects", "20"],
        &[
            "delete",
            "--size",
            "1KiB",
            "--objects",
            "200",
            "--batch",
            "25",
        ],
        &["list", "--size", "1B", "--objects", "1500"],
        &["mixed", "--size", "8KiB", "--objects", "30"],
        &["multipart", "--size", "6MiB", "--part-size", "5MiB"],
    ];
    for args in cases {
        let v = run_ok(addr, &[args, &["--bucket", "bench"][..]].concat());
        let op = args[0];
        let kinds: Vec<&str> = v["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["op"].as_str().unwrap())
            .collect();
        match op {
            "mixed" => assert!(kinds.contains(&"GET") && kinds.contains(&"STAT"), "{v}"),
            "stat" => assert_eq!(kinds, ["STAT"]),
            "multipart" => {
                assert_eq!(kinds, ["MULTIPART"]);
                let mib = v["operations"][0]["mib_per_sec"].as_f64().unwrap();
                assert!(mib > 0.0, "{v}");
            }
            other => assert_eq!(kinds, [other.to_ascii_uppercase()]),
        }
        if op == "list" {
            // Each listing walks all 1500 keys (two pages).
            let o = &v["operations"][0];
            assert_eq!(
                o["objects"].as_u64().unwrap(),
                o["ops"].as_u64().unwrap() * 1500
            );
        }
        if op == "delete" {
            assert_eq!(v["operations"][0]["objects"].as_u64(), Some(200), "{v}");
        }
        if op != "put" && op != "multipart" {
            assert!(v["prepared"].as_u64().unwrap() > 0, "{v}");
        }
    }
    // Everything the runs wrote is gone.
    let left = client(addr).list_all("bench", "").unwrap().unwrap();
    assert!(
        left.is_empty(),
        "{} keys left, e.g. {:?}",
        left.len(),
        left.first()
    );
}

#[test]
fn keep_leaves_the_objects_and_put_can_stop_at_a_count() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(&tmp.path().join("data"), &creds_env());
    let v = run_ok(
        node.addr,
        &[
            "put",
            "--bucket",
            "kept",
            "--size",
            "1KiB",
            "--objects",
            "37",
            "--keep",
            "--duration",
            "0",
        ],
    );
    assert_eq!(v["ops"].as_u64(), Some(37), "{v}");
    let prefix = format!("{}/", v["prefix"].as_str().unwrap());
    let left = client(node.addr)
        .list_all("kept", &prefix)
        .unwrap()
        .unwrap();
    assert_eq!(left.len(), 37);
}

#[test]
fn list_walks_an_existing_prefix_with_or_without_a_delimiter() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(&tmp.path().join("data"), &creds_env());
    let fill = |prefix: &str, n: &str| {
        let v = run_ok(
            node.addr,
            &[
                "put",
                "--bucket",
                "tree",
                "--prefix",
                prefix,
                "--size",
                "0B",
                "--objects",
                n,
                "--duration",
                "0",
                "--keep",
            ],
        );
        assert_eq!(v["prefix"].as_str(), Some(prefix), "{v}");
    };
    // d/ holds 1100 keys (two pages) and two "directories" of 20 keys.
    fill("d", "1100");
    fill("d/s1", "20");
    fill("d/s2", "20");
    let list = |prefix: &str, extra: &[&str]| {
        let args = [
            &["list", "--bucket", "tree", "--existing-prefix", prefix][..],
            extra,
        ]
        .concat();
        let v = run_ok(node.addr, &args);
        assert_eq!(v["prepared"].as_u64(), Some(0), "{v}");
        assert_eq!(v["cleaned_up"].as_u64(), Some(0), "{v}");
        let o = &v["operations"][0];
        let per_walk = o["objects"].as_u64().unwrap() / o["ops"].as_u64().unwrap();
        (v["list_prefix"].as_str().unwrap().to_owned(), per_walk)
    };
    // The whole bucket, checked against --objects.
    assert_eq!(list("", &["--objects", "1140"]), ("".into(), 1140));
    // A directory listing: d/'s 1100 keys and its 2 common prefixes.
    assert_eq!(
        list("d/", &["--delimiter", "/", "--objects", "1102"]),
        ("d/".into(), 1102)
    );
    assert_eq!(list("d/s1/", &["--delimiter", "/"]).1, 20);
    // A wrong count fails the run.
    let out = bench(
        node.addr,
        SECRET_KEY,
        &[
            "list",
            "--bucket",
            "tree",
            "--existing-prefix",
            "d/",
            "--delimiter",
            "/",
            "--objects",
            "1140",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("1102 entries, expected 1140"), "{stderr}");
    // Listing wrote and removed nothing.
    let left = client(node.addr).list_all("tree", "").unwrap().unwrap();
    assert_eq!(left.len(), 1140);
}

#[test]
fn a_wrong_secret_key_fails_with_the_s3_code() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(&tmp.path().join("data"), &creds_env());
    let out = bench(node.addr, "not-the-secret-key", &["put", "--size", "1KiB"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("SignatureDoesNotMatch"), "stderr: {stderr}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_shale-bench"))
            .args(args)
            .args([
                "--endpoint",
                "http://127.0.0.1:9",
                "--access-key",
                "a",
                "--secret-key",
                "b",
            ])
            .output()
            .unwrap()
    };
    for (args, says) in [
        (&["put", "--size", "4XB"][..], "unknown unit"),
        (&["get", "--duration", "10"][..], "give a unit"),
        (&["put", "--duration", "0"][..], "needs --objects"),
        (
            &["multipart", "--size", "20MiB", "--part-size", "1MiB"][..],
            "5 MiB",
        ),
        (&["delete", "--batch", "5000"][..], "--batch"),
        (&["put", "--concurrency", "0"][..], "--concurrency"),
        (&["put", "--prefix", "a/"][..], "--prefix"),
        (&["list", "--delimiter", ""][..], "--delimiter"),
        (&["stat", "--plain-http"][..], "--plain-http"),
        (&["frobnicate"][..], "unrecognized subcommand"),
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
