//! The index transaction state machine against a model of racing writers:
//! random interleavings of prepare / complete (write or delete) / cancel /
//! suggest on one key. After every step the entry is pending exactly while
//! some transaction is open, holds the last completed write (in commit
//! order), is a placeholder only when nothing ever completed, disappears
//! when nothing is left, and the stats deltas add up to what it counts.
//! Applying a step twice in a row changes nothing the second time.

use std::collections::BTreeSet;

use proptest::prelude::*;
use shale::index::entry::IndexEntry;
use shale::index::txn::{apply, Outcome, StatsDelta, TxnStep};

#[derive(Clone, Debug)]
enum Action {
    Prepare,
    CompleteWrite(u64),
    CompleteDelete,
    Cancel,
    /// A listing found `Some(size)` or no object, with the oldest open
    /// transaction stale.
    Suggest(Option<u64>),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::Prepare),
        2 => (1u64..1000).prop_map(Action::CompleteWrite),
        1 => Just(Action::CompleteDelete),
        1 => Just(Action::Cancel),
        1 => proptest::option::of(1u64..1000).prop_map(Action::Suggest),
    ]
}

fn written(size: u64) -> IndexEntry {
    IndexEntry {
        size,
        current: true,
        ..IndexEntry::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn entry_follows_the_model(actions in proptest::collection::vec((action(), any::<prop::sample::Index>()), 1..60)) {
        let mut entry: Option<IndexEntry> = None;
        let mut open: BTreeSet<u64> = BTreeSet::new();
        let mut data: Option<u64> = None; // size of the last completed write
        let mut next_tag = 1u64;
        let mut stats = StatsDelta::default();
        for (a, pick) in actions {
            let chosen = (!open.is_empty()).then(|| *open.iter().nth(pick.index(open.len())).unwrap());
            let step = match (a, chosen) {
                (Action::Prepare, _) => {
                    next_tag += 1;
                    if open.len() == 32 { continue; }
                    open.insert(next_tag);
                    TxnStep::Prepare { tag: next_tag }
                }
                (Action::CompleteWrite(size), Some(tag)) => {
                    open.remove(&tag);
                    data = Some(size);
                    TxnStep::Complete { tag, outcome: Outcome::Write(written(size)) }
                }
                (Action::CompleteDelete, Some(tag)) => {
                    open.remove(&tag);
                    data = None;
                    TxnStep::Complete { tag, outcome: Outcome::Delete }
                }
                (Action::Cancel, Some(tag)) => {
                    open.remove(&tag);
                    TxnStep::Cancel { tag }
                }
                (Action::Suggest(found), _) => {
                    let stale: Vec<u64> = open.iter().next().copied().into_iter().collect();
                    for t in &stale { open.remove(t); }
                    data = found;
                    TxnStep::Suggest { stale, resolved: found.map(written) }
                }
                _ => continue,
            };
            let (next, delta) = apply(entry.as_ref(), &step).unwrap();
            // Idempotent: the same step again changes nothing.
            let (again, delta2) = apply(next.as_ref(), &step).unwrap();
            if !matches!(step, TxnStep::Prepare { .. }) || open.contains(&next_tag) {
                prop_assert_eq!(&again, &next);
                prop_assert_eq!(delta2, StatsDelta::default());
            }
            entry = next;
            stats.objects += delta.objects;
            stats.bytes += delta.bytes;

            match &entry {
                None => prop_assert!(open.is_empty() && data.is_none()),
                Some(e) => {
                    prop_assert_eq!(e.pending.iter().copied().collect::<BTreeSet<_>>(), open.clone());
                    prop_assert_eq!(e.is_pending(), !open.is_empty());
                    prop_assert_eq!(e.placeholder, data.is_none());
                    if let Some(size) = data { prop_assert_eq!(e.size, size); }
                    let mut b = Vec::new();
                    e.encode(&mut b).unwrap();
                    prop_assert_eq!(IndexEntry::decode(&b).unwrap(), e.clone());
                }
            }
            let want = data.map_or((0, 0), |s| (1, s as i64));
            prop_assert_eq!((stats.objects, stats.bytes), want);
        }
    }
}

#[test]
fn more_than_32_open_transactions_are_refused() {
    let mut e = None;
    for tag in 0..32 {
        e = apply(e.as_ref(), &TxnStep::Prepare { tag }).unwrap().0;
    }
    assert!(apply(e.as_ref(), &TxnStep::Prepare { tag: 99 }).is_err());
    // An already pending tag is not a new transaction.
    assert!(apply(e.as_ref(), &TxnStep::Prepare { tag: 5 }).is_ok());
}

/// Found by the `bilog_entry` fuzz target: a logged entry with a size past
/// `i64::MAX` overflowed the stats delta.
#[test]
fn huge_sizes_saturate_the_stats_instead_of_overflowing() {
    use shale::index::txn::{apply_key, Outcome, TxnStep};
    let huge = IndexEntry {
        size: u64::MAX,
        ..IndexEntry::default()
    };
    let head = IndexEntry {
        size: u64::MAX - 1,
        ..IndexEntry::default()
    };
    for outcome in [
        Outcome::Write(huge.clone()),
        Outcome::WriteVersion(huge.clone()),
        Outcome::Delete,
    ] {
        let step = TxnStep::Complete { tag: 1, outcome };
        let up = apply_key(Some(&head), std::slice::from_ref(&huge), &step).unwrap();
        assert!(up.delta.bytes.unsigned_abs() <= i64::MAX as u64 + 1);
    }
}
