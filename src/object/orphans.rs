//! Orphan search: records in sealed data segments that nothing
//! references — no index entry (head or version, and the chunks its head
//! names) and no open multipart upload. Such records are what a crash
//! left of a write that never completed, or what deletes and overwrites
//! left for compaction to take; deletion tombstones (head records that
//! record a delete) are not counted, they are meant to be unreferenced.
//! Segments a write in progress may still land in are not looked at.

use std::collections::HashSet;

use super::head::ObjectHead;
use super::multipart::Uploads;
use super::references::Reference;
use super::store::ObjectStore;
use crate::io::{Io, OpenMode};
use crate::s3::{S3Error, S3ErrorCode};
use crate::segment::recover::list_segments;
use crate::segment::scan::scan_segment;
use crate::segment::{segment_path, RecordKind, RecordLoc};

fn internal(what: &str, e: impl std::fmt::Display) -> S3Error {
    S3Error::new(S3ErrorCode::InternalError, format!("{what}: {e}"))
}

/// What a search found.
#[derive(Clone, Debug, Default)]
pub struct Found {
    /// Unreferenced data chunks and object heads (not tombstones) in the
    /// sealed segments, in segment order.
    pub records: Vec<RecordLoc>,
    /// Index entries whose head record cannot be read: (bucket, key,
    /// why).
    pub dangling: Vec<(String, String, String)>,
}

/// Searches every bucket's index and every sealed data segment.
pub async fn find(store: &ObjectStore, uploads: &Uploads) -> Result<Found, S3Error> {
    let mut dangling = Vec::new();
    store.advance_log().await;
    // Taken first: a record referenced by an entry written after the
    // count is in a segment at or above it, which is not scanned.
    let floor = store.compaction_floor();
    let mut referenced: HashSet<(u64, u64)> = HashSet::new();
    super::references::walk(store, uploads, |r| {
        match r {
            Reference::Entry {
                bucket,
                key,
                entry,
                head,
            } => {
                referenced.insert((entry.head.segment, entry.head.offset));
                match head {
                    Ok(h) => {
                        for ch in &h.chunks {
                            referenced.insert((ch.loc.segment, ch.loc.offset));
                        }
                    }
                    Err(why) => {
                        let k = String::from_utf8_lossy(key.object_key()).into_owned();
                        dangling.push((bucket.name.clone(), k, why));
                    }
                }
            }
            Reference::Part(seg, off, _) => {
                referenced.insert((seg, off));
            }
        }
        Ok(())
    })
    .await?;
    let io = Io::portable();
    let dir = store.segments().dir();
    let (ids, _) = list_segments(&io, dir).map_err(|e| internal("listing segments", e))?;
    let mut found = Vec::new();
    for id in ids.into_iter().filter(|id| *id < floor) {
        let file = match io.open(&segment_path(dir, id), OpenMode::Read) {
            Ok(f) => f,
            // Removed since it was listed (compaction).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(internal("opening a segment", e)),
        };
        let mut here = Vec::new();
        scan_segment(&file, |r, payload| {
            let unreferenced = !referenced.contains(&(id, r.offset));
            let counts = match r.kind {
                RecordKind::DataChunk => true,
                RecordKind::ObjectHead => ObjectHead::decode(payload).is_ok_and(|h| !h.delete),
                _ => false,
            };
            if unreferenced && counts {
                here.push(RecordLoc {
                    segment: id,
                    offset: r.offset,
                    len: r.len(),
                });
            }
        })
        .map_err(|e| internal("scanning a segment", e))?;
        found.extend(here);
    }
    Ok(Found {
        records: found,
        dangling,
    })
}
