//! The node's configuration: a TOML file (`tools/shale.toml` documents
//! every key with its default; `shale config --print-defaults` prints it),
//! overridden by `SHALE_*` environment variables and then by flags.
//! Loading is pure apart from reading the file: parse, overlay, validate,
//! and every failure names the key and the reason.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The annotated default configuration, as shipped in `tools/shale.toml`.
pub const DEFAULTS_TOML: &str = include_str!("../tools/shale.toml");

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: String,
    pub threads: usize,
    pub region: String,
    pub base_domain: String,
    pub zone_name: String,
    pub storage: StorageConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    pub expiry: ExpiryConfig,
    pub scrub: ScrubConfig,
    pub compaction: CompactionConfig,
    pub jobs: JobsConfig,
    pub multipart: MultipartConfig,
    pub metrics: MetricsConfig,
    pub admin: AdminConfig,
    pub encryption: EncryptionConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// The SSE-S3 master key file; "" = `DATA_DIR/sse-master.key`.
    pub master_key_file: String,
}

impl Config {
    /// Where the SSE-S3 master key file is.
    pub fn master_key_path(&self) -> PathBuf {
        if self.encryption.master_key_file.is_empty() {
            self.data_dir.join(crate::datadir::MASTER_KEY_FILE)
        } else {
            PathBuf::from(&self.encryption.master_key_file)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultipartConfig {
    pub uploads_per_bucket_max: u64,
    pub uploads_per_user_max: u64,
}

impl Default for MultipartConfig {
    fn default() -> Self {
        MultipartConfig {
            uploads_per_bucket_max: crate::object::multipart::UPLOADS_PER_BUCKET_MAX_DEFAULT,
            uploads_per_user_max: crate::object::multipart::UPLOADS_PER_USER_MAX_DEFAULT,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub token: String,
    pub bucket_labels: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            token: String::new(),
            bucket_labels: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    pub interval_secs: u64,
    pub lease_secs: u64,
    pub purge_delay_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            interval_secs: 1,
            lease_secs: 300,
            purge_delay_secs: 7 * 86_400,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    pub interval_secs: u64,
    pub live_percent: u64,
    pub grace_secs: u64,
    pub max_move_mib: u64,
    pub max_mib_per_sec: u64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            interval_secs: 300,
            live_percent: 50,
            grace_secs: 60,
            max_move_mib: 1024,
            max_mib_per_sec: 64,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrubConfig {
    pub interval_secs: u64,
    pub max_mib_per_sec: u64,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            interval_secs: 86_400,
            max_mib_per_sec: 64,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpiryConfig {
    pub interval_secs: u64,
    pub batch: usize,
    pub max_per_sec: u64,
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        ExpiryConfig {
            interval_secs: 1,
            batch: 10_000,
            max_per_sec: 1000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub segment_size_mib: u64,
    pub bucket_shards: u32,
    pub checkpoint_secs: u64,
    pub reserve_mib: u64,
    pub open_shards_max: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub drain_timeout_secs: u64,
    pub header_read_timeout_secs: u64,
    pub connections_per_thread_max: usize,
    pub connections_per_ip_max: usize,
    pub upload_buffer_mib: u64,
    pub upload_budget_user_share: u64,
    pub upload_budget_user_wait_secs: u64,
    pub body_min_bytes_per_sec: u64,
    pub body_rate_window_secs: u64,
    pub body_rate_grace_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: String,
    pub format: String,
    pub access_log: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("shale-data"),
            listen: "127.0.0.1:7480".into(),
            threads: 0,
            region: "us-east-1".into(),
            base_domain: String::new(),
            zone_name: "default".into(),
            storage: StorageConfig::default(),
            http: HttpConfig::default(),
            log: LogConfig::default(),
            expiry: ExpiryConfig::default(),
            scrub: ScrubConfig::default(),
            compaction: CompactionConfig::default(),
            jobs: JobsConfig::default(),
            multipart: MultipartConfig::default(),
            metrics: MetricsConfig::default(),
            admin: AdminConfig::default(),
            encryption: EncryptionConfig::default(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            segment_size_mib: 256,
            bucket_shards: crate::index::bucket::DEFAULT_SHARDS,
            checkpoint_secs: 10,
            reserve_mib: 1024,
            open_shards_max: crate::index::bucket::OPEN_SHARDS_DEFAULT,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            drain_timeout_secs: 30,
            header_read_timeout_secs: 30,
            connections_per_thread_max: 4096,
            connections_per_ip_max: 4096,
            upload_buffer_mib: 256,
            upload_budget_user_share: 50,
            upload_budget_user_wait_secs: 10,
            body_min_bytes_per_sec: 1024,
            body_rate_window_secs: 20,
            body_rate_grace_secs: 10,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
            access_log: false,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("config file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("{var}: {reason}")]
    Env { var: String, reason: String },
    #[error("config key {key}: {reason}")]
    Invalid { key: String, reason: String },
}

/// Log levels the `log.level` key takes.
pub const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

impl Config {
    /// The listen address, parsed (validated by `validate`).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| ConfigError::Invalid {
            key: "listen".into(),
            reason: format!(
                "{:?} is not an address and port like 127.0.0.1:7480",
                self.listen
            ),
        })
    }

    /// Checks every value; the first problem, by key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: String| {
            Err(ConfigError::Invalid {
                key: key.into(),
                reason,
            })
        };
        self.listen_addr()?;
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir", "must not be empty".into());
        }
        if self.threads > 1024 {
            return bad(
                "threads",
                format!("must be 0 to 1024 (got {})", self.threads),
            );
        }
        if self.region.is_empty()
            || !self
                .region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad(
                "region",
                format!("{:?} is not a region name like us-east-1", self.region),
            );
        }
        if self.zone_name.is_empty() || self.zone_name.len() > 64 {
            return bad("zone_name", "must be 1 to 64 characters".into());
        }
        let s = &self.storage;
        if !(1..=65536).contains(&s.segment_size_mib) {
            return bad(
                "storage.segment_size_mib",
                format!("must be 1 to 65536 (got {})", s.segment_size_mib),
            );
        }
        if !(1..=crate::index::layout::SHARDS_MAX).contains(&s.bucket_shards) {
            return bad(
                "storage.bucket_shards",
                format!(
                    "must be 1 to {} (got {})",
                    crate::index::layout::SHARDS_MAX,
                    s.bucket_shards
                ),
            );
        }
        if !(16..=1_000_000).contains(&s.open_shards_max) {
            return bad(
                "storage.open_shards_max",
                format!("must be 16 to 1000000 (got {})", s.open_shards_max),
            );
        }
        if !(1..=3600).contains(&s.checkpoint_secs) {
            return bad(
                "storage.checkpoint_secs",
                format!("must be 1 to 3600 (got {})", s.checkpoint_secs),
            );
        }
        let h = &self.http;
        if h.drain_timeout_secs > 3600 {
            return bad(
                "http.drain_timeout_secs",
                format!("must be 0 to 3600 (got {})", h.drain_timeout_secs),
            );
        }
        if !(1..=3600).contains(&h.header_read_timeout_secs) {
            return bad(
                "http.header_read_timeout_secs",
                format!("must be 1 to 3600 (got {})", h.header_read_timeout_secs),
            );
        }
        if !(1..=1_000_000).contains(&h.connections_per_thread_max) {
            return bad(
                "http.connections_per_thread_max",
                format!(
                    "must be 1 to 1000000 (got {})",
                    h.connections_per_thread_max
                ),
            );
        }
        if h.connections_per_ip_max > 10_000_000 {
            return bad(
                "http.connections_per_ip_max",
                format!(
                    "must be 0 (no limit) to 10000000 (got {})",
                    h.connections_per_ip_max
                ),
            );
        }
        if !(1..=65536).contains(&h.upload_buffer_mib) {
            return bad(
                "http.upload_buffer_mib",
                format!("must be 1 to 65536 (got {})", h.upload_buffer_mib),
            );
        }
        if !(1..=100).contains(&h.upload_budget_user_share) {
            return bad(
                "http.upload_budget_user_share",
                format!(
                    "must be 1 to 100 (percent; got {})",
                    h.upload_budget_user_share
                ),
            );
        }
        if h.upload_budget_user_wait_secs > 3600 {
            return bad(
                "http.upload_budget_user_wait_secs",
                format!("must be 0 to 3600 (got {})", h.upload_budget_user_wait_secs),
            );
        }
        if !(1..=3600).contains(&h.body_rate_window_secs) {
            return bad(
                "http.body_rate_window_secs",
                format!("must be 1 to 3600 (got {})", h.body_rate_window_secs),
            );
        }
        if h.body_rate_grace_secs > 3600 {
            return bad(
                "http.body_rate_grace_secs",
                format!("must be 0 to 3600 (got {})", h.body_rate_grace_secs),
            );
        }
        if self.expiry.interval_secs > 86_400 {
            return bad(
                "expiry.interval_secs",
                format!(
                    "must be 0 (off) to 86400 (got {})",
                    self.expiry.interval_secs
                ),
            );
        }
        if !(1..=1_000_000).contains(&self.expiry.batch) {
            return bad(
                "expiry.batch",
                format!("must be 1 to 1000000 (got {})", self.expiry.batch),
            );
        }
        if !(1..=99).contains(&self.compaction.live_percent) {
            return bad(
                "compaction.live_percent",
                format!("must be 1 to 99 (got {})", self.compaction.live_percent),
            );
        }
        if self.compaction.max_move_mib == 0 {
            return bad("compaction.max_move_mib", "must be at least 1".into());
        }
        if self.multipart.uploads_per_bucket_max == 0 || self.multipart.uploads_per_user_max == 0 {
            return bad(
                "multipart.uploads_per_bucket_max",
                "the multipart upload limits must be at least 1".into(),
            );
        }
        if self.encryption.master_key_file.contains('\0') {
            return bad(
                "encryption.master_key_file",
                "must be a path (it holds a NUL byte)".into(),
            );
        }
        if !self.metrics.token.is_empty() && self.metrics.token.len() < 16 {
            return bad(
                "metrics.token",
                "must be empty (no token) or at least 16 characters".into(),
            );
        }
        if !(1..=3600).contains(&self.jobs.interval_secs) {
            return bad(
                "jobs.interval_secs",
                format!("must be 1 to 3600 (got {})", self.jobs.interval_secs),
            );
        }
        if !(1..=86_400).contains(&self.jobs.lease_secs) {
            return bad(
                "jobs.lease_secs",
                format!("must be 1 to 86400 (got {})", self.jobs.lease_secs),
            );
        }
        if !(1..=100_000).contains(&self.scrub.max_mib_per_sec) {
            return bad(
                "scrub.max_mib_per_sec",
                format!("must be 1 to 100000 (got {})", self.scrub.max_mib_per_sec),
            );
        }
        if !LOG_LEVELS.contains(&self.log.level.as_str()) {
            return bad(
                "log.level",
                format!(
                    "{:?} is not one of {}",
                    self.log.level,
                    LOG_LEVELS.join(", ")
                ),
            );
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            return bad(
                "log.format",
                format!("{:?} is not \"text\" or \"json\"", self.log.format),
            );
        }
        Ok(())
    }
}

/// The environment variable of a key: `SHALE_` + section + key, capitals.
pub fn env_var_of(section: Option<&str>, key: &str) -> String {
    let mut v = String::from("SHALE_");
    if let Some(s) = section {
        v.push_str(&s.to_ascii_uppercase());
        v.push('_');
    }
    v.push_str(&key.to_ascii_uppercase());
    v
}

/// Loads the configuration: defaults, then `file` (if any), then the
/// environment (`env`: the process's variables), then `flags` (key path
/// such as `storage.bucket_shards` -> TOML value). Validated.
pub fn load(
    file: Option<&Path>,
    env: &BTreeMap<String, String>,
    flags: &[(&str, toml::Value)],
) -> Result<Config, ConfigError> {
    let text = match file {
        Some(p) => std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
            path: p.display().to_string(),
            reason: e.to_string(),
        })?,
        None => String::new(),
    };
    let path = file.map_or_else(String::new, |p| p.display().to_string());
    from_parts(&path, &text, env, flags)
}

/// `load` without the file system: `text` is the file's contents.
pub fn from_parts(
    path: &str,
    text: &str,
    env: &BTreeMap<String, String>,
    flags: &[(&str, toml::Value)],
) -> Result<Config, ConfigError> {
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    // Check the file alone first, so its errors name the file.
    Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| ConfigError::Parse {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    let defaults = toml::Value::try_from(Config::default()).map_err(|e| ConfigError::Parse {
        path: "(defaults)".into(),
        reason: e.to_string(),
    })?;
    if let toml::Value::Table(d) = &defaults {
        for (key, default) in d {
            match default {
                toml::Value::Table(section) => {
                    for (k, dv) in section {
                        let var = env_var_of(Some(key), k);
                        if let Some(v) = env.get(&var) {
                            let parsed = env_value(&var, v, dv)?;
                            let t = table
                                .entry(key.clone())
                                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                            if let toml::Value::Table(t) = t {
                                t.insert(k.clone(), parsed);
                            }
                        }
                    }
                }
                dv => {
                    let var = env_var_of(None, key);
                    if let Some(v) = env.get(&var) {
                        table.insert(key.clone(), env_value(&var, v, dv)?);
                    }
                }
            }
        }
    }
    for (path, v) in flags {
        match path.split_once('.') {
            Some((section, k)) => {
                let t = table
                    .entry(section.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(t) = t {
                    t.insert(k.to_string(), v.clone());
                }
            }
            None => {
                table.insert(path.to_string(), v.clone());
            }
        }
    }
    let config =
        Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Parse {
            path: if path.is_empty() {
                "(environment and flags)".into()
            } else {
                path.to_string()
            },
            reason: e.to_string(),
        })?;
    config.validate()?;
    Ok(config)
}

/// An environment variable's text as a value of the default's type.
fn env_value(var: &str, v: &str, default: &toml::Value) -> Result<toml::Value, ConfigError> {
    let err = |what: &str| ConfigError::Env {
        var: var.to_string(),
        reason: format!("{v:?} is not {what}"),
    };
    Ok(match default {
        toml::Value::Integer(_) => {
            toml::Value::Integer(v.trim().parse().map_err(|_| err("an integer"))?)
        }
        toml::Value::Boolean(_) => toml::Value::Boolean(match v.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(err("true or false")),
        }),
        _ => toml::Value::String(v.to_string()),
    })
}

/// The settings a reload may change, and the config they come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloadable {
    pub log_level: String,
    pub access_log: bool,
}

impl Config {
    pub fn reloadable(&self) -> Reloadable {
        Reloadable {
            log_level: self.log.level.clone(),
            access_log: self.log.access_log,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_shipped_file_is_the_defaults() {
        let c = from_parts("shale.toml", DEFAULTS_TOML, &env(&[]), &[]).unwrap();
        assert_eq!(c, Config::default());
        // And it names every key the config has.
        let d = toml::Value::try_from(Config::default()).unwrap();
        let shipped: toml::Table = DEFAULTS_TOML.parse().unwrap();
        assert_eq!(toml::Value::Table(shipped), d);
    }

    #[test]
    fn file_then_env_then_flags() {
        let file =
            "listen = \"0.0.0.0:9000\"\n[storage]\nbucket_shards = 5\n[log]\nlevel = \"debug\"\n";
        let e = env(&[
            ("SHALE_STORAGE_BUCKET_SHARDS", "7"),
            ("SHALE_LOG_ACCESS_LOG", "true"),
        ]);
        let c = from_parts(
            "f",
            file,
            &e,
            &[("log.level", toml::Value::String("warn".into()))],
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.storage.bucket_shards, 7);
        assert!(c.log.access_log);
        assert_eq!(c.log.level, "warn");
    }

    #[test]
    fn errors_name_the_key() {
        let e = from_parts("f", "[storage]\nbucket_shard = 5\n", &env(&[]), &[]).unwrap_err();
        assert!(e.to_string().contains("bucket_shard"), "{e}");
        let e = from_parts("f", "[storage]\nbucket_shards = 0\n", &env(&[]), &[]).unwrap_err();
        assert!(e.to_string().contains("storage.bucket_shards"), "{e}");
        let e = from_parts("f", "listen = \"nowhere\"\n", &env(&[]), &[]).unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
        let e = from_parts("f", "threads = \"two\"\n", &env(&[]), &[]).unwrap_err();
        assert!(e.to_string().contains("threads"), "{e}");
        let e = from_parts("f", "", &env(&[("SHALE_THREADS", "two")]), &[]).unwrap_err();
        assert!(e.to_string().contains("SHALE_THREADS"), "{e}");
        let e = from_parts("f", "[log]\nlevel = \"loud\"\n", &env(&[]), &[]).unwrap_err();
        assert!(e.to_string().contains("log.level"), "{e}");
        let e = from_parts("f", "this is not toml", &env(&[]), &[]).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
    }
}
