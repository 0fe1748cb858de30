//! Portable backend: positional reads and writes through std.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::OpenMode;

pub(super) fn open(path: &Path, mode: OpenMode) -> io::Result<File> {
    let mut o = OpenOptions::new();
    match mode {
        OpenMode::Read => o.read(true),
        OpenMode::ReadWrite => o.read(true).write(true),
        OpenMode::CreateNew => o.read(true).write(true).create_new(true),
        OpenMode::CreateTruncate => o.read(true).write(true).create(true).truncate(true),
    };
    o.open(path)
}

pub(super) fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// Fills `buf` up to its capacity from `offset` (the io_uring convention).
pub(super) fn read_exact_into_capacity(f: &File, buf: &mut Vec<u8>, offset: u64) -> io::Result<()> {
    let want = buf.capacity();
    buf.clear();
    buf.resize(want, 0);
    let res = f.read_exact_at(buf, offset);
    if res.is_err() {
        buf.clear();
    }
    res
}
