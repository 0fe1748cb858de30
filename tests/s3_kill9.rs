//! `kill -9` of the real server under concurrent PUT, DELETE and multipart
//! load, over several rounds on one data directory. Each key is owned by
//! one client thread, so a key has at most one operation in flight. After
//! every restart:
//! - every acknowledged PUT (single or multipart) reads back with exactly
//!   its bytes, unless the key's next operation was in flight, in which
//!   case the key shows one of the two outcomes;
//! - every acknowledged DELETE is gone (same proviso);
//! - no key shows bytes that were never written (contents are derived
//!   from key and sequence number, so any other bytes are detected);
//! - LIST agrees with GET: a key is listed exactly when GET finds it.
//!
//! Halfway through, the bucket gets default encryption (SSE-S3), so later
//! rounds overwrite plain objects with encrypted ones (single and
//! multipart) and the checks cover both kinds across kills.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{client, creds_env, start_with};
use common::Rng;
use shale::client::{PayloadMode, Response, S3Client};

const BUCKET: &str = "crash";
const WORKERS: u64 = 6;
const KEYS_PER_WORKER: u64 = 8;
const ROUNDS: u64 = 6;
const PART_MIN: usize = 5 * 1024 * 1024;

/// What a key holds: nothing, or the content of write `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Absent,
    /// Written by a single PUT or a multipart upload of `len` bytes.
    Written {
        seq: u64,
        len: usize,
        multipart: bool,
    },
}

#[derive(Clone, Debug)]
struct KeyState {
    acked: Value,
    /// Operations sent since the last acknowledged one (more than one
    /// when a round starts without verifying the previous kill).
    in_flight: Vec<Value>,
}

fn key_name(worker: u64, k: u64) -> String {
    format!("w{worker}/k{k}")
}

fn content(key: &str, seq: u64, len: usize) -> Vec<u8> {
    common::keyed_content(key, seq, len)
}

/// Multipart content: part 1 is the first PART_MIN bytes, part 2 the rest.
fn part(key: &str, seq: u64, len: usize, n: u32) -> Vec<u8> {
    let all = content(key, seq, len);
    if n == 1 {
        all[..PART_MIN].to_vec()
    } else {
        all[PART_MIN..].to_vec()
    }
}

fn ok(r: &Response, what: &str) {
    assert!(
        (200..300).contains(&r.status),
        "{what}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

/// One worker's loop until its connection dies with the server. Ops are
/// recorded in flight before they are sent and acknowledged after a 2xx.
fn worker(
    addr: SocketAddr,
    worker: u64,
    seed: u64,
    states: Arc<Mutex<BTreeMap<String, KeyState>>>,
    killed: Arc<AtomicBool>,
    seq: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
) {
    let mut c = client(addr);
    let mut rng = Rng(seed | 1);
    let modes = [
        PayloadMode::Signed,
        PayloadMode::Unsigned,
        PayloadMode::StreamingSigned { chunk: 64 * 1024 },
        PayloadMode::StreamingUnsignedTrailer { chunk: 64 * 1024 },
    ];
    loop {
        let key = key_name(worker, rng.below(KEYS_PER_WORKER));
        let dice = rng.below(100);
        let s = seq.fetch_add(1, Ordering::Relaxed);
        let target = if dice < 20 {
            Value::Absent
        } else if dice < 26 {
            let len = PART_MIN + 1 + rng.below(300_000) as usize;
            Value::Written {
                seq: s,
                len,
                multipart: true,
            }
        } else {
            let len = match rng.below(4) {
                0 => rng.below(100) as usize,
                1 | 2 => rng.below(64 * 1024) as usize,
                _ => rng.below(3 * 1024 * 1024) as usize,
            };
            Value::Written {
                seq: s,
                len,
                multipart: false,
            }
        };
        states
            .lock()
            .unwrap()
            .get_mut(&key)
            .unwrap()
            .in_flight
            .push(target);
        let result = match target {
            Value::Absent => c.delete_object(BUCKET, &key).map(|r| ok(&r, "delete")),
            Value::Written {
                seq,
                len,
                multipart: false,
            } => {
                let mode = modes[rng.below(modes.len() as u64) as usize];
                c.put_object(BUCKET, &key, &content(&key, seq, len), mode)
                    .map(|r| ok(&r, "put"))
            }
            Value::Written { seq, len, .. } => (|| {
                let id = match c.create_multipart(BUCKET, &key)? {
                    Ok(id) => id,
                    Err(r) => {
                        ok(&r, "create multipart");
                        unreachable!()
                    }
                };
                let mut etags = Vec::new();
                for n in 1..=2 {
                    let r = c.upload_part(
                        BUCKET,
                        &key,
                        &id,
                        n,
                        &part(&key, seq, len, n),
                        PayloadMode::Unsigned,
                    )?;
                    ok(&r, "upload part");
                    etags.push((n, r.header("etag").unwrap().to_owned()));
                }
                let r = c.complete_multipart(BUCKET, &key, &id, &etags)?;
                ok(&r, "complete");
                // A 200 may still carry an error document after the body began.
                assert!(
                    !String::from_utf8_lossy(&r.body).contains("<Error>"),
                    "{}",
                    String::from_utf8_lossy(&r.body)
                );
                Ok(())
            })(),
        };
        match result {
            Ok(()) => {
                let mut states = states.lock().unwrap();
                let st = states.get_mut(&key).unwrap();
                st.acked = target;
                st.in_flight.clear();
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                assert!(
                    killed.load(Ordering::SeqCst),
                    "transport error before the kill: {e}"
                );
                return; // the op stays in flight: either outcome is allowed
            }
        }
    }
}

/// What GET shows for `key`, checked against the allowed outcomes.
fn check_key(c: &mut S3Client, key: &str, st: &KeyState) -> Value {
    let r = c.get_object(BUCKET, key).unwrap();
    let seen = match r.status {
        404 => Value::Absent,
        200 => {
            let candidates = std::iter::once(st.acked).chain(st.in_flight.iter().copied());
            let mut candidates = candidates;
            let found = candidates.find(|v| match *v {
                Value::Written { seq, len, .. } => {
                    r.body.len() == len && r.body == content(key, seq, len)
                }
                Value::Absent => false,
            });
            match found {
                Some(v) => v,
                None => panic!(
                    "{key}: {} bytes that match neither the acknowledged {:?} nor the in-flight {:?}",
                    r.body.len(),
                    st.acked,
                    st.in_flight
                ),
            }
        }
        s => panic!("{key}: GET {s} {}", String::from_utf8_lossy(&r.body)),
    };
    let allowed = seen == st.acked || st.in_flight.contains(&seen);
    assert!(
        allowed,
        "{key}: shows {seen:?}; acknowledged {:?}, in flight {:?}",
        st.acked, st.in_flight
    );
    if let Value::Written {
        multipart: true, ..
    } = seen
    {
        let etag = r.header("etag").unwrap_or("");
        assert!(etag.ends_with("-2\""), "{key}: multipart ETag {etag}");
    }
    seen
}

#[test]
fn acknowledged_writes_survive_kill9_under_s3_load() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let seed0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed0}");
    let mut rng = Rng(seed0 | 1);
    let states: Arc<Mutex<BTreeMap<String, KeyState>>> = Arc::new(Mutex::new(
        (0..WORKERS)
            .flat_map(|w| (0..KEYS_PER_WORKER).map(move |k| key_name(w, k)))
            .map(|k| {
                (
                    k,
                    KeyState {
                        acked: Value::Absent,
                        in_flight: Vec::new(),
                    },
                )
            })
            .collect(),
    ));
    let seq = Arc::new(AtomicU64::new(1));
    let acked = Arc::new(AtomicU64::new(0));
    let args = ["--checkpoint-secs", "1", "--bucket-shards", "3"];
    let (mut total_in_flight, mut total_written) = (0, 0);
    for round in 0..ROUNDS {
        let mut node = start_with(&data, &creds_env(), &args);
        let mut c = client(node.addr);
        if round == 0 {
            ok(&c.create_bucket(BUCKET).unwrap(), "create bucket");
        }
        if round == ROUNDS / 2 {
            let doc = b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>";
            let r = c
                .send(
                    "PUT",
                    BUCKET,
                    "",
                    shale::client::Request {
                        query: vec![("encryption".into(), String::new())],
                        headers: vec![],
                        body: doc,
                    },
                    PayloadMode::Signed,
                )
                .unwrap();
            ok(&r, "put bucket encryption");
        }
        // Verify what the last round left, then take it as the new truth;
        // every other round goes straight back to load, so writes land on
        // keys whose transactions died with the last process and are
        // resolved later (an older unacknowledged write must never hide a
        // newer acknowledged one).
        if round % 2 == 0 {
            verify(&mut c, &states, &mut total_in_flight, &mut total_written);
        }
        let killed = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (states, killed, seq, acked) = (
                    Arc::clone(&states),
                    Arc::clone(&killed),
                    Arc::clone(&seq),
                    Arc::clone(&acked),
                );
                let addr = node.addr;
                let seed = rng.next();
                std::thread::spawn(move || worker(addr, w, seed, states, killed, seq, acked))
            })
            .collect();
        let run_for = Duration::from_millis(800 + rng.below(2500));
        let t0 = Instant::now();
        while t0.elapsed() < run_for && !handles.iter().any(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        killed.store(true, Ordering::SeqCst);
        node.child.kill().unwrap(); // SIGKILL
        node.child.wait().unwrap();
        for h in handles {
            h.join().expect("a worker failed before the kill");
        }
    }
    let node = start_with(&data, &creds_env(), &args);
    let mut c = client(node.addr);
    verify(&mut c, &states, &mut total_in_flight, &mut total_written);
    let acked = acked.load(Ordering::Relaxed);
    eprintln!(
        "{ROUNDS} kills: {acked} acknowledged operations; {total_in_flight} in flight at a kill, {total_written} of those took effect"
    );
    assert!(acked > 100, "too little load to mean anything: {acked}");
}

/// Checks every key and LIST against the model, then makes what was seen
/// the acknowledged state (nothing in flight).
fn verify(
    c: &mut S3Client,
    states: &Mutex<BTreeMap<String, KeyState>>,
    total_in_flight: &mut u64,
    total_written: &mut u64,
) {
    let mut states = states.lock().unwrap();
    let mut present = BTreeSet::new();
    for (key, st) in states.iter_mut() {
        let seen = check_key(c, key, st);
        if !st.in_flight.is_empty() {
            *total_in_flight += 1;
            if seen != st.acked {
                *total_written += 1;
            }
        }
        if seen != Value::Absent {
            present.insert(key.clone());
        }
        st.acked = seen;
        st.in_flight.clear();
    }
    let listed: BTreeSet<String> = c
        .list_all(BUCKET, "")
        .unwrap()
        .unwrap_or_else(|r| panic!("list: {} {}", r.status, String::from_utf8_lossy(&r.body)))
        .into_iter()
        .collect();
    assert_eq!(listed, present, "LIST disagrees with GET");
}
