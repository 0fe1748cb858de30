//! The job table the job log builds: every job by id, the scheduled ones
//! by due time, and the rules for what may be logged next (a schedule
//! that does not clash with an open purge, a state change the state
//! machine allows). Pure: the store feeds it entries in marker order.
//!
//! States: scheduled -> running -> done | failed, scheduled -> cancelled;
//! running -> running again when another owner takes over a job whose
//! owner is gone (a zombie). Final states never change.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::record::{JobEntry, JobId, JobKind, JobOp, JobState};

/// One job as the log tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub kind: Option<JobKind>,
    pub target: String,
    pub due_nanos: u64,
    pub flags: u8,
    pub requested_by: String,
    pub state: Option<JobState>,
    /// Why it failed (or was cancelled), if it says.
    pub message: String,
    /// The incarnation that made the last state change.
    pub owner: u64,
    pub created_nanos: u64,
    pub started_nanos: u64,
    pub finished_nanos: u64,
    pub done: u64,
    pub total: u64,
    pub bytes_reclaimed: u64,
    pub checkpoint: Vec<u8>,
    /// Every state it was in: (state, when, owner).
    pub history: Vec<(JobState, u64, u64)>,
}

impl Job {
    pub fn state(&self) -> JobState {
        self.state.unwrap_or(JobState::Scheduled)
    }

    /// Scheduled or running: its target is spoken for.
    pub fn is_open(&self) -> bool {
        !self.state().is_final()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobTable {
    /// The last marker applied.
    pub applied: u64,
    pub jobs: BTreeMap<JobId, Job>,
    /// Scheduled jobs by due time.
    pub due: BTreeSet<(u64, JobId)>,
    /// The highest sequence number seen per zone.
    pub last_seq: BTreeMap<u64, u64>,
    /// Open (scheduled or running) jobs by (kind, target): what requests
    /// look up to refuse a user or bucket under a purge.
    pub open: BTreeMap<(JobKind, String), JobId>,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum JobError {
    #[error("no job {0}")]
    NoSuchJob(JobId),
    #[error("job {id} is {state}: only a scheduled job can be cancelled")]
    NotCancellable { id: JobId, state: &'static str },
    #[error("job {id} is {state} already")]
    Finished { id: JobId, state: &'static str },
    #[error("job {id} cannot go from {from} to {to}")]
    BadTransition {
        id: JobId,
        from: &'static str,
        to: &'static str,
    },
    #[error("{kind} of {target:?} is already scheduled as job {id}")]
    AlreadyScheduled {
        kind: &'static str,
        target: String,
        id: JobId,
    },
    #[error("a {0} job needs a target")]
    NoTarget(&'static str),
}

impl JobTable {
    /// Applies one entry (already judged when it was logged; entries for
    /// an unknown job are ignored, so a replay never stops on them).
    pub fn apply(&mut self, e: &JobEntry) {
        self.applied = e.marker;
        match &e.op {
            JobOp::Schedule {
                id,
                kind,
                target,
                due_nanos,
                flags,
                requested_by,
            } => {
                let seq = self.last_seq.entry(id.zone).or_default();
                *seq = (*seq).max(id.seq);
                if let Some(old) = self.jobs.get(id) {
                    self.due.remove(&(old.due_nanos, *id));
                }
                self.jobs.insert(
                    *id,
                    Job {
                        id: *id,
                        kind: Some(*kind),
                        target: target.clone(),
                        due_nanos: *due_nanos,
                        flags: *flags,
                        requested_by: requested_by.clone(),
                        state: Some(JobState::Scheduled),
                        owner: e.owner,
                        created_nanos: e.time_nanos,
                        history: vec![(JobState::Scheduled, e.time_nanos, e.owner)],
                        ..Job::default()
                    },
                );
                self.due.insert((*due_nanos, *id));
                self.open.insert((*kind, target.clone()), *id);
            }
            JobOp::State { id, state, message } => {
                let Some(j) = self.jobs.get_mut(id) else {
                    return;
                };
                if j.state() == JobState::Scheduled {
                    self.due.remove(&(j.due_nanos, *id));
                }
                j.state = Some(*state);
                j.message = message.clone();
                j.owner = e.owner;
                j.history.push((*state, e.time_nanos, e.owner));
                match state {
                    JobState::Running if j.started_nanos == 0 => j.started_nanos = e.time_nanos,
                    s if s.is_final() => j.finished_nanos = e.time_nanos,
                    _ => {}
                }
                if *state == JobState::Scheduled {
                    self.due.insert((j.due_nanos, *id));
                }
                if let (true, Some(kind)) = (state.is_final(), j.kind) {
                    let k = (kind, j.target.clone());
                    if self.open.get(&k) == Some(id) {
                        self.open.remove(&k);
                    }
                }
            }
            JobOp::Progress {
                id,
                done,
                total,
                bytes_reclaimed,
                checkpoint,
            } => {
                if let Some(j) = self.jobs.get_mut(id) {
                    j.done = *done;
                    j.total = *total;
                    j.bytes_reclaimed = *bytes_reclaimed;
                    j.checkpoint = checkpoint.clone();
                }
            }
        }
    }

    /// The open (scheduled or running) job of `kind` on `target`.
    pub fn open_job(&self, kind: JobKind, target: &str) -> Option<&Job> {
        self.open
            .get(&(kind, target.to_string()))
            .and_then(|id| self.jobs.get(id))
            .filter(|j| j.is_open())
    }

    /// Scheduled jobs due at `now_nanos`, earliest first.
    pub fn due_at(&self, now_nanos: u64) -> Vec<JobId> {
        self.due
            .range(..(now_nanos.saturating_add(1), JobId::default()))
            .map(|(_, id)| *id)
            .collect()
    }

    /// Running jobs whose owner is not `alive` (zombies to take over).
    pub fn zombies(&self, alive: impl Fn(u64) -> bool) -> Vec<JobId> {
        self.jobs
            .values()
            .filter(|j| j.state() == JobState::Running && !alive(j.owner))
            .map(|j| j.id)
            .collect()
    }

    /// The id the next job scheduled in `zone` gets.
    pub fn next_id(&self, zone: u64) -> JobId {
        JobId {
            zone,
            seq: self.last_seq.get(&zone).copied().unwrap_or(0) + 1,
        }
    }
}

/// The schedule entry for a new job, if it may be: purges, reshards and
/// lifecycle runs need a target, and one target has at most one open
/// job of a kind.
pub fn schedule(
    t: &JobTable,
    zone: u64,
    kind: JobKind,
    target: &str,
    due_nanos: u64,
    flags: u8,
    requested_by: &str,
) -> Result<JobOp, JobError> {
    let needs_target = matches!(
        kind,
        JobKind::UserPurge | JobKind::BucketPurge | JobKind::Reshard | JobKind::Lifecycle
    );
    if needs_target && target.is_empty() {
        return Err(JobError::NoTarget(kind.name()));
    }
    if let Some(j) = t.open_job(kind, target) {
        return Err(JobError::AlreadyScheduled {
            kind: kind.name(),
            target: target.to_string(),
            id: j.id,
        });
    }
    Ok(JobOp::Schedule {
        id: t.next_id(zone),
        kind,
        target: target.to_string(),
        due_nanos,
        flags,
        requested_by: requested_by.to_string(),
    })
}

/// The state entry moving job `id` to `to`, if the state machine allows
/// it: scheduled -> running | cancelled, running -> running (a takeover)
/// | done | failed.
pub fn transition(t: &JobTable, id: JobId, to: JobState, message: &str) -> Result<JobOp, JobError> {
    let j = t.jobs.get(&id).ok_or(JobError::NoSuchJob(id))?;
    let from = j.state();
    let ok = matches!(
        (from, to),
        (JobState::Scheduled, JobState::Running | JobState::Cancelled)
            | (
                JobState::Running,
                JobState::Running | JobState::Done | JobState::Failed
            )
    );
    if !ok {
        return Err(match (from, to) {
            (JobState::Running, JobState::Cancelled) => JobError::NotCancellable {
                id,
                state: from.name(),
            },
            (f, _) if f.is_final() => JobError::Finished {
                id,
                state: from.name(),
            },
            _ => JobError::BadTransition {
                id,
                from: from.name(),
                to: to.name(),
            },
        });
    }
    Ok(JobOp::State {
        id,
        state: to,
        message: message.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t: &JobTable, op: JobOp, owner: u64, time: u64) -> JobEntry {
        JobEntry {
            marker: t.applied + 1,
            time_nanos: time,
            source_zone: 7,
            owner,
            op,
        }
    }

    fn log(t: &mut JobTable, op: JobOp, owner: u64, time: u64) {
        let e = entry(t, op, owner, time);
        t.apply(&e);
    }

    #[test]
    fn a_job_moves_through_its_states() {
        let mut t = JobTable::default();
        let op = schedule(&t, 7, JobKind::UserPurge, "alice", 100, 0, "root").unwrap();
        log(&mut t, op, 1, 10);
        let id = JobId { zone: 7, seq: 1 };
        assert_eq!(t.due_at(99), vec![]);
        assert_eq!(t.due_at(100), vec![id]);
        // One open purge per target.
        assert!(matches!(
            schedule(&t, 7, JobKind::UserPurge, "alice", 5, 0, "root"),
            Err(JobError::AlreadyScheduled { .. })
        ));
        assert_eq!(
            schedule(&t, 7, JobKind::UserPurge, "", 5, 0, "root"),
            Err(JobError::NoTarget("user-purge"))
        );
        let op = transition(&t, id, JobState::Running, "").unwrap();
        log(&mut t, op, 1, 20);
        assert!(t.due_at(u64::MAX).is_empty());
        assert_eq!(
            transition(&t, id, JobState::Cancelled, ""),
            Err(JobError::NotCancellable {
                id,
                state: "running"
            })
        );
        // Its owner died: another takes it over.
        assert_eq!(t.zombies(|o| o == 2), vec![id]);
        let op = transition(&t, id, JobState::Running, "").unwrap();
        log(&mut t, op, 2, 30);
        assert!(t.zombies(|o| o == 2).is_empty());
        log(
            &mut t,
            JobOp::Progress {
                id,
                done: 3,
                total: 4,
                bytes_reclaimed: 9,
                checkpoint: b"b3".to_vec(),
            },
            2,
            35,
        );
        let op = transition(&t, id, JobState::Done, "").unwrap();
        log(&mut t, op, 2, 40);
        let j = &t.jobs[&id];
        assert_eq!((j.started_nanos, j.finished_nanos, j.owner), (20, 40, 2));
        assert_eq!((j.done, j.total, j.bytes_reclaimed), (3, 4, 9));
        assert_eq!(j.history.len(), 4);
        assert_eq!(
            transition(&t, id, JobState::Running, ""),
            Err(JobError::Finished { id, state: "done" })
        );
        // The target is free again; ids keep growing.
        let op = schedule(&t, 7, JobKind::UserPurge, "alice", 5, 0, "root").unwrap();
        assert_eq!(op.id(), JobId { zone: 7, seq: 2 });
    }

    #[test]
    fn a_scheduled_job_can_be_cancelled_once() {
        let mut t = JobTable::default();
        let op = schedule(&t, 7, JobKind::BucketPurge, "b", 100, 0, "root").unwrap();
        let id = op.id();
        log(&mut t, op, 1, 10);
        let op = transition(&t, id, JobState::Cancelled, "").unwrap();
        log(&mut t, op, 1, 20);
        assert!(t.due_at(u64::MAX).is_empty());
        assert!(t.open_job(JobKind::BucketPurge, "b").is_none());
        assert!(matches!(
            transition(&t, id, JobState::Cancelled, ""),
            Err(JobError::Finished { .. })
        ));
        assert_eq!(
            transition(&t, JobId { zone: 7, seq: 9 }, JobState::Running, ""),
            Err(JobError::NoSuchJob(JobId { zone: 7, seq: 9 }))
        );
    }
}
