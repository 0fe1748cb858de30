//! B+tree node pages of a shard's index file: pure encoding and decoding.
//! `format-spec/index.md` ("Node pages") is normative; the layout:
//!
//! ```text
//!  0  4  magic      "SIXP"
//!  4  4  crc        crc32c(bytes 8..PAGE_SIZE ++ page_id as u64 LE)
//!  8  1  kind       1 leaf, 2 branch
//!  9  1  level      0 for leaves, parent = child + 1
//! 10  2  count      cells in the page
//! 12  4  reserved   zero
//! 16  8  txn        transaction that wrote the page
//! 24  8  page_id    where the page belongs (also mixed into the crc)
//! 32 2n  slots      u16 offset of cell i, cells in ascending key order
//! ..     free space (zero)
//!        cells, packed towards the end of the page:
//!          leaf:   key_len u16, value_len u16, key, value
//!          branch: key_len u16, child u64, key   (child holds keys >= key;
//!                  the first cell's key is empty)
//! ```

use thiserror::Error;

use crate::le::{u16_at, u64_at};

pub const PAGE_SIZE: usize = 4096;
pub const PAGE_MAGIC: [u8; 4] = *b"SIXP";
pub const PAGE_HEADER_LEN: usize = 32;
/// Largest key a page cell may hold; longer keys are refused (S3 allows
/// 1024 bytes of key; sort keys add at most 1024 + 19).
pub const KEY_BYTES_MAX: usize = 2100;

const _: () = assert!(PAGE_HEADER_LEN + 2 + 4 + KEY_BYTES_MAX + 256 < PAGE_SIZE);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    Leaf = 1,
    Branch = 2,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PageError {
    #[error("page is {0} bytes, not {PAGE_SIZE}")]
    WrongSize(usize),
    #[error("bad page magic {0:02x?}")]
    BadMagic([u8; 4]),
    #[error("page checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("page claims id {found}, read as page {expected}")]
    WrongPageId { expected: u64, found: u64 },
    #[error("unknown page kind {0}")]
    UnknownKind(u8),
    #[error("reserved bytes are not zero")]
    ReservedNotZero,
    #[error("cell {index} is malformed")]
    BadCell { index: usize },
    #[error("cells are not in strictly ascending key order at {index}")]
    Unordered { index: usize },
    #[error("key of {0} bytes exceeds the maximum of {KEY_BYTES_MAX}")]
    KeyTooLong(usize),
    #[error("cells need {need} bytes, a page holds {PAGE_SIZE}")]
    DoesNotFit { need: usize },
}

/// A verified page, borrowing its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Page<'a> {
    bytes: &'a [u8],
    pub kind: PageKind,
    pub level: u8,
    pub count: usize,
    pub txn: u64,
    pub page_id: u64,
}

fn page_crc(bytes: &[u8], page_id: u64) -> u32 {
    let c = crc32c::crc32c(bytes.get(8..).unwrap_or_default());
    crc32c::crc32c_append(c, &page_id.to_le_bytes())
}

/// Bytes a leaf cell takes, its slot included.
pub fn leaf_cell_len(key: &[u8], value: &[u8]) -> usize {
    2 + 4 + key.len() + value.len()
}

/// Bytes a branch cell takes, its slot included.
pub fn branch_cell_len(key: &[u8]) -> usize {
    2 + 10 + key.len()
}

/// Whether cells of these total lengths fit in one page.
pub fn fits(cells_len: usize) -> bool {
    PAGE_HEADER_LEN + cells_len <= PAGE_SIZE
}

struct Writer {
    page: Vec<u8>,
    tail: usize,
    slot: usize,
}

// The page is PAGE_SIZE bytes and callers check that the cells fit
// before writing, so every offset here is in bounds.
#[allow(clippy::indexing_slicing)]
impl Writer {
    fn new(kind: PageKind, level: u8, count: usize, txn: u64, page_id: u64) -> Writer {
        let mut page = vec![0u8; PAGE_SIZE];
        page[..4].copy_from_slice(&PAGE_MAGIC);
        page[8] = kind as u8;
        page[9] = level;
        page[10..12].copy_from_slice(&(count as u16).to_le_bytes());
        page[16..24].copy_from_slice(&txn.to_le_bytes());
        page[24..32].copy_from_slice(&page_id.to_le_bytes());
        Writer {
            page,
            tail: PAGE_SIZE,
            slot: PAGE_HEADER_LEN,
        }
    }

    /// Places a cell made of `parts` at the tail and records its slot.
    fn cell(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.tail -= len;
        let mut at = self.tail;
        for p in parts {
            self.page[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        self.page[self.slot..self.slot + 2].copy_from_slice(&(self.tail as u16).to_le_bytes());
        self.slot += 2;
    }

    fn finish(mut self, page_id: u64) -> Vec<u8> {
        let crc = page_crc(&self.page, page_id);
        self.page[4..8].copy_from_slice(&crc.to_le_bytes());
        self.page
    }
}

fn check_keys<'k>(keys: impl Iterator<Item = &'k [u8]>) -> Result<(), PageError> {
    let mut prev: Option<&[u8]> = None;
    for (index, k) in keys.enumerate() {
        if k.len() > KEY_BYTES_MAX {
            return Err(PageError::KeyTooLong(k.len()));
        }
        if prev.is_some_and(|p| p >= k) {
            return Err(PageError::Unordered { index });
        }
        prev = Some(k);
    }
    Ok(())
}

/// Encodes a leaf of `(key, value)` cells in ascending key order.
#[allow(clippy::indexing_slicing)] // offsets are bounded by the fit check
pub fn encode_leaf(page_id: u64, txn: u64, cells: &[(&[u8], &[u8])]) -> Result<Vec<u8>, PageError> {
    check_keys(cells.iter().map(|(k, _)| *k))?;
    let need: usize = cells.iter().map(|(k, v)| leaf_cell_len(k, v)).sum();
    if !fits(need) || cells.iter().any(|(_, v)| v.len() > u16::MAX as usize) {
        return Err(PageError::DoesNotFit {
            need: PAGE_HEADER_LEN + need,
        });
    }
    let mut w = Writer::new(PageKind::Leaf, 0, cells.len(), txn, page_id);
    for (k, v) in cells {
        w.cell(&[
            &(k.len() as u16).to_le_bytes(),
            &(v.len() as u16).to_le_bytes(),
            k,
            v,
        ]);
    }
    Ok(w.finish(page_id))
}

/// Encodes a branch of `(first key, child page)` cells; the first key
/// must be empty.
#[allow(clippy::indexing_slicing)] // offsets are bounded by the fit check
pub fn encode_branch(
    page_id: u64,
    txn: u64,
    level: u8,
    cells: &[(&[u8], u64)],
) -> Result<Vec<u8>, PageError> {
    if cells.first().is_none_or(|(k, _)| !k.is_empty()) || level == 0 {
        return Err(PageError::BadCell { index: 0 });
    }
    check_keys(cells.iter().map(|(k, _)| *k))?;
    let need: usize = cells.iter().map(|(k, _)| branch_cell_len(k)).sum();
    if !fits(need) {
        return Err(PageError::DoesNotFit {
            need: PAGE_HEADER_LEN + need,
        });
    }
    let mut w = Writer::new(PageKind::Branch, level, cells.len(), txn, page_id);
    for (k, child) in cells {
        w.cell(&[&(k.len() as u16).to_le_bytes(), &child.to_le_bytes(), k]);
    }
    Ok(w.finish(page_id))
}

impl<'a> Page<'a> {
    /// Verifies a page read from position `page_id`: size, magic,
    /// checksum, id, kind, reserved bytes, and every cell's bounds and
    /// order. After this, cell accessors cannot fail.
    pub fn decode(bytes: &'a [u8], page_id: u64) -> Result<Page<'a>, PageError> {
        if bytes.len() != PAGE_SIZE {
            return Err(PageError::WrongSize(bytes.len()));
        }
        let magic: [u8; 4] = bytes
            .get(..4)
            .and_then(|m| m.try_into().ok())
            .unwrap_or_default();
        if magic != PAGE_MAGIC {
            return Err(PageError::BadMagic(magic));
        }
        let stored = u32::from_le_bytes(
            bytes
                .get(4..8)
                .and_then(|m| m.try_into().ok())
                .unwrap_or_default(),
        );
        let computed = page_crc(bytes, page_id);
        if stored != computed {
            return Err(PageError::ChecksumMismatch { stored, computed });
        }
        let found = u64_at(bytes, 24).unwrap_or_default();
        if found != page_id {
            return Err(PageError::WrongPageId {
                expected: page_id,
                found,
            });
        }
        match bytes.get(8).copied().unwrap_or_default() {
            1 | 2 => {}
            k => return Err(PageError::UnknownKind(k)),
        }
        if bytes.get(12..16) != Some(&[0u8; 4][..]) {
            return Err(PageError::ReservedNotZero);
        }
        let page = Page::trusted(bytes, page_id);
        let kind = page.kind;
        if (kind == PageKind::Leaf) != (page.level == 0) {
            return Err(PageError::BadCell { index: 0 });
        }
        let slots_end = PAGE_HEADER_LEN + 2 * page.count;
        let mut prev: Option<&[u8]> = None;
        for index in 0..page.count {
            let (key, _) = page
                .try_cell(index, slots_end)
                .ok_or(PageError::BadCell { index })?;
            if index == 0 && kind == PageKind::Branch && !key.is_empty() {
                return Err(PageError::BadCell { index });
            }
            if prev.is_some_and(|p| p >= key) {
                return Err(PageError::Unordered { index });
            }
            prev = Some(key);
        }
        if page.count == 0 && kind == PageKind::Branch {
            return Err(PageError::BadCell { index: 0 });
        }
        Ok(page)
    }

    /// A view of a page that already passed [`Page::decode`] (a page store
    /// verifies each page once, when it first loads it). Reads the header
    /// only; accessors stay bounds-checked, so even wrong bytes cannot
    /// make it panic.
    pub fn trusted(bytes: &'a [u8], page_id: u64) -> Page<'a> {
        let kind = if bytes.get(8) == Some(&2) {
            PageKind::Branch
        } else {
            PageKind::Leaf
        };
        Page {
            bytes,
            kind,
            level: bytes.get(9).copied().unwrap_or_default(),
            count: usize::from(u16_at(bytes, 10).unwrap_or_default()),
            txn: u64_at(bytes, 16).unwrap_or_default(),
            page_id,
        }
    }

    /// Key and body of cell `i` (value for leaves, child id bytes for
    /// branches), checking every bound.
    fn try_cell(&self, i: usize, slots_end: usize) -> Option<(&'a [u8], &'a [u8])> {
        let at = usize::from(u16_at(self.bytes, PAGE_HEADER_LEN + 2 * i)?);
        if at < slots_end {
            return None;
        }
        let klen = usize::from(u16_at(self.bytes, at)?);
        if klen > KEY_BYTES_MAX {
            return None;
        }
        match self.kind {
            PageKind::Leaf => {
                let vlen = usize::from(u16_at(self.bytes, at + 2)?);
                let key = self.bytes.get(at + 4..at + 4 + klen)?;
                let value = self.bytes.get(at + 4 + klen..at + 4 + klen + vlen)?;
                Some((key, value))
            }
            PageKind::Branch => {
                let child = self.bytes.get(at + 2..at + 10)?;
                let key = self.bytes.get(at + 10..at + 10 + klen)?;
                Some((key, child))
            }
        }
    }

    fn cell(&self, i: usize) -> (&'a [u8], &'a [u8]) {
        // Verified by `decode` for every i < count.
        self.try_cell(i, PAGE_HEADER_LEN + 2 * self.count)
            .unwrap_or_default()
    }

    pub fn key(&self, i: usize) -> &'a [u8] {
        self.cell(i).0
    }

    /// The value of leaf cell `i`.
    pub fn value(&self, i: usize) -> &'a [u8] {
        self.cell(i).1
    }

    /// The child of branch cell `i`.
    pub fn child(&self, i: usize) -> u64 {
        u64_at(self.cell(i).1, 0).unwrap_or_default()
    }

    /// Leaf: `Ok(i)` if cell i holds `key`, `Err(i)` where it would go.
    pub fn search(&self, key: &[u8]) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.key(mid).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Branch: the cell whose child holds `key` (the last cell whose key
    /// is <= `key`).
    pub fn child_for(&self, key: &[u8]) -> usize {
        match self.search(key) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }
}
