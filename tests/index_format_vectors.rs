//! The test vectors in format-spec/index.md match the code byte for byte.

mod common;

use common::spec::unhex;
use std::collections::HashMap;

use shale::index::entry::IndexEntry;
use shale::index::key::SortKey;
use shale::segment::RecordLoc;

fn vectors() -> Vec<HashMap<String, String>> {
    common::spec::vectors("index.md")
}

#[test]
fn index_spec_vectors_match_the_code() {
    let vs = vectors();
    assert_eq!(vs.len(), 10);
    for v in vs {
        let name = &v["name"];
        if let Some(g) = v.get("prev_generation") {
            let l = shale::index::layout::Layout {
                generation: v["generation"].parse().unwrap(),
                shard_count: v["shard_count"].parse().unwrap(),
                base_marker: v["base_marker"].parse().unwrap(),
                prev_generation: g.parse().unwrap(),
                prev_shard_count: v["prev_shard_count"].parse().unwrap(),
                created_nanos: v["created_nanos"].parse().unwrap(),
            };
            assert_eq!(&l.encode()[..], &unhex(&v["hex"])[..], "{name}");
            assert_eq!(
                shale::index::layout::Layout::decode(&unhex(&v["hex"])).unwrap(),
                l
            );
        } else if let Some(h) = v.get("meta_first_80_hex") {
            let m = shale::index::meta::Meta {
                shard: 2,
                txn: 5,
                root: 7,
                page_count: 9,
                free_list: 0,
                checkpoint_marker: 42,
                objects: 3,
                bytes: 300,
                shard_count: 11,
                generation: 1,
            };
            let b = m.encode();
            assert_eq!(&b[..80], &unhex(h)[..], "{name}");
            assert!(b[80..].iter().all(|&x| x == 0));
            assert_eq!(shale::index::meta::Meta::decode(&b, 1).unwrap(), m);
        } else if let Some(h) = v.get("header_and_slots_hex") {
            let id = v["page_id"].parse().unwrap();
            let page = shale::index::page::encode_leaf(
                id,
                v["txn"].parse().unwrap(),
                &[(b"a", b"1"), (b"b", b"22")],
            )
            .unwrap();
            let (head, tail) = (unhex(h), unhex(&v["tail_hex"]));
            assert_eq!(&page[..head.len()], &head[..], "{name}");
            assert_eq!(&page[page.len() - tail.len()..], &tail[..], "{name}");
            assert!(
                page[head.len()..page.len() - tail.len()]
                    .iter()
                    .all(|&b| b == 0),
                "{name}"
            );
            assert!(shale::index::page::Page::decode(&page, id).is_ok());
        } else if let Some(id) = v.get("marker_id_hex") {
            let version = IndexEntry {
                version_id: unhex(&v["version_hex"]).try_into().unwrap(),
                mtime_nanos: v["mtime_nanos"].parse().unwrap(),
                expiry_slot: v["expiry_slot"].parse().unwrap(),
                expires_to_marker: true,
                ..IndexEntry::default()
            };
            let m = shale::index::expiry::marker_for(v["key"].as_bytes(), &version);
            assert_eq!(&m.version_id[..], &unhex(id)[..], "{name}");
            assert!(m.delete_marker, "{name}");
            assert_eq!(m.mtime_nanos, version.expiry_slot * 1_000_000_000, "{name}");
        } else if let Some(shards) = v.get("shards") {
            let got = shale::index::shard_of(v["key"].as_bytes(), shards.parse().unwrap());
            assert_eq!(got.to_string(), v["shard"], "{name}");
        } else if let Some(kind) = v.get("kind") {
            let key = unhex(&v["key_hex"]);
            let k = match kind.as_str() {
                "head" => SortKey::Head { key },
                _ => SortKey::Version {
                    key,
                    version: unhex(&v["version_hex"]).try_into().unwrap(),
                },
            };
            assert_eq!(k.encode(), unhex(&v["hex"]), "{name}");
            assert_eq!(SortKey::decode(&unhex(&v["hex"])).unwrap(), k, "{name}");
        } else {
            let head: Vec<u64> = v["head"].split(' ').map(|x| x.parse().unwrap()).collect();
            let e = IndexEntry {
                current: v["current"] == "true",
                size: v["size"].parse().unwrap(),
                mtime_nanos: v["mtime_nanos"].parse().unwrap(),
                etag: unhex(&v["etag_hex"]).try_into().unwrap(),
                head: RecordLoc {
                    segment: head[0],
                    offset: head[1],
                    len: head[2] as u32,
                },
                pending: v
                    .get("pending")
                    .map(|p| vec![p.parse().unwrap()])
                    .unwrap_or_default(),
                expiry_slot: v.get("expiry_slot").map_or(0, |x| x.parse().unwrap()),
                expires_to_marker: v.get("expires_to_marker").is_some_and(|x| x == "true"),
                version_id: v
                    .get("version_hex")
                    .map(|x| unhex(x).try_into().unwrap())
                    .unwrap_or_default(),
                lock: common::spec::lock_of(&v),
                ..IndexEntry::default()
            };
            let mut b = Vec::new();
            e.encode(&mut b).unwrap();
            assert_eq!(b, unhex(&v["hex"]), "{name}");
            assert_eq!(IndexEntry::decode(&b).unwrap(), e, "{name}");
        }
    }
}
