//! A small filesystem (a tmpfs of 48 MiB) filled to the brim under PUT
//! load: writes are refused with 507 InsufficientStorage while a reserve
//! is still free — never a 500, never a half-stored object; every
//! acknowledged object reads back, also after a restart; deleting objects
//! and compacting gives the space back and writes succeed again.
//!
//! Needs to mount a tmpfs (root or CAP_SYS_ADMIN); where it cannot, the
//! test says so and does nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::server::{creds_env, start_with, stop, test_credentials, Node};
use shale::client::{PayloadMode, Request, S3Client};

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn boot(dir: &Path) -> Node {
    let mut env = creds_env().to_vec();
    env.push(("SHALE_STORAGE_RESERVE_MIB", "8"));
    env.push(("SHALE_COMPACTION_INTERVAL_SECS", "0"));
    env.push(("SHALE_COMPACTION_GRACE_SECS", "0"));
    env.push(("SHALE_SCRUB_INTERVAL_SECS", "0"));
    start_with(
        dir,
        &env,
        &["--segment-size-mib", "2", "--checkpoint-secs", "1"],
    )
}

fn body(i: usize) -> Vec<u8> {
    (0..256 * 1024).map(|j| (j * 3 + i * 11) as u8).collect()
}

#[test]
fn a_full_disk_refuses_writes_cleanly_and_recovers_after_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)");
        return;
    }
    let _mount = Mount(mnt.clone());
    let data = mnt.join("data");
    let node = boot(&data);
    let addr = node.addr;
    assert_eq!(
        S3Client::new(addr, test_credentials())
            .create_bucket("fill")
            .unwrap()
            .status,
        200
    );

    // Four writers until the disk is refused to each of them.
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let statuses: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, statuses) = (Arc::clone(&acked), Arc::clone(&statuses));
            std::thread::spawn(move || {
                let mut c = S3Client::new(addr, test_credentials());
                let mut refused = 0;
                for n in 0.. {
                    let i = w * 10_000 + n;
                    let r = c
                        .put_object("fill", &format!("o{i}"), &body(i), PayloadMode::Signed)
                        .unwrap();
                    if r.status == 200 {
                        acked.lock().unwrap().push(i);
                    } else {
                        statuses
                            .lock()
                            .unwrap()
                            .push((r.status, String::from_utf8_lossy(&r.body).into_owned()));
                        refused += 1;
                        if refused >= 3 {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let statuses = statuses.lock().unwrap().clone();
    assert!(acked.len() > 50, "only {} objects fit", acked.len());
    for (s, b) in &statuses {
        assert_eq!(*s, 507, "{b}");
        assert!(
            b.contains("InsufficientStorage") && b.contains("reserve"),
            "{b}"
        );
    }
    let free = shale::datadir::disk_space(&mnt).unwrap().1;
    assert!(
        free >= 4 << 20,
        "the reserve was eaten into: {free} bytes free"
    );

    // Reads, deletes and listings still work on the full disk.
    let mut c = S3Client::new(addr, test_credentials());
    for &i in acked.iter().step_by(7) {
        assert_eq!(
            c.get_object("fill", &format!("o{i}")).unwrap().body,
            body(i)
        );
    }
    let (ok, _) = stop(node);
    assert!(ok);
    let node = boot(&data);
    let addr = node.addr;
    let mut c = S3Client::new(addr, test_credentials());
    for &i in &acked {
        let r = c.get_object("fill", &format!("o{i}")).unwrap();
        assert_eq!(
            (r.status, r.body == body(i)),
            (200, true),
            "o{i} after a restart"
        );
    }
    // Delete most; compaction gives the space back; writes work again.
    let (gone, kept): (Vec<usize>, Vec<usize>) = acked.iter().partition(|i| *i % 5 != 0);
    for &i in &gone {
        assert_eq!(
            c.delete_object("fill", &format!("o{i}")).unwrap().status,
            204
        );
    }
    let r = c
        .send(
            "POST",
            "admin",
            "compact/run",
            Request::default(),
            PayloadMode::Signed,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let report: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        report["freed_bytes"].as_u64().unwrap() > 10 << 20,
        "{report}"
    );
    for n in 0..20 {
        let r = c
            .put_object("fill", &format!("again{n}"), &body(n), PayloadMode::Signed)
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    for &i in &kept {
        assert_eq!(
            c.get_object("fill", &format!("o{i}")).unwrap().body,
            body(i),
            "o{i}"
        );
    }
    let (ok, _) = stop(node);
    assert!(ok);
}
