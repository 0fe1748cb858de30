//! A PUT or DELETE abandoned at any await point (its client left, hyper
//! dropped the request future) harms nothing: each operation is polled
//! exactly k times and dropped, for every k until it would have finished
//! on its own. After each drop, writes to the same key and to other keys
//! succeed at once, the key shows the last acknowledged object or the
//! abandoned one (never anything else), and after a reopen the store
//! holds every acknowledged write.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use md5::{Digest, Md5};
use shale::index::bucket::BucketIndexOptions;
use shale::io::Io;
use shale::meta::store::MetaStore;
use shale::object::store::PutOptions;
use shale::object::{BodySource, ObjectStore};
use shale::s3::S3Error;
use shale::segment::{SegmentOptions, SegmentStore};

mod common;

/// A body that yields (an await the request can be dropped at) before
/// every chunk.
struct Body(VecDeque<Bytes>);

impl BodySource for Body {
    async fn next(&mut self) -> Option<Result<Bytes, S3Error>> {
        tokio::task::yield_now().await;
        self.0.pop_front().map(Ok)
    }
}

fn body_of(data: &Bytes) -> Body {
    Body(data.chunks(64 * 1024).map(Bytes::copy_from_slice).collect())
}

fn open(io: &Io, dir: &Path) -> ObjectStore {
    let (segments, _) =
        SegmentStore::open(io.clone(), &dir.join("segments"), SegmentOptions::default()).unwrap();
    let meta = Arc::new(MetaStore::open(io, &dir.join("meta"), 0).unwrap());
    io.block_on(meta.bootstrap("z", "AKIDABANDONTEST00001", "secret-abandon-test"))
        .unwrap()
        .unwrap();
    let options = BucketIndexOptions {
        shards: 3,
        ..Default::default()
    };
    ObjectStore::open(io, dir, segments, options, meta, "root").unwrap()
}

/// The ETag the key shows now (`None`: no object).
async fn shown(store: &ObjectStore, key: &[u8]) -> Option<[u8; 16]> {
    match store.get_object("bkt", key).await {
        Ok(found) => Some(found.entry.etag),
        Err(e) if e.code == shale::s3::S3ErrorCode::NoSuchKey => None,
        Err(e) => panic!("GET failed: {e:?}"),
    }
}

fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn data(round: usize) -> Bytes {
    common::payload(7, round as u64, 150 * 1024 + round)
}

async fn put(store: &ObjectStore, key: &[u8], data: &Bytes) -> Result<[u8; 16], S3Error> {
    let opts = PutOptions {
        meta: Vec::new(),
        expected_len: Some(data.len() as u64),
        content_md5: None,
        condition: None,
        checksum: None,
        expiry_secs: 0,
    };
    store
        .put_object("bkt", key, opts, &mut body_of(data))
        .await
        .map(|o| o.etag)
}

/// Drops a PUT (or, every third round, a DELETE) of `k` after each number
/// of polls in turn; returns what every key must show.
async fn abandon_at_every_await(store: &ObjectStore) -> BTreeMap<Vec<u8>, Option<[u8; 16]>> {
    let key = b"abandoned/key".to_vec();
    let mut expect: BTreeMap<Vec<u8>, Option<[u8; 16]>> = BTreeMap::new();
    let first = data(0);
    expect.insert(key.clone(), Some(put(store, &key, &first).await.unwrap()));
    let mut round = 1;
    // Every drop point of a PUT, then of a DELETE, each until the
    // operation finishes on its own twice in a row.
    for deleting in [false, true] {
        let mut finished_on_its_own = 0;
        let mut polls = 0;
        while finished_on_its_own < 2 {
            round += 1;
            polls += 1;
            let before = expect[&key];
            let new = data(round);
            let attempt = if deleting {
                common::poll_then_drop(
                    async { store.delete_object("bkt", &key, None).await.map(|_| None) },
                    polls,
                )
                .await
            } else {
                common::poll_then_drop(async { put(store, &key, &new).await.map(Some) }, polls)
                    .await
            };
            let candidate = if deleting { None } else { Some(md5(&new)) };
            match attempt {
                Some(r) => {
                    let etag = r.unwrap_or_else(|e| panic!("round {round}: {e:?}"));
                    assert_eq!(etag, candidate);
                    expect.insert(key.clone(), candidate);
                    finished_on_its_own += 1;
                }
                None => {
                    finished_on_its_own = 0;
                    // Old or new, nothing else; once new, it stays.
                    let now = shown(store, &key).await;
                    assert!(
                        now == before || now == candidate,
                        "round {round} (dropped after {polls} polls): {now:?}"
                    );
                }
            }
            // The shard takes the next write at once, on this key and others.
            let probe = format!("probe/{round}").into_bytes();
            let probe_data = data(10_000 + round);
            let etag = put(store, &probe, &probe_data)
                .await
                .unwrap_or_else(|e| panic!("round {round}: a write after the drop failed: {e:?}"));
            expect.insert(probe, Some(etag));
            // Whatever the key shows now is what it keeps.
            let now = shown(store, &key).await;
            assert!(now == before || now == candidate, "round {round}: {now:?}");
            expect.insert(key.clone(), now);
            // Read-after-write for every acknowledged write so far.
            for (k, e) in &expect {
                assert_eq!(shown(store, k).await, *e, "round {round}: key {k:?}");
            }
        }
    }
    eprintln!("{round} rounds");
    assert!(round > 4, "the operations finished without being dropped");
    expect
}

#[test]
fn put_and_delete_abandoned_at_every_await_leave_the_store_writable_and_whole() {
    for (name, io) in common::real_backends() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&io, dir.path());
        let expect = io
            .block_on(async {
                store.create_bucket("bkt", None, "root").await.unwrap();
                let expect = abandon_at_every_await(&store).await;
                store.checkpoint().await.unwrap();
                expect
            })
            .unwrap();
        drop(store);
        let store = open(&io, dir.path());
        io.block_on(async {
            for (k, e) in &expect {
                assert_eq!(
                    shown(&store, k).await,
                    *e,
                    "{name}: after reopen, key {k:?}"
                );
            }
        })
        .unwrap();
    }
}
