//! The command line: one subcommand per operation, the flags they share,
//! and their checked form ([`Config`]) that the rest of the tool reads.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use shale::client::{Credentials, PayloadMode};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// The largest object one PUT may carry (S3's limit).
const PUT_BYTES_MAX: u64 = 5 * GIB;
/// S3's minimum size of every multipart part but the last.
const PART_BYTES_MIN: u64 = 5 * MIB;
/// S3's largest part number.
const PARTS_MAX: u64 = 10_000;
/// The most keys one DeleteObjects request may name.
pub const DELETE_BATCH_MAX: usize = 1_000;
const CONCURRENCY_MAX: usize = 1_024;
/// aws-chunked chunk size of the `streaming` payload mode (minio-go's).
const STREAMING_CHUNK_BYTES: usize = 64 * 1024;

#[derive(Parser, Debug)]
#[command(
    name = "shale-bench",
    version,
    about = "A warp-style S3 load generator: runs one operation from many threads \
             against an endpoint and reports ops/s, MiB/s and latency percentiles.",
    long_about = None,
    after_help = "Exit status: 0 when every operation succeeded, 1 when any failed \
                  (HTTP status not 2xx, wrong size or content, transport error), \
                  2 on a usage error.\n\n\
                  Example: shale-bench get --endpoint http://127.0.0.1:9000 \
                  --access-key AK --secret-key SK --size 64KiB --concurrency 16"
)]
pub struct Cli {
    #[command(subcommand)]
    op: OpCommand,
}

#[derive(Subcommand, Debug)]
enum OpCommand {
    /// PUT objects of --size under distinct keys for --duration (or until
    /// --objects have been written).
    Put(Common),
    /// Prepare --objects objects, then GET random ones, checking size and
    /// every byte.
    Get(Common),
    /// Prepare --objects objects, then HEAD random ones, checking the size.
    Stat(Common),
    /// Prepare --objects objects, then delete them with DeleteObjects in
    /// batches (ends early when they run out).
    Delete {
        #[command(flatten)]
        common: Common,
        /// Keys per DeleteObjects request (1 to 1000).
        #[arg(long, default_value_t = 100)]
        batch: usize,
    },
    /// Prepare --objects objects, then list the bucket's run prefix in full
    /// (ListObjectsV2, following continuation tokens) again and again.
    List {
        #[command(flatten)]
        common: Common,
        /// List what is already under this prefix ("" for the whole
        /// bucket) instead of objects of its own: nothing is prepared or
        /// cleaned up, and --objects, when given, is the number of entries
        /// (keys and common prefixes) every listing must return.
        #[arg(long, value_name = "PREFIX")]
        existing_prefix: Option<String>,
        /// Group keys by this delimiter (ListObjectsV2 delimiter): a
        /// listing returns the keys before it and one common prefix per
        /// group, and its entries count both.
        #[arg(long)]
        delimiter: Option<String>,
    },
    /// Prepare --objects objects, then 45% GET, 15% PUT, 30% HEAD, 10%
    /// DELETE (warp's default mix); deleted objects are put again later.
    Mixed(Common),
    /// Upload objects of --size as multipart uploads of --part-size parts.
    Multipart {
        #[command(flatten)]
        common: Common,
        /// Size of each part but the last (at least 5 MiB).
        #[arg(long, default_value = "5MiB", value_parser = parse_size)]
        part_size: u64,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// The S3 endpoint, http://HOST:PORT.
    #[arg(long, env = "SHALE_BENCH_ENDPOINT")]
    endpoint: String,
    #[arg(long, env = "SHALE_BENCH_ACCESS_KEY")]
    access_key: String,
    #[arg(long, env = "SHALE_BENCH_SECRET_KEY", hide_env_values = true)]
    secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Created if missing; objects go under a fresh prefix per run.
    #[arg(long, default_value = "shale-bench")]
    bucket: String,
    /// put: spread the objects over this many buckets, BUCKET-000000 and
    /// on, created first at --concurrency (their creation is measured as
    /// CREATE-BUCKET). Needs --keep: the run leaves them.
    #[arg(long, default_value_t = 1)]
    buckets: u64,
    /// The run's keys are PREFIX/NNNNNNNNNN instead of under a fresh
    /// bench-XXXXXXXX/ (cleanup removes everything under PREFIX/).
    #[arg(long)]
    prefix: Option<String>,
    /// Worker threads, each with its own keep-alive connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Object size: a number with B, KiB, MiB, GiB (or KB, MB, GB).
    #[arg(long, default_value = "4KiB", value_parser = parse_size)]
    size: u64,
    /// Objects to prepare (get, stat, list, mixed: default 100; delete:
    /// default 5000), or the most to write (put, multipart).
    #[arg(long)]
    objects: Option<u64>,
    /// How long to run: a number with ms, s or m; 0 with put or multipart
    /// means until --objects are written, with delete until all are gone.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// How request bodies are signed.
    #[arg(long, value_enum, default_value_t = Payload::Streaming)]
    payload: Payload,
    /// One JSON line on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress line on stderr (there is none when it isn't a terminal).
    #[arg(long)]
    no_progress: bool,
    /// Leave the objects in the bucket at the end.
    #[arg(long)]
    keep: bool,
    /// The endpoint is a plain HTTP file server (nginx with WebDAV PUT),
    /// measured as the box's ceiling: no bucket is created, bodies are sent
    /// raw (UNSIGNED-PAYLOAD) and nothing is cleaned up (implies --keep).
    /// Only put, get and mixed (its HEAD and DELETE are plain HTTP too).
    #[arg(long)]
    plain_http: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Payload {
    /// The body's SHA-256 in the signature.
    Signed,
    /// UNSIGNED-PAYLOAD.
    Unsigned,
    /// STREAMING-AWS4-HMAC-SHA256-PAYLOAD in 64 KiB signed chunks (minio-go
    /// and warp over http).
    Streaming,
}

impl Payload {
    pub fn name(self) -> &'static str {
        match self {
            Payload::Signed => "signed",
            Payload::Unsigned => "unsigned",
            Payload::Streaming => "streaming",
        }
    }

    fn mode(self) -> PayloadMode {
        match self {
            Payload::Signed => PayloadMode::Signed,
            Payload::Unsigned => PayloadMode::Unsigned,
            Payload::Streaming => PayloadMode::StreamingSigned {
                chunk: STREAMING_CHUNK_BYTES,
            },
        }
    }
}

/// The operation and its own settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put,
    Get,
    Stat,
    Delete { batch: usize },
    List,
    Mixed,
    Multipart { part_bytes: usize },
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Stat => "stat",
            Op::Delete { .. } => "delete",
            Op::List => "list",
            Op::Mixed => "mixed",
            Op::Multipart { .. } => "multipart",
        }
    }

    /// Whether the operation works on a set of objects written first.
    fn prepares(self) -> bool {
        !matches!(self, Op::Put | Op::Multipart { .. })
    }
}

/// The checked settings of one run.
pub struct Config {
    pub op: Op,
    pub endpoint: String,
    pub addr: SocketAddr,
    pub creds: Credentials,
    pub bucket: String,
    /// put --buckets: objects spread over this many buckets.
    pub buckets: u64,
    /// --prefix: the run's keys go under it instead of a fresh one.
    pub prefix: Option<String>,
    /// list --existing-prefix: list this, prepare nothing.
    pub existing_prefix: Option<String>,
    /// list --delimiter.
    pub delimiter: Option<String>,
    pub concurrency: usize,
    pub size: usize,
    /// put, multipart: the most objects to write; list
    /// --existing-prefix: the entries a listing must return (if given);
    /// others: how many to prepare.
    pub objects: Option<u64>,
    /// None: no time limit.
    pub duration: Option<Duration>,
    pub payload: Payload,
    pub mode: PayloadMode,
    pub json: bool,
    pub progress: bool,
    pub keep: bool,
    pub plain_http: bool,
}

impl Config {
    /// Parses the command line; clap prints usage errors and exits 2.
    pub fn from_args() -> Result<Config, String> {
        Config::from_cli(Cli::parse())
    }

    /// Whether the run writes the objects it works on first.
    pub fn prepares(&self) -> bool {
        self.op.prepares() && self.existing_prefix.is_none()
    }

    fn from_cli(cli: Cli) -> Result<Config, String> {
        let (mut existing_prefix, mut delimiter) = (None, None);
        let (op, common, part_size) = match cli.op {
            OpCommand::Put(c) => (Op::Put, c, None),
            OpCommand::Get(c) => (Op::Get, c, None),
            OpCommand::Stat(c) => (Op::Stat, c, None),
            OpCommand::Delete { common, batch } => {
                if !(1..=DELETE_BATCH_MAX).contains(&batch) {
                    return Err(format!("--batch {batch}: must be 1 to {DELETE_BATCH_MAX}"));
                }
                (Op::Delete { batch }, common, None)
            }
            OpCommand::List {
                common,
                existing_prefix: existing,
                delimiter: delim,
            } => {
                if delim.as_deref() == Some("") {
                    return Err("--delimiter must not be empty".into());
                }
                (existing_prefix, delimiter) = (existing, delim);
                (Op::List, common, None)
            }
            OpCommand::Mixed(c) => (Op::Mixed, c, None),
            OpCommand::Multipart { common, part_size } => {
                (Op::Multipart { part_bytes: 0 }, common, Some(part_size))
            }
        };
        let c = common;
        let addr = parse_endpoint(&c.endpoint)?;
        if !(1..=CONCURRENCY_MAX).contains(&c.concurrency) {
            return Err(format!(
                "--concurrency {}: must be 1 to {CONCURRENCY_MAX}",
                c.concurrency
            ));
        }
        if c.bucket.is_empty() {
            return Err("--bucket must not be empty".into());
        }
        if c.prefix
            .as_deref()
            .is_some_and(|p| p.is_empty() || p.ends_with('/'))
        {
            return Err("--prefix must not be empty or end with /".into());
        }
        if c.access_key.is_empty() || c.secret_key.is_empty() {
            return Err("--access-key and --secret-key must not be empty".into());
        }
        let op = match (op, part_size) {
            (Op::Multipart { .. }, Some(part)) => Op::Multipart {
                part_bytes: check_parts(c.size, part)?,
            },
            _ if c.size > PUT_BYTES_MAX => {
                return Err(format!(
                    "--size {}: one PUT carries at most 5 GiB (use multipart)",
                    c.size
                ))
            }
            (op, _) => op,
        };
        let size = usize::try_from(c.size).map_err(|_| format!("--size {}: too large", c.size))?;
        let duration = (!c.duration.is_zero()).then_some(c.duration);
        let objects = match op {
            Op::Put | Op::Multipart { .. } => {
                if duration.is_none() && c.objects.is_none() {
                    return Err(format!(
                        "{} with --duration 0 needs --objects (when to stop)",
                        op.name()
                    ));
                }
                c.objects
            }
            Op::Delete { .. } => Some(c.objects.unwrap_or(5_000)),
            Op::List if existing_prefix.is_some() => {
                if duration.is_none() {
                    return Err("list needs a --duration above 0".into());
                }
                c.objects
            }
            Op::Get | Op::Stat | Op::List | Op::Mixed => {
                if duration.is_none() {
                    return Err(format!("{} needs a --duration above 0", op.name()));
                }
                Some(c.objects.unwrap_or(100))
            }
        };
        if c.buckets == 0 || c.buckets > 1_000_000 {
            return Err(format!("--buckets {}: must be 1 to 1000000", c.buckets));
        }
        if c.buckets > 1 && (op != Op::Put || !c.keep || c.plain_http) {
            return Err(
                "--buckets works with put and --keep only (the run leaves its buckets)".into(),
            );
        }
        if objects == Some(0) {
            return Err("--objects must be at least 1".into());
        }
        if c.plain_http && !matches!(op, Op::Put | Op::Get | Op::Mixed) {
            return Err("--plain-http works with put, get and mixed only".into());
        }
        let payload = if c.plain_http {
            Payload::Unsigned
        } else {
            c.payload
        };
        Ok(Config {
            op,
            endpoint: c.endpoint,
            addr,
            creds: Credentials {
                access_key: c.access_key,
                secret_key: c.secret_key,
                region: c.region,
            },
            bucket: c.bucket,
            buckets: c.buckets,
            prefix: c.prefix,
            // Nothing of its own to clean up.
            keep: c.keep || c.plain_http || existing_prefix.is_some(),
            existing_prefix,
            delimiter,
            concurrency: c.concurrency,
            size,
            objects,
            duration,
            payload,
            mode: payload.mode(),
            json: c.json,
            progress: !c.no_progress,
            plain_http: c.plain_http,
        })
    }
}

/// Checks a multipart shape; the part size as usize.
fn check_parts(size: u64, part: u64) -> Result<usize, String> {
    if size == 0 {
        return Err("multipart needs a --size above 0".into());
    }
    if part < PART_BYTES_MIN && part < size {
        return Err(format!(
            "--part-size {part}: S3 requires at least 5 MiB for every part but the last"
        ));
    }
    if part > PUT_BYTES_MAX {
        return Err(format!("--part-size {part}: a part is at most 5 GiB"));
    }
    if size.div_ceil(part) > PARTS_MAX {
        return Err(format!(
            "--size {size} in parts of {part} is more than {PARTS_MAX} parts"
        ));
    }
    usize::try_from(part).map_err(|_| format!("--part-size {part}: too large"))
}

/// `http://HOST:PORT` (or bare `HOST:PORT`) to one socket address.
fn parse_endpoint(s: &str) -> Result<SocketAddr, String> {
    if s.starts_with("https://") {
        return Err(format!(
            "--endpoint {s}: https is not supported (shale-bench speaks plain HTTP)"
        ));
    }
    let rest = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains("://") {
        return Err(format!("--endpoint {s}: expected http://HOST:PORT"));
    }
    let mut addrs = rest
        .to_socket_addrs()
        .map_err(|e| format!("--endpoint {s}: {e} (expected http://HOST:PORT)"))?;
    addrs
        .next()
        .ok_or_else(|| format!("--endpoint {s}: the host resolves to no address"))
}

/// `4KiB`, `64MiB`, `1GiB`, `10MB`, `512B`, `4096`: bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => KIB,
        "m" | "mib" => MIB,
        "g" | "gib" => GIB,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit (use B, KiB, MiB, GiB, KB, MB or GB)"
            ))
        }
    };
    scale(num, mult as f64).ok_or_else(|| format!("{s:?}: expected a size like 4KiB or 64MiB"))
}

/// `10s`, `1m`, `1.5s`, `500ms`, `0`: a duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let millis = match unit.trim() {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "" if num.parse::<f64>().is_ok_and(|v| v == 0.0) => 0.0,
        "" => return Err(format!("{s:?}: give a unit (s, m or ms), e.g. 10s")),
        _ => return Err(format!("{s:?}: unknown unit (use s, m or ms)")),
    };
    scale(num, millis)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{s:?}: expected a duration like 10s or 1m"))
}

/// `num * mult` rounded, when num is a plain non-negative number and the
/// product fits.
fn scale(num: &str, mult: f64) -> Option<u64> {
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let v = num.parse::<f64>().ok()? * mult;
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then(|| v.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4kb"), Ok(4_000));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert!(parse_size("4XB").is_err());
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("-1KiB").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn durations_take_seconds_and_minutes() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10h").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn endpoints_need_http_and_a_port() {
        assert_eq!(
            parse_endpoint("http://127.0.0.1:9000/"),
            Ok("127.0.0.1:9000".parse().unwrap())
        );
        assert!(parse_endpoint("https://127.0.0.1:9000").is_err());
        assert!(parse_endpoint("http://127.0.0.1").is_err());
        assert!(parse_endpoint("http://127.0.0.1:9000/bucket").is_err());
    }

    #[test]
    fn multipart_parts_follow_s3_limits() {
        assert_eq!(check_parts(12 * MIB, 5 * MIB), Ok(5 * MIB as usize));
        assert_eq!(check_parts(MIB, MIB), Ok(MIB as usize));
        assert!(check_parts(12 * MIB, MIB).is_err());
        assert!(check_parts(0, 5 * MIB).is_err());
        assert!(check_parts(100_000 * 5 * MIB, 5 * MIB).is_err());
    }
}
