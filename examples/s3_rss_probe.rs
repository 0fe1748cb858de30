//! Peak RSS of a real `shale serve` under N concurrent streamed PUTs of
//! one size (issue 4: 64 concurrent 1 GiB PUTs). Starts the server on a
//! scratch data dir, records its idle RSS, runs the PUTs (UNSIGNED-PAYLOAD,
//! bodies generated on the fly), HEADs each object to check its size, and
//! reports idle / peak (VmHWM) RSS. Removes the data dir afterwards.
//!
//!   cargo build --release --bin shale --example s3_rss_probe
//!   target/release/examples/s3_rss_probe --concurrency 64 --size-mib 1024 \
//!       --data-dir /var/tmp/shale-rss

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shale::client::{Credentials, S3Client};

const ACCESS_KEY: &str = "RSSPROBEACCESSKEY000";
const SECRET_KEY: &str = "rss-probe-secret-key-0123456789abcdefghijk";

/// An endless cheap byte stream, different per object.
struct Pattern {
    block: Vec<u8>,
    at: usize,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at = (self.at + n) % self.block.len();
        Ok(n)
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let concurrency: usize = arg("--concurrency", "64").parse()?;
    let size_mib: u64 = arg("--size-mib", "1024").parse()?;
    let data_dir = std::path::PathBuf::from(arg("--data-dir", "/var/tmp/shale-rss-probe"));
    let shale = arg("--shale", "target/release/shale");
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut child = Command::new(&shale)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .env("SHALE_ROOT_ACCESS_KEY", ACCESS_KEY)
        .env("SHALE_ROOT_SECRET_KEY", SECRET_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {shale}: {e}"))?;
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let addr: std::net::SocketAddr = loop {
        let line = lines.next().ok_or("serve exited before listening")??;
        if let Some(rest) = line.strip_prefix("shale listening on http://") {
            break rest
                .split_whitespace()
                .next()
                .ok_or("no address")?
                .parse()?;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let creds = Credentials {
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        region: "us-east-1".into(),
    };
    let mut c = S3Client::new(addr, creds.clone());
    let r = c.create_bucket("rss")?;
    if r.status != 200 {
        return Err(format!("create bucket: {}", r.status).into());
    }
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = status_kib(pid, "VmRSS:");
    let len = size_mib * 1024 * 1024;
    let t0 = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let (mut max_rss, mut max_anon) = (0, 0);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                max_rss = max_rss.max(status_kib(pid, "VmRSS:"));
                max_anon = max_anon.max(status_kib(pid, "RssAnon:"));
                std::thread::sleep(Duration::from_millis(100));
            }
            (max_rss, max_anon)
        })
    };
    let workers: Vec<_> = (0..concurrency)
        .map(|i| {
            let creds = creds.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let mut c = S3Client::new(addr, creds);
                let mut block = vec![0u8; 1 << 20];
                for (j, b) in block.iter_mut().enumerate() {
                    *b = (j as u8).wrapping_mul(7).wrapping_add(i as u8);
                }
                let mut body = Pattern { block, at: 0 };
                let key = format!("obj-{i}");
                let r = c
                    .put_object_from("rss", &key, len, &mut body)
                    .map_err(|e| e.to_string())?;
                if r.status != 200 {
                    return Err(format!("{key}: PUT {}", r.status));
                }
                let h = c.head_object("rss", &key).map_err(|e| e.to_string())?;
                if h.header("content-length") != Some(len.to_string().as_str()) {
                    return Err(format!("{key}: size {:?}", h.header("content-length")));
                }
                Ok(())
            })
        })
        .collect();
    let mut errors = Vec::new();
    for w in workers {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("worker panicked".into()),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sampled_kib, anon_kib) = sampler.join().unwrap_or((0, 0));
    let hwm_kib = status_kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data_dir);
    let total_mib = size_mib * concurrency as u64;
    println!(
        "{concurrency} concurrent PUTs of {size_mib} MiB ({total_mib} MiB in {secs:.1} s, {:.0} MiB/s): idle RSS {:.1} MiB, peak RSS {:.1} MiB (VmHWM; sampled max {:.1} MiB, of it anonymous {:.1} MiB)",
        total_mib as f64 / secs,
        idle_kib as f64 / 1024.0,
        hwm_kib as f64 / 1024.0,
        sampled_kib as f64 / 1024.0,
        anon_kib as f64 / 1024.0
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{} failed: {}", errors.len(), errors.join("; ")).into())
    }
}
