//! Re-evaluating a bucket's objects against its lifecycle rules: after a
//! rule change (and at start, which also covers entries a crash left
//! without their rule's expiry), each object's index entry gets the
//! expiry its own `X-Delete-At` and the rules give it, through the index
//! transaction (conditional on the entry being unchanged), so the expiry
//! index, the stats and the expiry pass follow the new rules. A newer
//! change supersedes a run in progress. Progress is kept on the bucket
//! for the admin API.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::head::ObjectHead;
use super::store::Bucket;
use crate::index::entry::IndexEntry;
use crate::index::key::SortKey;
use crate::segment::SegmentStore;

/// How a bucket's re-evaluation stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvalProgress {
    /// "idle", "running", "done", "superseded" or "failed: ...".
    pub state: String,
    /// Objects looked at so far.
    pub examined: u64,
    /// Entries whose expiry changed.
    pub changed: u64,
}

/// Objects per index page.
const PAGE: usize = 256;

/// Starts a new run: returns its generation (runs of older generations
/// stop at their next page).
pub fn begin(b: &Bucket) -> u64 {
    let g = b.eval_generation.fetch_add(1, Ordering::AcqRel) + 1;
    *b.eval_progress.lock() = EvalProgress {
        state: "running".into(),
        ..EvalProgress::default()
    };
    g
}

/// Runs re-evaluation `generation` of `b` to the end (or until superseded).
pub async fn run(b: Arc<Bucket>, segments: SegmentStore, generation: u64) {
    let outcome = walk(&b, &segments, generation).await;
    if b.eval_generation.load(Ordering::Acquire) != generation {
        return;
    }
    let mut p = b.eval_progress.lock();
    p.state = match outcome {
        Ok(true) => "done".into(),
        Ok(false) => "superseded".into(),
        Err(e) => format!("failed: {e}"),
    };
}

/// `Ok(false)` if a newer run took over.
async fn walk(b: &Bucket, segments: &SegmentStore, generation: u64) -> Result<bool, String> {
    let mut after = None;
    loop {
        if b.eval_generation.load(Ordering::Acquire) != generation {
            return Ok(false);
        }
        let page = b
            .index
            .scan_heads(b"", after.take(), PAGE, true)
            .map_err(|e| e.to_string())?;
        for (key, entry) in &page.items {
            if entry.placeholder {
                continue;
            }
            let mut changed = 0;
            if !entry.delete_marker {
                let rec = segments
                    .read(entry.head)
                    .await
                    .map_err(|e| format!("reading an object head: {e}"))?;
                let head = ObjectHead::decode(&rec.payload).map_err(|e| e.to_string())?;
                let want = b.entry_for(&head, entry.head);
                if (want.expiry_slot, want.expires_to_marker)
                    != (entry.expiry_slot, entry.expires_to_marker)
                {
                    changed += u64::from(update(b, key, entry, &want).await?);
                }
            }
            if entry.versioned {
                changed += super::noncurrent::settle(segments, b, key)
                    .await
                    .map_err(|e| e.message)?;
            }
            let mut p = b.eval_progress.lock();
            p.examined += 1;
            p.changed += changed;
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(true),
        }
    }
}

/// Gives `key`'s current object (its unversioned head, or the version
/// its head mirrors, in place) the expiry of `want` if it is still
/// `entry`.
async fn update(
    b: &Bucket,
    key: &[u8],
    entry: &IndexEntry,
    want: &IndexEntry,
) -> Result<bool, String> {
    let _gate = b.gate_read().await;
    let txn = b.index.prepare(key).await.map_err(|e| e.to_string())?;
    let next = IndexEntry {
        expiry_slot: want.expiry_slot,
        expires_to_marker: want.expires_to_marker,
        pending: Vec::new(),
        ..entry.clone()
    };
    let target = if entry.versioned {
        SortKey::Version {
            key: key.to_vec(),
            version: entry.version_id,
        }
    } else {
        SortKey::Head { key: key.to_vec() }
    };
    let was = entry.clone();
    b.index
        .complete_if(txn, target, Some(next), |e| {
            e.is_some_and(|e| {
                e.head == was.head
                    && e.versioned == was.versioned
                    && e.version_id == was.version_id
                    && e.expiry_slot == was.expiry_slot
                    && e.expires_to_marker == was.expires_to_marker
            })
        })
        .await
        .map_err(|e| e.to_string())
}
