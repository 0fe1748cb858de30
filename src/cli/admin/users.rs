//! `shale admin user …` and `shale admin key …`: users (create, info,
//! list, modify, suspend/enable, remove with optional purge) and their
//! access keys.

use super::*;

#[derive(Subcommand, Debug)]
pub(super) enum UserOp {
    /// Create a user and (unless --no-key) an access key, printed once.
    ///
    /// Example: shale admin user create --uid alice --display-name "Alice" --max-bytes 10GiB
    Create {
        #[arg(long)]
        uid: String,
        #[arg(long, default_value = "")]
        display_name: String,
        #[arg(long, default_value = "")]
        email: String,
        /// A system user: reaches every bucket and the admin API.
        #[arg(long)]
        system: bool,
        /// Objects the user's buckets may hold together.
        #[arg(long)]
        max_objects: Option<u64>,
        /// Bytes the user's buckets may hold together (e.g. 500MiB, 10GiB).
        #[arg(long, value_parser = parse_size)]
        max_bytes: Option<u64>,
        /// Make no access key.
        #[arg(long)]
        no_key: bool,
    },
    /// One user: details, keys, usage.
    ///
    /// Example: shale admin user info --uid alice
    Info {
        #[arg(long)]
        uid: String,
    },
    /// Every user.
    ///
    /// Example: shale admin user list --json
    List,
    /// Change a user's name, e-mail or quotas (-1 removes a limit).
    ///
    /// Example: shale admin user modify --uid alice --max-objects 100000 --max-bytes -1
    Modify {
        #[arg(long)]
        uid: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, allow_negative_numbers = true)]
        max_objects: Option<i64>,
        #[arg(long, allow_negative_numbers = true, value_parser = parse_quota_size)]
        max_bytes: Option<i64>,
    },
    /// Refuse every request of the user (AccountSuspended) until enabled.
    ///
    /// Example: shale admin user suspend --uid alice
    Suspend {
        #[arg(long)]
        uid: String,
    },
    /// Let a suspended user in again.
    ///
    /// Example: shale admin user enable --uid alice
    Enable {
        #[arg(long)]
        uid: String,
    },
    /// Remove a user and its keys (refused while it owns buckets), or with
    /// --purge-data schedule its removal with all its buckets and data:
    /// the user is suspended at once, the data stays until the job runs
    /// (jobs.purge_delay_secs, 7 days, unless --after/--at), and `shale
    /// admin job cancel ID` until then restores everything. Prints the
    /// job id.
    ///
    /// Example: shale admin user rm --uid alice --purge-data --after 7d
    Rm {
        #[arg(long)]
        uid: String,
        #[command(flatten)]
        purge: PurgeArgs,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum KeyOp {
    /// A new access key for a user (random unless both are given); the
    /// secret is printed once.
    ///
    /// Example: shale admin key create --uid alice
    Create {
        #[arg(long)]
        uid: String,
        /// Use this access key instead of a random one.
        #[arg(long, requires = "new_secret_key")]
        new_access_key: Option<String>,
        /// Use this secret instead of a random one.
        #[arg(long, requires = "new_access_key", hide_env_values = true)]
        new_secret_key: Option<String>,
    },
    /// A user's access keys (no secrets).
    ///
    /// Example: shale admin key list --uid alice
    List {
        #[arg(long)]
        uid: String,
    },
    /// Remove an access key; requests signed with it fail at once.
    ///
    /// Example: shale admin key rm --key AKIAEXAMPLE
    Rm {
        #[arg(long)]
        key: String,
    },
}

fn user_path(uid: &str, rest: &str) -> String {
    format!("users/{uid}{rest}")
}

pub(super) fn user(c: &mut AdminClient, op: &UserOp, json: bool) -> Result<(), CallError> {
    match op {
        UserOp::Create {
            uid,
            display_name,
            email,
            system,
            max_objects,
            max_bytes,
            no_key,
        } => {
            let req = CreateUser {
                uid: uid.clone(),
                display_name: display_name.clone(),
                email: email.clone(),
                system: *system,
                max_objects: max_objects.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
                max_bytes: max_bytes.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
                generate_key: Some(!no_key),
            };
            let r: CreatedUser = c
                .call("POST", "users", vec![], Some(&req))?
                .unwrap_or_default();
            show(json, &r, |r| {
                println!("created user {}", r.user.uid);
                if let Some(k) = &r.key {
                    println!("  access key: {}", k.access_key);
                    println!(
                        "  secret key: {}",
                        k.secret_key.as_deref().unwrap_or_default()
                    );
                    println!("  (the secret is not shown again)");
                }
            });
        }
        UserOp::Info { uid } => {
            let u: UserInfo = c
                .call("GET", &user_path(uid, ""), vec![], NO_BODY)?
                .unwrap_or_default();
            show(json, &u, |u| {
                print_pairs(&[
                    ("uid", u.uid.clone()),
                    ("display name", u.display_name.clone()),
                    ("email", u.email.clone()),
                    ("suspended", u.suspended.to_string()),
                    ("system", u.system.to_string()),
                    ("max objects", limit(u.max_objects, |v| v.to_string())),
                    ("max bytes", limit(u.max_bytes, human_bytes)),
                    ("keys", u.keys.join(", ")),
                    ("buckets", u.buckets.to_string()),
                    ("objects", u.objects.to_string()),
                    ("bytes", human_bytes(u.bytes)),
                ])
            });
        }
        UserOp::List => {
            let us: Vec<UserInfo> = c.call("GET", "users", vec![], NO_BODY)?.unwrap_or_default();
            show(json, &us, |us| {
                print_table(
                    &[
                        "UID", "NAME", "STATE", "KEYS", "BUCKETS", "OBJECTS", "BYTES",
                    ],
                    us.iter()
                        .map(|u| {
                            vec![
                                u.uid.clone(),
                                u.display_name.clone(),
                                match (u.suspended, u.system) {
                                    (true, _) => "suspended".into(),
                                    (false, true) => "system".into(),
                                    (false, false) => "active".into(),
                                },
                                u.keys.len().to_string(),
                                u.buckets.to_string(),
                                u.objects.to_string(),
                                human_bytes(u.bytes),
                            ]
                        })
                        .collect(),
                )
            });
        }
        UserOp::Modify {
            uid,
            display_name,
            email,
            max_objects,
            max_bytes,
        } => {
            let req = ModifyUser {
                display_name: display_name.clone(),
                email: email.clone(),
                suspended: None,
                max_objects: *max_objects,
                max_bytes: *max_bytes,
            };
            let u: UserInfo = c
                .call("POST", &user_path(uid, ""), vec![], Some(&req))?
                .unwrap_or_default();
            show(json, &u, |u| println!("modified user {}", u.uid));
        }
        UserOp::Suspend { uid } | UserOp::Enable { uid } => {
            let verb = if matches!(op, UserOp::Suspend { .. }) {
                "suspend"
            } else {
                "enable"
            };
            let u: UserInfo = c
                .call(
                    "POST",
                    &user_path(uid, &format!("/{verb}")),
                    vec![],
                    NO_BODY,
                )?
                .unwrap_or_default();
            show(json, &u, |u| println!("user {}: {verb}ed", u.uid));
        }
        UserOp::Rm { uid, purge } if purge.purge_data => {
            let j: JobInfo = c
                .call("DELETE", &user_path(uid, ""), purge.query(), NO_BODY)?
                .unwrap_or_default();
            show(json, &j, |j| {
                println!(
                    "user {uid} suspended; its data is removed by job {} at {} (cancel with: shale admin job cancel {})",
                    j.id,
                    crate::s3::time::http_date(j.due.saturating_mul(1_000_000_000)),
                    j.id
                )
            });
        }
        UserOp::Rm { uid, .. } => {
            c.call::<serde_json::Value>("DELETE", &user_path(uid, ""), vec![], NO_BODY)?;
            show(json, &serde_json::json!({"removed": uid}), |_| {
                println!("removed user {uid}")
            });
        }
    }
    Ok(())
}

pub(super) fn key(c: &mut AdminClient, op: &KeyOp, json: bool) -> Result<(), CallError> {
    match op {
        KeyOp::Create {
            uid,
            new_access_key,
            new_secret_key,
        } => {
            let req = CreateKey {
                access_key: new_access_key.clone(),
                secret_key: new_secret_key.clone(),
            };
            let k: KeyInfo = c
                .call("POST", &user_path(uid, "/keys"), vec![], Some(&req))?
                .unwrap_or_default();
            show(json, &k, |k| {
                println!("created an access key for {}", k.uid);
                println!("  access key: {}", k.access_key);
                println!(
                    "  secret key: {}",
                    k.secret_key.as_deref().unwrap_or_default()
                );
                println!("  (the secret is not shown again)");
            });
        }
        KeyOp::List { uid } => {
            let ks: Vec<KeyInfo> = c
                .call("GET", &user_path(uid, "/keys"), vec![], NO_BODY)?
                .unwrap_or_default();
            show(json, &ks, |ks| {
                print_table(
                    &["ACCESS KEY", "UID"],
                    ks.iter()
                        .map(|k| vec![k.access_key.clone(), k.uid.clone()])
                        .collect(),
                )
            });
        }
        KeyOp::Rm { key } => {
            c.call::<serde_json::Value>("DELETE", &format!("keys/{key}"), vec![], NO_BODY)?;
            show(json, &serde_json::json!({"removed": key}), |_| {
                println!("removed access key {key}")
            });
        }
    }
    Ok(())
}
