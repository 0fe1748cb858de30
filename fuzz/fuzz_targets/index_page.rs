//! The node page, meta page and layout decoders never panic; a page that
//! decodes can be walked; a layout that decodes re-encodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::index::page::{Page, PageKind, PAGE_SIZE};

fuzz_target!(|data: &[u8]| {
    let mut page = vec![0u8; PAGE_SIZE];
    let n = data.len().min(PAGE_SIZE);
    page[..n].copy_from_slice(&data[..n]);
    if data.first().is_some_and(|b| b & 1 == 0) {
        // Valid magic, id and checksum, so the cell checks are reached.
        page[..4].copy_from_slice(b"SIXP");
        page[24..32].copy_from_slice(&5u64.to_le_bytes());
        let c = crc32c::crc32c_append(crc32c::crc32c(&page[8..]), &5u64.to_le_bytes());
        page[4..8].copy_from_slice(&c.to_le_bytes());
    }
    let _ = shale::index::meta::Meta::decode(&page, 0);
    if let Ok(l) = shale::index::layout::Layout::decode(data) {
        assert_eq!(&l.encode()[..], data);
    }
    if let Ok(p) = Page::decode(&page, 5) {
        for i in 0..p.count {
            let _ = p.key(i);
            if p.kind == PageKind::Branch {
                let _ = p.child(i);
            } else {
                let _ = p.value(i);
            }
        }
        let _ = p.search(b"key");
    }
});
