//! The scrub reads every record and index page back and verifies it: a
//! clean data dir gives no findings; a bit flipped by the test in a
//! sealed segment is found (file and offset), counted, listed through the
//! admin API and `shale admin scrub status`, and the damaged object's GET
//! is an error — never wrong bytes — while the others read fine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::process::Command;
use std::time::Duration;

use common::server::{creds_env, start_with, test_credentials, ACCESS_KEY, SECRET_KEY};
use shale::client::{PayloadMode, Request, S3Client};

fn admin(addr: SocketAddr, method: &str, path: &str) -> serde_json::Value {
    let mut c = S3Client::new(addr, test_credentials());
    let r = c
        .send(
            method,
            "admin",
            path,
            Request::default(),
            PayloadMode::Signed,
        )
        .unwrap();
    assert!(r.status < 300, "{}", String::from_utf8_lossy(&r.body));
    serde_json::from_slice(&r.body).unwrap()
}

/// Starts a pass and waits for it; its report.
fn scrub(addr: SocketAddr) -> serde_json::Value {
    let before = admin(addr, "GET", "scrub")["passes"].as_u64().unwrap();
    admin(addr, "POST", "scrub/run");
    for _ in 0..3000 {
        let s = admin(addr, "GET", "scrub");
        if s["passes"].as_u64().unwrap() > before && !s["running"].as_bool().unwrap() {
            return s["last"].clone();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the scrub pass did not finish");
}

fn body(i: u8) -> Vec<u8> {
    vec![0xA0 | (i & 0x0F); 256 * 1024]
}

#[test]
fn a_flipped_bit_is_found_and_its_object_fails_to_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut env = creds_env().to_vec();
    env.push(("SHALE_SCRUB_INTERVAL_SECS", "0"));
    let node = start_with(tmp.path(), &env, &["--segment-size-mib", "1"]);
    let addr = node.addr;
    let mut c = S3Client::new(addr, test_credentials());
    assert_eq!(c.create_bucket("scrubbed").unwrap().status, 200);
    for i in 0..12u8 {
        let r = c
            .put_object("scrubbed", &format!("k{i}"), &body(i), PayloadMode::Signed)
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let clean = scrub(addr);
    assert_eq!(clean["findings"], serde_json::json!([]), "{clean}");
    assert!(clean["segments"].as_u64().unwrap() >= 3, "{clean}");
    assert!(clean["records"].as_u64().unwrap() >= 24, "{clean}");
    assert!(
        clean["bytes"].as_u64().unwrap() >= 12 * 256 * 1024,
        "{clean}"
    );
    assert!(clean["index_pages"].as_u64().unwrap() > 0, "{clean}");

    // Flip one bit in the middle of k3's data, in the first (sealed) segment
    // that holds it.
    let seg_dir = tmp.path().join("segments");
    let mut segs: Vec<_> = std::fs::read_dir(&seg_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let pattern = vec![0xA3u8; 4096];
    let (path, at) = segs[..segs.len() - 1]
        .iter()
        .find_map(|p| {
            let b = std::fs::read(p).unwrap();
            b.windows(pattern.len())
                .position(|w| w == pattern.as_slice())
                .map(|i| (p.clone(), i + 1000))
        })
        .expect("k3's data in a sealed segment");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut byte = [0u8; 1];
    f.read_exact_at(&mut byte, at as u64).unwrap();
    f.write_all_at(&[byte[0] ^ 0x10], at as u64).unwrap();
    f.sync_all().unwrap();

    let found = scrub(addr);
    let findings = found["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{found}");
    assert_eq!(findings[0]["kind"], "segment");
    assert_eq!(findings[0]["location"], path.display().to_string());
    assert!(findings[0]["offset"].as_u64().unwrap() <= at as u64);
    // The CLI shows it too.
    let out = Command::new(env!("CARGO_BIN_EXE_shale"))
        .args([
            "admin",
            "--endpoint",
            &format!("http://{addr}"),
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
            "scrub",
            "status",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&path.display().to_string()),
        "{text}"
    );

    // The damaged object is an error (its record fails its CRC before
    // the response starts), never other bytes.
    let r = c.get_object("scrubbed", "k3").unwrap();
    assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("InternalError"));
    for i in [0u8, 5, 11] {
        let r = c.get_object("scrubbed", &format!("k{i}")).unwrap();
        assert_eq!((r.status, r.body == body(i)), (200, true), "k{i}");
    }
}
