//! The job log codec against `format-spec/jobs.md` (vectors, every cut
//! and byte change refused or re-encoded exactly), round trips of every
//! op, and the job table and its rules against a model: a random mix of
//! schedules, starts, cancels, takeovers and ends only ever logs what the
//! state machine allows, and replaying the log rebuilds the same table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;

use common::spec::{unhex, vectors};
use proptest::prelude::*;
use shale::jobs::record::{
    JobEntry, JobId, JobKind, JobOp, JobRecordError, JobState, JOB_STRING_MAX,
};
use shale::jobs::table::{schedule, transition, JobTable};

const ZONE: u64 = 0x1f2e_3d4c_5b6a_7980;
const OWNER: u64 = 0x0123_4567_89ab_0001;
const T: u64 = 1_795_312_496_000_000_000;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn id1() -> JobId {
    JobId { zone: ZONE, seq: 1 }
}

fn vector_entries() -> Vec<JobEntry> {
    let e = |marker: u64, op| JobEntry {
        marker,
        time_nanos: T + marker,
        source_zone: ZONE,
        owner: OWNER,
        op,
    };
    vec![
        e(
            1,
            JobOp::Schedule {
                id: id1(),
                kind: JobKind::UserPurge,
                target: "alice".into(),
                due_nanos: T + 7 * 86_400 * 1_000_000_000,
                flags: 0,
                requested_by: "root".into(),
            },
        ),
        e(
            2,
            JobOp::State {
                id: id1(),
                state: JobState::Running,
                message: String::new(),
            },
        ),
        e(
            3,
            JobOp::Progress {
                id: id1(),
                done: 3,
                total: 100,
                bytes_reclaimed: 5 << 20,
                checkpoint: b"bob-002".to_vec(),
            },
        ),
        e(
            4,
            JobOp::State {
                id: id1(),
                state: JobState::Failed,
                message: "disk full".into(),
            },
        ),
    ]
}

#[test]
fn vectors_match_the_code() {
    let vs = vectors("jobs.md");
    let want = vector_entries();
    assert_eq!(vs.len(), want.len(), "the page's vectors");
    for (v, e) in vs.iter().zip(&want) {
        let bytes = unhex(&v["hex"]);
        assert_eq!(hex(&e.encode().unwrap()), v["hex"], "{}", v["name"]);
        assert_eq!(&JobEntry::decode(&bytes).unwrap(), e, "{}", v["name"]);
        for n in 0..bytes.len() {
            assert!(JobEntry::decode(&bytes[..n]).is_err(), "cut at {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            JobEntry::decode(&longer),
            Err(JobRecordError::TrailingBytes(1))
        );
        for i in 1..4 {
            let mut c = bytes.clone();
            c[i] = 1;
            assert_eq!(
                JobEntry::decode(&c),
                Err(JobRecordError::ReservedNotZero(i))
            );
        }
        for op in [0u8, 4, 0xff] {
            let mut c = bytes.clone();
            c[0] = op;
            assert!(JobEntry::decode(&c).is_err());
        }
    }
    // The table the vectors build.
    let mut t = JobTable::default();
    for e in &want {
        t.apply(e);
    }
    let j = &t.jobs[&id1()];
    assert_eq!(j.state(), JobState::Failed);
    assert_eq!((j.done, j.total, j.bytes_reclaimed), (3, 100, 5 << 20));
    assert_eq!(j.message, "disk full");
    assert!(t.open_job(JobKind::UserPurge, "alice").is_none());
}

#[test]
fn the_encoder_refuses_what_the_decoder_would() {
    let long = "x".repeat(JOB_STRING_MAX + 1);
    let e = JobEntry {
        marker: 1,
        time_nanos: 0,
        source_zone: 0,
        owner: 0,
        op: JobOp::State {
            id: id1(),
            state: JobState::Done,
            message: long,
        },
    };
    assert!(matches!(e.encode(), Err(JobRecordError::TooLong { .. })));
    let zero = JobEntry {
        op: JobOp::State {
            id: JobId { zone: 1, seq: 0 },
            state: JobState::Done,
            message: String::new(),
        },
        ..e
    };
    assert_eq!(zero.encode(), Err(JobRecordError::ZeroSeq));
}

fn kinds() -> impl Strategy<Value = JobKind> {
    proptest::sample::select(JobKind::ALL.to_vec())
}

fn states() -> impl Strategy<Value = JobState> {
    proptest::sample::select(JobState::ALL.to_vec())
}

fn ops() -> impl Strategy<Value = JobOp> {
    let id = (any::<u64>(), 1u64..).prop_map(|(zone, seq)| JobId { zone, seq });
    prop_oneof![
        (
            id.clone(),
            kinds(),
            ".{0,20}",
            any::<u64>(),
            0u8..2,
            ".{0,10}"
        )
            .prop_map(|(id, kind, target, due_nanos, flags, requested_by)| {
                JobOp::Schedule {
                    id,
                    kind,
                    target,
                    due_nanos,
                    flags,
                    requested_by,
                }
            }),
        (id.clone(), states(), ".{0,30}").prop_map(|(id, state, message)| JobOp::State {
            id,
            state,
            message
        }),
        (
            id,
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(id, done, total, bytes_reclaimed, checkpoint)| {
                JobOp::Progress {
                    id,
                    done,
                    total,
                    bytes_reclaimed,
                    checkpoint,
                }
            }),
    ]
}

/// What an operator or runner tries next.
#[derive(Clone, Debug)]
enum Try {
    Schedule(JobKind, u8, u64),
    Start(usize, u64),
    Cancel(usize),
    End(usize, bool),
}

fn tries() -> impl Strategy<Value = Try> {
    prop_oneof![
        (kinds(), 0u8..3, 0u64..100).prop_map(|(k, t, d)| Try::Schedule(k, t, d)),
        (0usize..20, 1u64..4).prop_map(|(i, o)| Try::Start(i, o)),
        (0usize..20).prop_map(Try::Cancel),
        (0usize..20, any::<bool>()).prop_map(|(i, ok)| Try::End(i, ok)),
    ]
}

proptest! {
    #[test]
    fn every_op_round_trips(op in ops(), marker in any::<u64>(), t in any::<u64>(), zone in any::<u64>(), owner in any::<u64>()) {
        let e = JobEntry { marker, time_nanos: t, source_zone: zone, owner, op };
        let b = e.encode().unwrap();
        prop_assert_eq!(JobEntry::decode(&b).unwrap(), e);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = JobEntry::decode(&b);
    }

    #[test]
    fn the_rules_keep_the_state_machine(tries in proptest::collection::vec(tries(), 0..80)) {
        let mut t = JobTable::default();
        let mut log: Vec<JobEntry> = Vec::new();
        // The model: each job's state, and which (kind, target) is open.
        let mut model: BTreeMap<JobId, (JobKind, String, JobState)> = BTreeMap::new();
        let mut ids: Vec<JobId> = Vec::new();
        for (n, tr) in tries.into_iter().enumerate() {
            let (op, owner) = match tr {
                Try::Schedule(kind, target, due) => {
                    let target = if kind == JobKind::Scrub || kind == JobKind::OrphanSearch {
                        String::new()
                    } else {
                        format!("t{target}")
                    };
                    let clash = model.values().any(|(k, tg, s)| *k == kind && *tg == target && !s.is_final());
                    let r = schedule(&t, ZONE, kind, &target, due, 0, "root");
                    prop_assert_eq!(r.is_err(), clash);
                    match r {
                        Ok(op) => {
                            model.insert(op.id(), (kind, target, JobState::Scheduled));
                            ids.push(op.id());
                            (op, 0)
                        }
                        Err(_) => continue,
                    }
                }
                Try::Start(..) | Try::End(..) | Try::Cancel(_) if ids.is_empty() => continue,
                Try::Start(i, owner) => {
                    let id = ids[i % ids.len()];
                    let from = model[&id].2;
                    let r = transition(&t, id, JobState::Running, "");
                    prop_assert_eq!(r.is_ok(), matches!(from, JobState::Scheduled | JobState::Running));
                    match r { Ok(op) => { model.get_mut(&id).unwrap().2 = JobState::Running; (op, owner) } Err(_) => continue }
                }
                Try::Cancel(i) => {
                    let id = ids[i % ids.len()];
                    let from = model[&id].2;
                    let r = transition(&t, id, JobState::Cancelled, "");
                    prop_assert_eq!(r.is_ok(), from == JobState::Scheduled);
                    match r { Ok(op) => { model.get_mut(&id).unwrap().2 = JobState::Cancelled; (op, 0) } Err(_) => continue }
                }
                Try::End(i, ok) => {
                    let id = ids[i % ids.len()];
                    let from = model[&id].2;
                    let to = if ok { JobState::Done } else { JobState::Failed };
                    let r = transition(&t, id, to, "");
                    prop_assert_eq!(r.is_ok(), from == JobState::Running);
                    match r { Ok(op) => { model.get_mut(&id).unwrap().2 = to; (op, 1) } Err(_) => continue }
                }
            };
            let e = JobEntry { marker: t.applied + 1, time_nanos: n as u64, source_zone: ZONE, owner, op };
            // Every entry the rules allow encodes and decodes.
            let e = JobEntry::decode(&e.encode().unwrap()).unwrap();
            t.apply(&e);
            log.push(e);
        }
        for (id, (kind, target, state)) in &model {
            prop_assert_eq!(t.jobs[id].state(), *state);
            let open = t.open_job(*kind, target).map(|j| j.id);
            if !state.is_final() {
                prop_assert_eq!(open, Some(*id));
            }
        }
        // Scheduled jobs are exactly the due index.
        let scheduled = model.values().filter(|m| m.2 == JobState::Scheduled).count();
        prop_assert_eq!(t.due_at(u64::MAX).len(), scheduled);
        // A replay of the log builds the same table.
        let mut again = JobTable::default();
        for e in &log {
            again.apply(e);
        }
        prop_assert_eq!(again, t);
    }
}
