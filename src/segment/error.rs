use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use super::format::FormatError;

/// Errors of the segment store. Cloneable: one failed group commit answers
/// every appender in it with the same error.
#[derive(Clone, Debug, Error)]
pub enum SegmentError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: Arc<io::Error>,
    },
    #[error("{} is corrupt at offset {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("record at segment {segment:016x} offset {offset} failed verification: {source}")]
    BadRecord {
        segment: u64,
        offset: u64,
        #[source]
        source: FormatError,
    },
    #[error("payload of {len} bytes exceeds the record maximum of {max} bytes")]
    RecordTooLarge { len: usize, max: u32 },
    #[error("the checksum given covers a different number of bytes than the payload")]
    ChecksumOfOtherBytes,
    #[error("seal records are written by the store itself")]
    ReservedKind,
    #[error("follow-up records differ from the lengths declared for them")]
    FollowUpMismatch,
    #[error("segment {0:016x} does not exist")]
    NoSuchSegment(u64),
    #[error("the segment writer has stopped")]
    Closed,
    #[error("the segment writer's queue is full")]
    QueueFull,
    #[error("no segment is open to write to (opening one failed: see the error before)")]
    NoActiveSegment,
}

impl SegmentError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> SegmentError {
        SegmentError::Io {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// The OS error number behind this error, if any (ENOSPC, EIO, ...).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            SegmentError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// True when the disk is full: the caller may retry once space returns.
    pub fn is_no_space(&self) -> bool {
        self.raw_os_error() == Some(libc::ENOSPC)
    }
}
