//! The job store: the job log on disk (a [`LogFile`] of [`JobEntry`] in
//! `<data_dir>/jobs`, `format-spec/jobs.md`) and the table it builds. An
//! entry is durable in the log before the table shows it; opening replays
//! the log into a fresh table.

use std::path::Path;

use parking_lot::RwLock;
use thiserror::Error;

use super::record::{JobEntry, JobId, JobOp};
use super::table::JobTable;
use crate::io::Io;
use crate::segment::log_file::{LogFile, LogFileError, LogRecord};

/// Job log segments roll at this size.
pub const JOBLOG_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

impl LogRecord for JobEntry {
    fn marker(&self) -> u64 {
        self.marker
    }

    fn to_bytes(&self) -> Result<Vec<u8>, String> {
        self.encode().map_err(|e| e.to_string())
    }

    fn from_bytes(b: &[u8]) -> Result<Self, String> {
        JobEntry::decode(b).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Error)]
pub enum JobStoreError {
    #[error("job log: {0}")]
    Log(#[from] LogFileError),
    #[error("job log entry {got} does not follow {applied}")]
    Gap { applied: u64, got: u64 },
    #[error("creating the job log dir: {0}")]
    Io(std::io::Error),
}

pub struct JobStore {
    log: LogFile<JobEntry>,
    table: RwLock<JobTable>,
    zone: u64,
    /// One committer at a time: markers are handed out in log order.
    commit: tokio::sync::Mutex<()>,
    /// Applies an entry whose committer was dropped mid-append.
    appender: crate::segment::log_file::SerialAppender<JobEntry>,
}

impl JobStore {
    /// Opens (creating if needed) the job log in `dir`; new jobs get ids
    /// of `zone`.
    pub fn open(io: &Io, dir: &Path, zone: u64) -> Result<JobStore, JobStoreError> {
        io.create_dir_all(dir).map_err(JobStoreError::Io)?;
        let log: LogFile<JobEntry> = LogFile::open(io, dir, JOBLOG_SEGMENT_BYTES)?;
        let mut table = JobTable::default();
        for e in log.read_from(1, usize::MAX)? {
            if e.marker != table.applied + 1 {
                return Err(JobStoreError::Gap {
                    applied: table.applied,
                    got: e.marker,
                });
            }
            table.apply(&e);
        }
        Ok(JobStore {
            log,
            table: RwLock::new(table),
            zone,
            commit: tokio::sync::Mutex::new(()),
            appender: Default::default(),
        })
    }

    pub fn zone(&self) -> u64 {
        self.zone
    }

    /// Reads the table in place.
    pub fn read<T>(&self, f: impl FnOnce(&JobTable) -> T) -> T {
        f(&self.table.read())
    }

    /// Logs the op `check` makes of the table as it is (durable before
    /// this returns), written by `owner`, then applies it; returns the
    /// job it is about. What `check` refuses is not logged.
    pub async fn commit<R>(
        &self,
        owner: u64,
        check: impl FnOnce(&JobTable) -> Result<JobOp, R>,
    ) -> Result<Result<JobId, R>, JobStoreError> {
        let _one = self.commit.lock().await;
        // A commit dropped mid-append is applied before this one reads
        // the table, so markers follow on.
        let apply = |e: &JobEntry| self.table.write().apply(e);
        let _ = self.appender.finish_pending(apply).await;
        let (op, applied) = {
            let t = self.table.read();
            match check(&t) {
                Ok(op) => (op, t.applied),
                Err(refused) => return Ok(Err(refused)),
            }
        };
        let id = op.id();
        let entry = JobEntry {
            marker: applied + 1,
            time_nanos: crate::clock::now_nanos(),
            source_zone: self.zone,
            owner,
            op,
        };
        self.appender.append(&self.log, entry, apply).await?;
        Ok(Ok(id))
    }
}
