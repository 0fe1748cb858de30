//! `shale serve`: open the data dir, recover, listen.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{detect_io, CliError};
use crate::config::Config;
use crate::datadir::{self, CredentialsOrigin};
use crate::segment::{SegmentOptions, SegmentStore};
use crate::server::{Server, ServerOptions};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// TOML config file (every key is documented by `shale config
    /// --print-defaults`); environment variables and flags override it.
    #[arg(long, env = "SHALE_CONFIG")]
    config: Option<PathBuf>,
    /// Directory that holds all of this node's data; created if missing.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// HTTP threads, each with its own runtime and listener; 0 = one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Size at which a segment file is sealed and a new one started, in MiB.
    #[arg(long)]
    segment_size_mib: Option<u64>,
    /// Domain for virtual-hosted-style requests: `BUCKET.DOMAIN` names the
    /// bucket (path-style requests work either way).
    #[arg(long)]
    base_domain: Option<String>,
    /// Region this node reports and signs for.
    #[arg(long)]
    region: Option<String>,
    /// Index shards of a new bucket.
    #[arg(long)]
    bucket_shards: Option<u32>,
    /// Seconds between index checkpoints (commit the trees, trim the logs).
    #[arg(long)]
    checkpoint_secs: Option<u64>,
    /// Name of this node's zone, recorded when the data dir is created.
    #[arg(long)]
    zone_name: Option<String>,
    /// error, warn, info, debug or trace.
    #[arg(long)]
    log_level: Option<String>,
}

impl ServeArgs {
    /// The flags given, as config key paths and values.
    fn overrides(&self) -> Vec<(&'static str, toml::Value)> {
        use toml::Value as V;
        let mut v = Vec::new();
        let int = |n: u64| V::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        if let Some(d) = &self.data_dir {
            v.push(("data_dir", V::String(d.display().to_string())));
        }
        if let Some(l) = &self.listen {
            v.push(("listen", V::String(l.to_string())));
        }
        if let Some(t) = self.threads {
            v.push(("threads", int(t as u64)));
        }
        if let Some(n) = self.segment_size_mib {
            v.push(("storage.segment_size_mib", int(n)));
        }
        if let Some(d) = &self.base_domain {
            v.push(("base_domain", V::String(d.clone())));
        }
        if let Some(r) = &self.region {
            v.push(("region", V::String(r.clone())));
        }
        if let Some(n) = self.bucket_shards {
            v.push(("storage.bucket_shards", int(u64::from(n))));
        }
        if let Some(n) = self.checkpoint_secs {
            v.push(("storage.checkpoint_secs", int(n)));
        }
        if let Some(z) = &self.zone_name {
            v.push(("zone_name", V::String(z.clone())));
        }
        if let Some(l) = &self.log_level {
            v.push(("log.level", V::String(l.clone())));
        }
        v
    }

    fn load(&self) -> Result<Config, CliError> {
        let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        crate::config::load(self.config.as_deref(), &env, &self.overrides())
            .map_err(|e| super::cli_error(format!("{e}")))
    }
}

pub fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    // Block SIGTERM/SIGINT/SIGHUP before any thread starts (threads
    // inherit the mask): a signal that arrives at any moment, even right
    // after the "listening" line, stays pending until `wait_for_signal`
    // takes it.
    let signals = block_signals()?;
    let config = args.load()?;
    let log = super::logging::init(&config.log.level, config.log.format == "json")
        .map_err(super::cli_error)?;
    let data_dir = config.data_dir.clone();
    if std::env::var(crate::clock::TEST_CLOCK_ENV).is_ok_and(|v| v == "1") {
        crate::clock::enable_test_clock();
        tracing::warn!(
            "SHALE_TEST_CLOCK=1: the expiry clock can be moved through the admin API (tests only)"
        );
    }
    let listen = config
        .listen_addr()
        .map_err(|e| super::cli_error(e.to_string()))?;
    raise_open_files_limit();
    let io = detect_io()?;
    let _lock = datadir::lock(&data_dir)?;
    let env_creds = datadir::credentials_from_env();
    let (creds, origin) = datadir::load_or_create_credentials(&io, &data_dir, env_creds.clone())?;
    let creds_path = data_dir.join(datadir::CREDENTIALS_FILE);
    match origin {
        CredentialsOrigin::Generated => {
            println!(
                "created root credentials, stored in {} (mode 0600):",
                creds_path.display()
            );
            println!("  access key: {}", creds.access_key);
            println!("  secret key: {}", creds.secret_key);
        }
        CredentialsOrigin::FromEnv => {
            println!(
                "created root credentials from {} / {}, stored in {} (mode 0600)",
                datadir::ENV_ROOT_ACCESS_KEY,
                datadir::ENV_ROOT_SECRET_KEY,
                creds_path.display()
            );
            println!("  access key: {}", creds.access_key);
        }
        CredentialsOrigin::Existing => {
            if matches!(&env_creds, Some((a, _)) if *a != creds.access_key) {
                eprintln!(
                    "warning: {} is ignored: this data dir already has root credentials in {}",
                    datadir::ENV_ROOT_ACCESS_KEY,
                    creds_path.display()
                );
            }
            println!(
                "root access key: {} (secret in {})",
                creds.access_key,
                creds_path.display()
            );
        }
    }

    let options = SegmentOptions {
        segment_size_bytes_max: config.storage.segment_size_mib * 1024 * 1024,
        ..SegmentOptions::default()
    };
    let (store, report) =
        SegmentStore::open(io.clone(), &datadir::segments_dir(&data_dir), options)?;
    for t in &report.truncated {
        tracing::warn!(
            "recovery: truncated the torn tail of {} at offset {} ({} bytes dropped: {})",
            t.path.display(),
            t.offset,
            t.bytes_dropped,
            t.reason
        );
    }
    for t in &report.removed_temp_files {
        tracing::warn!("recovery: removed unfinished segment file {}", t.display());
    }

    let wal = crate::index::wal::IndexWal::attach(&io, store.clone())
        .map_err(|e| super::cli_error(format!("replaying the node log: {e}")))?;
    let (replayed, replay_bytes) = wal.replayed();
    tracing::info!(
        entries = replayed,
        bytes_read = replay_bytes,
        "replayed the node log past its checkpoint"
    );

    let index_options = crate::index::bucket::BucketIndexOptions {
        shards: config.storage.bucket_shards,
        open_shards_max: open_shards_within_limit(config.storage.open_shards_max),
        ..Default::default()
    };
    let opening = std::time::Instant::now();
    let meta = std::sync::Arc::new(
        crate::meta::store::MetaStore::open(&io, &datadir::meta_dir(&data_dir), 0)
            .map_err(|e| super::cli_error(format!("opening the metadata log: {e}")))?,
    );
    io.block_on(meta.bootstrap(&config.zone_name, &creds.access_key, &creds.secret_key))
        .map_err(|e| super::cli_error(format!("cannot start the metadata runtime: {e}")))?
        .map_err(|e| super::cli_error(format!("setting up the metadata log: {e}")))?;
    tracing::info!(
        secs = opening.elapsed().as_secs_f64(),
        buckets = meta.read(|t| t.buckets.len()),
        "opened the metadata log"
    );
    let opening = std::time::Instant::now();
    let mut objects = crate::object::ObjectStore::open(
        &io,
        &data_dir,
        std::sync::Arc::clone(&wal),
        index_options,
        std::sync::Arc::clone(&meta),
        crate::meta::ops::ROOT_UID,
    )
    .map_err(super::cli_error)?;
    tracing::info!(secs = opening.elapsed().as_secs_f64(), "opened the buckets");
    let key_path = match config.encryption.master_key_file.as_str() {
        "" => data_dir.join(datadir::MASTER_KEY_FILE),
        _ => config.master_key_path(),
    };
    let (master_keys, created) =
        load_or_create_master_keys(&io, &key_path).map_err(super::cli_error)?;
    if created {
        tracing::info!(path = %key_path.display(), "created the SSE-S3 master key file (mode 0600); back it up apart from the data");
    }
    objects.set_master_keys(master_keys);
    objects.set_upload_limits(crate::object::chunk_pool::PoolLimits::with_share(
        usize::try_from(config.http.upload_buffer_mib).unwrap_or(usize::MAX),
        config.http.upload_budget_user_share,
        std::time::Duration::from_secs(config.http.upload_budget_user_wait_secs),
    ));
    let uploads =
        crate::object::multipart::Uploads::open(&io, &data_dir, objects.upload_usage_map())
            .map_err(super::cli_error)?;
    let jobs = std::sync::Arc::new(
        crate::jobs::store::JobStore::open(&io, &datadir::jobs_dir(&data_dir), meta.zone())
            .map_err(|e| super::cli_error(format!("opening the job log: {e}")))?,
    );
    let incarnation = datadir::new_incarnation()
        .map_err(|e| super::cli_error(format!("a random incarnation id: {e}")))?;
    let lessor = crate::jobs::lease::Lessor::new(
        std::sync::Arc::clone(&meta),
        incarnation,
        std::time::Duration::from_secs(config.jobs.lease_secs),
    );
    let node = crate::node::Node::new(
        objects,
        uploads,
        std::sync::Arc::clone(&meta),
        config.region.clone(),
        data_dir.clone(),
        (jobs, lessor.clone()),
    );
    node.uploads.set_limits(
        config.multipart.uploads_per_bucket_max,
        config.multipart.uploads_per_user_max,
    );
    let node = std::sync::Arc::new(node);
    node.purge_delay_secs.store(
        config.jobs.purge_delay_secs,
        std::sync::atomic::Ordering::Relaxed,
    );
    node.scrub_mib_per_sec.store(
        config.scrub.max_mib_per_sec,
        std::sync::atomic::Ordering::Relaxed,
    );
    crate::node::runner::spawn(
        io.clone(),
        std::sync::Arc::clone(&node),
        lessor,
        std::time::Duration::from_secs(config.jobs.interval_secs),
    );
    // The HTTP side of the node.
    let mut front = crate::server::front::Front::new(
        std::sync::Arc::clone(&node),
        Some(config.base_domain.clone()).filter(|d| !d.is_empty()),
    );
    front.body_min_rate = Some(crate::server::body_rate::MinRate {
        bytes_per_sec: config.http.body_min_bytes_per_sec,
        window: std::time::Duration::from_secs(config.http.body_rate_window_secs),
        grace: std::time::Duration::from_secs(config.http.body_rate_grace_secs),
    });
    *front.metrics_options.write() = config.metrics.clone();
    let front = std::sync::Arc::new(front);
    front.set_access_log(config.log.access_log);
    let reload = Reloader {
        args,
        current: std::sync::Mutex::new(config.reloadable()),
        log,
        front: std::sync::Arc::downgrade(&front),
    };
    let reload = std::sync::Arc::new(reload);
    {
        let r = std::sync::Arc::clone(&reload);
        let _ = node.reloader.set(Box::new(move || r.reload()));
    }
    crate::node::workers::spawn_checkpointer(
        &io,
        std::sync::Arc::clone(&node),
        config.storage.checkpoint_secs,
    );
    crate::node::workers::spawn_lifecycle_reevaluation(&io, std::sync::Arc::clone(&node));
    crate::node::workers::spawn_scrub(
        &io,
        std::sync::Arc::clone(&node),
        (config.scrub.interval_secs > 0)
            .then(|| std::time::Duration::from_secs(config.scrub.interval_secs)),
        config.scrub.max_mib_per_sec,
    );
    node.store
        .set_reserve(config.storage.reserve_mib.saturating_mul(1024 * 1024));
    *node.compact_options.lock() = crate::object::compact::CompactOptions {
        live_fraction: config.compaction.live_percent as f64 / 100.0,
        max_move_bytes: config.compaction.max_move_mib.saturating_mul(1024 * 1024),
        grace: std::time::Duration::from_secs(config.compaction.grace_secs),
        max_bytes_per_sec: config
            .compaction
            .max_mib_per_sec
            .saturating_mul(1024 * 1024),
    };
    if config.compaction.interval_secs > 0 {
        crate::node::workers::spawn_compaction(
            &io,
            std::sync::Arc::clone(&node),
            config.compaction.interval_secs,
        );
    }
    crate::node::workers::spawn_expiry(
        &io,
        std::sync::Arc::clone(&node),
        (config.expiry.interval_secs > 0)
            .then(|| std::time::Duration::from_secs(config.expiry.interval_secs)),
        config.expiry.batch,
        config.expiry.max_per_sec,
    );
    let server = Server::start(
        &io,
        ServerOptions {
            listen,
            threads: config.threads,
            connections_per_thread_max: config.http.connections_per_thread_max,
            connections_per_ip_max: config.http.connections_per_ip_max,
            header_read_timeout: std::time::Duration::from_secs(
                config.http.header_read_timeout_secs,
            ),
            drain_timeout: std::time::Duration::from_secs(config.http.drain_timeout_secs),
            ..ServerOptions::default()
        },
        std::sync::Arc::clone(&front),
    )
    .map_err(|e| super::cli_error(format!("cannot listen on {listen}: {e}")))?;
    println!(
        "shale listening on http://{} (data dir {}, {} I/O, {} segments)",
        server.local_addr(),
        data_dir.display(),
        io.kind(),
        report.segments
    );
    let _ = std::io::stdout().flush();
    tracing::info!(addr = %server.local_addr(), "ready");
    if let Err(e) = super::notify::notify("READY=1") {
        tracing::warn!(error = %e, "cannot tell systemd that shale is ready");
    }

    let signal = loop {
        match wait_for_signal(&signals)? {
            libc::SIGHUP => match reload.reload() {
                Ok(changed) if changed.is_empty() => {
                    tracing::info!("SIGHUP: config reloaded, nothing changed")
                }
                Ok(changed) => {
                    tracing::info!(changed = %changed.join(", "), "SIGHUP: config reloaded")
                }
                Err(e) => tracing::error!(error = %e, "SIGHUP: config not reloaded"),
            },
            libc::SIGINT => break "SIGINT",
            _ => break "SIGTERM",
        }
    };
    let _ = super::notify::notify("STOPPING=1");
    eprintln!("{signal}: stopping");
    node.set_draining();
    server.shutdown();
    if let Err(e) = io
        .block_on(node.store.checkpoint())
        .map_err(|e| e.to_string())
        .and_then(|r| r)
    {
        tracing::warn!(error = %e, "final index checkpoint failed");
    }
    drop(front);
    drop(node);
    drop(store);
    println!("shale stopped");
    Ok(ExitCode::SUCCESS)
}

/// Raises the soft limit of open files to the hard one, as a node needs a
/// descriptor per connection (thousands) and systemd's default soft limit
/// is 1024. A failure only leaves the limit as it was.
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer for getrlimit and is only read
    // by setrlimit.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max && {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
        }
    };
    if raised {
        tracing::debug!(open_files = lim.rlim_cur, "raised the open files limit");
    }
}

/// Loads the SSE-S3 master keys from `path`, first creating the file
/// with one random key (id 1; written atomically, mode 0600) if it does
/// not exist. Returns the keys and whether the file was created.
fn load_or_create_master_keys(
    io: &crate::io::Io,
    path: &std::path::Path,
) -> Result<(crate::object::sse::MasterKeys, bool), String> {
    use crate::object::sse::MasterKeys;
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        format!("the SSE-S3 master key file {}: {what}: {e}", path.display())
    };
    let created = !io.exists(path).map_err(|e| bad("checking", &e))?;
    if created {
        let text = MasterKeys::generate().map_err(|e| bad("generating a key", &e))?;
        io.write_file_atomic(path, text.as_bytes(), 0o600)
            .map_err(|e| bad("writing", &e))?;
    }
    let bytes = io.read_file(path).map_err(|e| bad("reading", &e))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("reading", &"not UTF-8 text"))?;
    let keys = MasterKeys::parse(&text).map_err(|e| bad("parsing", &e))?;
    Ok((keys, created))
}

/// `wanted` open index shards, or fewer if the open-files limit would
/// not leave half of it for connections and segments.
fn open_shards_within_limit(wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer for getrlimit.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 };
    let room = usize::try_from(lim.rlim_cur / 2).unwrap_or(usize::MAX);
    if known && room < wanted {
        tracing::warn!(
            wanted,
            open = room.max(16),
            "storage.open_shards_max is more than half the open-files limit allows; fewer shards stay open (raise LimitNOFILE)"
        );
        return room.max(16);
    }
    wanted
}

/// SIGTERM, SIGINT and SIGHUP, blocked in the calling thread (and so in
/// every thread it starts afterwards).
fn block_signals() -> Result<libc::sigset_t, CliError> {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it
    // and pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(super::cli_error(format!(
                "cannot block SIGTERM/SIGINT/SIGHUP: {}",
                std::io::Error::from_raw_os_error(rc)
            )));
        }
        Ok(set)
    }
}

/// Waits for a blocked signal; returns its number.
fn wait_for_signal(set: &libc::sigset_t) -> Result<libc::c_int, CliError> {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` was initialised by `block_signals`; `sig` is a valid
    // out-pointer.
    let rc = unsafe { libc::sigwait(set, &mut sig) };
    if rc != 0 {
        return Err(super::cli_error(format!(
            "waiting for a signal failed: {}",
            std::io::Error::from_raw_os_error(rc)
        )));
    }
    Ok(sig)
}

/// Re-reads the configuration (file, environment, the original flags) and
/// applies what may change while serving: the log level and the access
/// log. Other changed keys are reported as needing a restart.
struct Reloader {
    args: ServeArgs,
    current: std::sync::Mutex<crate::config::Reloadable>,
    log: Option<super::logging::LogLevelHandle>,
    front: std::sync::Weak<crate::server::front::Front>,
}

impl Reloader {
    fn reload(&self) -> Result<Vec<String>, String> {
        let config = self.args.load().map_err(|e| e.to_string())?;
        let next = config.reloadable();
        let mut cur = self
            .current
            .lock()
            .map_err(|_| "reload state poisoned".to_string())?;
        let mut changed = Vec::new();
        if next.log_level != cur.log_level {
            if let Some(h) = &self.log {
                h.set(&next.log_level)?;
            }
            changed.push(format!("log.level = {:?}", next.log_level));
        }
        if next.access_log != cur.access_log {
            if let Some(f) = self.front.upgrade() {
                f.set_access_log(next.access_log);
            }
            changed.push(format!("log.access_log = {}", next.access_log));
        }
        *cur = next;
        Ok(changed)
    }
}
