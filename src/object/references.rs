//! Everything that references a data segment record: every index entry
//! that holds an object (heads and versions; not placeholders, not the
//! versioned heads that mirror a version), with its head record read for
//! the chunks it names, and the part chunks of every open multipart
//! upload. Compaction counts live bytes with it; the orphan search finds
//! what nothing references.

use std::sync::Arc;

use super::head::ObjectHead;
use super::multipart::Uploads;
use super::store::{Bucket, ObjectStore};
use crate::index::entry::IndexEntry;
use crate::index::key::SortKey;
use crate::s3::{S3Error, S3ErrorCode};

/// One reference found.
pub enum Reference<'a> {
    /// An entry and its head (or why the head cannot be read).
    Entry {
        bucket: &'a Arc<Bucket>,
        key: SortKey,
        entry: IndexEntry,
        head: Result<Box<ObjectHead>, String>,
    },
    /// A chunk of an open upload's part: (segment, offset, len).
    Part(u64, u64, u32),
}

/// Calls `on` with every reference, bucket by bucket; stops at its first
/// error.
pub async fn walk(
    store: &ObjectStore,
    uploads: &Uploads,
    mut on: impl FnMut(Reference<'_>) -> Result<(), S3Error>,
) -> Result<(), S3Error> {
    for b in store.all_buckets() {
        let mut after = None;
        loop {
            let (page, next) = b.index.scan_raw(after.take(), 1024).map_err(|e| {
                S3Error::new(
                    S3ErrorCode::InternalError,
                    format!("scanning the index: {e}"),
                )
            })?;
            for (key, entry) in page {
                // A versioned head mirrors its version entry: seen there.
                let mirror = matches!(key, SortKey::Head { .. }) && entry.versioned;
                if entry.placeholder || mirror || entry.head.len == 0 {
                    continue;
                }
                let head = match store.segments().read(entry.head).await {
                    Ok(rec) => ObjectHead::decode(&rec.payload)
                        .map(Box::new)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                on(Reference::Entry {
                    bucket: &b,
                    key,
                    entry,
                    head,
                })?;
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        // Every upload's parts, or none of this: an incomplete list would
        // let compaction reclaim a part.
        for (key, id, _) in uploads.uploads_of_now(&b.name)? {
            if let Ok(m) = uploads.manifest(&b.name, &key, &id).await {
                for p in &m.parts {
                    for (seg, off, len, _) in &p.chunks {
                        on(Reference::Part(*seg, *off, *len))?;
                    }
                }
            }
        }
    }
    Ok(())
}
