//! SIGTERM in the middle of a load of uploads: every upload the server
//! answered 200 is there, byte for byte, after a restart; every other one
//! is an error the client saw (a refused or reset connection, a 5xx).
//! Never a 200 for data that is not there. The process exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::server::{creds_env, start, stop, test_credentials};
use shale::client::{PayloadMode, S3Client};

const WRITERS: usize = 8;

/// The bytes of object (writer, n): a size from 1 KiB to ~3 MiB.
fn body(w: usize, n: usize) -> Vec<u8> {
    let seed = (w * 1_000_003 + n * 7919) as u64;
    let len = 1024 + (seed.wrapping_mul(2_654_435_761) % (3 << 20)) as usize;
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn sigterm_under_upload_load_acknowledges_only_what_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    let addr = node.addr;
    assert_eq!(
        S3Client::new(addr, test_credentials())
            .create_bucket("load")
            .unwrap()
            .status,
        200
    );

    let acked: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let failed = Arc::new(Mutex::new(0usize));
    let stopping = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let acked = Arc::clone(&acked);
        let failed = Arc::clone(&failed);
        let stopping = Arc::clone(&stopping);
        writers.push(std::thread::spawn(move || {
            let mut failures_after_stop = 0;
            for n in 0.. {
                // A new connection now and then, as pools do.
                let mut c = S3Client::new(addr, test_credentials());
                let mode = if n % 2 == 0 {
                    PayloadMode::Signed
                } else {
                    PayloadMode::StreamingUnsignedTrailer { chunk: 64 * 1024 }
                };
                match c.put_object("load", &format!("w{w}/o{n}"), &body(w, n), mode) {
                    Ok(r) if r.status == 200 => acked.lock().unwrap().push((w, n)),
                    Ok(r) => {
                        assert!(r.status >= 500, "unexpected status {}", r.status);
                        *failed.lock().unwrap() += 1;
                    }
                    Err(_) => *failed.lock().unwrap() += 1,
                }
                if stopping.load(Ordering::Relaxed) {
                    failures_after_stop += 1;
                    if failures_after_stop > 3 {
                        break;
                    }
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stopping.store(true, Ordering::Relaxed);
    let (ok, stderr) = stop(node);
    assert!(ok, "shale did not exit cleanly:\n{stderr}");
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= WRITERS,
        "too little load: {} acknowledged",
        acked.len()
    );
    eprintln!(
        "{} uploads acknowledged, {} failed around SIGTERM",
        acked.len(),
        failed.lock().unwrap()
    );

    let node = start(tmp.path(), &creds_env());
    let mut c = S3Client::new(node.addr, test_credentials());
    for (w, n) in &acked {
        let r = c.get_object("load", &format!("w{w}/o{n}")).unwrap();
        assert_eq!(r.status, 200, "acknowledged w{w}/o{n} is missing");
        assert!(r.body == body(*w, *n), "acknowledged w{w}/o{n} differs");
    }
}
