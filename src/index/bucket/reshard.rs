//! Online resharding: when a bucket needs more shards, and copying it
//! into a new generation of shards while writes keep flowing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::epoch;

use super::*;
use crate::index::entry::IndexEntry;
use crate::index::index_shard::{IndexError, IndexShard};
use crate::index::key::SortKey;
use crate::index::layout::{next_shard_count, Layout};
use crate::index::shard::{self, Shard};
use crate::index::shard_of;
use crate::index::tree;

/// What [`BucketIndex::reshard`] did.
#[derive(Clone, Debug)]
pub struct ReshardReport {
    pub from_shards: u32,
    pub to_shards: u32,
    pub generation: u32,
    /// Entries copied from the frozen snapshot.
    pub copied: u64,
    /// Log entries replayed while writes kept flowing.
    pub caught_up: u64,
    /// Log entries replayed while writes were held.
    pub final_tail: u64,
    /// How long writers were held (the longest pause they saw).
    pub pause: Duration,
}

impl BucketIndex {
    /// The shard count to reshard to, if a shard holds more entries than
    /// the threshold.
    pub fn needs_reshard(&self) -> Option<u32> {
        let shards = self.shards();
        let now = crate::clock::expiry_now_secs();
        let fullest = shards
            .slots
            .iter()
            .filter_map(|s| s.stats_at(now).ok())
            .map(|[(o, _), _]| o)
            .max()?;
        (fullest > self.options.reshard_threshold).then(|| {
            let (objects, _) = self.stats();
            next_shard_count(
                shards.layout.shard_count,
                objects,
                self.options.reshard_threshold,
            )
        })
    }

    /// Reshards if a shard passed the threshold and no reshard is running;
    /// `None` if nothing was done. The node calls this in the background
    /// after writes (it takes as long as copying the bucket's entries;
    /// writers are held only for the final switch).
    pub async fn reshard_if_needed(&self) -> Result<Option<ReshardReport>, IndexError> {
        let Ok(one) = self.resharding.try_lock() else {
            return Ok(None);
        };
        match self.needs_reshard() {
            Some(to) => self.reshard_locked(to, one).await.map(Some),
            None => Ok(None),
        }
    }

    /// Reshards online into `to` shards: copies a snapshot of every shard
    /// into a new generation, replays what the shards logged meanwhile
    /// (writes keep flowing), then holds writers only to replay the last
    /// few entries, commit the new shards and switch the layout.
    pub async fn reshard(&self, to: u32) -> Result<ReshardReport, IndexError> {
        let one = self.resharding.lock().await;
        self.reshard_locked(to, one).await
    }

    async fn reshard_locked(
        &self,
        to: u32,
        _one: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<ReshardReport, IndexError> {
        let old = self.shards();
        // Held open (absent ones made, empty) until the switch.
        let old_shards = old.write_all()?;
        let generation = old.layout.generation + 1;
        let gdir = generation_dir(&self.dir, generation);
        // A leftover of an interrupted attempt.
        remove_dir_all(&self.io, &gdir)?;
        const CONSUMER: &str = "reshard";
        let mut new: Vec<Shard> = (0..to)
            .map(|i| {
                let d = gdir.join(i.to_string());
                self.io
                    .create_dir_all(&d)
                    .map_err(io_error("creating", &d))?;
                Ok(Shard::create(&self.io, &d.join("tree.idx"), i, to)?)
            })
            .collect::<Result<_, IndexError>>()?;
        // 1. Copy each shard's snapshot; its log keeps what follows.
        let mut from = Vec::with_capacity(old_shards.len());
        let mut copied = 0u64;
        for s in &old_shards {
            // Registered before the snapshot is taken, so a checkpoint
            // cannot trim what the snapshot lacks.
            s.unregister_consumer(CONSUMER).await;
            s.register_consumer(CONSUMER, s.applied()).await;
            let guard = epoch::pin();
            let view = s.published().load(&guard);
            from.push(view.applied + 1);
            let mut at = Vec::new();
            loop {
                let batch =
                    tree::scan(view, view.root, &at, 1024).map_err(shard::ShardError::from)?;
                let full = batch.len() == 1024;
                for (k, v) in &batch {
                    let sk = SortKey::decode(k).map_err(shard::ShardError::from)?;
                    let e = IndexEntry::decode(v).map_err(shard::ShardError::from)?;
                    let dst = shard_of(sk.object_key(), to) as usize;
                    if let Some(n) = new.get_mut(dst) {
                        n.put_raw(&sk, &e)?;
                    }
                    copied += 1;
                }
                match batch.last() {
                    Some((k, _)) if full => {
                        at = k.clone();
                        at.push(0);
                    }
                    _ => break,
                }
            }
        }
        // 2. Catch up from the logs while writers go on; twice, so the
        // held tail is what arrived during one short pass.
        let mut caught_up = 0u64;
        for _ in 0..2 {
            for (i, s) in old_shards.iter().enumerate() {
                let start = from.get(i).copied().unwrap_or(1);
                let entries = s.read_log(start, usize::MAX)?;
                caught_up += replay_into(&mut new, to, &entries)?;
                if let (Some(f), Some(last)) = (from.get_mut(i), entries.last()) {
                    *f = last.marker + 1;
                }
            }
            for n in &mut new {
                n.checkpoint()?;
            }
        }
        // 3. Hold every old shard, replay the rest, commit, switch.
        let held_at = Instant::now();
        let mut frozen = Vec::with_capacity(old_shards.len());
        for s in &old_shards {
            frozen.push(s.freeze().await?);
        }
        let mut final_tail = 0u64;
        let mut base = 0u64;
        for (i, f) in frozen.iter().enumerate() {
            let start = from.get(i).copied().unwrap_or(1);
            let entries = f.read_log(start)?;
            final_tail += replay_into(&mut new, to, &entries)?;
            base = base.max(f.applied()).max(old.layout.base_marker);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = new
                .iter_mut()
                .map(|n| {
                    scope.spawn(move || {
                        n.start_after(base);
                        n.checkpoint()
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| match h.join() {
                Ok(r) => r.map(|_| ()).map_err(IndexError::from),
                Err(_) => Err(IndexError::Resolve(
                    "a checkpoint thread of the new shards panicked".into(),
                )),
            })
        })?;
        let layout = Layout {
            generation,
            shard_count: to,
            base_marker: base,
            prev_generation: old.layout.generation,
            prev_shard_count: old.layout.shard_count,
            created_nanos: crate::clock::now_nanos(),
        };
        let slot_home = slot_home(&self.io, &self.home, self.options.zone, layout, &self.dir);
        let slots: Vec<Arc<ShardSlot>> = new
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let d = gdir.join(i.to_string());
                let name = self.home.shard_name(generation, i as u32);
                let shard = IndexShard::adopt(&d, n, &self.home.wal, name, self.options.zone)?;
                Ok::<_, IndexError>(ShardSlot::adopted(&slot_home, Arc::new(shard)))
            })
            .collect::<Result<_, _>>()?;
        let layout_path = self.dir.join(LAYOUT_FILE);
        self.io
            .write_file_atomic(&layout_path, &layout.encode(), 0o600)
            .map_err(io_error("writing", &layout_path))?;
        *self.current.write() = Arc::new(Shards { layout, slots });
        for f in &mut frozen {
            f.retire();
        }
        drop(frozen);
        let pause = held_at.elapsed();
        // The old generation has no consumer left (peers would be one:
        // they follow its logs to their end before the new ones).
        remove_dir_all(&self.io, &generation_dir(&self.dir, old.layout.generation))?;
        Ok(ReshardReport {
            from_shards: old.layout.shard_count,
            to_shards: to,
            generation,
            copied,
            caught_up,
            final_tail,
            pause,
        })
    }
}

/// Applies old-generation log entries to the new shards; returns how many.
fn replay_into(
    new: &mut [Shard],
    to: u32,
    entries: &[crate::index::bilog::BilogEntry],
) -> Result<u64, IndexError> {
    for e in entries {
        let dst = shard_of(e.key.object_key(), to) as usize;
        if let Some(n) = new.get_mut(dst) {
            n.apply_step(e)?;
        }
    }
    Ok(entries.len() as u64)
}
