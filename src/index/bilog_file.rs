//! A shard's bucket index log on disk (`format-spec/bilog.md`): a
//! [`LogFile`] of bilog entries.

use super::bilog::BilogEntry;
pub use crate::segment::log_file::{Consumers, LogFile, LogFileError as BilogFileError, LogRecord};

/// Log segments are small so that trimming frees space in fine steps.
pub const BILOG_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

pub type BilogFile = LogFile<BilogEntry>;

impl LogRecord for BilogEntry {
    fn marker(&self) -> u64 {
        self.marker
    }

    fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let mut b = Vec::new();
        self.encode(&mut b).map_err(|e| e.to_string())?;
        Ok(b)
    }

    fn from_bytes(b: &[u8]) -> Result<Self, String> {
        BilogEntry::decode(b).map_err(|e| e.to_string())
    }
}

/// Opens (creating if needed) a shard's log in `dir`.
pub fn open(io: &crate::io::Io, dir: &std::path::Path) -> Result<BilogFile, BilogFileError> {
    BilogFile::open(io, dir, BILOG_SEGMENT_BYTES)
}
