//! Job log entries (`format-spec/jobs.md`): a job scheduled, a job's state
//! changed, a job's progress checkpointed. Every entry carries a marker,
//! the time it was made (ns), the zone it came from and the process
//! incarnation that wrote it (the owner), so the history of a job says
//! who ran it and when, and a peer zone can later order and merge them.
//! Pure encode/decode; the segment record around an entry carries its
//! checksum. Decoding refuses anything malformed with a typed error and
//! never panics.

use thiserror::Error;

use crate::le::{u16_at, u32_at, u64_at};

/// Bytes before an entry's body.
pub const JOB_HEADER_LEN: usize = 40;
/// Longest string field (targets, requesters, messages).
pub const JOB_STRING_MAX: usize = 1024;
/// Largest progress checkpoint.
pub const JOB_CHECKPOINT_MAX: usize = 64 * 1024;

/// A job's globally unique id: the zone that scheduled it and its
/// sequence number there (from 1). Shown as `<zone hex>-<seq>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId {
    pub zone: u64,
    pub seq: u64,
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}-{}", self.zone, self.seq)
    }
}

impl std::str::FromStr for JobId {
    type Err = String;
    fn from_str(s: &str) -> Result<JobId, String> {
        let bad = || format!("{s:?} is not a job id (like 1f2e3d4c5b6a7980-12)");
        let (z, n) = s.split_once('-').ok_or_else(bad)?;
        if z.len() != 16 {
            return Err(bad());
        }
        let zone = u64::from_str_radix(z, 16).map_err(|_| bad())?;
        let seq = n.parse().map_err(|_| bad())?;
        Ok(JobId { zone, seq })
    }
}

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    /// Remove a user, its keys and every bucket it owns with their data.
    UserPurge,
    /// Remove a bucket with its data.
    BucketPurge,
    /// Find segment records and index entries nothing references.
    OrphanSearch,
    /// A scrub pass over everything.
    Scrub,
    /// Reshard a bucket's index.
    Reshard,
    /// Re-evaluate a bucket's objects against its lifecycle rules.
    Lifecycle,
}

impl JobKind {
    pub const ALL: [JobKind; 6] = [
        JobKind::UserPurge,
        JobKind::BucketPurge,
        JobKind::OrphanSearch,
        JobKind::Scrub,
        JobKind::Reshard,
        JobKind::Lifecycle,
    ];

    pub fn code(self) -> u8 {
        match self {
            JobKind::UserPurge => 1,
            JobKind::BucketPurge => 2,
            JobKind::OrphanSearch => 3,
            JobKind::Scrub => 4,
            JobKind::Reshard => 5,
            JobKind::Lifecycle => 6,
        }
    }

    pub fn from_code(c: u8) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.code() == c)
    }

    /// The name the admin API and CLI use.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::UserPurge => "user-purge",
            JobKind::BucketPurge => "bucket-purge",
            JobKind::OrphanSearch => "orphan-search",
            JobKind::Scrub => "scrub",
            JobKind::Reshard => "reshard",
            JobKind::Lifecycle => "lifecycle",
        }
    }

    pub fn from_name(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    Scheduled,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Scheduled,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub fn code(self) -> u8 {
        match self {
            JobState::Scheduled => 1,
            JobState::Running => 2,
            JobState::Done => 3,
            JobState::Failed => 4,
            JobState::Cancelled => 5,
        }
    }

    pub fn from_code(c: u8) -> Option<JobState> {
        JobState::ALL.into_iter().find(|k| k.code() == c)
    }

    pub fn name(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn from_name(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Done, failed or cancelled: nothing more happens to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// Job flag: orphan search also reclaims what it finds.
pub const FLAG_RECLAIM: u8 = 1;
const FLAGS_KNOWN: u8 = FLAG_RECLAIM;

/// What an entry does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOp {
    /// A job scheduled to run from `due_nanos`.
    Schedule {
        id: JobId,
        kind: JobKind,
        /// A uid or bucket name; empty for node-wide jobs.
        target: String,
        due_nanos: u64,
        flags: u8,
        /// Who asked (the access key's user).
        requested_by: String,
    },
    /// The job's state is now `state` (with a message for failures).
    State {
        id: JobId,
        state: JobState,
        message: String,
    },
    /// How far the job got: items done of total, bytes reclaimed, and
    /// where to resume (the job kind's own encoding).
    Progress {
        id: JobId,
        done: u64,
        total: u64,
        bytes_reclaimed: u64,
        checkpoint: Vec<u8>,
    },
}

impl JobOp {
    fn code(&self) -> u8 {
        match self {
            JobOp::Schedule { .. } => 1,
            JobOp::State { .. } => 2,
            JobOp::Progress { .. } => 3,
        }
    }

    pub fn id(&self) -> JobId {
        match self {
            JobOp::Schedule { id, .. } | JobOp::State { id, .. } | JobOp::Progress { id, .. } => {
                *id
            }
        }
    }
}

/// One job log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobEntry {
    /// Position in the log: 1, 2, 3, ...
    pub marker: u64,
    /// When it was made, ns since the Unix epoch.
    pub time_nanos: u64,
    /// The zone it came from.
    pub source_zone: u64,
    /// The process incarnation that wrote it.
    pub owner: u64,
    pub op: JobOp,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum JobRecordError {
    #[error("job entry is {have} bytes, {need} needed")]
    Truncated { need: usize, have: usize },
    #[error("unknown job op {0}")]
    UnknownOp(u8),
    #[error("reserved job entry byte {0} is not zero")]
    ReservedNotZero(usize),
    #[error("job entry has {0} bytes past its body")]
    TrailingBytes(usize),
    #[error("{0} is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("{what} is {len} bytes, more than {JOB_STRING_MAX}")]
    TooLong { what: &'static str, len: usize },
    #[error("checkpoint is {0} bytes, more than {JOB_CHECKPOINT_MAX}")]
    CheckpointTooLong(usize),
    #[error("unknown job kind {0}")]
    UnknownKind(u8),
    #[error("unknown job state {0}")]
    UnknownState(u8),
    #[error("unknown job flag bits {0:#04x}")]
    UnknownFlags(u8),
    #[error("job sequence 0 (sequences start at 1)")]
    ZeroSeq,
}

struct Out(Vec<u8>);

impl Out {
    fn str(&mut self, what: &'static str, s: &str) -> Result<(), JobRecordError> {
        if s.len() > JOB_STRING_MAX {
            return Err(JobRecordError::TooLong { what, len: s.len() });
        }
        self.0.extend_from_slice(&(s.len() as u16).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn id(&mut self, id: &JobId) -> Result<(), JobRecordError> {
        if id.seq == 0 {
            return Err(JobRecordError::ZeroSeq);
        }
        self.u64(id.zone);
        self.u64(id.seq);
        Ok(())
    }
}

struct In<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], JobRecordError> {
        let truncated = JobRecordError::Truncated {
            need: JOB_HEADER_LEN.saturating_add(self.at).saturating_add(n),
            have: JOB_HEADER_LEN + self.b.len(),
        };
        let end = self.at.checked_add(n).ok_or(truncated.clone())?;
        let s = self.b.get(self.at..end).ok_or(truncated)?;
        self.at = end;
        Ok(s)
    }
    fn str(&mut self, what: &'static str) -> Result<String, JobRecordError> {
        let len = usize::from(u16_at(self.take(2)?, 0).unwrap_or_default());
        if len > JOB_STRING_MAX {
            return Err(JobRecordError::TooLong { what, len });
        }
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| JobRecordError::NotUtf8(what))
    }
    fn u64(&mut self) -> Result<u64, JobRecordError> {
        Ok(u64_at(self.take(8)?, 0).unwrap_or_default())
    }
    fn u8(&mut self) -> Result<u8, JobRecordError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }
    fn id(&mut self) -> Result<JobId, JobRecordError> {
        let id = JobId {
            zone: self.u64()?,
            seq: self.u64()?,
        };
        if id.seq == 0 {
            return Err(JobRecordError::ZeroSeq);
        }
        Ok(id)
    }
}

impl JobEntry {
    /// The encoded entry; refuses (writing nothing) what the decoder would
    /// refuse.
    pub fn encode(&self) -> Result<Vec<u8>, JobRecordError> {
        let mut o = Out(Vec::new());
        match &self.op {
            JobOp::Schedule {
                id,
                kind,
                target,
                due_nanos,
                flags,
                requested_by,
            } => {
                if flags & !FLAGS_KNOWN != 0 {
                    return Err(JobRecordError::UnknownFlags(flags & !FLAGS_KNOWN));
                }
                o.id(id)?;
                o.u8(kind.code());
                o.u8(*flags);
                o.u64(*due_nanos);
                o.str("target", target)?;
                o.str("requested by", requested_by)?;
            }
            JobOp::State { id, state, message } => {
                o.id(id)?;
                o.u8(state.code());
                o.str("message", message)?;
            }
            JobOp::Progress {
                id,
                done,
                total,
                bytes_reclaimed,
                checkpoint,
            } => {
                if checkpoint.len() > JOB_CHECKPOINT_MAX {
                    return Err(JobRecordError::CheckpointTooLong(checkpoint.len()));
                }
                o.id(id)?;
                o.u64(*done);
                o.u64(*total);
                o.u64(*bytes_reclaimed);
                o.0.extend_from_slice(&(checkpoint.len() as u32).to_le_bytes());
                o.0.extend_from_slice(checkpoint);
            }
        }
        let body = o.0;
        let mut out = Vec::with_capacity(JOB_HEADER_LEN + body.len());
        out.push(self.op.code());
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        for v in [self.marker, self.time_nanos, self.source_zone, self.owner] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub fn decode(b: &[u8]) -> Result<JobEntry, JobRecordError> {
        let header = b.get(..JOB_HEADER_LEN).ok_or(JobRecordError::Truncated {
            need: JOB_HEADER_LEN,
            have: b.len(),
        })?;
        let code = header.first().copied().unwrap_or_default();
        for i in 1..4 {
            if header.get(i).copied().unwrap_or_default() != 0 {
                return Err(JobRecordError::ReservedNotZero(i));
            }
        }
        let body_len = usize::try_from(u32_at(header, 4).unwrap_or_default()).unwrap_or(usize::MAX);
        let at = |o| u64_at(header, o).unwrap_or_default();
        let rest = b.get(JOB_HEADER_LEN..).unwrap_or_default();
        if rest.len() < body_len {
            return Err(JobRecordError::Truncated {
                need: JOB_HEADER_LEN.saturating_add(body_len),
                have: b.len(),
            });
        }
        if rest.len() > body_len {
            return Err(JobRecordError::TrailingBytes(rest.len() - body_len));
        }
        let mut i = In { b: rest, at: 0 };
        let op = match code {
            1 => {
                let id = i.id()?;
                let k = i.u8()?;
                let kind = JobKind::from_code(k).ok_or(JobRecordError::UnknownKind(k))?;
                let flags = i.u8()?;
                if flags & !FLAGS_KNOWN != 0 {
                    return Err(JobRecordError::UnknownFlags(flags & !FLAGS_KNOWN));
                }
                JobOp::Schedule {
                    id,
                    kind,
                    flags,
                    due_nanos: i.u64()?,
                    target: i.str("target")?,
                    requested_by: i.str("requested by")?,
                }
            }
            2 => {
                let id = i.id()?;
                let s = i.u8()?;
                let state = JobState::from_code(s).ok_or(JobRecordError::UnknownState(s))?;
                JobOp::State {
                    id,
                    state,
                    message: i.str("message")?,
                }
            }
            3 => {
                let id = i.id()?;
                let (done, total, bytes_reclaimed) = (i.u64()?, i.u64()?, i.u64()?);
                let len = usize::try_from(u32_at(i.take(4)?, 0).unwrap_or_default())
                    .unwrap_or(usize::MAX);
                if len > JOB_CHECKPOINT_MAX {
                    return Err(JobRecordError::CheckpointTooLong(len));
                }
                JobOp::Progress {
                    id,
                    done,
                    total,
                    bytes_reclaimed,
                    checkpoint: i.take(len)?.to_vec(),
                }
            }
            other => return Err(JobRecordError::UnknownOp(other)),
        };
        if i.at != rest.len() {
            return Err(JobRecordError::TrailingBytes(rest.len() - i.at));
        }
        Ok(JobEntry {
            marker: at(8),
            time_nanos: at(16),
            source_zone: at(24),
            owner: at(32),
            op,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_show_and_parse() {
        let id = JobId {
            zone: 0x1f2e_3d4c_5b6a_7980,
            seq: 12,
        };
        assert_eq!(id.to_string(), "1f2e3d4c5b6a7980-12");
        assert_eq!("1f2e3d4c5b6a7980-12".parse::<JobId>(), Ok(id));
        for bad in [
            "",
            "12",
            "1f2e-12",
            "1f2e3d4c5b6a7980-",
            "zz2e3d4c5b6a7980-1",
        ] {
            assert!(bad.parse::<JobId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn names_round_trip() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::from_name(k.name()), Some(k));
            assert_eq!(JobKind::from_code(k.code()), Some(k));
        }
        for s in JobState::ALL {
            assert_eq!(JobState::from_name(s.name()), Some(s));
            assert_eq!(JobState::from_code(s.code()), Some(s));
        }
    }
}
