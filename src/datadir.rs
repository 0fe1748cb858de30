//! The layout of a data directory, its lock, and the root credentials.
//!
//! ```text
//! DATA_DIR/
//!   LOCK                    flock'ed by the process that owns the dir
//!   root-credentials.json   root access key and secret, mode 0600
//!   segments/               the segment store
//!   meta/                   the metadata log (mode 0700)
//!   jobs/                   the job log (`format-spec/jobs.md`)
//!   buckets/                each bucket's index
//! ```

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::io::Io;

pub const CREDENTIALS_FILE: &str = "root-credentials.json";
/// The SSE-S3 master key file's default name (`encryption.master_key_file`).
pub const MASTER_KEY_FILE: &str = "sse-master.key";
pub const SEGMENTS_DIR: &str = "segments";
pub const LOCK_FILE: &str = "LOCK";

/// Environment variables that set the root credentials of a new data dir.
pub const ENV_ROOT_ACCESS_KEY: &str = "SHALE_ROOT_ACCESS_KEY";
pub const ENV_ROOT_SECRET_KEY: &str = "SHALE_ROOT_SECRET_KEY";

#[derive(Debug, Error)]
pub enum DataDirError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("data dir {} is in use by another shale process (lock {} is held)", dir.display(), dir.join(LOCK_FILE).display())]
    Locked { dir: PathBuf },
    #[error("{} is not valid: {reason}", path.display())]
    BadCredentialsFile { path: PathBuf, reason: String },
    #[error("{var}: {reason}")]
    BadCredentialsEnv { var: &'static str, reason: String },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DataDirError + 'a {
    move |source| DataDirError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The metadata log (users, keys, buckets): mode 0700, it holds secrets.
pub fn meta_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("meta")
}

pub fn jobs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("jobs")
}

/// A random process incarnation id (48 bits, never 0): owner ids of
/// leases and job log entries carry it.
pub fn new_incarnation() -> io::Result<u64> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).map_err(|e| io::Error::other(e.to_string()))?;
    Ok((u64::from_le_bytes(b) & 0xFFFF_FFFF_FFFF).max(1))
}

pub fn segments_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(SEGMENTS_DIR)
}

/// An exclusive lock on a data dir, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Creates `data_dir` if needed and locks it against other processes.
pub fn lock(data_dir: &Path) -> Result<DirLock, DataDirError> {
    make_private(data_dir)?;
    let path = data_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("opening", &path))?;
    // SAFETY: flock on a descriptor we own and keep open for the lock's
    // lifetime; it touches no memory.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(DataDirError::Locked {
                dir: data_dir.to_path_buf(),
            });
        }
        return Err(io_err("locking", &path)(e));
    }
    Ok(DirLock { _file: file })
}

/// Keeps the node's files to its own user: everything the process
/// creates from now on is 0600 (files) / 0700 (directories), and the data
/// dir itself is 0700, which also closes off files an older version made
/// readable to others.
pub fn make_private(data_dir: &Path) -> Result<(), DataDirError> {
    // SAFETY: umask only sets this process's file mode creation mask; it
    // takes and returns plain integers and cannot fail.
    unsafe { libc::umask(0o077) };
    std::fs::create_dir_all(data_dir).map_err(io_err("creating", data_dir))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io_err("restricting to its owner", data_dir))
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RootCredentials {
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for RootCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// Where the root credentials came from on this start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialsOrigin {
    /// Read from the data dir.
    Existing,
    /// Created now from the environment variables.
    FromEnv,
    /// Created now at random.
    Generated,
}

const ACCESS_KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_KEY_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_string(alphabet: &[u8], len: usize) -> io::Result<String> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % alphabet.len());
    while out.len() < len {
        getrandom::getrandom(&mut buf).map_err(|e| io::Error::other(e.to_string()))?;
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                if let Some(&c) = alphabet.get(b as usize % alphabet.len()) {
                    out.push(c as char);
                }
            }
        }
    }
    Ok(out)
}

/// A random access key (20 of A-Z0-9) and secret (40 of A-Za-z0-9).
pub fn new_key_pair() -> io::Result<(String, String)> {
    Ok((
        random_string(ACCESS_KEY_ALPHABET, 20)?,
        random_string(SECRET_KEY_ALPHABET, 40)?,
    ))
}

/// Checks credentials given by an operator.
pub fn validate_credentials(access: &str, secret: &str) -> Result<(), DataDirError> {
    let ok_access = (3..=128).contains(&access.len())
        && access
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok_access {
        return Err(DataDirError::BadCredentialsEnv {
            var: ENV_ROOT_ACCESS_KEY,
            reason: "must be 3 to 128 characters of A-Z, a-z, 0-9, '-' or '_'".into(),
        });
    }
    let ok_secret =
        (8..=128).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic());
    if !ok_secret {
        return Err(DataDirError::BadCredentialsEnv {
            var: ENV_ROOT_SECRET_KEY,
            reason: "must be 8 to 128 printable ASCII characters without spaces".into(),
        });
    }
    Ok(())
}

/// Loads the root credentials, creating them on a new data dir: from
/// `env` (access key, secret key) when given, at random otherwise. The
/// file is written atomically with mode 0600.
pub fn load_or_create_credentials(
    io: &Io,
    data_dir: &Path,
    env: Option<(String, String)>,
) -> Result<(RootCredentials, CredentialsOrigin), DataDirError> {
    let path = data_dir.join(CREDENTIALS_FILE);
    if io.exists(&path).map_err(io_err("checking", &path))? {
        let bytes = io.read_file(&path).map_err(io_err("reading", &path))?;
        let creds: RootCredentials =
            serde_json::from_slice(&bytes).map_err(|e| DataDirError::BadCredentialsFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        return Ok((creds, CredentialsOrigin::Existing));
    }
    let (creds, origin) = match env {
        Some((access_key, secret_key)) => {
            validate_credentials(&access_key, &secret_key)?;
            (
                RootCredentials {
                    access_key,
                    secret_key,
                },
                CredentialsOrigin::FromEnv,
            )
        }
        None => {
            let gen = |alphabet, n| {
                random_string(alphabet, n).map_err(io_err("generating credentials for", &path))
            };
            (
                RootCredentials {
                    access_key: gen(ACCESS_KEY_ALPHABET, 20)?,
                    secret_key: gen(SECRET_KEY_ALPHABET, 40)?,
                },
                CredentialsOrigin::Generated,
            )
        }
    };
    let mut json =
        serde_json::to_vec_pretty(&creds).map_err(|e| DataDirError::BadCredentialsFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    json.push(b'\n');
    io.write_file_atomic(&path, &json, 0o600)
        .map_err(io_err("writing", &path))?;
    Ok((creds, origin))
}

/// The root credentials from the environment, if both variables are set.
pub fn credentials_from_env() -> Option<(String, String)> {
    let a = std::env::var(ENV_ROOT_ACCESS_KEY).ok()?;
    let s = std::env::var(ENV_ROOT_SECRET_KEY).ok()?;
    Some((a, s))
}

/// (total, free to unprivileged users) bytes of the filesystem at `path`.
pub fn disk_space(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs is plain data, zero is a valid bit pattern for it;
    // `c` is a NUL-terminated path that outlives the call, and the struct
    // is only read after statvfs reported success.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut s) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let frsize = s.f_frsize as u64;
        Ok((
            (s.f_blocks as u64).saturating_mul(frsize),
            (s.f_bavail as u64).saturating_mul(frsize),
        ))
    }
}
