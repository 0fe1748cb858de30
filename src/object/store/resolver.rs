//! Dir suggest's view of the segment store ([`SegmentResolver`]): the head
//! record a dead transaction wrote, found by scanning segments.

use std::path::PathBuf;

use super::head_entry;
use crate::index::bucket::{HeadResolver, Resolved};
use crate::index::key::SortKey;
use crate::io::{Io, OpenMode};
use crate::object::head::ObjectHead;
use crate::segment::{RecordKind, RecordLoc};

/// Dir suggest's view of the segment store: finds the head record a
/// transaction wrote by scanning segments, newest first. It runs only for
/// transactions whose writer died (after a crash), once each.
pub struct SegmentResolver {
    pub(super) io: Io,
    pub(super) dir: PathBuf,
    pub(super) bucket: String,
}

impl HeadResolver for SegmentResolver {
    fn resolve(&self, key: &[u8], tag: u64) -> Result<Resolved, String> {
        let (ids, _) = crate::segment::recover::list_segments(&self.io, &self.dir)
            .map_err(|e| e.to_string())?;
        for id in ids.into_iter().rev() {
            let path = crate::segment::segment_path(&self.dir, id);
            let file = self
                .io
                .open(&path, OpenMode::Read)
                .map_err(|e| format!("opening {}: {e}", path.display()))?;
            let mut found = None;
            crate::segment::scan::scan_segment(&file, |info, payload| {
                if found.is_some()
                    || !matches!(info.kind, RecordKind::ObjectHead | RecordKind::Tombstone)
                {
                    return;
                }
                let Ok(h) = ObjectHead::decode(payload) else {
                    return;
                };
                if h.tag == tag && h.key == key && h.bucket == self.bucket {
                    let loc = RecordLoc {
                        segment: id,
                        offset: info.offset,
                        len: info.len(),
                    };
                    found = Some((h, loc));
                }
            })
            .map_err(|e| format!("{e:?}"))?;
            if let Some((h, loc)) = found {
                let target = if h.versioned {
                    SortKey::Version {
                        key: key.to_vec(),
                        version: h.version_id,
                    }
                } else {
                    SortKey::Head { key: key.to_vec() }
                };
                let entry = (!h.delete).then(|| head_entry(&h, loc));
                return Ok(Resolved::Completed {
                    key: target,
                    entry,
                    mtime_nanos: h.mtime_nanos,
                });
            }
        }
        Ok(Resolved::NotWritten)
    }
}
