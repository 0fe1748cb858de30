//! The I/O seam: every disk operation shale performs goes through [`Io`].
//!
//! Three backends sit behind it:
//! - `Uring`: io_uring through tokio-uring, for the hot paths (append, sync,
//!   record reads). Async operations must run on a thread started with
//!   [`Io::block_on`].
//! - `Portable`: positional `pread`/`pwrite` through std, chosen
//!   automatically when io_uring is unavailable.
//! - `Sim`: a seeded in-memory disk ([`sim::SimDisk`]) that can crash,
//!   tear writes and fail chosen operations, for tests.
//!
//! Buffers are owned (`Vec<u8>`) and handed back with the result, as
//! io_uring requires. Directory operations and the `*_blocking` reads are
//! synchronous: they run at startup, in offline tools, or rarely.

mod portable;
pub mod sim;
mod uring;

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

pub use sim::SimDisk;

/// A buffer handed to an async operation and handed back with its result.
pub type BufResult<T> = (io::Result<T>, Vec<u8>);

/// Which backend an [`Io`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Uring,
    Portable,
    Sim,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Uring => "io_uring",
            BackendKind::Portable => "portable",
            BackendKind::Sim => "simulator",
        })
    }
}

/// How a file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write; the file must not exist yet.
    CreateNew,
    /// Read and write; created if missing, emptied if present.
    CreateTruncate,
}

/// The disk, as seen through one backend. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Io {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Uring,
    Portable,
    Sim(Arc<SimDisk>),
}

/// The result of choosing a backend: the `Io` and, when io_uring was
/// wanted but could not be used, the reason (for one warning line).
pub struct Detected {
    pub io: Io,
    pub fallback_reason: Option<String>,
}

impl Io {
    /// The io_uring backend, if this kernel and sandbox allow it.
    pub fn uring() -> io::Result<Io> {
        uring::probe()?;
        Ok(Io {
            backend: Backend::Uring,
        })
    }

    /// The portable pread/pwrite backend.
    pub fn portable() -> Io {
        Io {
            backend: Backend::Portable,
        }
    }

    /// The in-memory simulator backend.
    pub fn sim(disk: Arc<SimDisk>) -> Io {
        Io {
            backend: Backend::Sim(disk),
        }
    }

    /// Picks a backend: `SHALE_IO=uring|portable` forces one, anything else
    /// (or unset) tries io_uring and falls back to portable.
    pub fn detect() -> io::Result<Detected> {
        match std::env::var("SHALE_IO").ok().as_deref() {
            Some("portable") => Ok(Detected {
                io: Io::portable(),
                fallback_reason: None,
            }),
            Some("uring") => Ok(Detected {
                io: Io::uring()?,
                fallback_reason: None,
            }),
            _ => Ok(match Io::uring() {
                Ok(io) => Detected {
                    io,
                    fallback_reason: None,
                },
                Err(e) => Detected {
                    io: Io::portable(),
                    fallback_reason: Some(e.to_string()),
                },
            }),
        }
    }

    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Uring => BackendKind::Uring,
            Backend::Portable => BackendKind::Portable,
            Backend::Sim(_) => BackendKind::Sim,
        }
    }

    /// The simulated disk, when this is the simulator backend.
    pub fn sim_disk(&self) -> Option<&Arc<SimDisk>> {
        match &self.backend {
            Backend::Sim(d) => Some(d),
            _ => None,
        }
    }

    /// Runs `fut` to completion on the current thread with a runtime that
    /// can drive this backend's async operations.
    pub fn block_on<F: Future>(&self, fut: F) -> io::Result<F::Output> {
        match self.backend {
            Backend::Uring => Ok(tokio_uring::start(fut)),
            _ => {
                // A LocalSet, as tokio-uring has, so `spawn_local` works on
                // every backend.
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(tokio::task::LocalSet::new().block_on(&rt, fut))
            }
        }
    }

    pub fn open(&self, path: &Path, mode: OpenMode) -> io::Result<IoFile> {
        let inner = match &self.backend {
            Backend::Uring => FileInner::Uring(uring::UringFile::open(path, mode)?),
            Backend::Portable => FileInner::Portable(portable::open(path, mode)?),
            Backend::Sim(d) => FileInner::Sim(d.open(path, mode)?),
        };
        Ok(IoFile { inner })
    }

    pub fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        match &self.backend {
            Backend::Sim(d) => d.create_dir_all(path),
            _ => std::fs::create_dir_all(path),
        }
    }

    /// Creates `dir` and whatever is missing above it, each new entry made
    /// durable in its parent (a file created in it then survives a crash
    /// once the file and `dir` are synced).
    pub fn create_dir_durable(&self, dir: &Path) -> io::Result<()> {
        if self.exists(dir)? {
            return Ok(());
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.create_dir_durable(parent)?;
        }
        match &self.backend {
            Backend::Sim(d) => d.create_dir_all(dir)?,
            _ => match std::fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
                Err(e) => return Err(e),
            },
        }
        self.sync_dir(&parent_dir(dir))
    }

    /// Names of the entries directly inside `dir`, sorted.
    pub fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = match &self.backend {
            Backend::Sim(d) => d.list_dir(dir)?,
            _ => portable::list_dir(dir)?,
        };
        names.sort();
        Ok(names)
    }

    pub fn exists(&self, path: &Path) -> io::Result<bool> {
        match &self.backend {
            Backend::Sim(d) => Ok(d.exists(path)),
            _ => path.try_exists(),
        }
    }

    pub fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match &self.backend {
            Backend::Sim(d) => d.rename(from, to),
            _ => std::fs::rename(from, to),
        }
    }

    pub fn remove_file(&self, path: &Path) -> io::Result<()> {
        match &self.backend {
            Backend::Sim(d) => d.remove_file(path),
            _ => std::fs::remove_file(path),
        }
    }

    /// Removes an empty directory.
    pub fn remove_dir(&self, path: &Path) -> io::Result<()> {
        match &self.backend {
            Backend::Sim(d) => d.remove_dir(path),
            _ => std::fs::remove_dir(path),
        }
    }

    /// Removes a directory of files (no subdirectories).
    pub fn remove_dir_of_files(&self, dir: &Path) -> io::Result<()> {
        for name in self.list_dir(dir)? {
            self.remove_file(&dir.join(name))?;
        }
        self.remove_dir(dir)
    }

    /// Makes everything written to the filesystem holding `path` durable
    /// (syncfs(2): files, their data and directory entries, in one
    /// journal commit). `Ok(false)` where there is no such call (the
    /// simulator): the caller syncs each file and directory itself.
    pub fn sync_filesystem(&self, path: &Path) -> io::Result<bool> {
        match &self.backend {
            Backend::Sim(_) => Ok(false),
            _ => {
                use std::os::fd::AsRawFd;
                let dir = std::fs::File::open(path)?;
                // SAFETY: `dir` is an open descriptor for the duration of
                // the call; syncfs only reads it.
                let r = unsafe { libc::syncfs(dir.as_raw_fd()) };
                if r == 0 {
                    Ok(true)
                } else {
                    Err(io::Error::last_os_error())
                }
            }
        }
    }

    /// Makes the directory's entries (creations, renames, removals) durable.
    pub fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match &self.backend {
            Backend::Sim(d) => d.sync_dir(dir),
            _ => std::fs::File::open(dir)?.sync_all(),
        }
    }

    /// Sets the permission bits of a file (e.g. 0o600 for secrets).
    pub fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()> {
        match &self.backend {
            Backend::Sim(d) => d.check_exists(path),
            _ => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            }
        }
    }

    /// Writes a small file so that it is either wholly there or absent after
    /// a crash: write a temporary, fsync it, rename it over, fsync the dir.
    pub fn write_file_atomic(&self, path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
        let dir = parent_dir(path);
        let tmp = tmp_path(path);
        let file = self.open(&tmp, OpenMode::CreateTruncate)?;
        self.set_mode(&tmp, mode)?;
        file.write_all_at_blocking(bytes, 0)?;
        file.sync_all_blocking()?;
        drop(file);
        self.rename(&tmp, path)?;
        self.sync_dir(&dir)
    }

    /// Reads a whole (small) file.
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.open(path, OpenMode::Read)?;
        let len = usize::try_from(file.len()?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        let mut buf = vec![0u8; len];
        file.read_exact_at_blocking(&mut buf, 0)?;
        Ok(buf)
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `path` with `.tmp` appended to its file name.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Fills `buf` up to its capacity with `read` (the io_uring convention
/// for owned read buffers); leaves it empty on error.
fn fill_to_capacity(
    buf: &mut Vec<u8>,
    read: impl FnOnce(&mut [u8]) -> io::Result<()>,
) -> io::Result<()> {
    let want = buf.capacity();
    buf.clear();
    buf.resize(want, 0);
    let res = read(buf);
    if res.is_err() {
        buf.clear();
    }
    res
}

/// An open file. Async operations on an io_uring file must run on a thread
/// started with [`Io::block_on`]; such a file is therefore not `Send`.
pub struct IoFile {
    inner: FileInner,
}

enum FileInner {
    Uring(uring::UringFile),
    Portable(std::fs::File),
    Sim(sim::SimFile),
}

impl IoFile {
    /// Reads exactly `buf.capacity()` bytes at `offset` into `buf` (its
    /// length is set to that). Fails with `UnexpectedEof` past the end.
    pub async fn read_exact_at(&self, mut buf: Vec<u8>, offset: u64) -> BufResult<()> {
        match &self.inner {
            FileInner::Uring(f) => f.read_exact_at(buf, offset).await,
            FileInner::Portable(_) | FileInner::Sim(_) => {
                let res = fill_to_capacity(&mut buf, |b| self.read_exact_at_blocking(b, offset));
                (res, buf)
            }
        }
    }

    /// Writes all of `buf` at `offset`.
    pub async fn write_all_at(&self, buf: Vec<u8>, offset: u64) -> BufResult<()> {
        match &self.inner {
            FileInner::Uring(f) => f.write_all_at(buf, offset).await,
            FileInner::Portable(_) | FileInner::Sim(_) => {
                let res = self.write_all_at_blocking(&buf, offset);
                (res, buf)
            }
        }
    }

    /// Writes the buffers back to back at `offset` with vectored writes,
    /// so the bytes go from the caller's buffers to the kernel uncopied.
    pub async fn write_vectored_all_at(
        &self,
        bufs: Vec<Bytes>,
        offset: u64,
    ) -> (io::Result<()>, Vec<Bytes>) {
        match &self.inner {
            FileInner::Uring(f) => f.write_vectored_all_at(bufs, offset).await,
            FileInner::Portable(f) => {
                let res = portable::pwritev_all(f, &bufs, offset);
                (res, bufs)
            }
            FileInner::Sim(f) => {
                let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                (f.write_all_at(&joined, offset), bufs)
            }
        }
    }

    /// fdatasync: the written data (and the size it implies) is durable.
    pub async fn sync_data(&self) -> io::Result<()> {
        match &self.inner {
            FileInner::Uring(f) => f.sync_data().await,
            FileInner::Portable(f) => f.sync_data(),
            FileInner::Sim(f) => f.sync(),
        }
    }

    /// fsync: data and all metadata are durable.
    pub async fn sync_all(&self) -> io::Result<()> {
        match &self.inner {
            FileInner::Uring(f) => f.sync_all().await,
            _ => self.sync_all_blocking(),
        }
    }

    pub fn read_exact_at_blocking(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        match &self.inner {
            FileInner::Uring(f) => f.std().read_exact_at(buf, offset),
            FileInner::Portable(f) => f.read_exact_at(buf, offset),
            FileInner::Sim(f) => f.read_exact_at(buf, offset),
        }
    }

    pub fn write_all_at_blocking(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        match &self.inner {
            FileInner::Uring(f) => f.std().write_all_at(buf, offset),
            FileInner::Portable(f) => f.write_all_at(buf, offset),
            FileInner::Sim(f) => f.write_all_at(buf, offset),
        }
    }

    pub fn sync_all_blocking(&self) -> io::Result<()> {
        match &self.inner {
            FileInner::Uring(f) => f.std().sync_all(),
            FileInner::Portable(f) => f.sync_all(),
            FileInner::Sim(f) => f.sync(),
        }
    }

    pub fn len(&self) -> io::Result<u64> {
        match &self.inner {
            FileInner::Uring(f) => Ok(f.std().metadata()?.len()),
            FileInner::Portable(f) => Ok(f.metadata()?.len()),
            FileInner::Sim(f) => f.len(),
        }
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Truncates or extends the file. Durable after the next `sync_all`.
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        match &self.inner {
            FileInner::Uring(f) => f.std().set_len(len),
            FileInner::Portable(f) => f.set_len(len),
            FileInner::Sim(f) => f.set_len(len),
        }
    }
}

/// A file used only with blocking calls (index files, whose pages are
/// mapped and committed rarely): `Send + Sync` on every backend, and for
/// real files it exposes the `std::fs::File` to map.
pub struct BlockingFile {
    inner: BlockingInner,
}

enum BlockingInner {
    Std(std::fs::File),
    Sim(sim::SimFile),
}

impl Io {
    /// Opens `path` for blocking use; io_uring and portable both get a
    /// plain file.
    pub fn open_blocking(&self, path: &Path, mode: OpenMode) -> io::Result<BlockingFile> {
        let inner = match &self.backend {
            Backend::Uring | Backend::Portable => BlockingInner::Std(portable::open(path, mode)?),
            Backend::Sim(d) => BlockingInner::Sim(d.open(path, mode)?),
        };
        Ok(BlockingFile { inner })
    }
}

impl BlockingFile {
    /// The file to map; `None` on the simulator.
    pub fn std(&self) -> Option<&std::fs::File> {
        match &self.inner {
            BlockingInner::Std(f) => Some(f),
            BlockingInner::Sim(_) => None,
        }
    }

    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        match &self.inner {
            BlockingInner::Std(f) => f.read_exact_at(buf, offset),
            BlockingInner::Sim(f) => f.read_exact_at(buf, offset),
        }
    }

    pub fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        match &self.inner {
            BlockingInner::Std(f) => f.write_all_at(buf, offset),
            BlockingInner::Sim(f) => f.write_all_at(buf, offset),
        }
    }

    pub fn sync_all(&self) -> io::Result<()> {
        match &self.inner {
            BlockingInner::Std(f) => f.sync_all(),
            BlockingInner::Sim(f) => f.sync(),
        }
    }

    pub fn len(&self) -> io::Result<u64> {
        match &self.inner {
            BlockingInner::Std(f) => Ok(f.metadata()?.len()),
            BlockingInner::Sim(f) => f.len(),
        }
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Truncates or extends the file. Durable after the next `sync_all`.
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        match &self.inner {
            BlockingInner::Std(f) => f.set_len(len),
            BlockingInner::Sim(f) => f.set_len(len),
        }
    }
}
