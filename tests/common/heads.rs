//! A stand-in for the object layer's head records, for index tests: step
//! 2 of the index transaction appends one of these to a segment store,
//! and a resolver finds a dead transaction's head by scanning the store.
//!
//! Payload: tag u64 LE ‖ sort key length u16 LE ‖ sort key ‖ 1 if an
//! index entry follows (a write), 0 for a delete ‖ entry.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use shale::index::bucket::{HeadResolver, Resolved};
use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;
use shale::io::{Io, OpenMode};
use shale::segment::format::RecordKind;
use shale::segment::RecordLoc;

pub fn encode(tag: u64, target: &SortKey, entry: Option<&IndexEntry>) -> Bytes {
    let mut b = tag.to_le_bytes().to_vec();
    let k = target.encode();
    b.extend_from_slice(&(k.len() as u16).to_le_bytes());
    b.extend_from_slice(&k);
    match entry {
        Some(e) => {
            b.push(1);
            e.encode(&mut b).unwrap();
        }
        None => b.push(0),
    }
    Bytes::from(b)
}

/// (tag, target, entry) of a head payload.
pub fn decode(b: &[u8]) -> (u64, SortKey, Option<IndexEntry>) {
    let tag = u64::from_le_bytes(b[..8].try_into().unwrap());
    let n = u16::from_le_bytes(b[8..10].try_into().unwrap()) as usize;
    let key = SortKey::decode(&b[10..10 + n]).unwrap();
    let entry = (b[10 + n] == 1).then(|| IndexEntry::decode(&b[11 + n..]).unwrap());
    (tag, key, entry)
}

/// Every head record in the store at `dir`, by (object key, tag).
pub struct StoreResolver {
    pub heads: HashMap<(Vec<u8>, u64), (SortKey, Option<IndexEntry>)>,
}

impl StoreResolver {
    pub fn scan(io: &Io, dir: &Path) -> Result<StoreResolver, String> {
        let mut heads = HashMap::new();
        let (ids, _) =
            shale::segment::recover::list_segments(io, dir).map_err(|e| e.to_string())?;
        for id in ids {
            let file = io
                .open(&shale::segment::segment_path(dir, id), OpenMode::Read)
                .map_err(|e| e.to_string())?;
            shale::segment::scan::scan_segment(&file, |info, payload| {
                if info.kind == RecordKind::ObjectHead {
                    let (tag, key, mut entry) = decode(payload);
                    if let Some(e) = entry.as_mut() {
                        e.head = RecordLoc {
                            segment: id,
                            offset: info.offset,
                            len: info.len(),
                        };
                    }
                    heads.insert((key.object_key().to_vec(), tag), (key, entry));
                }
            })
            .map_err(|e| format!("{e:?}"))?;
        }
        Ok(StoreResolver { heads })
    }
}

impl HeadResolver for StoreResolver {
    fn resolve(&self, key: &[u8], tag: u64) -> Result<Resolved, String> {
        Ok(match self.heads.get(&(key.to_vec(), tag)) {
            Some((k, e)) => Resolved::Completed {
                key: k.clone(),
                entry: e.clone(),
                // Test deletes carry no time: they win, as an unconditional
                // delete would.
                mtime_nanos: e.as_ref().map_or(u64::MAX, |e| e.mtime_nanos),
            },
            None => Resolved::NotWritten,
        })
    }
}
