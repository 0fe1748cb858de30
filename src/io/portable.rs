//! Portable backend: positional reads and writes through std.

use std::fs::{File, OpenOptions};
use std::io;
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

/// Buffers handed to one `pwritev` at most (below every IOV_MAX).
const IOVECS_PER_CALL_MAX: usize = 512;

/// Writes all of `bufs`, back to back, at `offset`, with `pwritev`.
pub(super) fn pwritev_all(f: &File, bufs: &[bytes::Bytes], mut offset: u64) -> io::Result<()> {
    use std::io::IoSlice;
    use std::os::unix::io::AsRawFd;
    let mut slices: Vec<IoSlice<'_>> = bufs
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| IoSlice::new(b))
        .collect();
    let mut rest: &mut [IoSlice<'_>] = &mut slices;
    while !rest.is_empty() {
        let n = rest.len().min(IOVECS_PER_CALL_MAX);
        let off =
            libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
        // SAFETY: IoSlice is ABI-compatible with `struct iovec` on unix
        // (std guarantees it); the slices borrow `bufs`, which outlive the
        // call; `n` does not exceed the slice count.
        let written = unsafe {
            libc::pwritev(
                f.as_raw_fd(),
                rest.as_ptr().cast::<libc::iovec>(),
                n as libc::c_int,
                off,
            )
        };
        if written < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if written == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        offset += written as u64;
        IoSlice::advance_slices(&mut rest, written as usize);
    }
    Ok(())
}
