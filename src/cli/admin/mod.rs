//! `shale admin`: the admin API (`server::admin`) from the command line.
//! Endpoint and credentials come from flags, then `SHALE_ENDPOINT` /
//! `SHALE_ACCESS_KEY` / `SHALE_SECRET_KEY`, then a config file's `[admin]`
//! section, then the config's listen address and the data dir's root
//! credentials. Tables for people, `--json` for scripts (the API's JSON).
//! Exit status: 0 done, 1 the node refused (its error is printed), 2 usage
//! or connection error.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{cli_error, CliError};
use crate::admin::parse_size;
use crate::admin::types::{
    BucketInfo, CreateKey, CreateUser, CreatedUser, ErrorBody, JobInfo, KeyInfo, ModifyUser,
    NodeInfo, Reloaded, ScheduleJob, SetQuota, UserInfo,
};
use crate::client::{Credentials, PayloadMode, Request, S3Client};

mod buckets;
mod jobs;
mod users;

use buckets::{bucket, BucketOp};
use jobs::{job, JobOp};
use users::{key, user, KeyOp, UserOp};

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// The node's URL, e.g. http://127.0.0.1:7480.
    #[arg(long, env = "SHALE_ENDPOINT", global = true)]
    endpoint: Option<String>,
    /// Access key of a system user (the root user's, by default).
    #[arg(long, env = "SHALE_ACCESS_KEY", global = true)]
    access_key: Option<String>,
    /// Its secret key.
    #[arg(long, env = "SHALE_SECRET_KEY", global = true, hide_env_values = true)]
    secret_key: Option<String>,
    /// A shale config file: its [admin] section, else its listen address
    /// and the root credentials in its data dir.
    #[arg(long, env = "SHALE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    what: AdminCommand,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Users: create, info, list, modify, suspend, enable, rm.
    User {
        #[command(subcommand)]
        op: UserOp,
    },
    /// Access keys: create, list, rm.
    Key {
        #[command(subcommand)]
        op: KeyOp,
    },
    /// Buckets: list, stats, quota, rm.
    Bucket {
        #[command(subcommand)]
        op: BucketOp,
    },
    /// The scrub: status and findings, or start a pass now.
    Scrub {
        #[command(subcommand)]
        op: ScrubOp,
    },
    /// Compaction: run a pass now (it also runs every compaction.interval_secs).
    Compact {
        #[command(subcommand)]
        op: CompactOp,
    },
    /// Jobs: schedule, list, show, cancel (purges, scrubs, orphan searches...).
    Job {
        #[command(subcommand)]
        op: JobOp,
    },
    /// The expiry pass: run it now (it also runs every expiry.interval_secs).
    Expiry {
        #[command(subcommand)]
        op: ExpiryOp,
    },
    /// Node info: version, zone, data dir usage, uptime, totals.
    ///
    /// Example: shale admin info
    Info,
    /// Make the node re-read its config file (what can change live).
    ///
    /// Example: shale admin reload
    Reload,
}

#[derive(Subcommand, Debug)]
enum ScrubOp {
    /// The state of the scrub, its last pass and what it found.
    ///
    /// Example: shale admin scrub status --json
    Status,
    /// Start a scrub pass now (it runs in the background; see status).
    ///
    /// Example: shale admin scrub run
    Run,
}

#[derive(Subcommand, Debug)]
enum CompactOp {
    /// Move live data out of mostly-dead segments and remove them.
    ///
    /// Example: shale admin compact run
    Run,
    /// The last compaction pass.
    ///
    /// Example: shale admin compact status --json
    Status,
}

#[derive(Subcommand, Debug)]
enum ExpiryOp {
    /// Delete what has expired now, up to --limit entries.
    ///
    /// Example: shale admin expiry run --limit 10000
    Run {
        #[arg(long)]
        limit: Option<u64>,
    },
}

/// When a purge runs.
#[derive(clap::Args, Debug)]
struct PurgeArgs {
    /// Remove the data too (as a deferred, cancellable job).
    #[arg(long)]
    purge_data: bool,
    /// Run the purge after this long: 7d, 12h, 30m, 90s.
    #[arg(long, requires = "purge_data", conflicts_with = "at", value_parser = parse_duration_secs)]
    after: Option<u64>,
    /// Run the purge at this time: 2026-12-09, 2026-12-09T08:00:00Z or Unix seconds.
    #[arg(long, requires = "purge_data", value_parser = parse_time)]
    at: Option<u64>,
}

impl PurgeArgs {
    fn query(&self) -> Vec<(String, String)> {
        if !self.purge_data {
            return vec![];
        }
        let mut q = vec![("purge-data".to_string(), String::new())];
        if let Some(a) = self.after {
            q.push(("after-secs".into(), a.to_string()));
        }
        if let Some(t) = self.at {
            q.push(("at".into(), t.to_string()));
        }
        q
    }
}

/// `7d`, `12h`, `30m`, `90s` or plain seconds.
fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let bad = || format!("{s:?}: expected a duration like 7d, 12h, 30m or 90s");
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'd')) => (s.get(..i), 86_400),
        Some((i, 'h')) => (s.get(..i), 3600),
        Some((i, 'm')) => (s.get(..i), 60),
        Some((i, 's')) => (s.get(..i), 1),
        _ => (Some(s), 1),
    };
    num.and_then(|n| n.trim().parse::<u64>().ok())
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(bad)
}

/// `2026-12-09` (midnight UTC), `2026-12-09T08:00:00Z`, or Unix seconds.
fn parse_time(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    if let Some(t) = crate::s3::time::parse_ymd(s) {
        return Ok(t);
    }
    let compact: String = s.chars().filter(|c| *c != '-' && *c != ':').collect();
    crate::s3::time::parse_amz_date(&compact).ok_or_else(|| {
        format!("{s:?}: expected a time like 2026-12-09, 2026-12-09T08:00:00Z or Unix seconds")
    })
}

/// A quota size: -1 (no limit) or a size.
fn parse_quota_size(s: &str) -> Result<i64, String> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    i64::try_from(parse_size(s)?).map_err(|_| format!("{s:?} is too large"))
}

/// Talks to the admin API.
struct AdminClient {
    s3: S3Client,
}

/// What a call ended in.
enum CallError {
    /// The node answered with an error.
    Refused(u16, String, String),
    /// No answer.
    Transport(String),
}

impl AdminClient {
    fn call<T: DeserializeOwned>(
        &mut self,
        method: &str,
        path: &str,
        query: Vec<(String, String)>,
        body: Option<&impl Serialize>,
    ) -> Result<Option<T>, CallError> {
        let body = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| CallError::Transport(e.to_string()))?,
            None => Vec::new(),
        };
        let mut headers = Vec::new();
        if !body.is_empty() {
            headers.push(("content-type".to_string(), "application/json".to_string()));
        }
        let send = |s3: &mut S3Client| {
            s3.send(
                method,
                "admin",
                path,
                Request {
                    query: query.clone(),
                    headers: headers.clone(),
                    body: &body,
                },
                PayloadMode::Signed,
            )
            .map_err(|e| CallError::Transport(e.to_string()))
        };
        let mut r = send(&mut self.s3)?;
        // Signed for another region than the node's (no --config to say
        // which): the node names its region, as S3 does; sign for that.
        if let Some(region) = r.header("x-amz-bucket-region").map(str::to_owned) {
            if r.status == 400 && region != self.s3.region() {
                self.s3.set_region(region);
                r = send(&mut self.s3)?;
            }
        }
        if r.status >= 300 {
            return Err(match serde_json::from_slice::<ErrorBody>(&r.body) {
                Ok(e) => CallError::Refused(r.status, e.error.code, e.error.message),
                Err(_) => {
                    // An S3 XML error (e.g. a bad signature before routing).
                    let code = crate::client::xml_texts(&r.body, "Error", "Code")
                        .into_iter()
                        .next()
                        .unwrap_or_else(|| format!("HTTP {}", r.status));
                    let msg = crate::client::xml_texts(&r.body, "Error", "Message")
                        .into_iter()
                        .next()
                        .unwrap_or_default();
                    CallError::Refused(r.status, code, msg)
                }
            });
        }
        if r.body.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&r.body)
            .map(Some)
            .map_err(|e| CallError::Transport(format!("unexpected answer: {e}")))
    }
}

const NO_BODY: Option<&()> = None;

fn endpoint_addr(endpoint: &str) -> Result<SocketAddr, CliError> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| {
            if endpoint.starts_with("https://") {
                cli_error(format!(
                    "{endpoint}: https is not supported by shale admin; use the node's http address (e.g. over an SSH tunnel)"
                ))
            } else {
                cli_error(format!(
                    "{endpoint}: the endpoint must look like http://HOST:PORT"
                ))
            }
        })?
        .trim_end_matches('/');
    let with_port = if rest.contains(':') {
        rest.to_string()
    } else {
        format!("{rest}:80")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| cli_error(format!("{endpoint}: cannot resolve: {e}")))?
        .next()
        .ok_or_else(|| cli_error(format!("{endpoint}: no address")))
}

/// Endpoint and credentials, from the first place that has them.
fn connection(a: &AdminArgs) -> Result<(SocketAddr, Credentials), CliError> {
    let env: std::collections::BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| !["SHALE_ACCESS_KEY", "SHALE_SECRET_KEY"].contains(&k.as_str()))
        .collect();
    let config = match &a.config {
        Some(p) => {
            Some(crate::config::load(Some(p), &env, &[]).map_err(|e| cli_error(e.to_string()))?)
        }
        None => None,
    };
    let cfg = config.clone().unwrap_or_default();
    let pick = |flag: &Option<String>, conf: &str| {
        flag.clone()
            .or_else(|| Some(conf.to_string()).filter(|s| !s.is_empty()))
    };
    let endpoint = pick(&a.endpoint, &cfg.admin.endpoint)
        .unwrap_or_else(|| format!("http://{}", cfg.listen.replace("0.0.0.0", "127.0.0.1")));
    let addr = endpoint_addr(&endpoint)?;
    let access = pick(&a.access_key, &cfg.admin.access_key);
    let secret = pick(&a.secret_key, &cfg.admin.secret_key);
    let (access_key, secret_key) = match (access, secret) {
        (Some(ak), Some(sk)) => (ak, sk),
        (None, None) => {
            let path = cfg.data_dir.join(crate::datadir::CREDENTIALS_FILE);
            let bytes = std::fs::read(&path).map_err(|e| {
                cli_error(format!(
                    "no credentials given (--access-key/--secret-key, SHALE_ACCESS_KEY/SHALE_SECRET_KEY or [admin] in --config), and {} cannot be read: {e}",
                    path.display()
                ))
            })?;
            let c: crate::datadir::RootCredentials = serde_json::from_slice(&bytes)
                .map_err(|e| cli_error(format!("{}: {e}", path.display())))?;
            (c.access_key, c.secret_key)
        }
        _ => {
            return Err(cli_error(
                "give both the access key and the secret key, or neither",
            ))
        }
    };
    Ok((
        addr,
        Credentials {
            access_key,
            secret_key,
            region: config.map_or_else(|| "us-east-1".to_string(), |c| c.region),
        },
    ))
}

pub fn run(a: AdminArgs) -> Result<ExitCode, CliError> {
    let (addr, creds) = connection(&a)?;
    let mut c = AdminClient {
        s3: S3Client::new(addr, creds),
    };
    match execute(&mut c, &a.what, a.json) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(CallError::Refused(status, code, message)) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"error": {"status": status, "code": code, "message": message}})
                );
            } else {
                eprintln!("error: {code}: {message}");
            }
            Ok(ExitCode::from(1))
        }
        Err(CallError::Transport(e)) => {
            Err(cli_error(format!("cannot reach the node at {addr}: {e}")))
        }
    }
}

fn show<T: Serialize>(json: bool, v: &T, table: impl FnOnce(&T)) {
    if json {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        table(v);
    }
}

fn execute(c: &mut AdminClient, what: &AdminCommand, json: bool) -> Result<(), CallError> {
    match what {
        AdminCommand::Info => {
            let i: NodeInfo = c.call("GET", "info", vec![], NO_BODY)?.unwrap_or_default();
            show(json, &i, |i| {
                print_pairs(&[
                    ("version", i.version.clone()),
                    ("zone", format!("{} ({})", i.zone_name, i.zone_id)),
                    ("data dir", i.data_dir.clone()),
                    ("data dir usage", human_bytes(i.data_dir_bytes)),
                    (
                        "disk",
                        format!(
                            "{} free of {}",
                            human_bytes(i.disk_free_bytes),
                            human_bytes(i.disk_total_bytes)
                        ),
                    ),
                    ("uptime", human_secs(i.uptime_secs)),
                    ("users", i.users.to_string()),
                    ("buckets", i.buckets.to_string()),
                    (
                        "objects",
                        format!("{} ({})", i.objects, human_bytes(i.bytes)),
                    ),
                ])
            });
        }
        AdminCommand::Reload => {
            let r: Reloaded = c
                .call("POST", "reload", vec![], NO_BODY)?
                .unwrap_or_default();
            show(json, &r, |r| {
                if r.changed.is_empty() {
                    println!("config reloaded; nothing changed");
                } else {
                    println!("config reloaded; changed: {}", r.changed.join(", "));
                }
            });
        }
        AdminCommand::Scrub {
            op: ScrubOp::Status,
        } => {
            let v: serde_json::Value = c.call("GET", "scrub", vec![], NO_BODY)?.unwrap_or_default();
            show(json, &v, |v| {
                let last = &v["last"];
                print_pairs(&[
                    ("running", v["running"].to_string()),
                    ("passes", v["passes"].to_string()),
                    (
                        "last pass",
                        if last.is_null() {
                            "none yet".to_string()
                        } else {
                            format!(
                                "{} segments, {} records, {} index pages, {} in {:.1} s",
                                last["segments"],
                                last["records"],
                                last["index_pages"],
                                human_bytes(last["bytes"].as_u64().unwrap_or(0)),
                                last["seconds"].as_f64().unwrap_or(0.0)
                            )
                        },
                    ),
                ]);
                let findings = last["findings"].as_array().cloned().unwrap_or_default();
                if !findings.is_empty() {
                    println!();
                    print_table(
                        &["KIND", "WHERE", "OFFSET", "PROBLEM"],
                        findings
                            .iter()
                            .map(|f| {
                                vec![
                                    f["kind"].as_str().unwrap_or_default().to_string(),
                                    f["location"].as_str().unwrap_or_default().to_string(),
                                    f["offset"].to_string(),
                                    f["error"].as_str().unwrap_or_default().to_string(),
                                ]
                            })
                            .collect(),
                    );
                }
            });
        }
        AdminCommand::Scrub { op: ScrubOp::Run } => {
            let v: serde_json::Value = c
                .call("POST", "scrub/run", vec![], NO_BODY)?
                .unwrap_or_default();
            show(json, &v, |_| {
                println!("scrub pass started; see `shale admin scrub status`")
            });
        }
        AdminCommand::Compact { op } => {
            let v: serde_json::Value = match op {
                CompactOp::Run => c.call("POST", "compact/run", vec![], NO_BODY)?,
                CompactOp::Status => c
                    .call::<serde_json::Value>("GET", "compact", vec![], NO_BODY)?
                    .and_then(|v| v.get("last").cloned()),
            }
            .unwrap_or_default();
            show(json, &v, |v| {
                if v.is_null() {
                    println!("no compaction pass has run yet");
                    return;
                }
                let b = |k: &str| human_bytes(v[k].as_u64().unwrap_or(0));
                print_pairs(&[
                    (
                        "sealed segments",
                        format!(
                            "{} ({}, {} live)",
                            v["segments"],
                            b("segment_bytes"),
                            b("live_bytes")
                        ),
                    ),
                    (
                        "compacted",
                        format!(
                            "{} segments, {} objects moved ({})",
                            v["compacted"],
                            v["moved_objects"],
                            b("moved_bytes")
                        ),
                    ),
                    (
                        "removed",
                        format!("{} segments ({} freed)", v["removed"], b("freed_bytes")),
                    ),
                    (
                        "waiting",
                        format!("{} segments in their grace period", v["waiting"]),
                    ),
                ])
            });
        }
        AdminCommand::Expiry {
            op: ExpiryOp::Run { limit },
        } => {
            let q = limit
                .iter()
                .map(|l| ("limit".to_string(), l.to_string()))
                .collect();
            let v: serde_json::Value = c
                .call("POST", "expiry/run", q, NO_BODY)?
                .unwrap_or_default();
            show(json, &v, |v| {
                println!(
                    "expired {} objects ({}), {} skipped, {} incomplete uploads aborted",
                    v["expired"],
                    human_bytes(v["bytes"].as_u64().unwrap_or(0)),
                    v["skipped"],
                    v["uploads_aborted"]
                )
            });
        }
        AdminCommand::User { op } => user(c, op, json)?,
        AdminCommand::Key { op } => key(c, op, json)?,
        AdminCommand::Bucket { op } => bucket(c, op, json)?,
        AdminCommand::Job { op } => job(c, op, json)?,
    }
    Ok(())
}

fn limit(v: Option<u64>, f: impl Fn(u64) -> String) -> String {
    v.map_or_else(|| "none".to_string(), f)
}

fn print_pairs(rows: &[(&str, String)]) {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:<w$}  {v}");
    }
}

fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(headers.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
    if rows.is_empty() {
        println!("(none)");
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS.get(i).copied().unwrap_or("B"))
    }
}

fn human_secs(s: u64) -> String {
    let (d, h, m) = (s / 86400, (s / 3600) % 24, (s / 60) % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m {}s", s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500"), Ok(500));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("2 MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5PiB").is_err());
        assert!(parse_size("99999999999999TiB").is_err());
        assert_eq!(parse_quota_size("-1"), Ok(-1));
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration_secs("7d"), Ok(7 * 86_400));
        assert_eq!(parse_duration_secs("12h"), Ok(43_200));
        assert_eq!(parse_duration_secs("30m"), Ok(1800));
        assert_eq!(parse_duration_secs("90s"), Ok(90));
        assert_eq!(parse_duration_secs("90"), Ok(90));
        assert!(parse_duration_secs("soon").is_err());
        assert!(parse_duration_secs("d").is_err());
        assert_eq!(parse_time("1800000000"), Ok(1_800_000_000));
        assert_eq!(parse_time("2026-12-09"), Ok(1_796_774_400));
        assert_eq!(
            parse_time("2026-12-09T08:00:00Z"),
            Ok(1_796_774_400 + 8 * 3600)
        );
        assert!(parse_time("tomorrow").is_err());
    }
}
