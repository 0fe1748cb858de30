//! The index transaction survives `kill -9` of a real process at any
//! point, in particular between prepare and complete and between the head
//! record and complete. A child process runs writers (puts and deletes,
//! each key owned by one writer) with short pauses inside the transaction
//! and prints each step; the test kills it at random moments, over several
//! rounds on the same directories, and after every restart lists the
//! bucket with a resolver that finds head records in the segment store:
//! - every acknowledged operation is there, unless the key's next
//!   operation was in flight;
//! - an in-flight operation whose head record is durable is resolved as
//!   completed if its prepare reached the log (prepares are carried by
//!   the next batch) and as never happened otherwise; one without a
//!   durable head as never happened;
//! - after that listing nothing is pending, and stats match.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shale::index::bucket::{BucketIndex, BucketIndexOptions, ListMode};
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;
use shale::index::listing::ListParams;
use shale::io::Io;
use shale::segment::format::RecordKind;
use shale::segment::{SegmentOptions, SegmentStore};

use common::heads::{self, StoreResolver};

const DIR_ENV: &str = "SHALE_INDEX_CHILD_DIR";
const ROUND_ENV: &str = "SHALE_INDEX_CHILD_ROUND";
const WRITERS: u64 = 12;
const KEYS_PER_WRITER: u64 = 6;

fn options() -> BucketIndexOptions {
    BucketIndexOptions {
        shards: 5,
        reshard_threshold: u64::MAX,
        zone: 1,
        // Fewer than the shards: shards close and reopen under the kill.
        open_shards_max: 3,
    }
}

fn open(io: &Io, dir: &Path) -> (BucketIndex, SegmentStore) {
    let index = BucketIndex::open_standalone(io, &dir.join("index"), options()).unwrap();
    let (store, _) =
        SegmentStore::open(io.clone(), &dir.join("segments"), SegmentOptions::default()).unwrap();
    (index, store)
}

fn key_name(round: u64, writer: u64, k: u64) -> String {
    format!("r{round}/w{writer:02}/k{k}")
}

/// The child: writers loop over their keys until killed. Lines:
/// `BEGIN key seq put|del`, `PREP key seq tag`, `HEAD key seq`,
/// `ACK key seq`.
#[test]
#[ignore = "child process of transactions_survive_kill_9_at_every_step"]
fn index_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let round: u64 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let io = Io::detect().unwrap().io;
    let (index, store) = open(&io, Path::new(&dir));
    let index = Arc::new(index);
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let (index, store, io) = (Arc::clone(&index), store.clone(), io.clone());
            std::thread::spawn(move || {
                io.block_on(async move {
                    let tasks: Vec<_> = (0..WRITERS / 2)
                        .map(|i| {
                            let (index, store) = (Arc::clone(&index), store.clone());
                            let writer = t * (WRITERS / 2) + i;
                            tokio::task::spawn_local(async move {
                                let mut seq = 0u64;
                                loop {
                                    seq += 1;
                                    let x = writer
                                        .wrapping_mul(7919)
                                        .wrapping_add(seq.wrapping_mul(104_729));
                                    let name = key_name(round, writer, x % KEYS_PER_WRITER);
                                    let delete = x.is_multiple_of(5);
                                    println!(
                                        "BEGIN {name} {seq} {}",
                                        if delete { "del" } else { "put" }
                                    );
                                    let txn = index.prepare(name.as_bytes()).await.unwrap();
                                    println!("PREP {name} {seq} {}", txn.tag());
                                    tokio::time::sleep(Duration::from_micros(x % 1500)).await;
                                    let target = SortKey::Head {
                                        key: name.clone().into_bytes(),
                                    };
                                    let entry = (!delete).then(|| IndexEntry {
                                        size: seq,
                                        mtime_nanos: shale::clock::now_nanos(),
                                        ..IndexEntry::default()
                                    });
                                    let payload = heads::encode(txn.tag(), &target, entry.as_ref());
                                    let loc = store
                                        .append(RecordKind::ObjectHead, payload)
                                        .await
                                        .unwrap();
                                    println!("HEAD {name} {seq}");
                                    tokio::time::sleep(Duration::from_micros((x >> 8) % 1500))
                                        .await;
                                    let entry = entry.map(|e| IndexEntry { head: loc, ..e });
                                    index.complete(txn, target, entry).await.unwrap();
                                    println!("ACK {name} {seq}");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        let _ = t.await;
                    }
                })
                .unwrap();
            })
        })
        .collect();
    // Checkpoints now and then, as the node will.
    let io2 = io.clone();
    io2.block_on(async {
        loop {
            tokio::time::sleep(Duration::from_millis(150)).await;
            index.checkpoint().await.unwrap();
        }
    })
    .unwrap();
    for t in threads {
        t.join().unwrap();
    }
}

#[derive(Clone, Debug, Default)]
struct KeyLog {
    /// seq -> delete?
    begun: BTreeMap<u64, bool>,
    tags: HashMap<u64, u64>,
    heads: Vec<u64>,
    acked: Vec<u64>,
}

fn run_child(dir: &Path, round: u64, backend: &str, delay: Duration) -> HashMap<String, KeyLog> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "index_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(ROUND_ENV, round.to_string())
        .env("SHALE_IO", backend)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let logs: Arc<Mutex<HashMap<String, KeyLog>>> = Arc::default();
    let acks = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = {
        let (logs, acks) = (Arc::clone(&logs), Arc::clone(&acks));
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let f: Vec<&str> = line.split(' ').collect();
                let (Some(kind), Some(name), Some(seq)) = (
                    f.first(),
                    f.get(1),
                    f.get(2).and_then(|s| s.parse::<u64>().ok()),
                ) else {
                    continue;
                };
                let mut logs = logs.lock().unwrap();
                let l = logs.entry(name.to_string()).or_default();
                match *kind {
                    "BEGIN" => {
                        l.begun.insert(seq, f.get(3) == Some(&"del"));
                    }
                    "PREP" => {
                        if let Some(tag) = f.get(3).and_then(|t| t.parse().ok()) {
                            l.tags.insert(seq, tag);
                        }
                    }
                    "HEAD" => l.heads.push(seq),
                    "ACK" => {
                        l.acked.push(seq);
                        acks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        })
    };
    let start = Instant::now();
    while acks.load(std::sync::atomic::Ordering::Relaxed) < 30
        && start.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    let logs = std::mem::take(&mut *logs.lock().unwrap());
    assert!(
        acks.load(std::sync::atomic::Ordering::Relaxed) >= 30,
        "round {round}: the child made no progress"
    );
    logs
}

#[derive(Default)]
struct Tally {
    acked: u64,
    in_flight_with_head: u64,
    /// Of those with a head: completed by the listing (the rest had no
    /// logged prepare, and their heads are orphans).
    in_flight_completed: u64,
    in_flight_without_head: u64,
}

/// Checks the index after a kill; returns the expected state of the
/// round's keys (Some(size) present, None absent).
fn verify(
    io: &Io,
    dir: &Path,
    logs: &HashMap<String, KeyLog>,
    expected: &mut BTreeMap<String, u64>,
    tally: &mut Tally,
) {
    let (index, store) = open(io, dir);
    let resolver = StoreResolver::scan(io, &dir.join("segments")).unwrap();
    // In-flight operations with a durable head: (key, its state if the
    // operation took effect).
    let mut either: Vec<(String, Option<u64>)> = Vec::new();
    for (name, l) in logs {
        // Everything up to the last ack is settled; the one op after it
        // (if any) was in flight.
        let last_acked = l.acked.iter().max().copied();
        if let Some(seq) = last_acked {
            tally.acked += 1;
            match l.begun.get(&seq) {
                Some(true) => {
                    expected.remove(name);
                }
                _ => {
                    expected.insert(name.clone(), seq);
                }
            }
        }
        let in_flight = l
            .begun
            .keys()
            .copied()
            .filter(|s| Some(*s) > last_acked)
            .max();
        if let Some(seq) = in_flight {
            let tag = l.tags.get(&seq);
            let durable_head =
                tag.is_some_and(|t| resolver.heads.contains_key(&(name.as_bytes().to_vec(), *t)));
            if durable_head {
                tally.in_flight_with_head += 1;
                // Completed if its prepare reached the log (a later batch
                // carries it), else its head is an orphan: either way it
                // was never acknowledged. Settled against the listing.
                let applied = match l.begun.get(&seq) {
                    Some(true) => None,
                    _ => Some(seq),
                };
                either.push((name.clone(), applied));
            } else {
                tally.in_flight_without_head += 1;
                // A head the child printed must be durable: it was acked
                // by the segment store.
                assert!(
                    !l.heads.contains(&seq),
                    "{name}: head {seq} was acknowledged but is gone"
                );
            }
        }
    }
    let list = |index: &BucketIndex| -> BTreeMap<String, u64> {
        let mut got = BTreeMap::new();
        let mut params = ListParams {
            max_keys: 1000,
            ..ListParams::default()
        };
        loop {
            let page = io
                .block_on(index.list(&params, ListMode::Current, Some(&resolver)))
                .unwrap()
                .unwrap();
            for (k, e) in &page.items {
                let rec = io.block_on(store.read(e.head)).unwrap().unwrap();
                let (_, target, _) = heads::decode(&rec.payload);
                assert_eq!(target.object_key(), k.as_slice());
                got.insert(String::from_utf8(k.clone()).unwrap(), e.size);
            }
            if !page.truncated {
                break;
            }
            params.start_after = page.next_marker;
        }
        got
    };
    let got = list(&index);
    for (name, applied) in either {
        if got.get(&name) == applied.as_ref() && expected.get(&name) != applied.as_ref() {
            tally.in_flight_completed += 1;
            match applied {
                Some(size) => expected.insert(name, size),
                None => expected.remove(&name),
            };
        }
    }
    assert_eq!(&got, expected, "listing after the kill");
    assert_eq!(list(&index), got, "a second listing differs");
    for s in index.shards().read_all().unwrap().into_iter().flatten() {
        for (k, e) in io.block_on(s.entries()).unwrap().unwrap() {
            assert!(
                !e.is_pending(),
                "{k:?} is still pending after a resolving listing"
            );
        }
    }
    let (objects, bytes) = index.stats();
    assert_eq!(objects as usize, expected.len());
    assert_eq!(bytes, expected.values().sum::<u64>());
    for (k, size) in expected.iter() {
        let e = index.current(k.as_bytes()).unwrap().unwrap();
        assert_eq!(e.size, *size, "{k}");
    }
}

#[test]
fn transactions_survive_kill_9_at_every_step() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let backends: Vec<&str> = common::real_backends()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut expected = BTreeMap::new();
    let mut tally = Tally::default();
    for round in 0..8u64 {
        let backend = backends[round as usize % backends.len()];
        let backend = if backend == "io_uring" {
            "uring"
        } else {
            "portable"
        };
        let delay = Duration::from_millis(50 + (round * 37) % 200);
        let logs = run_child(dir, round, backend, delay);
        verify(&Io::portable(), dir, &logs, &mut expected, &mut tally);
    }
    eprintln!(
        "keys with acknowledged writes: {}; in flight at the kill: {} with a durable head ({} completed by the listing, the rest orphans), {} without (dropped)",
        tally.acked, tally.in_flight_with_head, tally.in_flight_completed, tally.in_flight_without_head
    );
    assert!(
        tally.in_flight_completed > 0 && tally.in_flight_without_head > 0,
        "kills missed a window"
    );
}
