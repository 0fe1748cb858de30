//! A PUT or DELETE abandoned at any await point (its client left, hyper
//! dropped the request future) harms nothing: each operation is polled
//! exactly k times and dropped, for every k until it would have finished
//! on its own. After each drop, writes to the same key and to other keys
//! succeed at once, the key shows its last acknowledged object or one of
//! the abandoned ones since (never anything else), and after a reopen the
//! store holds every acknowledged write.

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
    let wal = shale::index::wal::IndexWal::attach(io, segments).unwrap();
    ObjectStore::open(io, dir, wal, options, meta, "root").unwrap()
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
    put_in(store, "bkt", key, data).await
}

async fn put_in(
    store: &ObjectStore,
    bucket: &str,
    key: &[u8],
    data: &Bytes,
) -> Result<[u8; 16], S3Error> {
    let opts = PutOptions {
        meta: Vec::new(),
        expected_len: Some(data.len() as u64),
        content_md5: None,
        condition: None,
        checksum: None,
        expiry_secs: 0,
        lock: Default::default(),
        sse: None,
    };
    store
        .put_object(bucket, key, opts, &mut body_of(data))
        .await
        .map(|o| o.etag)
}

/// What the store must show: acknowledged keys exactly; the abandoned
/// key one of the values it may hold.
struct Expected {
    acked: BTreeMap<Vec<u8>, Option<[u8; 16]>>,
    key: Vec<u8>,
    /// The last acknowledged value of `key` and every value of an operation
    /// on it abandoned since: an abandoned write was never acknowledged,
    /// so it may take effect (its steps are the shard's to finish) or not,
    /// but nothing else may show, and the next acknowledged write of the
    /// key replaces them all.
    possible: Vec<Option<[u8; 16]>>,
}

/// Drops a PUT, then a DELETE, of one key after each number of polls in
/// turn, each until it finishes on its own twice in a row; after each
/// drop a write to another key is acknowledged at once.
async fn abandon_at_every_await(store: &ObjectStore) -> Expected {
    let key = b"abandoned/key".to_vec();
    let first = data(0);
    let mut x = Expected {
        acked: BTreeMap::new(),
        key: key.clone(),
        possible: vec![Some(put(store, &key, &first).await.unwrap())],
    };
    let mut round = 1;
    for deleting in [false, true] {
        let mut finished_on_its_own = 0;
        let mut polls = 0;
        while finished_on_its_own < 2 {
            round += 1;
            polls += 1;
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
                    x.possible = vec![candidate];
                    finished_on_its_own += 1;
                }
                None => {
                    finished_on_its_own = 0;
                    x.possible.push(candidate);
                }
            }
            let now = shown(store, &key).await;
            assert!(
                x.possible.contains(&now),
                "round {round} (after {polls} polls): {now:?} is none of {:?}",
                x.possible
            );
            // The shard takes the next write at once, on other keys.
            let probe = format!("probe/{round}").into_bytes();
            let probe_data = data(10_000 + round);
            let etag = put(store, &probe, &probe_data)
                .await
                .unwrap_or_else(|e| panic!("round {round}: a write after the drop failed: {e:?}"));
            x.acked.insert(probe, Some(etag));
            // Read-after-write for every acknowledged write so far.
            for (k, e) in &x.acked {
                assert_eq!(shown(store, k).await, *e, "round {round}: key {k:?}");
            }
            assert!(x.possible.contains(&shown(store, &key).await));
        }
    }
    assert!(round > 4, "the operations finished without being dropped");
    x
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
            for (k, e) in &expect.acked {
                assert_eq!(
                    shown(&store, k).await,
                    *e,
                    "{name}: after reopen, key {k:?}"
                );
            }
            let now = shown(&store, &expect.key).await;
            assert!(
                expect.possible.contains(&now),
                "{name}: after reopen {now:?}"
            );
        })
        .unwrap();
    }
}

/// CreateBucket dropped after each number of polls in turn: the name is
/// never left claimed by the abandoned creation, so the next one either
/// finds the bucket made (the record committed) or makes it, and the
/// bucket takes writes; the same after a reopen.
#[test]
fn create_bucket_abandoned_at_every_await_leaves_the_name_usable() {
    for (name, io) in common::real_backends() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&io, dir.path());
        let made = io
            .block_on(async {
                let mut made = Vec::new();
                for polls in 1..=12 {
                    let b = format!("dropped-{polls}");
                    let _ =
                        common::poll_then_drop(store.create_bucket(&b, None, "root"), polls).await;
                    match store.create_bucket(&b, None, "root").await {
                        Ok(()) => {}
                        Err(e) => assert_eq!(
                            e.code,
                            shale::s3::S3ErrorCode::BucketAlreadyOwnedByYou,
                            "{name}: {b} after {polls} polls: {e:?}"
                        ),
                    }
                    let etag = put_in(&store, &b, b"k", &data(polls)).await;
                    assert!(etag.is_ok(), "{name}: {b}: {etag:?}");
                    made.push(b);
                }
                store.checkpoint().await.unwrap();
                made
            })
            .unwrap();
        drop(store);
        let store = open(&io, dir.path());
        io.block_on(async {
            for b in &made {
                assert!(store.bucket(b).is_ok(), "{name}: {b} after reopen");
            }
        })
        .unwrap();
    }
}
