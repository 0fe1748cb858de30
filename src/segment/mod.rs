//! The segment store: append-only segment files of CRC32C-framed records
//! (`format-spec/segment.md`), group-committed, recovered on open.
//!
//! - [`format`]: the bytes, pure.
//! - [`scan`]: walking a file and deciding where its valid data ends, pure.
//! - [`recover`]: opening a segment directory after a crash.
//! - [`writer`]: the single writer thread that group-commits appends.
//! - [`store`]: the handle appenders and readers share.
//! - [`types`]: the values the handle and the writer share.

mod batch;
mod error;
pub mod follow;
pub mod format;
pub mod log_file;
pub mod recover;
pub mod scan;
mod store;
mod tail;
mod types;
mod writer;

pub use error::SegmentError;
pub use format::RecordKind;
pub use store::{Durable, SegmentStore, StoredRecord};
pub use types::{PayloadCrc, RecordLoc, SegmentOptions, SegmentStats, SyncPolicy};

use std::path::{Path, PathBuf};

/// File name of segment `id`: 16 hex digits and `.seg`.
pub fn segment_file_name(id: u64) -> String {
    format!("{id:016x}.seg")
}

pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(segment_file_name(id))
}

/// The id in a segment file name, if it is one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}
