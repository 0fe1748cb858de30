//! The metadata store on the simulator: commits with injected I/O errors
//! and power loss (dropped or torn unsynced writes). After every crash the
//! reopened table holds every acknowledged commit (and perhaps failed
//! ones, which were never acknowledged); nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use shale::io::sim::{CrashMode, OpFilter};
use shale::io::{Io, SimDisk};
use shale::meta::mdlog::{KeyRecord, MdOp, UserRecord};
use shale::meta::store::MetaStore;
use shale::meta::table::MetaTable;

const DIR: &str = "/data/meta";

fn user(n: u32) -> MdOp {
    MdOp::UserPut(UserRecord {
        uid: format!("u{n}"),
        display_name: format!("User {n}"),
        ..UserRecord::default()
    })
}

fn key(n: u32) -> MdOp {
    MdOp::KeyPut(KeyRecord {
        access_key: format!("AK{n:08}"),
        uid: format!("u{n}"),
        secret: format!("secret-{n}"),
    })
}

fn users(t: &MetaTable) -> Vec<String> {
    t.users.keys().cloned().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_commits_survive_faults_and_power_loss(
        seed in any::<u64>(),
        plan in prop::collection::vec((0u8..4, 1u32..40, any::<bool>()), 1..25),
    ) {
        let disk: Arc<SimDisk> = SimDisk::new(seed);
        let io = Io::sim(Arc::clone(&disk));
        let mut store = MetaStore::open(&io, Path::new(DIR), 1).unwrap();
        let mut acked: Vec<String> = Vec::new();
        let mut acked_keys: Vec<String> = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        for (i, (action, nth, tear)) in plan.into_iter().enumerate() {
            match action {
                // A fault armed for the next commit's I/O.
                0 => disk.fail_nth(OpFilter::Any, nth.into(), libc::EIO),
                // A crash: unsynced writes dropped or torn.
                1 => {
                    drop(store);
                    disk.clear_faults();
                    disk.crash(if tear { CrashMode::Tear } else { CrashMode::DropUnsynced });
                    store = MetaStore::open(&io, Path::new(DIR), 1).unwrap();
                    let t = store.table();
                    let got = users(&t);
                    // Every acknowledged user and key is there; others only
                    // from commits that failed.
                    for u in &acked {
                        prop_assert!(got.contains(u), "user {} lost", u);
                    }
                    for k in &acked_keys {
                        prop_assert!(t.keys.contains_key(k), "key {} lost", k);
                    }
                    for u in &got {
                        prop_assert!(acked.contains(u) || failed.contains(u), "user {} came from nowhere", u);
                    }
                    acked = got;
                    acked_keys = t.keys.keys().cloned().collect();
                }
                _ => {
                    let n = i as u32;
                    let r = io.block_on(store.commit(|_| Ok::<_, ()>(user(n)))).unwrap();
                    if matches!(r, Ok(Ok(_))) {
                        acked.push(format!("u{n}"));
                        let r = io.block_on(store.commit(|_| Ok::<_, ()>(key(n)))).unwrap();
                        if matches!(r, Ok(Ok(_))) {
                            acked_keys.push(format!("AK{n:08}"));
                        }
                    } else {
                        failed.push(format!("u{n}"));
                    }
                }
            }
        }
    }
}

#[test]
fn a_refused_commit_logs_nothing_and_the_table_reopens_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let store = MetaStore::open(&io, tmp.path(), 7).unwrap();
    let last = io
        .block_on(store.commit(|_| Ok::<_, String>(user(1))))
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(last, 1);
    io.block_on(store.commit(|_| Ok::<_, String>(key(1))))
        .unwrap()
        .unwrap()
        .unwrap();
    // The check sees the table and may refuse.
    let refused = io
        .block_on(store.commit(|t| {
            if t.users.contains_key("u1") {
                Err("u1 exists".to_string())
            } else {
                Ok(user(1))
            }
        }))
        .unwrap()
        .unwrap();
    assert_eq!(refused, Err("u1 exists".to_string()));
    io.block_on(store.commit(|_| Ok::<_, String>(MdOp::UserRemove { uid: "u1".into() })))
        .unwrap()
        .unwrap()
        .unwrap();
    let before = store.table();
    assert!(before.users.is_empty() && before.keys.is_empty());
    assert_eq!(before.applied, 3);
    drop(store);
    let again = MetaStore::open(&io, tmp.path(), 7).unwrap();
    assert_eq!(again.table(), before);
}
