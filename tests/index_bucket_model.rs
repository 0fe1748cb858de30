//! The bucket index against a model: random puts, versioned puts, delete
//! markers, version deletes, deletes, listings, checkpoints, reshards,
//! injected I/O failures at any operation and simulated power loss. Each
//! write is the full three-step transaction, with a real head record in a
//! segment store between prepare and complete. After every restart (and
//! the listing that resolves what a crash left pending) the index equals
//! the model of acknowledged operations — plus, for an operation that
//! failed, possibly that operation — its stats match, and every listed
//! entry points at a head record that exists and names it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use shale::index::bucket::{BucketIndex, BucketIndexOptions, ListMode};
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;
use shale::index::listing::ListParams;
use shale::io::sim::{CrashMode, OpFilter};
use shale::io::{Io, SimDisk};
use shale::segment::format::RecordKind;
use shale::segment::{SegmentOptions, SegmentStore};

use common::heads::{self, StoreResolver};

const KEYS: u8 = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Put(u64),
    PutVersion(Option<u64>), // None: a delete marker
    DeleteVersion(u8),       // index into the key's versions (or a missing id)
    Delete,
}

#[derive(Clone, Debug)]
enum Op {
    Write(u8, Write),
    Checkpoint,
    Reshard(u32),
    Crash(bool),
    FailAt(OpFilter, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let w = prop_oneof![
        3 => (1u64..1000).prop_map(Write::Put),
        3 => (1u64..1000).prop_map(|n| Write::PutVersion(Some(n))),
        1 => Just(Write::PutVersion(None)),
        2 => (0u8..4).prop_map(Write::DeleteVersion),
        1 => Just(Write::Delete),
    ];
    prop_oneof![
        12 => ((0..KEYS), w).prop_map(|(k, w)| Op::Write(k, w)),
        1 => Just(Op::Checkpoint),
        1 => (2u32..6).prop_map(Op::Reshard),
        1 => any::<bool>().prop_map(Op::Crash),
        2 => (prop_oneof![Just(OpFilter::Any), Just(OpFilter::Write), Just(OpFilter::Sync)], 1u64..12)
            .prop_map(|(f, n)| Op::FailAt(f, n)),
    ]
}

/// A key: unversioned (size) or versioned (id -> size, None = delete
/// marker; and the current id).
#[derive(Clone, Debug, PartialEq, Eq)]
enum KeyModel {
    Plain(u64),
    /// Versions (size, or `None` for a delete marker), the current one,
    /// and when each was written (the op's sequence number; 0 for an
    /// unversioned object kept as the null version).
    Versioned(BTreeMap<u128, Option<u64>>, u128, BTreeMap<u128, u128>),
}

type Model = BTreeMap<u8, KeyModel>;

fn name(k: u8) -> Vec<u8> {
    format!("obj/{k}").into_bytes()
}

fn vid(id: u128) -> [u8; 16] {
    id.to_be_bytes()
}

/// The version id a DeleteVersion(i) targets in the model's state.
fn target_version(m: &Model, k: u8, i: u8) -> u128 {
    match m.get(&k) {
        Some(KeyModel::Versioned(vs, _, _)) => vs
            .keys()
            .rev()
            .nth(usize::from(i))
            .copied()
            .unwrap_or(999_999),
        Some(KeyModel::Plain(_)) if i == 0 => 0,
        _ => 999_999,
    }
}

fn apply(m: &mut Model, k: u8, w: Write, new_vid: u128) {
    let delete_version = |m: &mut Model, id: u128| match m.get_mut(&k) {
        Some(KeyModel::Plain(_)) if id == 0 => {
            m.remove(&k);
        }
        Some(KeyModel::Versioned(vs, cur, written)) => {
            vs.remove(&id);
            written.remove(&id);
            if *cur == id {
                // The most recently written of the rest becomes current.
                match vs
                    .keys()
                    .max_by_key(|v| (written.get(v).copied().unwrap_or(0), **v))
                {
                    Some(n) => *cur = *n,
                    None => {
                        m.remove(&k);
                    }
                }
            }
        }
        _ => {}
    };
    match w {
        Write::Put(n) => match m.get_mut(&k) {
            Some(KeyModel::Versioned(vs, cur, written)) => {
                vs.insert(0, Some(n));
                written.insert(0, new_vid);
                *cur = 0;
            }
            _ => {
                m.insert(k, KeyModel::Plain(n));
            }
        },
        Write::PutVersion(n) => {
            let (mut vs, mut written) = match m.remove(&k) {
                Some(KeyModel::Plain(s)) => {
                    (BTreeMap::from([(0, Some(s))]), BTreeMap::from([(0, 0)]))
                }
                Some(KeyModel::Versioned(vs, _, written)) => (vs, written),
                None => (BTreeMap::new(), BTreeMap::new()),
            };
            vs.insert(new_vid, n);
            written.insert(new_vid, new_vid);
            m.insert(k, KeyModel::Versioned(vs, new_vid, written));
        }
        Write::DeleteVersion(i) => {
            let id = target_version(m, k, i);
            delete_version(m, id);
        }
        Write::Delete => match m.get(&k) {
            Some(KeyModel::Versioned(..)) => delete_version(m, 0),
            _ => {
                m.remove(&k);
            }
        },
    }
}

/// (current listing, version listing, stats) the model implies.
type Observed = (
    Vec<(Vec<u8>, u64)>,
    Vec<(Vec<u8>, u128, Option<u64>)>,
    (u64, u64),
);

fn expected(m: &Model) -> Observed {
    let mut cur = Vec::new();
    let mut vers = Vec::new();
    let (mut objects, mut bytes) = (0, 0);
    for (k, km) in m {
        match km {
            KeyModel::Plain(s) => {
                cur.push((name(*k), *s));
                vers.push((name(*k), 0, Some(*s)));
                objects += 1;
                bytes += s;
            }
            KeyModel::Versioned(vs, c, _) => {
                if let Some(Some(s)) = vs.get(c) {
                    cur.push((name(*k), *s));
                }
                for (id, s) in vs.iter().rev() {
                    vers.push((name(*k), *id, *s));
                    if let Some(s) = s {
                        objects += 1;
                        bytes += s;
                    }
                }
            }
        }
    }
    // Listing order is byte order of the names.
    cur.sort();
    vers.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    (cur, vers, (objects, bytes))
}

struct Node {
    index: BucketIndex,
    store: SegmentStore,
}

const INDEX_DIR: &str = "/data/index/b1";
const STORE_DIR: &str = "/data/segments";

fn open(io: &Io) -> Node {
    let index = BucketIndex::open_standalone(
        io,
        Path::new(INDEX_DIR),
        BucketIndexOptions {
            shards: 3,
            reshard_threshold: u64::MAX,
            zone: 1,
            // Fewer than the shards: idle shards are closed and reopened
            // while the model runs.
            open_shards_max: 2,
        },
    )
    .unwrap();
    let (store, _) =
        SegmentStore::open(io.clone(), Path::new(STORE_DIR), SegmentOptions::default()).unwrap();
    Node { index, store }
}

async fn write(node: &Node, m: &Model, k: u8, w: Write, new_vid: u128) -> Result<(), String> {
    let key = name(k);
    let (target, entry) = match w {
        Write::Put(n) => (
            SortKey::Head { key: key.clone() },
            Some(IndexEntry {
                size: n,
                ..IndexEntry::default()
            }),
        ),
        Write::PutVersion(n) => (
            SortKey::Version {
                key: key.clone(),
                version: vid(new_vid),
            },
            Some(IndexEntry {
                size: n.unwrap_or(0),
                delete_marker: n.is_none(),
                version_id: vid(new_vid),
                ..IndexEntry::default()
            }),
        ),
        Write::DeleteVersion(i) => (
            SortKey::Version {
                key: key.clone(),
                version: vid(target_version(m, k, i)),
            },
            None,
        ),
        Write::Delete => (SortKey::Head { key: key.clone() }, None),
    };
    let entry = entry.map(|e| IndexEntry {
        mtime_nanos: shale::clock::now_nanos(),
        ..e
    });
    let txn = node.index.prepare(&key).await.map_err(|e| e.to_string())?;
    let payload = heads::encode(txn.tag(), &target, entry.as_ref());
    match node.store.append(RecordKind::ObjectHead, payload).await {
        Ok(loc) => {
            let entry = entry.map(|e| IndexEntry { head: loc, ..e });
            node.index
                .complete(txn, target, entry)
                .await
                .map_err(|e| e.to_string())
        }
        Err(err) => {
            let _ = node.index.cancel(txn).await;
            Err(err.to_string())
        }
    }
}

/// Lists everything (resolving pending entries from the store) and checks
/// every listed entry's head record.
async fn observe(node: &Node, io: &Io) -> Result<Observed, String> {
    let resolver = StoreResolver::scan(io, Path::new(STORE_DIR))?;
    let mut cur = Vec::new();
    let mut params = ListParams {
        max_keys: 3,
        ..ListParams::default()
    };
    loop {
        let page = node
            .index
            .list(&params, ListMode::Current, Some(&resolver))
            .await
            .map_err(|e| e.to_string())?;
        for (k, e) in &page.items {
            check_head(node, k, e).await?;
            cur.push((k.clone(), e.size));
        }
        if !page.truncated {
            break;
        }
        params.start_after = page.next_marker;
    }
    let params = ListParams {
        max_keys: 1000,
        ..ListParams::default()
    };
    let page = node
        .index
        .list(&params, ListMode::Versions, Some(&resolver))
        .await
        .map_err(|e| e.to_string())?;
    let mut vers = Vec::new();
    for (k, e) in &page.items {
        check_head(node, k, e).await?;
        let id = u128::from_be_bytes(e.version_id);
        vers.push((k.clone(), id, (!e.delete_marker).then_some(e.size)));
    }
    Ok((cur, vers, node.index.stats()))
}

/// A read error is returned: an injected fault, for the caller to look
/// again without faults (a head that is really missing fails that second
/// look); a head of another key fails the test.
async fn check_head(node: &Node, key: &[u8], e: &IndexEntry) -> Result<(), String> {
    let rec = node
        .store
        .read(e.head)
        .await
        .map_err(|err| format!("reading the head of {key:?}: {err}"))?;
    let (_, target, _) = heads::decode(&rec.payload);
    assert_eq!(target.object_key(), key, "head record of another key");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn index_equals_the_model_of_acknowledged_operations(
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let disk: Arc<SimDisk> = SimDisk::new(seed);
        let io = Io::sim(Arc::clone(&disk));
        let mut node = open(&io);
        let mut model: Model = BTreeMap::new();
        let mut next_vid: u128 = 1;
        for op in ops {
            let mut failed: Option<Model> = None; // the model if a failed op took effect
            let mut crash: Option<bool> = None;
            match &op {
                Op::Write(k, w) => {
                    next_vid += 1;
                    let r = io.block_on(write(&node, &model, *k, *w, next_vid)).unwrap();
                    let mut with = model.clone();
                    apply(&mut with, *k, *w, next_vid);
                    match r {
                        Ok(()) => model = with,
                        Err(_) => {
                            failed = Some(with);
                            crash = Some(true);
                        }
                    }
                }
                Op::Checkpoint => {
                    if io.block_on(node.index.checkpoint()).unwrap().is_err() {
                        crash = Some(true);
                    }
                }
                Op::Reshard(to) => {
                    if io.block_on(node.index.reshard(*to)).unwrap().is_err() {
                        crash = Some(true);
                    }
                }
                Op::Crash(tear) => crash = Some(*tear),
                Op::FailAt(f, n) => {
                    // Armed for the operations that follow.
                    disk.fail_nth(*f, *n, libc::EIO);
                    continue;
                }
            }
            let Some(tear) = crash else {
                // Without a crash, what is acknowledged is visible at once.
                let got = match io.block_on(observe(&node, &io)).unwrap() {
                    Ok(got) => got,
                    Err(_) => {
                        // An injected fault hit the listing's own reads.
                        disk.clear_faults();
                        io.block_on(observe(&node, &io)).unwrap().unwrap()
                    }
                };
                prop_assert_eq!(got, expected(&model));
                continue;
            };
            drop(node);
            disk.clear_faults();
            disk.crash(if tear { CrashMode::Tear } else { CrashMode::DropUnsynced });
            node = open(&io);
            let got = io.block_on(observe(&node, &io)).unwrap().unwrap();
            match failed {
                Some(with) if got == expected(&with) => model = with,
                _ => prop_assert_eq!(&got, &expected(&model), "after restart ({:?})", op),
            }
            // The listing resolved whatever the crash left pending: a
            // second look is the same, and nothing is pending any more.
            let again = io.block_on(observe(&node, &io)).unwrap().unwrap();
            prop_assert_eq!(&again, &got);
            for s in node.index.shards().read_all().unwrap().into_iter().flatten() {
                for (k, e) in io.block_on(s.entries()).unwrap().unwrap() {
                    prop_assert!(!e.is_pending(), "{:?} still pending after a resolving listing", k);
                }
            }
        }
    }
}
