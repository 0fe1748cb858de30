//! Assembling one group commit without copying payloads: record headers
//! and padding go into one small arena, payloads are referenced, and the
//! result is a list of buffers for one vectored write.

use std::ops::Range;

use bytes::Bytes;

use super::format::{self, RecordKind};

enum Part {
    Arena(Range<usize>),
    Payload(Bytes),
}

#[derive(Default)]
pub(crate) struct BatchBuilder {
    arena: Vec<u8>,
    parts: Vec<Part>,
    len: u64,
}

impl BatchBuilder {
    /// Bytes the batch will write.
    pub fn len(&self) -> u64 {
        self.len
    }

    fn push_arena(&mut self, bytes: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        let end = self.arena.len();
        // Padding followed by the next header becomes one buffer.
        if let Some(Part::Arena(r)) = self.parts.last_mut() {
            if r.end == start {
                r.end = end;
                return;
            }
        }
        self.parts.push(Part::Arena(start..end));
    }

    /// Adds a record; `payload_crc` is the CRC32C of `payload` alone.
    pub fn push(
        &mut self,
        segment_id: u64,
        kind: RecordKind,
        batch: u64,
        payload: &Bytes,
        payload_crc: u32,
    ) {
        let len = payload.len() as u32;
        self.push_arena(&format::encode_record_header(
            segment_id,
            kind,
            batch,
            len,
            payload_crc,
        ));
        if !payload.is_empty() {
            self.parts.push(Part::Payload(payload.clone()));
        }
        const ZEROS: [u8; 8] = [0; 8];
        self.push_arena(ZEROS.get(..format::padding_len(len)).unwrap_or_default());
        self.len += format::record_footprint(len);
    }

    /// The buffers to write, in order; the builder is empty afterwards.
    pub fn take(&mut self) -> Vec<Bytes> {
        // The next batch is likely as large: start it at this one's size.
        let next = Vec::with_capacity(self.arena.len());
        let arena = Bytes::from(std::mem::replace(&mut self.arena, next));
        let out = self
            .parts
            .drain(..)
            .map(|p| match p {
                Part::Arena(r) => arena.slice(r),
                Part::Payload(b) => b,
            })
            .filter(|b| !b.is_empty())
            .collect();
        self.len = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectored_batch_equals_contiguous_encoding() {
        let payloads = [
            Bytes::from_static(b"hello"),
            Bytes::new(),
            Bytes::from(vec![7u8; 100]),
        ];
        let mut b = BatchBuilder::default();
        let mut want = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            b.push(3, RecordKind::DataChunk, 9, p, crc32c::crc32c(p));
            format::encode_record(&mut want, 3, RecordKind::DataChunk, 9, p);
            assert_eq!(b.len(), want.len() as u64, "record {i}");
        }
        let got: Vec<u8> = b.take().iter().flat_map(|x| x.iter().copied()).collect();
        assert_eq!(got, want);
        assert_eq!(b.len(), 0);
    }
}
