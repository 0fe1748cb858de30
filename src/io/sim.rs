//! A seeded in-memory disk for tests.
//!
//! It keeps, per file, what is *written* (visible to reads) apart from what
//! is *durable* (survives a crash), and for the namespace, which names are
//! durable (made so by `sync_dir`). Tests can:
//! - crash it ([`SimDisk::crash`]): every file falls back to its durable
//!   image, optionally with unsynced writes kept, dropped or torn at random
//!   (seeded), and every handle opened before the crash stops working;
//! - fail the Nth operation of a kind with an errno ([`SimDisk::fail_nth`]);
//! - limit the space ([`SimDisk::set_capacity`]): writes past it write what
//!   fits and fail with ENOSPC.
//!
//! Simplifications: directories are durable as soon as they are created.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::OpenMode;

/// Which operations a fault counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpFilter {
    Any,
    Read,
    Write,
    Sync,
}

/// What happens to writes that were not synced when the disk crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Only what was synced survives.
    DropUnsynced,
    /// Each unsynced write is kept, dropped, or torn to a random prefix.
    Tear,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Read,
    Write,
    Sync,
    Meta,
}

struct Fault {
    filter: OpFilter,
    remaining: u64,
    errno: i32,
}

enum Pending {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Default)]
struct Node {
    data: Vec<u8>,
    durable: Vec<u8>,
    unsynced: Vec<Pending>,
}

struct State {
    live: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    nodes: HashMap<u64, Node>,
    next_node: u64,
    epoch: u64,
    faults: Vec<Fault>,
    capacity: Option<u64>,
    rng: u64,
    syncs: u64,
}

/// The simulated disk. Share it as `Arc<SimDisk>`; crash it from the test.
pub struct SimDisk {
    state: Mutex<State>,
}

/// An open file on a [`SimDisk`].
pub struct SimFile {
    disk: Arc<SimDisk>,
    node: u64,
    epoch: u64,
    writable: bool,
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

fn to_usize(v: u64) -> io::Result<usize> {
    usize::try_from(v).map_err(|_| errno(libc::EFBIG))
}

impl State {
    /// Counts one operation and fails it if a fault is due.
    fn tick(&mut self, kind: OpKind) -> io::Result<()> {
        let mut fire = None;
        for (i, f) in self.faults.iter_mut().enumerate() {
            let counts = match f.filter {
                OpFilter::Any => true,
                OpFilter::Read => kind == OpKind::Read,
                OpFilter::Write => kind == OpKind::Write,
                OpFilter::Sync => kind == OpKind::Sync,
            };
            if counts {
                f.remaining = f.remaining.saturating_sub(1);
                if f.remaining == 0 && fire.is_none() {
                    fire = Some(i);
                }
            }
        }
        match fire {
            Some(i) => {
                let f = self.faults.remove(i);
                Err(errno(f.errno))
            }
            None => Ok(()),
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*: deterministic for a seed, good enough for choices.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn used_bytes(&self) -> u64 {
        let ids: BTreeSet<u64> = self.live.values().copied().collect();
        ids.iter()
            .filter_map(|id| self.nodes.get(id))
            .map(|n| n.data.len() as u64)
            .sum()
    }

    fn node_mut(&mut self, id: u64) -> io::Result<&mut Node> {
        self.nodes.get_mut(&id).ok_or_else(|| errno(libc::EBADF))
    }

    fn check_parent(&self, path: &Path) -> io::Result<()> {
        let parent = super::parent_dir(path);
        if self.dirs.contains(&parent) {
            Ok(())
        } else {
            Err(errno(libc::ENOENT))
        }
    }
}

fn apply(image: &mut Vec<u8>, op: &Pending) -> io::Result<()> {
    match op {
        Pending::Write { offset, bytes } => {
            let start = to_usize(*offset)?;
            let end = start + bytes.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            if let Some(dst) = image.get_mut(start..end) {
                dst.copy_from_slice(bytes);
            }
        }
        Pending::SetLen(len) => image.resize(to_usize(*len)?, 0),
    }
    Ok(())
}

impl SimDisk {
    pub fn new(seed: u64) -> Arc<SimDisk> {
        let mut dirs = BTreeSet::new();
        dirs.insert(PathBuf::from("/"));
        dirs.insert(PathBuf::from("."));
        Arc::new(SimDisk {
            state: Mutex::new(State {
                live: BTreeMap::new(),
                durable_names: BTreeMap::new(),
                dirs,
                nodes: HashMap::new(),
                next_node: 1,
                epoch: 0,
                faults: Vec::new(),
                capacity: None,
                rng: seed | 1,
                syncs: 0,
            }),
        })
    }

    /// Makes the `n`th future operation matching `filter` (1 = the next)
    /// fail with `errno` (e.g. `libc::EIO`, `libc::ENOSPC`).
    pub fn fail_nth(&self, filter: OpFilter, n: u64, errno: i32) {
        self.state.lock().faults.push(Fault {
            filter,
            remaining: n.max(1),
            errno,
        });
    }

    /// Drops every scheduled fault.
    pub fn clear_faults(&self) {
        self.state.lock().faults.clear();
    }

    /// Limits the bytes all files may hold together (`None`: unlimited).
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state.lock().capacity = bytes;
    }

    pub fn used_bytes(&self) -> u64 {
        self.state.lock().used_bytes()
    }

    /// Number of file syncs so far.
    pub fn sync_count(&self) -> u64 {
        self.state.lock().syncs
    }

    /// Simulates power loss: files and names fall back to what was durable;
    /// handles opened before stop working.
    pub fn crash(&self, mode: CrashMode) {
        let mut st = self.state.lock();
        st.epoch += 1;
        st.faults.clear();
        let ids: Vec<u64> = st.nodes.keys().copied().collect();
        for id in ids {
            let Some(mut node) = st.nodes.remove(&id) else {
                continue;
            };
            let mut image = std::mem::take(&mut node.durable);
            for op in std::mem::take(&mut node.unsynced) {
                if mode == CrashMode::DropUnsynced {
                    break;
                }
                let op = match (st.next_rand() % 3, op) {
                    (0, _) => continue,
                    (1, Pending::Write { offset, mut bytes }) => {
                        let keep = (st.next_rand() % (bytes.len() as u64 + 1)) as usize;
                        bytes.truncate(keep);
                        Pending::Write { offset, bytes }
                    }
                    (_, op) => op,
                };
                // Best effort: an op that cannot apply is simply lost.
                let _ = apply(&mut image, &op);
            }
            node.data = image.clone();
            node.durable = image;
            st.nodes.insert(id, node);
        }
        st.live = st.durable_names.clone();
    }

    pub(super) fn open(self: &Arc<Self>, path: &Path, mode: OpenMode) -> io::Result<SimFile> {
        let mut st = self.state.lock();
        st.tick(OpKind::Meta)?;
        let existing = st.live.get(path).copied();
        let node = match (mode, existing) {
            (OpenMode::Read | OpenMode::ReadWrite, Some(id)) => id,
            (OpenMode::Read | OpenMode::ReadWrite, None) => return Err(errno(libc::ENOENT)),
            (OpenMode::CreateNew, Some(_)) => return Err(errno(libc::EEXIST)),
            (OpenMode::CreateTruncate, Some(id)) => {
                let n = st.node_mut(id)?;
                n.data.clear();
                n.unsynced.push(Pending::SetLen(0));
                id
            }
            (OpenMode::CreateNew | OpenMode::CreateTruncate, None) => {
                st.check_parent(path)?;
                let id = st.next_node;
                st.next_node += 1;
                st.nodes.insert(id, Node::default());
                st.live.insert(path.to_path_buf(), id);
                id
            }
        };
        Ok(SimFile {
            disk: Arc::clone(self),
            node,
            epoch: st.epoch,
            writable: mode != OpenMode::Read,
        })
    }

    pub(super) fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.tick(OpKind::Meta)?;
        for anc in path.ancestors() {
            if !anc.as_os_str().is_empty() {
                st.dirs.insert(anc.to_path_buf());
            }
        }
        Ok(())
    }

    pub(super) fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut st = self.state.lock();
        st.tick(OpKind::Meta)?;
        if !st.dirs.contains(dir) {
            return Err(errno(libc::ENOENT));
        }
        let mut names: Vec<String> = st
            .live
            .keys()
            .chain(st.dirs.iter())
            .filter(|p| p.parent() == Some(dir) && p.as_path() != dir)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    pub(super) fn exists(&self, path: &Path) -> bool {
        let st = self.state.lock();
        st.live.contains_key(path) || st.dirs.contains(path)
    }

    pub(super) fn check_exists(&self, path: &Path) -> io::Result<()> {
        if self.exists(path) {
            Ok(())
        } else {
            Err(errno(libc::ENOENT))
        }
    }

    pub(super) fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.tick(OpKind::Meta)?;
        st.check_parent(to)?;
        let id = st.live.remove(from).ok_or_else(|| errno(libc::ENOENT))?;
        st.live.insert(to.to_path_buf(), id);
        Ok(())
    }

    pub(super) fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.tick(OpKind::Meta)?;
        st.live
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| errno(libc::ENOENT))
    }

    pub(super) fn remove_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.tick(OpKind::Meta)?;
        if st.live.keys().any(|p| p.parent() == Some(path))
            || st.dirs.iter().any(|p| p.parent() == Some(path))
        {
            return Err(errno(libc::ENOTEMPTY));
        }
        if st.dirs.remove(path) {
            Ok(())
        } else {
            Err(errno(libc::ENOENT))
        }
    }

    pub(super) fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.tick(OpKind::Sync)?;
        let in_dir = |p: &Path| p.parent() == Some(dir);
        let keep: BTreeMap<PathBuf, u64> = st
            .durable_names
            .iter()
            .filter(|(p, _)| !in_dir(p))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        let mut names = keep;
        for (p, id) in st.live.iter().filter(|(p, _)| in_dir(p)) {
            names.insert(p.clone(), *id);
        }
        st.durable_names = names;
        Ok(())
    }
}

impl SimFile {
    fn with_node<T>(
        &self,
        kind: OpKind,
        f: impl FnOnce(&mut State, u64) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut st = self.disk.state.lock();
        if st.epoch != self.epoch {
            return Err(errno(libc::EBADF));
        }
        st.tick(kind)?;
        f(&mut st, self.node)
    }

    pub(super) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.with_node(OpKind::Read, |st, id| {
            let node = st.node_mut(id)?;
            let start = to_usize(offset)?;
            let src = node
                .data
                .get(start..start + buf.len())
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            buf.copy_from_slice(src);
            Ok(())
        })
    }

    pub(super) fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(errno(libc::EBADF));
        }
        self.with_node(OpKind::Write, |st, id| {
            let used = st.used_bytes();
            let capacity = st.capacity;
            let node = st.node_mut(id)?;
            let old_len = node.data.len() as u64;
            let end = offset + bytes.len() as u64;
            let growth = end.saturating_sub(old_len);
            let (fits, full) = match capacity {
                Some(cap) if used + growth > cap => {
                    let room = cap.saturating_sub(used);
                    let fits = (old_len + room)
                        .saturating_sub(offset)
                        .min(bytes.len() as u64);
                    (to_usize(fits)?, true)
                }
                _ => (bytes.len(), false),
            };
            let op = Pending::Write {
                offset,
                bytes: bytes.get(..fits).unwrap_or_default().to_vec(),
            };
            apply(&mut node.data, &op)?;
            node.unsynced.push(op);
            if full {
                Err(errno(libc::ENOSPC))
            } else {
                Ok(())
            }
        })
    }

    pub(super) fn set_len(&self, len: u64) -> io::Result<()> {
        self.with_node(OpKind::Write, |st, id| {
            let node = st.node_mut(id)?;
            let op = Pending::SetLen(len);
            apply(&mut node.data, &op)?;
            node.unsynced.push(op);
            Ok(())
        })
    }

    pub(super) fn sync(&self) -> io::Result<()> {
        self.with_node(OpKind::Sync, |st, id| {
            st.syncs += 1;
            let node = st.node_mut(id)?;
            for op in std::mem::take(&mut node.unsynced) {
                apply(&mut node.durable, &op)?;
            }
            Ok(())
        })
    }

    pub(super) fn len(&self) -> io::Result<u64> {
        self.with_node(
            OpKind::Meta,
            |st, id| Ok(st.node_mut(id)?.data.len() as u64),
        )
    }
}
