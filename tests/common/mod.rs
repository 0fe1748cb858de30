//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use shale::io::{Io, SimDisk};

pub mod clients;
pub mod heads;
pub mod server;
pub mod spec;

/// The real backends available on this machine: portable always, io_uring
/// when the kernel allows it (the suite runs on both).
pub fn real_backends() -> Vec<(&'static str, Io)> {
    let mut v = vec![("portable", Io::portable())];
    match Io::uring() {
        Ok(io) => v.push(("io_uring", io)),
        Err(e) => eprintln!("note: io_uring unavailable here ({e}); testing portable only"),
    }
    v
}

/// A fresh simulated disk and an `Io` on it.
pub fn sim(seed: u64) -> (Arc<SimDisk>, Io) {
    let disk = SimDisk::new(seed);
    let io = Io::sim(Arc::clone(&disk));
    (disk, io)
}

/// Where tests keep segments on the simulated disk.
pub fn sim_dir() -> PathBuf {
    PathBuf::from("/data/segments")
}

/// Deterministic payload bytes for (writer, seq), `len` long, that say who
/// wrote them: the first 16 bytes are writer and seq.
pub fn payload(writer: u64, seq: u64, len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&writer.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    let mut x = writer.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq.wrapping_add(1);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v.truncate(len);
    Bytes::from(v)
}

/// Polls `fut` at most `polls` times, letting I/O progress in between
/// (a request future hyper drops after that many awaits); its output if
/// it finished, else `None` (and it is dropped).
pub async fn poll_then_drop<F: std::future::Future>(fut: F, polls: usize) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    for _ in 0..polls {
        let step = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
        if let std::task::Poll::Ready(out) = step {
            return Some(out);
        }
        tokio::time::sleep(std::time::Duration::from_micros(300)).await;
    }
    None
}

/// The bytes of write `seq` of `key`: a keyed xorshift stream, so bytes
/// from any other write (or none) cannot pass for them (crash tests).
pub fn keyed_content(key: &str, seq: u64, len: usize) -> Vec<u8> {
    let mut x = xxhash_rust::xxh64::xxh64(key.as_bytes(), seq) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A small seeded xorshift generator (load generators in tests).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
