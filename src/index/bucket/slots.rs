//! Shards opened on demand and closed when idle, so a bucket costs only
//! what it holds open.
//!
//! A bucket's shard is one of:
//! - *absent*: no file and nothing logged (a new bucket's shards, or one
//!   no key ever hashed to): readers see it empty without opening
//!   anything; the first write makes it in memory, and its first
//!   checkpoint makes its file;
//! - *closed*: a file, not open: the first access opens it (and replays
//!   its node-log entries if the start left any);
//! - *open*: an [`IndexShard`] with its file mapped.
//!
//! [`OpenShards`] bounds how many shards the node holds open: past the
//! bound, shards nobody uses (no request holds them, nothing waits to be
//! logged or checkpointed, no log consumer but the checkpoint) are
//! closed in the order of a clock sweep (the least recently touched
//! first). A closed shard keeps its stats and expiry index in memory, so
//! stats and the expiry pass do not reopen it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::super::expiry::ExpiryIndex;
use super::super::index_shard::{IndexError, IndexShard, ShardAtRest};
use super::super::wal::{IndexWal, ShardName};
use crate::io::Io;

/// Open shards a node holds unless configured otherwise: each is a file
/// descriptor and a mapping.
pub const OPEN_SHARDS_DEFAULT: usize = 4096;
/// Shards an open past the bound looks at to close one.
const SWEEP_ON_OPEN: usize = 16;
/// Open shards (× the bound) past which a step to a shard that is not
/// open waits for the checkpointer to make room: written shards close
/// only once checkpointed, and each open one is a mapping (the kernel
/// allows a process about 65,000).
const CROWDED_FACTOR: usize = 4;
/// How long such a step waits before it is refused.
const CROWDED_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The node-wide bound on open shards, and the clock that picks which to
/// close.
pub struct OpenShards {
    max_open: usize,
    open: AtomicUsize,
    /// Open shards in the order they were opened (the clock's hand at
    /// the front). An entry may be stale (its slot closed or dropped
    /// since); the sweep skips those.
    ring: Mutex<VecDeque<Weak<ShardSlot>>>,
}

impl OpenShards {
    pub fn new(max_open: usize) -> Arc<OpenShards> {
        Arc::new(OpenShards {
            max_open: max_open.max(1),
            open: AtomicUsize::new(0),
            ring: Mutex::new(VecDeque::new()),
        })
    }

    /// Shards open now.
    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    pub fn max_open(&self) -> usize {
        self.max_open
    }

    fn opened(&self, slot: &Arc<ShardSlot>) {
        self.ring.lock().push_back(Arc::downgrade(slot));
        if self.open.fetch_add(1, Ordering::Relaxed) + 1 > self.max_open {
            self.sweep(SWEEP_ON_OPEN);
        }
    }

    /// Whether so many shards are open that no more should open until
    /// some close.
    pub fn crowded(&self) -> bool {
        self.open.load(Ordering::Relaxed) > self.max_open.saturating_mul(CROWDED_FACTOR)
    }

    /// Whether more shards are open than the bound (shards written since
    /// the last checkpoint cannot close: the checkpointer should run).
    pub fn over_bound(&self) -> bool {
        self.open.load(Ordering::Relaxed) > self.max_open
    }

    /// Closes idle shards until no more than the bound are open (or
    /// none of the open ones is idle). Returns how many it closed.
    pub fn close_idle(&self) -> usize {
        let turns = self.ring.lock().len() * 2;
        self.sweep(turns)
    }

    /// [`close_idle`](Self::close_idle), looking at no more than `visits`
    /// shards (an open pays for a few, not for all of them).
    fn sweep(&self, visits: usize) -> usize {
        let mut ring = self.ring.lock();
        let mut closed = 0;
        // Two turns over all: the first clears the recently-used marks.
        let mut budget = visits.min(ring.len() * 2);
        while self.open.load(Ordering::Relaxed) > self.max_open && budget > 0 {
            budget -= 1;
            let Some(weak) = ring.pop_front() else { break };
            let Some(slot) = weak.upgrade() else { continue };
            if !slot.is_open() {
                continue;
            }
            if slot.used.swap(false, Ordering::Relaxed) {
                ring.push_back(weak);
                continue;
            }
            if slot.try_close() {
                closed += 1;
            } else {
                ring.push_back(weak);
            }
        }
        // Entries of shards closed or dropped meanwhile would pile up.
        if ring.len() > 2 * self.open.load(Ordering::Relaxed) + 64 {
            ring.retain(|w| w.upgrade().is_some_and(|s| s.is_open()));
        }
        closed
    }
}

/// What every slot of a bucket needs to open its shard.
pub struct SlotHome {
    pub io: Io,
    pub wal: Arc<IndexWal>,
    pub cache: Arc<OpenShards>,
    pub zone: u64,
    pub shard_count: u32,
    /// The generation's directory (shard `i` in `gdir/i`).
    pub gdir: PathBuf,
}

/// What a closed shard left behind.
struct AtRest {
    objects: u64,
    bytes: u64,
    expiring: Arc<Mutex<ExpiryIndex>>,
}

enum SlotState {
    Absent,
    /// `None`: not opened by this process yet.
    Closed(Option<AtRest>),
    Open(Arc<IndexShard>),
}

/// One shard of a bucket, open or not.
pub struct ShardSlot {
    home: Arc<SlotHome>,
    name: ShardName,
    state: Mutex<SlotState>,
    /// Touched since the clock last passed.
    used: AtomicBool,
}

impl Drop for ShardSlot {
    fn drop(&mut self) {
        if matches!(*self.state.get_mut(), SlotState::Open(_)) {
            self.home.cache.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl ShardSlot {
    /// A slot for a shard with a directory on disk (`exists`) or none.
    pub fn new(home: &Arc<SlotHome>, name: ShardName, exists: bool) -> ShardSlot {
        ShardSlot {
            home: Arc::clone(home),
            name,
            state: Mutex::new(if exists {
                SlotState::Closed(None)
            } else {
                SlotState::Absent
            }),
            used: AtomicBool::new(true),
        }
    }

    /// A slot holding a shard opened elsewhere (resharding builds them).
    pub fn adopted(home: &Arc<SlotHome>, shard: Arc<IndexShard>) -> Arc<ShardSlot> {
        let slot = Arc::new(ShardSlot {
            home: Arc::clone(home),
            name: shard.name().clone(),
            state: Mutex::new(SlotState::Open(shard)),
            used: AtomicBool::new(true),
        });
        home.cache.opened(&slot);
        slot
    }

    fn is_open(&self) -> bool {
        matches!(*self.state.lock(), SlotState::Open(_))
    }

    /// The shard for reading: `None` if it is absent (empty).
    pub fn read(self: &Arc<Self>) -> Result<Option<Arc<IndexShard>>, IndexError> {
        self.get(false)
    }

    /// [`write`](Self::write) for a step from a request: if the shard is
    /// not open and the node is crowded with open shards, waits (up to
    /// 10 s, then [`IndexError::Crowded`]) for checkpoints to close some.
    pub async fn write_when_room(self: &Arc<Self>) -> Result<Arc<IndexShard>, IndexError> {
        let deadline = std::time::Instant::now() + CROWDED_WAIT;
        while !self.is_open() && self.home.cache.crowded() {
            if std::time::Instant::now() >= deadline {
                return Err(IndexError::Crowded);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.write()
    }

    /// The shard for a step: made (in memory) if it is absent.
    pub fn write(self: &Arc<Self>) -> Result<Arc<IndexShard>, IndexError> {
        self.get(true)?
            .ok_or_else(|| IndexError::Resolve("a shard could not be made".into()))
    }

    fn get(self: &Arc<Self>, make: bool) -> Result<Option<Arc<IndexShard>>, IndexError> {
        self.used.store(true, Ordering::Relaxed);
        let mut st = self.state.lock();
        match &*st {
            SlotState::Open(s) => return Ok(Some(Arc::clone(s))),
            SlotState::Absent if !make => return Ok(None),
            SlotState::Closed(None) if !make && !self.has_file()? => {
                // Nothing was ever checkpointed in it (and the start
                // replayed nothing into it, or it would be open).
                *st = SlotState::Absent;
                return Ok(None);
            }
            _ => {}
        }
        let h = &self.home;
        let shard = Arc::new(IndexShard::open(
            &h.io,
            &h.gdir.join(self.name.shard.to_string()),
            self.name.clone(),
            h.shard_count,
            h.zone,
            &h.wal,
        )?);
        *st = SlotState::Open(Arc::clone(&shard));
        drop(st);
        h.cache.opened(self);
        Ok(Some(shard))
    }

    /// Whether the shard's directory holds a file (or its temporary).
    fn has_file(&self) -> Result<bool, IndexError> {
        let dir = self.home.gdir.join(self.name.shard.to_string());
        let exists = |p: PathBuf| {
            self.home.io.exists(&p).map_err(|source| IndexError::Io {
                op: "checking",
                path: p,
                source,
            })
        };
        // A legacy log directory is something to open (and upgrade).
        Ok(exists(dir.join("tree.idx"))? || exists(dir.join("log"))?)
    }

    /// Opens the shard now if the node log holds entries for it that the
    /// start has read (they must reach the tree before the replay point
    /// can move past them).
    pub fn open_if_replay_pending(self: &Arc<Self>) -> Result<(), IndexError> {
        if self.home.wal.has_replay(&self.name) {
            self.write()?;
        }
        Ok(())
    }

    /// Closes the shard if it is idle; `true` if it did.
    fn try_close(&self) -> bool {
        let mut st = self.state.lock();
        let SlotState::Open(shard) = &*st else {
            return false;
        };
        // Only this slot holds it: nobody can start using it while the
        // slot's lock is held.
        if Arc::strong_count(shard) > 1 {
            return false;
        }
        let Some(rest) = shard.at_rest() else {
            return false;
        };
        *st = match rest {
            ShardAtRest::Empty => SlotState::Absent,
            ShardAtRest::OnDisk {
                objects,
                bytes,
                expiring,
            } => SlotState::Closed(Some(AtRest {
                objects,
                bytes,
                expiring,
            })),
        };
        self.home.cache.open.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// What the shard knows without opening it, if it is not open.
    fn at_rest<T>(&self, f: impl FnOnce(&AtRest) -> T) -> Option<Option<T>> {
        match &*self.state.lock() {
            SlotState::Absent => Some(None),
            SlotState::Closed(Some(r)) => Some(Some(f(r))),
            _ => None,
        }
    }

    /// (objects, bytes) and (objects, bytes) due at `now_secs`.
    pub fn stats_at(self: &Arc<Self>, now_secs: u64) -> Result<[(u64, u64); 2], IndexError> {
        if let Some(known) =
            self.at_rest(|r| [(r.objects, r.bytes), r.expiring.lock().due_totals(now_secs)])
        {
            return Ok(known.unwrap_or_default());
        }
        Ok(match self.read()? {
            Some(s) => [s.stats(), s.due_totals(now_secs)],
            None => Default::default(),
        })
    }

    /// How many entries are due at `now_secs`, as far as is known without
    /// opening the shard (one not opened since the start counts 0).
    pub fn due_count_known(&self, now_secs: u64) -> usize {
        match &*self.state.lock() {
            SlotState::Open(s) => s.due_count(now_secs),
            SlotState::Closed(Some(r)) => r.expiring.lock().due_count(now_secs),
            _ => 0,
        }
    }

    /// How many entries are due at `now_secs`.
    pub fn due_count(self: &Arc<Self>, now_secs: u64) -> Result<usize, IndexError> {
        if let Some(known) = self.at_rest(|r| r.expiring.lock().due_count(now_secs)) {
            return Ok(known.unwrap_or_default());
        }
        Ok(self.read()?.map_or(0, |s| s.due_count(now_secs)))
    }

    /// Up to `limit` sort keys due at `now_secs`, earliest first.
    pub fn due(
        self: &Arc<Self>,
        now_secs: u64,
        limit: usize,
    ) -> Result<Vec<(u64, crate::index::key::SortKey)>, IndexError> {
        if let Some(known) = self.at_rest(|r| {
            let d = r.expiring.lock().due(now_secs, limit);
            d
        }) {
            return Ok(known.unwrap_or_default());
        }
        Ok(self
            .read()?
            .map_or_else(Vec::new, |s| s.due(now_secs, limit)))
    }

    /// The open shard, if it is open (checkpoint and log trimming only
    /// concern open shards: a closed one has nothing past its checkpoint).
    pub fn if_open(&self) -> Option<Arc<IndexShard>> {
        match &*self.state.lock() {
            SlotState::Open(s) => Some(Arc::clone(s)),
            _ => None,
        }
    }
}
