//! `shale admin bucket …`: list a user's buckets, stats, quotas, remove
//! (with optional purge).

use super::*;

#[derive(Subcommand, Debug)]
pub(super) enum BucketOp {
    /// Buckets with owner, objects and bytes (of one user with --uid).
    ///
    /// Example: shale admin bucket list --uid alice
    List {
        #[arg(long)]
        uid: Option<String>,
    },
    /// One bucket's stats and quota.
    ///
    /// Example: shale admin bucket stats --bucket photos
    Stats {
        #[arg(long)]
        bucket: String,
    },
    /// Set a bucket's quota (-1 or leaving one out removes that limit).
    ///
    /// Example: shale admin bucket quota --bucket photos --max-objects 1000 --max-bytes 1GiB
    Quota {
        #[arg(long)]
        bucket: String,
        #[arg(long, allow_negative_numbers = true)]
        max_objects: Option<i64>,
        #[arg(long, allow_negative_numbers = true, value_parser = parse_quota_size)]
        max_bytes: Option<i64>,
    },
    /// Remove an empty bucket, or with --purge-data schedule its removal
    /// with its data: requests to it are refused at once, the data stays
    /// until the job runs (jobs.purge_delay_secs, 7 days, unless
    /// --after/--at), and `shale admin job cancel ID` until then restores
    /// it. Prints the job id.
    ///
    /// Example: shale admin bucket rm --bucket photos --purge-data --after 1d
    Rm {
        #[arg(long)]
        bucket: String,
        #[command(flatten)]
        purge: PurgeArgs,
    },
}

pub(super) fn bucket(c: &mut AdminClient, op: &BucketOp, json: bool) -> Result<(), CallError> {
    let pairs = |b: &BucketInfo| {
        let lock = b.object_lock.as_ref();
        print_pairs(&[
            (
                "object lock",
                lock.map_or("disabled".to_string(), |l| {
                    format!("enabled, default retention {}", l.default_retention)
                }),
            ),
            (
                "locked versions",
                lock.and_then(|l| l.locked_versions)
                    .map_or("-".to_string(), |n| n.to_string()),
            ),
            ("bucket", b.name.clone()),
            ("owner", b.owner.clone()),
            ("created", b.created.clone()),
            ("versioning", b.versioning.clone()),
            ("index shards", b.shards.to_string()),
            ("objects", b.objects.to_string()),
            ("bytes", human_bytes(b.bytes)),
            ("max objects", limit(b.max_objects, |v| v.to_string())),
            ("max bytes", limit(b.max_bytes, human_bytes)),
        ])
    };
    match op {
        BucketOp::List { uid } => {
            let q = uid.iter().map(|u| ("uid".to_string(), u.clone())).collect();
            let bs: Vec<BucketInfo> = c.call("GET", "buckets", q, NO_BODY)?.unwrap_or_default();
            show(json, &bs, |bs| {
                print_table(
                    &["BUCKET", "OWNER", "CREATED", "OBJECTS", "BYTES"],
                    bs.iter()
                        .map(|b| {
                            vec![
                                b.name.clone(),
                                b.owner.clone(),
                                b.created.clone(),
                                b.objects.to_string(),
                                human_bytes(b.bytes),
                            ]
                        })
                        .collect(),
                )
            });
        }
        BucketOp::Stats { bucket } => {
            let b: BucketInfo = c
                .call("GET", &format!("buckets/{bucket}"), vec![], NO_BODY)?
                .unwrap_or_default();
            show(json, &b, pairs);
        }
        BucketOp::Quota {
            bucket,
            max_objects,
            max_bytes,
        } => {
            let req = SetQuota {
                max_objects: *max_objects,
                max_bytes: *max_bytes,
            };
            let b: BucketInfo = c
                .call(
                    "POST",
                    &format!("buckets/{bucket}/quota"),
                    vec![],
                    Some(&req),
                )?
                .unwrap_or_default();
            show(json, &b, pairs);
        }
        BucketOp::Rm { bucket, purge } if purge.purge_data => {
            let j: JobInfo = c
                .call(
                    "DELETE",
                    &format!("buckets/{bucket}"),
                    purge.query(),
                    NO_BODY,
                )?
                .unwrap_or_default();
            show(json, &j, |j| {
                println!(
                    "bucket {bucket} closed; it is removed with its data by job {} at {} (cancel with: shale admin job cancel {})",
                    j.id,
                    crate::s3::time::http_date(j.due.saturating_mul(1_000_000_000)),
                    j.id
                )
            });
        }
        BucketOp::Rm { bucket, .. } => {
            c.call::<serde_json::Value>("DELETE", &format!("buckets/{bucket}"), vec![], NO_BODY)?;
            show(json, &serde_json::json!({"removed": bucket}), |_| {
                println!("removed bucket {bucket}")
            });
        }
    }
    Ok(())
}
