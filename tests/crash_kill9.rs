//! Acknowledged appends survive `kill -9` of a real process. A child
//! process appends under concurrent load (many tasks on two threads, small
//! segments so it rolls over) and prints each record once its append is
//! acknowledged; the test kills it with SIGKILL at random moments, 24
//! rounds on the same directory, and after every restart checks that each
//! acknowledged record reads back intact and that no partial record is
//! visible anywhere. Rounds alternate the io_uring and portable backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shale::io::{Io, OpenMode};
use shale::segment::{recover, scan, RecordKind, RecordLoc, SegmentOptions, SegmentStore};

const CHILD_DIR_ENV: &str = "SHALE_CRASH_CHILD_DIR";
const CHILD_ROUND_ENV: &str = "SHALE_CRASH_CHILD_ROUND";

fn options() -> SegmentOptions {
    SegmentOptions {
        segment_size_bytes_max: 256 * 1024,
        ..SegmentOptions::default()
    }
}

fn size_for(writer: u64, seq: u64) -> usize {
    let x = writer.wrapping_mul(31).wrapping_add(seq.wrapping_mul(7919));
    match x % 20 {
        0 => (x % 32_000) as usize + 16,
        _ => (x % 2000) as usize + 16,
    }
}

/// The child: appends until killed, printing `ACK segment offset len writer seq`.
#[test]
#[ignore = "child process of acknowledged_records_survive_kill_9"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND_ENV).unwrap().parse().unwrap();
    let io = Io::detect().unwrap().io;
    let (store, _) = SegmentStore::open(io.clone(), Path::new(&dir), options()).unwrap();
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let store = store.clone();
            let io = io.clone();
            std::thread::spawn(move || {
                io.block_on(async move {
                    let tasks: Vec<_> = (0..8u64)
                        .map(|task| {
                            let store = store.clone();
                            let writer = round * 1000 + t * 100 + task;
                            tokio::task::spawn_local(async move {
                                for seq in 0.. {
                                    let p = common::payload(writer, seq, size_for(writer, seq));
                                    let loc = store.append(RecordKind::DataChunk, p).await.unwrap();
                                    let mut out = std::io::stdout().lock();
                                    writeln!(
                                        out,
                                        "ACK {} {} {} {writer} {seq}",
                                        loc.segment, loc.offset, loc.len
                                    )
                                    .unwrap();
                                    out.flush().unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
                .unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

struct Ack {
    loc: RecordLoc,
    writer: u64,
    seq: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut f = line
        .strip_prefix("ACK ")?
        .split(' ')
        .map(|x| x.parse::<u64>().unwrap());
    let loc = RecordLoc {
        segment: f.next()?,
        offset: f.next()?,
        len: f.next()? as u32,
    };
    Some(Ack {
        loc,
        writer: f.next()?,
        seq: f.next()?,
    })
}

fn run_child_and_kill(dir: &Path, round: u64, backend: &str, delay: Duration) -> Vec<Ack> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_ROUND_ENV, round.to_string())
        .env("SHALE_IO", backend)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let acks = Arc::clone(&acks);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = parse_ack(&line) {
                    acks.lock().unwrap().push(a);
                }
            }
        })
    };
    // Kill only once the child is under load, then at a random moment.
    let start = Instant::now();
    while acks.lock().unwrap().len() < 20 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    assert!(
        acks.len() >= 20,
        "round {round}: the child made no progress"
    );
    acks
}

fn verify(io: &Io, dir: &Path, acked: &[Ack], round: u64) {
    let (store, report) = SegmentStore::open(io.clone(), dir, options())
        .unwrap_or_else(|e| panic!("round {round}: recovery failed: {e}"));
    io.block_on(async {
        for a in acked {
            let r = store
                .read(a.loc)
                .await
                .unwrap_or_else(|e| panic!("round {round}: acknowledged {:?} lost: {e}", a.loc));
            let want = common::payload(a.writer, a.seq, size_for(a.writer, a.seq));
            assert_eq!(
                r.payload, want,
                "round {round}: acknowledged record changed"
            );
        }
    })
    .unwrap();
    drop(store);
    // No partial record anywhere: every record verifies and is whole.
    let (ids, _) = recover::list_segments(io, dir).unwrap();
    let mut records = 0;
    for id in ids {
        let f = io
            .open(&shale::segment::segment_path(dir, id), OpenMode::Read)
            .unwrap();
        let rep = scan::scan_segment(&f, |info, payload| {
            if info.kind == RecordKind::DataChunk {
                let w = u64::from_le_bytes(payload[..8].try_into().unwrap());
                let s = u64::from_le_bytes(payload[8..16].try_into().unwrap());
                assert_eq!(
                    payload,
                    &common::payload(w, s, size_for(w, s))[..],
                    "round {round}: partial record"
                );
                records += 1;
            }
        })
        .unwrap();
        assert_eq!(
            rep.tail,
            scan::Tail::Clean,
            "round {round}, segment {id}: {report:?}"
        );
    }
    assert!(records >= acked.len(), "round {round}");
}

#[test]
fn acknowledged_records_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("segments");
    let backends: Vec<(&str, Io)> = common::real_backends();
    let mut acked: Vec<Ack> = Vec::new();
    let mut rng = 0x5eed_u64;
    let mut per_backend: HashMap<&str, usize> = HashMap::new();
    for round in 0..24u64 {
        let (name, io) = &backends[round as usize % backends.len()];
        let env = if *name == "io_uring" {
            "uring"
        } else {
            "portable"
        };
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = Duration::from_millis(rng % 120);
        let acks = run_child_and_kill(&dir, round, env, delay);
        *per_backend.entry(name).or_default() += acks.len();
        acked.extend(acks);
        verify(io, &dir, &acked, round);
    }
    eprintln!(
        "verified {} acknowledged records over 24 kills: {per_backend:?}",
        acked.len()
    );
}
