//! [`ObjectRange`]: bytes of a stored object as a body, a chunk at a time
//! (what a copy streams from).

use bytes::Bytes;

use super::open_chunk;
use super::{internal, BodySource, ObjectStore};
use crate::object::head::{Chunk, ObjectHead};
use crate::object::sse::ObjectCipher;
use crate::s3::S3Error;
use crate::segment::SegmentStore;

/// Bytes `[first, last]` of a stored object as a body, a chunk at a time
/// (each verified when read): what a copy streams from. Holds at most one
/// chunk in memory, whatever the object's size.
pub struct ObjectRange {
    segments: SegmentStore,
    chunks: std::vec::IntoIter<(Chunk, (u32, u32))>,
    /// Opens the chunks of an encrypted object.
    cipher: Option<ObjectCipher>,
    /// Object offset of the next chunk.
    at: u64,
    first: u64,
    /// One past the last byte.
    end: u64,
}

impl ObjectRange {
    /// The whole object.
    pub fn whole(store: &ObjectStore, head: &ObjectHead) -> ObjectRange {
        ObjectRange::new(store, head, 0, head.size)
    }

    /// Bytes `[first, end)` of the object (clamped to its size).
    pub fn new(store: &ObjectStore, head: &ObjectHead, first: u64, end: u64) -> ObjectRange {
        ObjectRange {
            segments: store.segments.clone(),
            chunks: head
                .chunks
                .iter()
                .copied()
                .zip(super::positions(head))
                .collect::<Vec<_>>()
                .into_iter(),
            cipher: None,
            at: 0,
            first,
            end: end.min(head.size),
        }
    }
}

impl ObjectRange {
    /// Reads an encrypted object with `cipher` (from `ObjectStore::unlock`).
    pub fn with_cipher(mut self, cipher: Option<ObjectCipher>) -> ObjectRange {
        self.cipher = cipher;
        self
    }
}

impl BodySource for ObjectRange {
    async fn next(&mut self) -> Option<Result<Bytes, S3Error>> {
        loop {
            if self.at >= self.end {
                return None;
            }
            let (c, pos) = self.chunks.next()?;
            let (start, stop) = (self.at, self.at + u64::from(c.len));
            self.at = stop;
            if stop <= self.first {
                continue;
            }
            let data = match self.segments.read(c.loc).await {
                Ok(rec) => match open_chunk(rec.payload, &c, pos, self.cipher.as_ref()) {
                    Ok(d) => d,
                    Err(e) => return Some(Err(internal("reading the copy source", e))),
                },
                Err(e) => return Some(Err(internal("reading the copy source", e))),
            };
            let from = self.first.saturating_sub(start) as usize;
            let to = (self.end.min(stop) - start) as usize;
            return Some(Ok(data.slice(from..to)));
        }
    }
}
