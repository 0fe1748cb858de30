//! The metadata store: the metadata log on disk (a [`LogFile`] of
//! [`MdEntry`], `format-spec/mdlog.md`) and the table it builds. A change
//! is durable in the log before the table shows it; opening replays the
//! log into a fresh table.

use std::path::Path;

use parking_lot::RwLock;
use thiserror::Error;

use super::mdlog::{MdEntry, MdOp};
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
}

pub struct MetaStore {
    log: MdlogFile,
    table: RwLock<MetaTable>,
    /// The zone new entries come from.
    zone: u64,
    /// One committer at a time: markers are handed out in log order.
    commit: tokio::sync::Mutex<()>,
}

impl MetaStore {
    /// Opens (creating if needed) the store in `dir`, replaying its log.
    pub fn open(io: &Io, dir: &Path, zone: u64) -> Result<MetaStore, MetaError> {
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
        Ok(MetaStore {
            log,
            table: RwLock::new(table),
            zone,
            commit: tokio::sync::Mutex::new(()),
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
        let (op, applied) = {
            let t = self.table.read();
            match check(&t) {
                Ok(op) => (op, t.applied),
                Err(refused) => return Ok(Err(refused)),
            }
        };
        let entry = MdEntry {
            marker: applied + 1,
            time_nanos: crate::clock::now_nanos(),
            source_zone: self.zone,
            op,
        };
        self.log.append(std::slice::from_ref(&entry)).await?;
        let mut t = self.table.write();
        t.apply(&entry);
        Ok(Ok(t.applied))
    }
}
