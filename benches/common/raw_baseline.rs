//! The raw durable-write ceiling shared by `benches/segment.rs` and
//! `examples/segment_probe.rs`: sequential pwrite + fdatasync into fresh
//! files rolled at the segment size, as the store does minus its framing.
//! Files are kept until the appender is dropped, as the store keeps its
//! segments.

use std::os::unix::fs::FileExt;
use std::path::Path;

pub const SEGMENT_BYTES: u64 = 256 * 1024 * 1024;

/// A scratch dir on the build tree's filesystem (not a tmpfs).
pub fn scratch_dir() -> tempfile::TempDir {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

pub struct RawAppender {
    dir: tempfile::TempDir,
    file: std::fs::File,
    off: u64,
    files: u64,
}

impl RawAppender {
    pub fn new() -> RawAppender {
        let dir = scratch_dir();
        let file = std::fs::File::create(dir.path().join("raw-0")).unwrap();
        RawAppender {
            dir,
            file,
            off: 0,
            files: 0,
        }
    }

    /// Writes `buf` at the end and fdatasyncs it.
    pub fn append(&mut self, buf: &[u8]) {
        if self.off + buf.len() as u64 > SEGMENT_BYTES {
            self.files += 1;
            self.file =
                std::fs::File::create(self.dir.path().join(format!("raw-{}", self.files))).unwrap();
            self.off = 0;
        }
        self.file.write_all_at(buf, self.off).unwrap();
        self.file.sync_data().unwrap();
        self.off += buf.len() as u64;
    }
}
