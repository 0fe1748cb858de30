//! `shale fsck` and `shale inspect segment` on clean, torn and corrupt data
//! dirs: they report for a person and as JSON, --repair fixes a torn tail,
//! and corruption is reported and never deleted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Output};

use shale::io::Io;
use shale::segment::{RecordKind, RecordLoc, SegmentOptions, SegmentStore};

fn shale(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shale"))
        .args(args)
        .arg(dir)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A data dir with several sealed segments and an active one.
fn data_dir() -> (tempfile::TempDir, Vec<RecordLoc>) {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let opts = SegmentOptions {
        segment_size_bytes_max: 8 * 1024,
        ..SegmentOptions::default()
    };
    let (store, _) = SegmentStore::open(io.clone(), &tmp.path().join("segments"), opts).unwrap();
    let locs = io
        .block_on(async {
            let mut v = Vec::new();
            for i in 0..40 {
                v.push(
                    store
                        .append(RecordKind::DataChunk, common::payload(2, i, 700))
                        .await
                        .unwrap(),
                );
            }
            v
        })
        .unwrap();
    (tmp, locs)
}

fn seg(dir: &Path, id: u64) -> std::path::PathBuf {
    shale::segment::segment_path(&dir.join("segments"), id)
}

#[test]
fn fsck_of_a_clean_dir_says_clean() {
    let (tmp, locs) = data_dir();
    let out = shale(&["fsck"], tmp.path());
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("result: clean"));
    let out = shale(&["fsck", "--json"], tmp.path());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["clean"], true);
    let records: u64 = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["records"].as_u64().unwrap())
        .sum();
    assert_eq!(records, locs.len() as u64);
    assert!(v["segments"].as_array().unwrap().len() > 3);
}

#[test]
fn fsck_repair_truncates_a_torn_tail() {
    let (tmp, locs) = data_dir();
    let last = locs.last().unwrap().segment;
    let path = seg(tmp.path(), last);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(&[0xEE; 100], len)
        .unwrap();
    let out = shale(&["fsck"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("TORN"), "{}", stdout(&out));
    assert!(stdout(&out).contains("--repair"));
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        len + 100,
        "plain fsck changes nothing"
    );
    let out = shale(&["fsck", "--repair"], tmp.path());
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    assert!(shale(&["fsck"], tmp.path()).status.success());
}

#[test]
fn fsck_reports_corruption_in_a_sealed_segment_and_repair_deletes_nothing() {
    let (tmp, locs) = data_dir();
    let victim = locs[3];
    let path = seg(tmp.path(), victim.segment);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(b"!", victim.offset + 100)
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    for args in [&["fsck"][..], &["fsck", "--repair"]] {
        let out = shale(args, tmp.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let text = stdout(&out);
        assert!(text.contains("CORRUPT"), "{text}");
        assert!(
            text.contains(&format!("offset {}", victim.offset)),
            "{text}"
        );
        assert!(text.contains("cannot be repaired"), "{text}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let out = shale(&["fsck", "--json"], tmp.path());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["clean"], false);
    assert_eq!(v["problems_remaining"], 1);
}

#[test]
fn inspect_segment_lists_records_for_people_and_scripts() {
    let (tmp, locs) = data_dir();
    let path = seg(tmp.path(), 1);
    let out = shale(&["inspect", "segment"], &path);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("segment 0000000000000001"), "{text}");
    assert!(text.contains("sealed"), "{text}");
    assert!(text.contains("tail: clean"), "{text}");
    let in_first = locs.iter().filter(|l| l.segment == 1).count();
    let data_lines = text
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("data"))
        .count();
    assert_eq!(data_lines, in_first, "{text}");
    let out = shale(&["inspect", "segment", "--json"], &path);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["record_count"].as_u64().unwrap() as usize, in_first);
    assert_eq!(v["records"][0]["offset"], 64);
    assert_eq!(
        v["records"].as_array().unwrap().last().unwrap()["kind"],
        "seal"
    );
    assert_eq!(v["tail"]["state"], "clean");
}

#[test]
fn inspect_of_a_file_that_is_not_a_segment_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.seg");
    std::fs::write(
        &path,
        b"this is not a segment file at all, it is text.............................",
    )
    .unwrap();
    let out = shale(&["inspect", "segment"], &path);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad magic"), "{err}");
}
