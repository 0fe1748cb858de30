//! Running as systemd runs it: the unit's ExecStart line (binary and
//! `--config`), the shipped config (paths pointed at a temp dir), a
//! NOTIFY_SOCKET that must get READY=1 then STOPPING=1; `/health`,
//! `/ready`, and `/metrics` parsed by the reference OpenMetrics parser
//! (`tests/clients/scrape_metrics.py`, prometheus_client) before and after
//! traffic and after a restart (per-bucket counts survive it); SIGHUP and
//! `shale admin reload` re-read the config; bad config fails at start with
//! the key and the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use shale::client::{Credentials, S3Client};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn python() -> PathBuf {
    std::env::var_os("SHALE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join("target/s3-venv/bin/python"))
}

/// The unit's ExecStart, split: (program, args).
fn exec_start() -> (String, Vec<String>) {
    let unit =
        std::fs::read_to_string(Path::new(ROOT).join("tools/systemd/shale.service")).unwrap();
    for needle in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "LimitNOFILE=",
        "LimitMEMLOCK=",
        "Type=notify",
        "ExecReload=",
    ] {
        assert!(unit.contains(needle), "the unit lacks {needle}");
    }
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let mut words = line.split_whitespace().map(str::to_string);
    let program = words.next().unwrap();
    (program, words.collect())
}

struct Service {
    child: Child,
    addr: SocketAddr,
    notify: UnixDatagram,
    stderr: std::sync::mpsc::Receiver<String>,
}

/// Starts the binary with the unit's arguments, `--config` pointing at
/// `config`.
fn start(config: &Path, notify_path: &Path) -> Service {
    let (program, args) = exec_start();
    assert_eq!(program, "/usr/local/bin/shale");
    let i = args.iter().position(|a| a == "--config").expect("--config");
    let mut args = args.clone();
    args[i + 1] = config.display().to_string();
    let _ = std::fs::remove_file(notify_path);
    let notify = UnixDatagram::bind(notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shale"))
        .args(&args)
        .env("NOTIFY_SOCKET", notify_path)
        .env_remove("SHALE_DATA_DIR")
        .env_remove("SHALE_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        if let Some(rest) = line.strip_prefix("shale listening on http://") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    Service {
        child,
        addr,
        notify,
        stderr: rx,
    }
}

fn recv_notify(s: &Service) -> String {
    let mut buf = [0u8; 256];
    let n = s.notify.recv(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn stop(mut s: Service) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    assert_eq!(recv_notify(&s), "STOPPING=1");
    let status = s.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// A sample: name and sorted labels.
type Samples = HashMap<(String, Vec<(String, String)>), f64>;

fn scrape(addr: SocketAddr) -> Samples {
    let out = Command::new(python())
        .arg(Path::new(ROOT).join("tests/clients/scrape_metrics.py"))
        .arg(format!("http://{addr}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the parser refused /metrics:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut m = Samples::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut labels: Vec<(String, String)> = v["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        labels.sort();
        m.insert(
            (v["name"].as_str().unwrap().to_string(), labels),
            v["value"].as_f64().unwrap(),
        );
    }
    m
}

fn get(m: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    m.get(&(name.to_string(), l)).copied().unwrap_or(0.0)
}

fn sum(m: &Samples, name: &str) -> f64 {
    m.iter()
        .filter(|((n, _), _)| n == name)
        .map(|(_, v)| v)
        .sum()
}

fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The shipped service config with the data dir and address of a test.
fn write_config(path: &Path, data: &Path, level: &str) {
    let text = std::fs::read_to_string(Path::new(ROOT).join("tools/systemd/shale.toml")).unwrap();
    let mut t: toml::Table = text.parse().unwrap();
    t.insert("data_dir".into(), data.display().to_string().into());
    t.insert("listen".into(), "127.0.0.1:0".into());
    // Checkpoints every second: the metrics test waits for one.
    if let Some(storage) = t
        .entry("storage")
        .or_insert_with(|| toml::Table::new().into())
        .as_table_mut()
    {
        storage.insert("checkpoint_secs".into(), 1.into());
    }
    t["log"]
        .as_table_mut()
        .unwrap()
        .insert("level".into(), level.into());
    std::fs::write(path, toml::to_string(&t).unwrap()).unwrap();
}

fn root_credentials(data: &Path) -> Credentials {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("root-credentials.json")).unwrap())
            .unwrap();
    Credentials {
        access_key: v["access_key"].as_str().unwrap().into(),
        secret_key: v["secret_key"].as_str().unwrap().into(),
        region: "us-east-1".into(),
    }
}

#[test]
fn starts_as_the_unit_says_and_its_metrics_parse_and_count() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("shale.toml");
    let notify_path = tmp.path().join("notify.sock");
    write_config(&config, &data, "info");

    let svc = start(&config, &notify_path);
    assert_eq!(recv_notify(&svc), "READY=1");
    assert_eq!(http_get(svc.addr, "/health"), (200, "ok\n".into()));
    assert_eq!(http_get(svc.addr, "/ready"), (200, "ready\n".into()));
    let before = scrape(svc.addr);
    assert_eq!(get(&before, "shale_users", &[]), 1.0);
    assert_eq!(
        get(
            &before,
            "shale_http_requests_total",
            &[("op", "PutObject"), ("status", "200")]
        ),
        0.0
    );

    let mut c = S3Client::new(svc.addr, root_credentials(&data));
    assert_eq!(c.create_bucket("metered").unwrap().status, 200);
    let sizes = [1000usize, 250_000, 3 * 1024 * 1024];
    for (i, n) in sizes.iter().enumerate() {
        let r = c
            .put_object(
                "metered",
                &format!("k{i}"),
                &vec![i as u8; *n],
                shale::client::PayloadMode::Signed,
            )
            .unwrap();
        assert_eq!(r.status, 200);
    }
    for i in 0..sizes.len() {
        assert_eq!(
            c.get_object("metered", &format!("k{i}")).unwrap().status,
            200
        );
    }
    assert_eq!(c.get_object("metered", "absent").unwrap().status, 404);

    let after = scrape(svc.addr);
    let d = |name: &str, labels: &[(&str, &str)]| {
        get(&after, name, labels) - get(&before, name, labels)
    };
    assert_eq!(
        d(
            "shale_http_requests_total",
            &[("op", "PutObject"), ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        d(
            "shale_http_requests_total",
            &[("op", "GetObject"), ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        d(
            "shale_http_requests_total",
            &[("op", "GetObject"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        d(
            "shale_http_requests_total",
            &[("op", "CreateBucket"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        d(
            "shale_http_request_duration_seconds_count",
            &[("op", "PutObject")]
        ),
        3.0
    );
    let total: usize = sizes.iter().sum();
    assert_eq!(
        d(
            "shale_http_request_body_bytes_total",
            &[("op", "PutObject")]
        ),
        total as f64
    );
    assert!(
        d(
            "shale_http_response_body_bytes_total",
            &[("op", "GetObject")]
        ) as usize
            >= total
    );
    assert_eq!(
        get(&after, "shale_bucket_objects", &[("bucket", "metered")]),
        3.0
    );
    assert_eq!(
        get(&after, "shale_bucket_bytes", &[("bucket", "metered")]),
        total as f64
    );
    assert!(get(&after, "shale_segment_bytes", &[]) >= total as f64);
    // A bucket's index is on disk from its first checkpoint on (the
    // entries are in the node log until then).
    let checkpointed = (0..200).any(|_| {
        let m = scrape(svc.addr);
        get(&m, "shale_index_bytes", &[("bucket", "metered")]) > 0.0 || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        }
    });
    assert!(checkpointed, "the bucket's index never reached the disk");
    assert!(
        sum(&after, "shale_fsync_duration_seconds_count")
            > sum(&before, "shale_fsync_duration_seconds_count")
    );
    assert!(sum(&after, "shale_fsync_batch_appends_count") >= 3.0);
    // A histogram's buckets never decrease and end at its count.
    let inf = get(
        &after,
        "shale_http_request_duration_seconds_bucket",
        &[("op", "PutObject"), ("le", "+Inf")],
    );
    assert_eq!(
        inf,
        get(
            &after,
            "shale_http_request_duration_seconds_count",
            &[("op", "PutObject")]
        )
    );

    // SIGHUP re-reads the config: the access log goes on... and the log
    // level changes (the file says so, nothing else changes).
    write_config(&config, &data, "debug");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(svc.child.id() as i32, libc::SIGHUP) };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = false;
    while std::time::Instant::now() < deadline && !seen {
        if let Ok(l) = svc.stderr.recv_timeout(Duration::from_secs(1)) {
            seen = l.contains("SIGHUP: config reloaded") && l.contains("log.level");
        }
    }
    assert!(seen, "no reload line after SIGHUP");
    // And through the admin API: nothing more to change now.
    let out = Command::new(env!("CARGO_BIN_EXE_shale"))
        .args(["admin", "--config"])
        .arg(&config)
        .args([
            "--endpoint",
            &format!("http://{}", svc.addr),
            "reload",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["changed"], serde_json::json!([]));

    // The per-bucket counts survive a restart.
    stop(svc);
    let svc = start(&config, &notify_path);
    assert_eq!(recv_notify(&svc), "READY=1");
    let again = scrape(svc.addr);
    assert_eq!(
        get(&again, "shale_bucket_objects", &[("bucket", "metered")]),
        3.0
    );
    assert_eq!(
        get(&again, "shale_bucket_bytes", &[("bucket", "metered")]),
        total as f64
    );
    stop(svc);
}

#[test]
fn bad_config_fails_at_start_with_key_and_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("[storage]\nbucket_shards = 0\n", "storage.bucket_shards"),
        ("[storage]\nbucket_shard = 3\n", "bucket_shard"),
        ("listen = \"localhost\"\n", "listen"),
        ("[log]\nlevel = \"chatty\"\n", "log.level"),
        ("threads = \"many\"\n", "threads"),
    ];
    for (text, key) in cases {
        let p = tmp.path().join("bad.toml");
        std::fs::write(&p, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_shale"))
            .args(["serve", "--config"])
            .arg(&p)
            .arg("--data-dir")
            .arg(tmp.path().join("d"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(key), "{text}: {err}");
        assert!(
            !tmp.path().join("d").exists(),
            "nothing is created on a bad config"
        );
    }
    // A bad environment variable names itself.
    let out = Command::new(env!("CARGO_BIN_EXE_shale"))
        .args(["serve", "--data-dir"])
        .arg(tmp.path().join("d"))
        .env("SHALE_STORAGE_BUCKET_SHARDS", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SHALE_STORAGE_BUCKET_SHARDS"));
    // --print-defaults is the shipped annotated file, and it checks clean.
    let out = Command::new(env!("CARGO_BIN_EXE_shale"))
        .args(["config", "--print-defaults"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(Path::new(ROOT).join("tools/shale.toml")).unwrap()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_shale"))
        .args(["config", "--check", "--config"])
        .arg(Path::new(ROOT).join("tools/systemd/shale.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
