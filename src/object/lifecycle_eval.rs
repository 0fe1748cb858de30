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
            if entry.versioned || entry.placeholder || entry.delete_marker {
                continue;
            }
            let rec = segments
                .read(entry.head)
                .await
                .map_err(|e| format!("reading an object head: {e}"))?;
            let head = ObjectHead::decode(&rec.payload).map_err(|e| e.to_string())?;
            let want = b.entry_for(&head, entry.head).expiry_slot;
            let mut changed = false;
            if want != entry.expiry_slot {
                changed = update(b, key, entry, want).await?;
            }
            let mut p = b.eval_progress.lock();
            p.examined += 1;
            p.changed += u64::from(changed);
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(true),
        }
    }
}

/// Gives `key`'s entry the expiry `want` if it is still `entry`.
async fn update(
    b: &Bucket,
    key: &[u8],
    entry: &crate::index::entry::IndexEntry,
    want: u64,
) -> Result<bool, String> {
    let _gate = b.gate_read().await;
    let txn = b.index.prepare(key).await.map_err(|e| e.to_string())?;
    let mut next = entry.clone();
    next.expiry_slot = want;
    next.pending.clear();
    let was = entry.head;
    b.index
        .complete_if_target(txn, SortKey::Head { key: key.to_vec() }, Some(next), |e| {
            e.is_some_and(|e| e.head == was && !e.versioned)
        })
        .await
        .map_err(|e| e.to_string())
}
