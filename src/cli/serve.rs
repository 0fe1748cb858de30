//! `shale serve`: open the data dir, recover, listen.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{default_data_dir, detect_io, CliError};
use crate::datadir::{self, CredentialsOrigin};
use crate::segment::{SegmentOptions, SegmentStore};
use crate::server::{Server, ServerOptions};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Directory that holds all of this node's data; created if missing.
    #[arg(long, env = "SHALE_DATA_DIR", default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "SHALE_LISTEN", default_value = "127.0.0.1:7480")]
    listen: SocketAddr,
    /// HTTP threads, each with its own runtime and listener; 0 = one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Size at which a segment file is sealed and a new one started, in MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    segment_size_mib: u64,
    /// Domain for virtual-hosted-style requests: `BUCKET.DOMAIN` names the
    /// bucket (path-style requests work either way).
    #[arg(long, env = "SHALE_BASE_DOMAIN")]
    base_domain: Option<String>,
    /// Region this node reports and signs for.
    #[arg(long, env = "SHALE_REGION", default_value = "us-east-1")]
    region: String,
    /// Index shards of a new bucket.
    #[arg(long, default_value_t = crate::index::bucket::DEFAULT_SHARDS, value_parser = clap::value_parser!(u32).range(1..=65521))]
    bucket_shards: u32,
    /// Name of this node's zone, recorded when the data dir is created.
    #[arg(long, env = "SHALE_ZONE_NAME", default_value = "default")]
    zone_name: String,
    /// Seconds between index checkpoints (commit the trees, trim the logs).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    checkpoint_secs: u64,
}

pub fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    // Block SIGTERM/SIGINT before any thread starts (threads inherit the
    // mask): a signal that arrives at any moment, even right after the
    // "listening" line, stays pending until `wait_for_signal` takes it.
    let stop_signals = block_stop_signals()?;
    let io = detect_io()?;
    let _lock = datadir::lock(&args.data_dir)?;
    let env_creds = datadir::credentials_from_env();
    let (creds, origin) =
        datadir::load_or_create_credentials(&io, &args.data_dir, env_creds.clone())?;
    let creds_path = args.data_dir.join(datadir::CREDENTIALS_FILE);
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
        segment_size_bytes_max: args.segment_size_mib * 1024 * 1024,
        ..SegmentOptions::default()
    };
    let (store, report) =
        SegmentStore::open(io.clone(), &datadir::segments_dir(&args.data_dir), options)?;
    for t in &report.truncated {
        eprintln!(
            "recovery: truncated the torn tail of {} at offset {} ({} bytes dropped: {})",
            t.path.display(),
            t.offset,
            t.bytes_dropped,
            t.reason
        );
    }
    for t in &report.removed_temp_files {
        eprintln!("recovery: removed unfinished segment file {}", t.display());
    }

    let index_options = crate::index::bucket::BucketIndexOptions {
        shards: args.bucket_shards,
        ..Default::default()
    };
    let meta = std::sync::Arc::new(
        crate::meta::store::MetaStore::open(&io, &datadir::meta_dir(&args.data_dir), 0)
            .map_err(|e| super::cli_error(format!("opening the metadata log: {e}")))?,
    );
    io.block_on(meta.bootstrap(&args.zone_name, &creds.access_key, &creds.secret_key))
        .map_err(|e| super::cli_error(format!("cannot start the metadata runtime: {e}")))?
        .map_err(|e| super::cli_error(format!("setting up the metadata log: {e}")))?;
    let objects = crate::object::ObjectStore::open(
        &io,
        &args.data_dir,
        store.clone(),
        index_options,
        std::sync::Arc::clone(&meta),
        crate::meta::ops::ROOT_UID,
    )
    .map_err(super::cli_error)?;
    let uploads =
        crate::object::multipart::Uploads::open(&io, &args.data_dir).map_err(super::cli_error)?;
    let node = std::sync::Arc::new(crate::server::s3::Node::new(
        objects,
        uploads,
        std::sync::Arc::clone(&meta),
        args.base_domain.clone(),
        args.region.clone(),
        args.data_dir.clone(),
    ));
    spawn_checkpointer(&io, std::sync::Arc::clone(&node), args.checkpoint_secs);
    let server = Server::start(
        &io,
        ServerOptions {
            listen: args.listen,
            threads: args.threads,
            ..ServerOptions::default()
        },
        std::sync::Arc::clone(&node),
    )
    .map_err(|e| super::cli_error(format!("cannot listen on {}: {e}", args.listen)))?;
    println!(
        "shale listening on http://{} (data dir {}, {} I/O, {} segments)",
        server.local_addr(),
        args.data_dir.display(),
        io.kind(),
        report.segments
    );
    let _ = std::io::stdout().flush();

    let signal = wait_for_signal(&stop_signals)?;
    eprintln!("{signal}: stopping");
    server.shutdown();
    if let Err(e) = io
        .block_on(node.store.checkpoint())
        .map_err(|e| e.to_string())
        .and_then(|r| r)
    {
        eprintln!("warning: final index checkpoint failed: {e}");
    }
    drop(node);
    drop(store);
    println!("shale stopped");
    Ok(ExitCode::SUCCESS)
}

/// Checkpoints every bucket index now and then, so restarts replay short
/// logs and the logs are trimmed.
fn spawn_checkpointer(
    io: &crate::io::Io,
    node: std::sync::Arc<crate::server::s3::Node>,
    secs: u64,
) {
    let io = io.clone();
    let _ = std::thread::Builder::new()
        .name("shale-checkpoint".into())
        .spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_secs(secs));
            match io.block_on(node.store.checkpoint()) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("warning: index checkpoint failed: {e}"),
                Err(e) => eprintln!("warning: index checkpoint could not run: {e}"),
            }
        });
}

/// SIGTERM and SIGINT, blocked in the calling thread (and so in every
/// thread it starts afterwards).
fn block_stop_signals() -> Result<libc::sigset_t, CliError> {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it
    // and pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(super::cli_error(format!(
                "cannot block SIGTERM/SIGINT: {}",
                std::io::Error::from_raw_os_error(rc)
            )));
        }
        Ok(set)
    }
}

/// Waits for a blocked stop signal; returns its name.
fn wait_for_signal(set: &libc::sigset_t) -> Result<&'static str, CliError> {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` was initialised by `block_stop_signals`; `sig` is a
    // valid out-pointer.
    let rc = unsafe { libc::sigwait(set, &mut sig) };
    if rc != 0 {
        return Err(super::cli_error(format!(
            "waiting for a signal failed: {}",
            std::io::Error::from_raw_os_error(rc)
        )));
    }
    Ok(if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    })
}
