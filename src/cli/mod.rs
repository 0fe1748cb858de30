//! The `shale` command line: `serve`, `inspect`, `fsck`, `config`, `admin`.

mod admin;
mod fsck;
mod inspect;
mod logging;
mod notify;
pub mod progress;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "shale",
    version,
    about = "shale: a lightweight, S3-compatible object storage node",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open (and recover) a data dir and serve S3 over HTTP.
    ///
    /// On a new data dir the root credentials are taken from
    /// SHALE_ROOT_ACCESS_KEY / SHALE_ROOT_SECRET_KEY when both are set, or
    /// generated; they are stored in DATA_DIR/root-credentials.json (mode
    /// 0600) and printed once.
    ///
    /// Example: shale serve --data-dir /var/lib/shale --listen 0.0.0.0:7480
    Serve(serve::ServeArgs),
    /// Print the contents of on-disk files for a person, or as JSON.
    ///
    /// Example: shale inspect segment DATA_DIR/segments/0000000000000001.seg
    Inspect {
        #[command(subcommand)]
        what: inspect::InspectWhat,
    },
    /// Verify every record of a data dir; with --repair, fix what is safe.
    ///
    /// Checks each segment's header, every record's checksum, and the seals
    /// of older segments. --repair truncates a torn tail of the newest
    /// segment (what startup does). Corruption elsewhere is reported, never
    /// deleted. Exit status: 0 clean, 1 problems remain, 2 usage or I/O error.
    ///
    /// Example: shale fsck /var/lib/shale --json
    Fsck(fsck::FsckArgs),
    /// Print the default configuration (every key, documented), or check a
    /// config file and print the configuration it results in.
    ///
    /// Example: shale config --print-defaults > /etc/shale/shale.toml
    /// Example: shale config --check --config /etc/shale/shale.toml
    Config(ConfigArgs),
    /// Manage users, keys and buckets of a running node (its admin API).
    ///
    /// Example: shale admin --endpoint http://127.0.0.1:7480 --access-key AK
    /// --secret-key SK user create --uid alice --display-name Alice
    Admin(admin::AdminArgs),
}

#[derive(clap::Args, Debug)]
struct ConfigArgs {
    /// Print the annotated default config file.
    #[arg(long, conflicts_with = "check")]
    print_defaults: bool,
    /// Load the config (file, SHALE_* variables), validate it and print the
    /// result as TOML; exit 2 with the key and reason if it is invalid.
    #[arg(long)]
    check: bool,
    /// The config file to check.
    #[arg(long, env = "SHALE_CONFIG")]
    config: Option<std::path::PathBuf>,
}

fn config_command(a: ConfigArgs) -> Result<ExitCode, CliError> {
    if a.print_defaults || !a.check {
        print!("{}", crate::config::DEFAULTS_TOML);
        return Ok(ExitCode::SUCCESS);
    }
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let c = crate::config::load(a.config.as_deref(), &env, &[])
        .map_err(|e| cli_error(e.to_string()))?;
    let mut shown = c.clone();
    if !shown.admin.secret_key.is_empty() {
        shown.admin.secret_key = "<redacted>".into();
    }
    print!(
        "{}",
        toml::to_string(&shown).map_err(|e| cli_error(e.to_string()))?
    );
    Ok(ExitCode::SUCCESS)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Inspect { what } => inspect::run(what),
        Command::Fsck(args) => fsck::run(args),
        Command::Config(args) => config_command(args),
        Command::Admin(args) => admin::run(args),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// An error for the operator: what failed and, where known, what to do.
#[derive(Debug)]
pub struct CliError(String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            let s_msg = s.to_string();
            if !msg.contains(&s_msg) {
                msg.push_str(": ");
                msg.push_str(&s_msg);
            }
            src = s.source();
        }
        CliError(msg)
    }
}

pub(crate) fn cli_error(msg: impl Into<String>) -> CliError {
    CliError(msg.into())
}

/// The I/O backend for this process, with the one-line warning when
/// io_uring had to be given up.
pub(crate) fn detect_io() -> Result<crate::io::Io, CliError> {
    let d = crate::io::Io::detect()?;
    if let Some(reason) = d.fallback_reason {
        eprintln!(
            "warning: io_uring unavailable ({reason}); using the portable pread/pwrite backend"
        );
    }
    Ok(d.io)
}
