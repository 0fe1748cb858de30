//! `shale serve` as an operator runs it: prints its address once it
//! accepts, refuses anonymous requests with S3 XML errors, creates 0600 root credentials (from
//! the environment when set), refuses a second process on the same data
//! dir, recovers a torn tail and refuses to start on corruption.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use shale::io::Io;
use shale::segment::{RecordKind, SegmentOptions, SegmentStore};

use common::server::{shale, start, stop};

fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_prints_its_address_and_refuses_anonymous_requests_in_s3_xml() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &[]);
    let resp = http(
        node.addr,
        "GET /bucket/key?list-type=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(resp
        .to_ascii_lowercase()
        .contains("content-type: application/xml"));
    assert!(resp.to_ascii_lowercase().contains("x-amz-request-id: "));
    assert!(resp.contains("<Code>AccessDenied</Code>"));
    assert!(resp.contains("<Resource>/bucket/key</Resource>"));
    // Keep-alive: two requests on one connection.
    let resp = http(
        node.addr,
        "PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcHEAD /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.matches("HTTP/1.1 403").count(), 2, "{resp}");
    let (ok, _) = stop(node);
    assert!(ok, "SIGTERM stops it cleanly");
}

#[test]
fn first_start_creates_0600_credentials_and_prints_them() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &[]);
    let path = tmp.path().join("root-credentials.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let creds: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let ak = creds["access_key"].as_str().unwrap().to_string();
    let sk = creds["secret_key"].as_str().unwrap().to_string();
    assert_eq!(ak.len(), 20);
    assert_eq!(sk.len(), 40);
    let banner = node.banner.join("\n");
    assert!(banner.contains(&ak) && banner.contains(&sk), "{banner}");
    stop(node);
    // A restart keeps them and does not print the secret again.
    let node = start(tmp.path(), &[]);
    let banner = node.banner.join("\n");
    assert!(banner.contains(&ak) && !banner.contains(&sk), "{banner}");
}

#[test]
fn environment_sets_the_credentials_of_a_new_data_dir_only() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [
        ("SHALE_ROOT_ACCESS_KEY", "TESTACCESSKEY"),
        ("SHALE_ROOT_SECRET_KEY", "test-secret-key-123"),
    ];
    let node = start(tmp.path(), &env);
    stop(node);
    let creds = std::fs::read_to_string(tmp.path().join("root-credentials.json")).unwrap();
    assert!(creds.contains("TESTACCESSKEY") && creds.contains("test-secret-key-123"));
    let node = start(
        tmp.path(),
        &[
            ("SHALE_ROOT_ACCESS_KEY", "OTHERKEY"),
            ("SHALE_ROOT_SECRET_KEY", "other-secret-123"),
        ],
    );
    let (_, err) = stop(node);
    assert!(err.contains("ignored"), "{err}");
    let creds = std::fs::read_to_string(tmp.path().join("root-credentials.json")).unwrap();
    assert!(creds.contains("TESTACCESSKEY"));
}

#[test]
fn bad_environment_credentials_are_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let out = shale()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .env("SHALE_ROOT_ACCESS_KEY", "a b")
        .env("SHALE_ROOT_SECRET_KEY", "short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SHALE_ROOT_ACCESS_KEY"), "{err}");
}

#[test]
fn a_second_process_on_the_same_data_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let _node = start(tmp.path(), &[]);
    let out: Output = shale()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another shale process"));
}

fn write_records(data_dir: &Path, n: u64) -> Vec<shale::segment::RecordLoc> {
    let io = Io::portable();
    let (store, _) = SegmentStore::open(
        io.clone(),
        &data_dir.join("segments"),
        SegmentOptions::default(),
    )
    .unwrap();
    let locs = io
        .block_on(async {
            let mut v = Vec::new();
            for i in 0..n {
                v.push(
                    store
                        .append(RecordKind::DataChunk, common::payload(1, i, 500))
                        .await
                        .unwrap(),
                );
            }
            v
        })
        .unwrap();
    locs
}

#[test]
fn serve_truncates_a_torn_tail_and_says_where() {
    let tmp = tempfile::tempdir().unwrap();
    let locs = write_records(tmp.path(), 4);
    let seg = tmp.path().join("segments/0000000000000001.seg");
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .write_all_at(b"SREC\x01garbage", len)
        .unwrap();
    let node = start(tmp.path(), &[]);
    let (_, err) = stop(node);
    assert!(err.contains("truncated the torn tail"), "{err}");
    assert!(err.contains(&format!("offset {len}")), "{err}");
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len);
    assert_eq!(locs.len(), 4);
}

#[test]
fn serve_refuses_to_start_on_corruption_and_names_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let locs = write_records(tmp.path(), 4);
    let seg = tmp.path().join("segments/0000000000000001.seg");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .write_all_at(b"X", locs[1].offset + 40)
        .unwrap();
    let before = std::fs::read(&seg).unwrap();
    let out = shale()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0000000000000001.seg"), "{err}");
    assert!(err.contains(&format!("offset {}", locs[1].offset)), "{err}");
    assert_eq!(std::fs::read(&seg).unwrap(), before, "nothing was changed");
}

#[test]
fn every_subcommand_explains_itself() {
    for sub in [
        &["serve", "--help"][..],
        &["fsck", "--help"],
        &["inspect", "segment", "--help"],
        &["--help"],
    ] {
        let out = shale().args(sub).output().unwrap();
        assert!(out.status.success(), "{sub:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage"), "{sub:?}: {text}");
        if sub.len() > 1 {
            assert!(text.contains("Example"), "{sub:?}: {text}");
        }
    }
}

#[test]
fn sigterm_right_after_the_listening_line_stops_cleanly() {
    // Regression: the signal used to arrive before its handler existed.
    for _ in 0..5 {
        let tmp = tempfile::tempdir().unwrap();
        let node = start(tmp.path(), &[]);
        let (ok, err) = stop(node);
        assert!(ok, "{err}");
        assert!(err.contains("SIGTERM: stopping"), "{err}");
    }
}
