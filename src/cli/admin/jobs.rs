//! `shale admin job …`: schedule, list, show and cancel background jobs
//! (purges), and how a job is printed.

use super::*;

#[derive(Subcommand, Debug)]
pub(super) enum JobOp {
    /// Schedule a job: user-purge, bucket-purge (--target), scrub,
    /// orphan-search (--reclaim to also reclaim what it finds), reshard or
    /// lifecycle (--target BUCKET); now, or --after / --at.
    ///
    /// Example: shale admin job schedule --type orphan-search --reclaim --after 1h
    Schedule {
        #[arg(long = "type")]
        kind: String,
        #[arg(long, default_value = "")]
        target: String,
        #[arg(long, conflicts_with = "at", value_parser = parse_duration_secs)]
        after: Option<u64>,
        #[arg(long, value_parser = parse_time)]
        at: Option<u64>,
        #[arg(long)]
        reclaim: bool,
    },
    /// Jobs, with --state and --type filters.
    ///
    /// Example: shale admin job list --state scheduled --type user-purge
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long = "type")]
        kind: Option<String>,
    },
    /// One job: state, progress (done/total, bytes reclaimed, ETA), history.
    ///
    /// Example: shale admin job show 1f2e3d4c5b6a7980-3
    Show { id: String },
    /// Cancel a job that has not started (a purge: everything stays).
    ///
    /// Example: shale admin job cancel 1f2e3d4c5b6a7980-3
    Cancel { id: String },
}

pub(super) fn job(c: &mut AdminClient, op: &JobOp, json: bool) -> Result<(), CallError> {
    match op {
        JobOp::Schedule {
            kind,
            target,
            after,
            at,
            reclaim,
        } => {
            let req = ScheduleJob {
                kind: kind.clone(),
                target: target.clone(),
                at: *at,
                after_secs: *after,
                reclaim: *reclaim,
            };
            let j: JobInfo = c
                .call("POST", "jobs", vec![], Some(&req))?
                .unwrap_or_default();
            show(json, &j, print_job);
        }
        JobOp::List { state, kind } => {
            let mut q = Vec::new();
            if let Some(s) = state {
                q.push(("state".to_string(), s.clone()));
            }
            if let Some(k) = kind {
                q.push(("type".to_string(), k.clone()));
            }
            let jobs: Vec<JobInfo> = c.call("GET", "jobs", q, NO_BODY)?.unwrap_or_default();
            show(json, &jobs, |jobs| {
                print_table(
                    &[
                        "ID",
                        "TYPE",
                        "TARGET",
                        "STATE",
                        "DUE",
                        "PROGRESS",
                        "RECLAIMED",
                    ],
                    jobs.iter()
                        .map(|j| {
                            vec![
                                j.id.clone(),
                                j.kind.clone(),
                                j.target.clone(),
                                j.state.clone(),
                                crate::s3::time::iso8601_millis(
                                    j.due.saturating_mul(1_000_000_000),
                                ),
                                format!("{}/{}", j.done, j.total),
                                human_bytes(j.bytes_reclaimed),
                            ]
                        })
                        .collect(),
                )
            });
        }
        JobOp::Show { id } => {
            let j: JobInfo = c
                .call("GET", &format!("jobs/{id}"), vec![], NO_BODY)?
                .unwrap_or_default();
            show(json, &j, print_job);
        }
        JobOp::Cancel { id } => {
            let j: JobInfo = c
                .call("DELETE", &format!("jobs/{id}"), vec![], NO_BODY)?
                .unwrap_or_default();
            show(json, &j, |j| println!("job {} cancelled", j.id));
        }
    }
    Ok(())
}

fn print_job(j: &JobInfo) {
    let time = |ns: u64| {
        if ns == 0 {
            "-".to_string()
        } else {
            crate::s3::time::iso8601_millis(ns)
        }
    };
    let mut rows = vec![
        ("id", j.id.clone()),
        ("type", j.kind.clone()),
        ("target", j.target.clone()),
        ("state", j.state.clone()),
        ("due", time(j.due.saturating_mul(1_000_000_000))),
        ("requested by", j.requested_by.clone()),
        ("started", time(j.started_nanos)),
        ("finished", time(j.finished_nanos)),
        ("progress", format!("{}/{}", j.done, j.total)),
        ("reclaimed", human_bytes(j.bytes_reclaimed)),
    ];
    if let Some(eta) = j.eta_secs {
        rows.push(("eta", human_secs(eta)));
    }
    if !j.message.is_empty() {
        rows.push(("message", j.message.clone()));
    }
    print_pairs(&rows);
    for h in &j.history {
        println!("  {} {} by {}", time(h.at_nanos), h.state, h.owner);
    }
}
