//! Leases on a real metadata store (`jobs::lease`): of many workers
//! acquiring one lease at once exactly one wins; the winner renews, the
//! others keep being refused; after the winner lets go one other gets
//! it; a lease survives reopening the store (a restart), and the next
//! incarnation takes over what a dead one held without waiting for it to
//! lapse, while a live other owner's lease is honoured until it lapses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use shale::io::Io;
use shale::jobs::lease::{incarnation_of, LeaseError, Lessor};
use shale::meta::store::MetaStore;

#[test]
fn one_of_many_concurrent_acquirers_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let meta = Arc::new(MetaStore::open(&io, tmp.path(), 7).unwrap());
    let lessor = Lessor::new(Arc::clone(&meta), 42, Duration::from_secs(60));
    let results = io
        .block_on(async {
            let tries = (0..16u16).map(|slot| {
                let l = lessor.clone();
                async move { l.acquire("jobs", 10 + slot).await.unwrap() }
            });
            futures_util::future::join_all(tries).await
        })
        .unwrap();
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let winner = won[0].clone();
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(r, LeaseError::Held { owner, .. } if *owner == winner.owner));
    }
    // Renewal extends it; others are still refused.
    let renewed = io
        .block_on(lessor.renew(&winner))
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(renewed.expires_nanos >= winner.expires_nanos);
    assert!(io
        .block_on(lessor.acquire("jobs", 99))
        .unwrap()
        .unwrap()
        .is_err());
    // Let go: the next one gets it.
    io.block_on(lessor.release(&renewed))
        .unwrap()
        .unwrap()
        .unwrap();
    let next = io
        .block_on(lessor.acquire("jobs", 99))
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.owner & 0xffff, 99);
    // The old holder's renewal is refused now: it must stop.
    assert!(matches!(
        io.block_on(lessor.renew(&renewed)).unwrap().unwrap(),
        Err(LeaseError::NotHeld { .. })
    ));
    drop(lessor);
    drop(meta);

    // A restart: the lease is still recorded, held by incarnation 42.
    let meta = Arc::new(MetaStore::open(&io, tmp.path(), 7).unwrap());
    let held = meta.read(|t| t.leases.get("jobs").cloned()).unwrap();
    assert_eq!(incarnation_of(held.owner), 42);
    // The next incarnation takes it over at once (42 is gone).
    let new = Lessor::new(Arc::clone(&meta), 43, Duration::from_secs(60));
    let got = io
        .block_on(new.acquire("jobs", 1))
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(incarnation_of(got.owner), 43);
}

#[test]
fn a_live_owners_lease_is_honoured_until_it_lapses() {
    let tmp = tempfile::tempdir().unwrap();
    let io = Io::portable();
    let meta = Arc::new(MetaStore::open(&io, tmp.path(), 7).unwrap());
    let lessor = Lessor::new(Arc::clone(&meta), 5, Duration::from_millis(300));
    let a = io
        .block_on(lessor.acquire("scrub", 1))
        .unwrap()
        .unwrap()
        .unwrap();
    // Another worker of the same (live) process waits for the lapse.
    assert!(io
        .block_on(lessor.acquire("scrub", 2))
        .unwrap()
        .unwrap()
        .is_err());
    std::thread::sleep(Duration::from_millis(350));
    let b = io
        .block_on(lessor.acquire("scrub", 2))
        .unwrap()
        .unwrap()
        .unwrap();
    assert_ne!(a.owner, b.owner);
    assert!(matches!(
        io.block_on(lessor.renew(&a)).unwrap().unwrap(),
        Err(LeaseError::NotHeld { .. })
    ));
}
