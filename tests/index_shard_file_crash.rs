//! The shard file survives crashes at every I/O: random transactions of
//! inserts and deletes are committed while the simulated disk fails a
//! random operation and then loses or tears every unsynced write. After
//! each reopen the tree equals the last acknowledged commit (or the one in
//! flight, if its meta became durable), and no page is both reachable and
//! free.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use shale::index::shard_file::ShardFile;
use shale::index::tree;
use shale::io::sim::{CrashMode, OpFilter};
use shale::io::{Io, SimDisk};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn contents(sf: &ShardFile) -> Model {
    tree::scan(sf, sf.root(), b"", usize::MAX)
        .unwrap()
        .into_iter()
        .collect()
}

fn check_pages(sf: &ShardFile) {
    let reachable: BTreeSet<u64> = tree::pages(sf, sf.root()).unwrap().into_iter().collect();
    let free: BTreeSet<u64> = sf.free_pages().iter().copied().collect();
    assert_eq!(
        free.len(),
        sf.free_pages().len(),
        "a page is listed free twice"
    );
    assert!(
        reachable.is_disjoint(&free),
        "a reachable page is on the free list"
    );
    let page_count = sf.meta().page_count;
    assert!(reachable
        .iter()
        .chain(&free)
        .all(|&p| (2..page_count).contains(&p)));
}

/// Applies one transaction; Err if an injected fault interrupted it.
fn transaction(
    sf: &mut ShardFile,
    model: &mut Model,
    ops: &[(u8, u16)],
    txn: u64,
) -> Result<(), String> {
    for &(k, n) in ops {
        let key = vec![b'k', k % 64, k];
        let value = (n % 5 != 0).then(|| vec![(txn % 251) as u8; usize::from(n % 300)]);
        let (root, _) =
            tree::upsert(sf, sf.root(), txn, &key, value.as_deref()).map_err(|e| e.to_string())?;
        sf.set_root(root);
        match value {
            Some(v) => model.insert(key, v),
            None => model.remove(&key),
        };
    }
    sf.commit().map(|_| ()).map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn crashes_at_any_io_leave_the_last_durable_commit(seed in any::<u64>(),
            txns in proptest::collection::vec((proptest::collection::vec((any::<u8>(), any::<u16>()), 1..40), proptest::option::of(1u64..60), any::<bool>()), 1..12)) {
        let disk = SimDisk::new(seed);
        let io = Io::sim(Arc::clone(&disk));
        io.create_dir_all(Path::new("/idx")).unwrap();
        let path = Path::new("/idx/shard-0000.idx");
        let mut sf = ShardFile::create(&io, path, 0, 11).unwrap();
        let mut committed = Model::new();
        for (i, (ops, fault_after, tear)) in txns.iter().enumerate() {
            let txn = i as u64 + 1;
            if let Some(n) = fault_after {
                disk.fail_nth(OpFilter::Any, *n, libc::EIO);
            }
            let mut working = committed.clone();
            let result = transaction(&mut sf, &mut working, ops, txn);
            disk.clear_faults();
            match result {
                Ok(()) => {
                    committed = working;
                    check_pages(&sf);
                    prop_assert_eq!(contents(&sf), committed.clone());
                }
                Err(_) => {
                    disk.crash(if *tear { CrashMode::Tear } else { CrashMode::DropUnsynced });
                    sf = ShardFile::open(&io, path).unwrap();
                    let now = contents(&sf);
                    // The meta of the failed commit may have become durable.
                    prop_assert!(now == committed || now == working, "state after crash is neither commit");
                    committed = now;
                    check_pages(&sf);
                }
            }
        }
        disk.crash(CrashMode::Tear);
        let sf = ShardFile::open(&io, path).unwrap();
        prop_assert_eq!(contents(&sf), committed);
        check_pages(&sf);
    }
}

#[test]
fn a_corrupt_free_list_or_both_metas_stop_the_open_with_the_reason() {
    let disk = SimDisk::new(1);
    let io = Io::sim(Arc::clone(&disk));
    io.create_dir_all(Path::new("/idx")).unwrap();
    let path = Path::new("/idx/s.idx");
    let mut sf = ShardFile::create(&io, path, 3, 11).unwrap();
    let mut model = Model::new();
    let ops: Vec<(u8, u16)> = (0..200u8).map(|k| (k, 101)).collect();
    transaction(&mut sf, &mut model, &ops, 1).unwrap();
    let deletes: Vec<(u8, u16)> = (0..150u8).map(|k| (k, 5)).collect();
    transaction(&mut sf, &mut model, &deletes, 2).unwrap();
    let meta = sf.meta();
    assert_ne!(meta.free_list, 0, "deletes left free pages");
    drop(sf);
    let f = io.open(path, shale::io::OpenMode::ReadWrite).unwrap();
    f.write_all_at_blocking(b"X", meta.free_list * 4096 + 100)
        .unwrap();
    let err = ShardFile::open(&io, path).err().unwrap().to_string();
    assert!(
        err.contains(&format!("free-list page {}", meta.free_list)),
        "{err}"
    );
    f.write_all_at_blocking(&[0u8; 8], 0).unwrap();
    f.write_all_at_blocking(&[0u8; 8], 4096).unwrap();
    let err = ShardFile::open(&io, path).err().unwrap().to_string();
    assert!(err.contains("no valid meta page"), "{err}");
}

#[test]
fn a_corrupt_tree_page_on_disk_is_an_error_not_data() {
    let disk = SimDisk::new(2);
    let io = Io::sim(Arc::clone(&disk));
    io.create_dir_all(Path::new("/idx")).unwrap();
    let path = Path::new("/idx/c.idx");
    let mut sf = ShardFile::create(&io, path, 0, 1).unwrap();
    let mut model = Model::new();
    transaction(&mut sf, &mut model, &[(1, 51), (2, 61)], 1).unwrap();
    let root = sf.root().unwrap();
    drop(sf);
    let f = io.open(path, shale::io::OpenMode::ReadWrite).unwrap();
    f.write_all_at_blocking(b"!", root * 4096 + 4000).unwrap();
    let sf = ShardFile::open(&io, path).unwrap();
    let err = tree::get(&sf, sf.root(), &[b'k', 1, 1]).unwrap_err();
    assert!(
        matches!(err, tree::TreeError::Page { id, .. } if id == root),
        "{err}"
    );
}
