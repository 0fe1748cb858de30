//! io_uring backend (tokio-uring). Each file keeps a std handle for the
//! rare synchronous metadata operations (size, truncate) and a tokio-uring
//! handle on a duplicate descriptor for the hot path.

use std::io;
use std::path::Path;

use super::{BufResult, OpenMode};

/// Checks that io_uring can be set up here and supports what we submit.
/// Fails on old kernels, under seccomp filters, and when the
/// `kernel.io_uring_disabled` sysctl forbids it.
pub(super) fn probe() -> io::Result<()> {
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        if v.trim() != "0" {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring disabled by kernel.io_uring_disabled={}", v.trim()),
            ));
        }
    }
    let ring = io_uring::IoUring::new(4)
        .map_err(|e| io::Error::new(e.kind(), format!("io_uring_setup failed: {e}")))?;
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| io::Error::new(e.kind(), format!("io_uring probe failed: {e}")))?;
    use io_uring::opcode;
    for (code, name) in [
        (opcode::Read::CODE, "READ"),
        (opcode::Write::CODE, "WRITE"),
        (opcode::Fsync::CODE, "FSYNC"),
    ] {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring lacks opcode {name}"),
            ));
        }
    }
    Ok(())
}

/// Buffers in one vectored submission at most (below every IOV_MAX).
const IOVECS_PER_SUBMIT_MAX: usize = 512;

pub(super) struct UringFile {
    std: std::fs::File,
    ring: tokio_uring::fs::File,
}

impl UringFile {
    pub(super) fn open(path: &Path, mode: OpenMode) -> io::Result<UringFile> {
        let std = super::portable::open(path, mode)?;
        let ring = tokio_uring::fs::File::from_std(std.try_clone()?);
        Ok(UringFile { std, ring })
    }

    pub(super) fn std(&self) -> &std::fs::File {
        &self.std
    }

    pub(super) async fn read_exact_at(&self, mut buf: Vec<u8>, offset: u64) -> BufResult<()> {
        buf.clear();
        let (res, buf) = self.ring.read_exact_at(buf, offset).await;
        (res, buf)
    }

    pub(super) async fn write_all_at(&self, buf: Vec<u8>, offset: u64) -> BufResult<()> {
        self.ring.write_all_at(buf, offset).await
    }

    pub(super) async fn write_vectored_all_at(
        &self,
        bufs: Vec<bytes::Bytes>,
        offset: u64,
    ) -> (io::Result<()>, Vec<bytes::Bytes>) {
        // One submission per group keeps each below IOV_MAX.
        let mut bufs = bufs;
        bufs.retain(|b| !b.is_empty());
        let mut offset = offset;
        let mut done = Vec::with_capacity(bufs.len());
        let mut rest = bufs.into_iter().peekable();
        while rest.peek().is_some() {
            let group: Vec<bytes::Bytes> = rest.by_ref().take(IOVECS_PER_SUBMIT_MAX).collect();
            let len: u64 = group.iter().map(|b| b.len() as u64).sum();
            let (res, group) = self.ring.writev_at_all(group, Some(offset)).await;
            done.extend(group);
            if let Err(e) = res {
                done.extend(rest);
                return (Err(e), done);
            }
            offset += len;
        }
        (Ok(()), done)
    }

    pub(super) async fn sync_data(&self) -> io::Result<()> {
        self.ring.sync_data().await
    }

    pub(super) async fn sync_all(&self) -> io::Result<()> {
        self.ring.sync_all().await
    }
}
