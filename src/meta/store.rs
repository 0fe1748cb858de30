//! The metadata store: the metadata log on disk (a [`LogFile`] of
//! [`MdEntry`], `format-spec/mdlog.md`) and the table it builds. A change
//! is durable in the log before the table shows it; opening replays the
//! log into a fresh table.

use std::path::Path;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use thiserror::Error;

use super::mdlog::{MdEntry, MdOp};
use super::ops::{self, AdminError, NewUser, ROOT_UID};
use super::table::MetaTable;
use crate::io::Io;
use crate::segment::log_file::{LogFile, LogFileError, LogRecord};

/// Log segments roll at this size (metadata is small; trimming comes with
/// checkpoints of the table).
pub const MDLOG_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

pub type MdlogFile = LogFile<MdEntry>;

impl LogRecord for MdEntry {
    fn marker(&self) -> u64 {
        self.marker
    }

    fn to_bytes(&self) -> Result<Vec<u8>, String> {
        self.encode().map_err(|e| e.to_string())
    }

    fn from_bytes(b: &[u8]) -> Result<Self, String> {
        MdEntry::decode(b).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Error)]
pub enum MetaError {
    #[error("metadata log: {0}")]
    Log(#[from] LogFileError),
    #[error("metadata log entry {got} does not follow {applied}")]
    Gap { applied: u64, got: u64 },
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
}

pub struct MetaStore {
    log: MdlogFile,
    table: RwLock<MetaTable>,
    /// The zone new entries come from: the table's zone once it has one.
    zone: AtomicU64,
    /// One committer at a time: markers are handed out in log order.
    commit: tokio::sync::Mutex<()>,
    /// Applies an entry whose committer was dropped mid-append.
    appender: crate::segment::log_file::SerialAppender<MdEntry>,
}

impl MetaStore {
    /// Opens (creating if needed) the store in `dir`, replaying its log.
    /// New entries come from `zone` until the log names the zone.
    pub fn open(io: &Io, dir: &Path, zone: u64) -> Result<MetaStore, MetaError> {
        io.create_dir_all(dir).map_err(|e| MetaError::Io {
            what: "creating the metadata dir",
            source: e,
        })?;
        // Entries hold secrets: only the owner may read them.
        io.set_mode(dir, 0o700).map_err(|e| MetaError::Io {
            what: "restricting the metadata dir to its owner",
            source: e,
        })?;
        let log = MdlogFile::open(io, dir, MDLOG_SEGMENT_BYTES)?;
        let mut table = MetaTable::default();
        for e in log.read_from(1, usize::MAX)? {
            if e.marker != table.applied + 1 {
                return Err(MetaError::Gap {
                    applied: table.applied,
                    got: e.marker,
                });
            }
            table.apply(&e);
        }
        let zone = table.zone.as_ref().map_or(zone, |z| z.0);
        Ok(MetaStore {
            log,
            table: RwLock::new(table),
            zone: AtomicU64::new(zone),
            commit: tokio::sync::Mutex::new(()),
            appender: Default::default(),
        })
    }

    /// A copy of the table as of the last commit.
    pub fn table(&self) -> MetaTable {
        self.table.read().clone()
    }

    /// Reads the table in place.
    pub fn read<T>(&self, f: impl FnOnce(&MetaTable) -> T) -> T {
        f(&self.table.read())
    }

    /// Logs one op (durable before this returns), then applies it;
    /// returns its marker. `check` runs first, under the commit lock,
    /// against the table as it is: what it refuses is not logged. One op
    /// per commit, because one log entry is what a crash keeps or drops
    /// whole (a torn batch keeps a prefix of its records); an op carries
    /// its whole record, so none needs a second to be consistent.
    pub async fn commit<R>(
        &self,
        check: impl FnOnce(&MetaTable) -> Result<MdOp, R>,
    ) -> Result<Result<u64, R>, MetaError> {
        let _one = self.commit.lock().await;
        // A commit dropped mid-append is applied before this one reads
        // the table, so markers follow on.
        let apply = |e: &MdEntry| self.table.write().apply(e);
        let _ = self.appender.finish_pending(apply).await;
        let (op, applied) = {
            let t = self.table.read();
            match check(&t) {
                Ok(op) => (op, t.applied),
                Err(refused) => return Ok(Err(refused)),
            }
        };
        if let MdOp::Zone { id, .. } = &op {
            self.zone.store(*id, Ordering::Release);
        }
        let entry = MdEntry {
            marker: applied + 1,
            time_nanos: crate::clock::now_nanos(),
            source_zone: self.zone.load(Ordering::Acquire),
            op,
        };
        let marker = entry.marker;
        self.appender.append(&self.log, entry, apply).await?;
        Ok(Ok(marker))
    }

    /// The zone this node's entries come from.
    pub fn zone(&self) -> u64 {
        self.zone.load(Ordering::Acquire)
    }

    /// On a new data dir (or one from before the metadata log): names the
    /// zone (a random id) and makes the root user, a system user, with the
    /// root credentials as its key. Each step runs only if missing, so a
    /// crash between them is finished by the next start.
    pub async fn bootstrap(
        &self,
        zone_name: &str,
        root_access_key: &str,
        root_secret: &str,
    ) -> Result<(), MetaError> {
        let zone_id = loop {
            let mut b = [0u8; 8];
            getrandom::getrandom(&mut b).map_err(|e| MetaError::Io {
                what: "making a zone id",
                source: std::io::Error::other(e.to_string()),
            })?;
            let id = u64::from_le_bytes(b);
            if id != 0 {
                break id;
            }
        };
        let name = zone_name.to_string();
        let _ = self
            .commit(|t| match t.zone {
                Some(_) => Err(()),
                None => Ok(MdOp::Zone { id: zone_id, name }),
            })
            .await?;
        let root = NewUser {
            uid: ROOT_UID.to_string(),
            display_name: ROOT_UID.to_string(),
            system: true,
            ..NewUser::default()
        };
        let _ = self.commit(|t| ops::create_user(t, &root)).await?;
        let _ = self
            .commit(|t| {
                if t.keys.contains_key(root_access_key) {
                    return Err(AdminError::KeyExists(root_access_key.to_string()));
                }
                ops::create_key(t, ROOT_UID, root_access_key, root_secret)
            })
            .await?;
        Ok(())
    }
}

/// Secrets for SigV4 from the table: a removed key stops working at once.
impl crate::s3::sigv4::SecretLookup for MetaStore {
    fn secret_for(&self, access_key: &str) -> Option<String> {
        self.table
            .read()
            .keys
            .get(access_key)
            .map(|k| k.secret.clone())
    }
}
