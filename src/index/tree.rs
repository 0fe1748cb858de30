//! Copy-on-write B+tree operations over an abstract page store: every
//! change writes new pages for the path it touches and frees the old ones,
//! so the previous root stays readable until its pages are reused. Pure
//! logic; the shard file (meta pages, free list, mmap readers) supplies
//! the [`PageStore`].
//!
//! Pages split into as many pieces as the cells need (a cell can be up to
//! half a page), filled evenly. Deletes remove emptied pages but do not
//! yet merge underfull ones.

use std::collections::HashMap;

use bytes::Bytes;

use thiserror::Error;

use super::page::{self, Page, PageError, PageKind, PAGE_HEADER_LEN, PAGE_SIZE};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TreeError {
    #[error("page {id}: {source}")]
    Page { id: u64, source: PageError },
    #[error("page {0} does not exist")]
    Missing(u64),
    #[error("reading page {id}: {reason}")]
    Read { id: u64, reason: String },
    #[error("writing page {id}: {reason}")]
    Write { id: u64, reason: String },
    #[error("tree deeper than {TREE_DEPTH_MAX} levels")]
    TooDeep,
}

/// Levels a tree may have; far above what a shard reaches.
pub const TREE_DEPTH_MAX: u8 = 16;

/// Where a tree's pages are read from.
pub trait PageRead {
    /// Page `id`. Its bytes have passed [`Page::decode`]: a store verifies
    /// every page once, when it loads it, so the tree reads them with
    /// [`Page::trusted`] without re-checking on every visit.
    fn page(&self, id: u64) -> Result<&[u8], TreeError>;
}

/// Where a tree's pages live and new ones are written.
pub trait PageStore: PageRead {
    /// A page id to write a new page to.
    fn alloc(&mut self) -> u64;
    fn write(&mut self, id: u64, page: Vec<u8>) -> Result<(), TreeError>;
    /// The page is no longer part of the new tree.
    fn free(&mut self, id: u64);
}

/// An in-memory page store, for tests and as a model.
#[derive(Default)]
pub struct MemPages {
    pages: HashMap<u64, Bytes>,
    next: u64,
    freed: Vec<u64>,
}

impl MemPages {
    pub fn live_pages(&self) -> usize {
        self.pages.len() - self.freed.len()
    }
}

impl PageRead for MemPages {
    fn page(&self, id: u64) -> Result<&[u8], TreeError> {
        self.pages
            .get(&id)
            .map(|b| &b[..])
            .ok_or(TreeError::Missing(id))
    }
}

impl PageStore for MemPages {
    fn alloc(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
    fn write(&mut self, id: u64, page: Vec<u8>) -> Result<(), TreeError> {
        // Pages come from the tree's own encoder.
        debug_assert!(Page::decode(&page, id).is_ok());
        self.pages.insert(id, Bytes::from(page));
        Ok(())
    }
    fn free(&mut self, id: u64) {
        self.freed.push(id);
    }
}

type Cell = (Vec<u8>, Vec<u8>);

struct Node {
    kind: PageKind,
    level: u8,
    /// Leaf: (key, value). Branch: (key, child id as 8 LE bytes).
    cells: Vec<Cell>,
}

fn load(store: &impl PageRead, id: u64) -> Result<Node, TreeError> {
    let bytes = store.page(id)?;
    let p = Page::trusted(bytes, id);
    let cells = (0..p.count)
        .map(|i| {
            let body = match p.kind {
                PageKind::Leaf => p.value(i).to_vec(),
                PageKind::Branch => p.child(i).to_le_bytes().to_vec(),
            };
            (p.key(i).to_vec(), body)
        })
        .collect();
    Ok(Node {
        kind: p.kind,
        level: p.level,
        cells,
    })
}

fn child_id(cell: &Cell) -> u64 {
    u64::from_le_bytes(cell.1.as_slice().try_into().unwrap_or_default())
}

fn cell_len(kind: PageKind, c: &Cell) -> usize {
    match kind {
        PageKind::Leaf => page::leaf_cell_len(&c.0, &c.1),
        PageKind::Branch => page::branch_cell_len(&c.0),
    }
}

/// Splits cells into runs that each fit a page, of roughly equal size.
fn pieces(kind: PageKind, cells: Vec<Cell>) -> Vec<Vec<Cell>> {
    let room = PAGE_SIZE - PAGE_HEADER_LEN;
    let total: usize = cells.iter().map(|c| cell_len(kind, c)).sum();
    let soft = total / total.div_ceil(room).max(1);
    let mut out: Vec<Vec<Cell>> = vec![Vec::new()];
    let mut used = 0;
    for c in cells {
        let full = used >= soft || used + cell_len(kind, &c) > room;
        if full && out.last().is_some_and(|p| !p.is_empty()) {
            out.push(Vec::new());
            used = 0;
        }
        // A branch piece's first key is written empty (it is promoted).
        let starts_piece = out.last().is_some_and(|p| p.is_empty());
        used += match kind {
            PageKind::Branch if starts_piece => page::branch_cell_len(&[]),
            _ => cell_len(kind, &c),
        };
        if let Some(p) = out.last_mut() {
            p.push(c);
        }
    }
    out
}

/// Writes `cells` as one or more new pages; returns (first key, page id)
/// for each. A branch piece after the first promotes its first key.
fn write_node(
    store: &mut impl PageStore,
    txn: u64,
    kind: PageKind,
    level: u8,
    cells: Vec<Cell>,
) -> Result<Vec<Cell>, TreeError> {
    let mut out = Vec::new();
    for mut piece in pieces(kind, cells) {
        let first = piece.first().map(|c| c.0.clone()).unwrap_or_default();
        if kind == PageKind::Branch {
            if let Some(c) = piece.first_mut() {
                c.0.clear();
            }
        }
        let id = store.alloc();
        let bytes = match kind {
            PageKind::Leaf => {
                let refs: Vec<(&[u8], &[u8])> =
                    piece.iter().map(|(k, v)| (&k[..], &v[..])).collect();
                page::encode_leaf(id, txn, &refs)
            }
            PageKind::Branch => {
                let refs: Vec<(&[u8], u64)> =
                    piece.iter().map(|c| (&c.0[..], child_id(c))).collect();
                page::encode_branch(id, txn, level, &refs)
            }
        }
        .map_err(|source| TreeError::Page { id, source })?;
        store.write(id, bytes)?;
        out.push((first, id.to_le_bytes().to_vec()));
    }
    Ok(out)
}

/// What a subtree became: the pieces replacing it (none if it emptied).
type Replaced = Vec<Cell>;

fn upsert_at(
    store: &mut impl PageStore,
    id: u64,
    txn: u64,
    key: &[u8],
    value: Option<&[u8]>,
    depth: u8,
) -> Result<(Replaced, bool), TreeError> {
    if depth > TREE_DEPTH_MAX {
        return Err(TreeError::TooDeep);
    }
    let mut node = load(store, id)?;
    let pos = node.cells.binary_search_by(|c| c.0.as_slice().cmp(key));
    let changed = match node.kind {
        PageKind::Leaf => match (pos, value) {
            (Ok(i), Some(v)) => {
                if let Some(c) = node.cells.get_mut(i) {
                    c.1 = v.to_vec();
                }
                true
            }
            (Err(i), Some(v)) => {
                node.cells.insert(i, (key.to_vec(), v.to_vec()));
                true
            }
            (Ok(i), None) => {
                node.cells.remove(i);
                true
            }
            (Err(_), None) => false,
        },
        PageKind::Branch => {
            let i = match pos {
                Ok(i) => i,
                Err(i) => i.saturating_sub(1),
            };
            let child = node
                .cells
                .get(i)
                .map(child_id)
                .ok_or(TreeError::Missing(id))?;
            let (replaced, changed) = upsert_at(store, child, txn, key, value, depth + 1)?;
            if changed {
                let sep = node.cells.get(i).map(|c| c.0.clone()).unwrap_or_default();
                let mut pieces = replaced.into_iter();
                let mut new_cells: Vec<Cell> = Vec::new();
                if let Some((_, first)) = pieces.next() {
                    new_cells.push((sep, first));
                }
                new_cells.extend(pieces);
                node.cells.splice(i..=i, new_cells);
                // The first child covers everything below the next key.
                if let Some(c) = node.cells.first_mut() {
                    c.0.clear();
                }
            }
            changed
        }
    };
    if !changed {
        return Ok((vec![(Vec::new(), id.to_le_bytes().to_vec())], false));
    }
    store.free(id);
    if node.cells.is_empty() {
        return Ok((Vec::new(), true));
    }
    Ok((
        write_node(store, txn, node.kind, node.level, node.cells)?,
        true,
    ))
}

/// Inserts, replaces (`Some`) or deletes (`None`) `key`; returns the new
/// root (`None` for an empty tree) and whether anything changed.
pub fn upsert(
    store: &mut impl PageStore,
    root: Option<u64>,
    txn: u64,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(Option<u64>, bool), TreeError> {
    let Some(root) = root else {
        let Some(v) = value else {
            return Ok((None, false));
        };
        let pieces = write_node(
            store,
            txn,
            PageKind::Leaf,
            0,
            vec![(key.to_vec(), v.to_vec())],
        )?;
        return Ok((pieces.first().map(child_id), true));
    };
    let level = load(store, root)?.level;
    let (mut pieces, changed) = upsert_at(store, root, txn, key, value, 0)?;
    let mut level = level;
    // Grow while the root split; shrink while it has a single child.
    while pieces.len() > 1 {
        level = level
            .checked_add(1)
            .filter(|l| *l <= TREE_DEPTH_MAX)
            .ok_or(TreeError::TooDeep)?;
        pieces = write_node(store, txn, PageKind::Branch, level, pieces)?;
    }
    let mut root = pieces.first().map(child_id);
    while let Some(id) = root {
        let node = load(store, id)?;
        if node.kind == PageKind::Branch && node.cells.len() == 1 {
            store.free(id);
            root = node.cells.first().map(child_id);
        } else {
            break;
        }
    }
    Ok((root, changed))
}

/// The value stored for `key`.
pub fn get(
    store: &impl PageRead,
    root: Option<u64>,
    key: &[u8],
) -> Result<Option<Vec<u8>>, TreeError> {
    let mut id = match root {
        Some(id) => id,
        None => return Ok(None),
    };
    for _ in 0..=TREE_DEPTH_MAX {
        let bytes = store.page(id)?;
        let p = Page::trusted(bytes, id);
        match p.kind {
            PageKind::Leaf => return Ok(p.search(key).ok().map(|i| p.value(i).to_vec())),
            PageKind::Branch => id = p.child(p.child_for(key)),
        }
    }
    Err(TreeError::TooDeep)
}

/// Up to `limit` (key, value) pairs with key >= `start`, in order.
pub fn scan(
    store: &impl PageRead,
    root: Option<u64>,
    start: &[u8],
    limit: usize,
) -> Result<Vec<Cell>, TreeError> {
    let mut out = Vec::new();
    if let Some(root) = root {
        scan_at(store, root, start, limit, &mut out, 0)?;
    }
    Ok(out)
}

fn scan_at(
    store: &impl PageRead,
    id: u64,
    start: &[u8],
    limit: usize,
    out: &mut Vec<Cell>,
    depth: u8,
) -> Result<(), TreeError> {
    if depth > TREE_DEPTH_MAX {
        return Err(TreeError::TooDeep);
    }
    let bytes = store.page(id)?;
    let p = Page::trusted(bytes, id);
    let first = match p.kind {
        PageKind::Leaf => p.search(start).unwrap_or_else(|i| i),
        PageKind::Branch => p.child_for(start),
    };
    for i in first..p.count {
        if out.len() >= limit {
            return Ok(());
        }
        match p.kind {
            PageKind::Leaf => out.push((p.key(i).to_vec(), p.value(i).to_vec())),
            PageKind::Branch => scan_at(store, p.child(i), start, limit, out, depth + 1)?,
        }
    }
    Ok(())
}

/// Every page the tree under `root` reaches (for checks: none of them may
/// be on the free list).
pub fn pages(store: &impl PageRead, root: Option<u64>) -> Result<Vec<u64>, TreeError> {
    let mut out = Vec::new();
    let mut stack: Vec<(u64, u8)> = root.map(|r| (r, 0)).into_iter().collect();
    while let Some((id, depth)) = stack.pop() {
        if depth > TREE_DEPTH_MAX {
            return Err(TreeError::TooDeep);
        }
        out.push(id);
        let bytes = store.page(id)?;
        let p = Page::trusted(bytes, id);
        if p.kind == PageKind::Branch {
            stack.extend((0..p.count).map(|i| (p.child(i), depth + 1)));
        }
    }
    Ok(out)
}
