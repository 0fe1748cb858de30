//! A metadata log commit abandoned at any await (an admin request whose
//! client left) leaves the store consistent: the entry, if it became
//! durable, is applied by the next commit before that one reads the
//! table, so markers follow on, later commits succeed, and a reopen
//! replays the log without a gap and shows what the table showed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shale::meta::mdlog::{MdOp, UserRecord};
use shale::meta::store::MetaStore;

mod common;

fn user(n: u32) -> MdOp {
    MdOp::UserPut(UserRecord {
        uid: format!("u{n}"),
        display_name: format!("User {n}"),
        ..UserRecord::default()
    })
}

#[test]
fn commits_dropped_mid_append_are_applied_by_the_next_commit() {
    for (name, io) in common::real_backends() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetaStore::open(&io, dir.path(), 1).unwrap();
        let mut dropped = 0;
        let table = io
            .block_on(async {
                for n in 0..40u32 {
                    let polls = (n as usize % 4) + 1;
                    let out =
                        common::poll_then_drop(store.commit(|_| Ok::<_, ()>(user(n))), polls).await;
                    if out.is_none() {
                        dropped += 1;
                    }
                    // The next commit always goes through.
                    store
                        .commit(|_| Ok::<_, ()>(user(1000 + n)))
                        .await
                        .unwrap()
                        .unwrap();
                    assert!(store.read(|t| t.users.contains_key(&format!("u{}", 1000 + n))));
                }
                store.table()
            })
            .unwrap();
        assert!(dropped > 0, "{name}: nothing was dropped");
        drop(store);
        let reopened = MetaStore::open(&io, dir.path(), 1).unwrap();
        assert_eq!(reopened.table().applied, table.applied, "{name}");
        let uids = |t: &shale::meta::table::MetaTable| t.users.keys().cloned().collect::<Vec<_>>();
        assert_eq!(uids(&reopened.table()), uids(&table), "{name}");
    }
}
