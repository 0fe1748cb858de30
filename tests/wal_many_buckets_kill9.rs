//! `kill -9` of the real server while PUTs and DELETEs are spread over
//! 1,000 buckets, whose index shards all log into the one node log: after
//! each restart every acknowledged write reads back byte for byte (a key
//! whose next operation was in flight may show either outcome), LIST of
//! every touched bucket agrees with GET, and the process runs the same
//! handful of threads with 1,000 buckets as with one (no thread per bucket
//! or shard).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{client, creds_env, start_with};
use common::Rng;
use shale::client::{PayloadMode, Response};

const BUCKETS: u64 = 1000;
const WORKERS: u64 = 4;
const ROUNDS: u64 = 3;

fn bucket(i: u64) -> String {
    format!("wal-{i:04}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Absent,
    Written { seq: u64, len: usize },
}

#[derive(Clone, Debug, Default)]
struct KeyState {
    acked: Option<Value>,
    in_flight: Vec<Value>,
}

/// (bucket index, key) -> state.
type States = Arc<Mutex<BTreeMap<(u64, String), KeyState>>>;

fn content(key: &str, seq: u64, len: usize) -> Vec<u8> {
    common::keyed_content(key, seq, len)
}

fn ok(r: &Response, what: &str) {
    assert!(
        (200..300).contains(&r.status),
        "{what}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

fn threads_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Each worker owns the keys `w<worker>/k<0..4>` in every bucket.
fn worker(
    addr: SocketAddr,
    w: u64,
    seed: u64,
    states: States,
    killed: Arc<AtomicBool>,
    seq: Arc<AtomicU64>,
) {
    let mut c = client(addr);
    let mut rng = Rng(seed | 1);
    loop {
        let b = rng.below(BUCKETS);
        let key = format!("w{w}/k{}", rng.below(4));
        let s = seq.fetch_add(1, Ordering::Relaxed);
        let target = if rng.below(100) < 15 {
            Value::Absent
        } else {
            Value::Written {
                seq: s,
                len: match rng.below(3) {
                    0 => rng.below(200) as usize,
                    1 => rng.below(16 * 1024) as usize,
                    _ => rng.below(300 * 1024) as usize,
                },
            }
        };
        states
            .lock()
            .unwrap()
            .entry((b, key.clone()))
            .or_default()
            .in_flight
            .push(target);
        let result = match target {
            Value::Absent => c.delete_object(&bucket(b), &key).map(|r| ok(&r, "delete")),
            Value::Written { seq, len } => c
                .put_object(
                    &bucket(b),
                    &key,
                    &content(&key, seq, len),
                    PayloadMode::Unsigned,
                )
                .map(|r| ok(&r, "put")),
        };
        match result {
            Ok(()) => {
                let mut st = states.lock().unwrap();
                let e = st.get_mut(&(b, key)).unwrap();
                e.acked = Some(target);
                e.in_flight.clear();
            }
            Err(e) => {
                assert!(
                    killed.load(Ordering::SeqCst),
                    "transport error before the kill: {e}"
                );
                return;
            }
        }
    }
}

/// Checks every touched key and bucket; takes what is seen as the truth.
fn verify(addr: SocketAddr, states: &States) -> (u64, u64) {
    let mut c = client(addr);
    let mut st = states.lock().unwrap();
    let mut checked = 0;
    let mut present: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for ((b, key), s) in st.iter_mut() {
        let r = c.get_object(&bucket(*b), key).unwrap();
        let seen = match r.status {
            404 => Value::Absent,
            200 => {
                let mut cands = s.acked.iter().chain(s.in_flight.iter());
                *cands
                    .find(|v| matches!(v, Value::Written { seq, len } if r.body.len() == *len && r.body == content(key, *seq, *len)))
                    .unwrap_or_else(|| panic!("{}/{key}: {} bytes nobody wrote", bucket(*b), r.body.len()))
            }
            other => panic!("{}/{key}: GET {other}", bucket(*b)),
        };
        let allowed = s.acked.unwrap_or(Value::Absent) == seen || s.in_flight.contains(&seen);
        assert!(
            allowed,
            "{}/{key}: shows {seen:?}; acknowledged {:?}, in flight {:?}",
            bucket(*b),
            s.acked,
            s.in_flight
        );
        if seen != Value::Absent {
            present.entry(*b).or_default().insert(key.clone());
        }
        s.acked = Some(seen);
        s.in_flight.clear();
        checked += 1;
    }
    let touched: BTreeSet<u64> = st.keys().map(|(b, _)| *b).collect();
    for b in &touched {
        let listed: BTreeSet<String> = c
            .list_all(&bucket(*b), "")
            .unwrap()
            .unwrap()
            .into_iter()
            .collect();
        let want = present.remove(b).unwrap_or_default();
        assert_eq!(listed, want, "{}: LIST disagrees with GET", bucket(*b));
    }
    (checked, touched.len() as u64)
}

#[test]
fn acknowledged_writes_over_a_thousand_buckets_survive_kill9() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let seed0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed0}");
    let mut rng = Rng(seed0 | 1);
    let args = ["--checkpoint-secs", "1"];
    let states: States = Arc::default();
    let seq = Arc::new(AtomicU64::new(1));

    let node = start_with(&data, &creds_env(), &args);
    let threads_empty = threads_of(node.child.id());
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let addr = node.addr;
            s.spawn(move || {
                let mut c = client(addr);
                for i in (t..BUCKETS).step_by(4) {
                    ok(&c.create_bucket(&bucket(i)).unwrap(), "create bucket");
                }
            });
        }
    });
    let threads_full = threads_of(node.child.id());
    eprintln!("threads: {threads_empty} with no bucket, {threads_full} with {BUCKETS}");
    assert!(
        threads_full <= threads_empty + 4,
        "{threads_full} threads with {BUCKETS} buckets against {threads_empty} with none"
    );
    let mut node = node;
    for round in 0..ROUNDS {
        if round > 0 {
            node = start_with(&data, &creds_env(), &args);
            let (keys, buckets) = verify(node.addr, &states);
            eprintln!("round {round}: {keys} keys in {buckets} buckets verified");
        }
        let killed = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (states, killed, seq) =
                    (Arc::clone(&states), Arc::clone(&killed), Arc::clone(&seq));
                let (addr, seed) = (node.addr, rng.next());
                std::thread::spawn(move || worker(addr, w, seed, states, killed, seq))
            })
            .collect();
        let run_for = Duration::from_millis(1500 + rng.below(2000));
        let t0 = Instant::now();
        while t0.elapsed() < run_for && !handles.iter().any(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        killed.store(true, Ordering::SeqCst);
        node.child.kill().unwrap();
        node.child.wait().unwrap();
        for h in handles {
            h.join().expect("a worker failed before the kill");
        }
    }
    let node = start_with(&data, &creds_env(), &args);
    let (keys, buckets) = verify(node.addr, &states);
    eprintln!("final: {keys} keys in {buckets} buckets verified");
    assert!(buckets > 100, "the load touched only {buckets} buckets");
}
