//! The admin API under `/admin/` on the S3 port: users, access keys,
//! buckets and node info, JSON in and out (`crate::admin::types`). Signed
//! with SigV4 like any S3 request; only a system user may call it. The
//! rules for what may change are `meta::ops`; this module parses, routes
//! and renders.
//!
//! ```text
//! GET    /admin/info                    node info
//! GET    /admin/users                   every user
//! POST   /admin/users                   create (and a key unless generate_key=false)
//! GET    /admin/users/{uid}             one user
//! POST   /admin/users/{uid}             modify (ModifyUser)
//! POST   /admin/users/{uid}/suspend     suspend
//! POST   /admin/users/{uid}/enable      enable
//! DELETE /admin/users/{uid}             remove (refused while it owns buckets)
//! GET    /admin/users/{uid}/keys        its access keys
//! POST   /admin/users/{uid}/keys        a new access key
//! DELETE /admin/keys/{access_key}       remove a key (at once)
//! GET    /admin/buckets[?uid=UID]       buckets with their stats
//! GET    /admin/buckets/{name}          one bucket
//! POST   /admin/buckets/{name}/quota    set its quota (SetQuota)
//! DELETE /admin/buckets/{name}          remove an empty bucket
//! POST   /admin/reload                  re-read the config file
//! POST   /admin/expiry/run              run the expiry pass now (ExpiryRun)
//! POST   /admin/compact/run             run a compaction pass now
//! GET    /admin/compact                 the last compaction pass
//! GET    /admin/scrub                   the scrub: state, last pass, findings
//! POST   /admin/scrub/run               start a scrub pass now
//! POST   /admin/test/clock              move the expiry clock (TestClock;
//!                                       only with SHALE_TEST_CLOCK=1)
//! ```

use http::{Method, StatusCode};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::body::{RequestBody, ResponseBody};
use super::front::Front;
use super::s3::{authenticate, payload_of};
use crate::admin::types::{
    quota_shown, quota_value, BucketInfo, CreateKey, CreateUser, CreatedUser, ErrorBody,
    ErrorDetail, ExpiryRun, KeyInfo, ModifyUser, NodeInfo, Reloaded, SetQuota, TestClock, UserInfo,
};
use crate::datadir::disk_space;
use crate::meta::mdlog::{Quota, UserRecord};
use crate::meta::ops::{self, AdminError, NewUser, UserChange};
use crate::meta::table::MetaTable;
use crate::node::Node;
use crate::object::versioning::Versioning;
use crate::s3::{percent_decode, S3Error, S3ErrorCode};

/// Largest admin request body.
const ADMIN_BODY_MAX: usize = 64 * 1024;

/// The path prefix this module serves.
pub const ADMIN_PREFIX: &str = "/admin";

/// Whether a request path is the admin API's (`/admin` alone is the
/// reserved bucket name, answered by S3).
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with("/admin/")
}

mod jobs;

use crate::jobs::record::JobKind;

/// An admin API failure: status, code, message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
    /// Response headers the error carries (from an S3Error, e.g. the
    /// node's region on a wrong credential scope).
    headers: Vec<(&'static str, String)>,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            headers: Vec::new(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        ApiError {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            code: e.code().to_string(),
            message: e.to_string(),
            headers: Vec::new(),
        }
    }
}

impl From<S3Error> for ApiError {
    fn from(e: S3Error) -> Self {
        ApiError {
            status: e.code.status(),
            code: e.code.as_str().to_string(),
            message: e.message,
            headers: e.headers,
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        e.to_string(),
    )
}

fn json<T: Serialize>(status: StatusCode, v: &T) -> Response<ResponseBody> {
    let mut body = serde_json::to_string_pretty(v).unwrap_or_default();
    body.push('\n');
    let mut r = Response::new(ResponseBody::from_string(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Renders an error as the admin API's JSON error body.
pub fn error_response(e: &ApiError) -> Response<ResponseBody> {
    let mut r = json(
        e.status,
        &ErrorBody {
            error: ErrorDetail {
                code: e.code.clone(),
                message: e.message.clone(),
            },
        },
    );
    for (name, value) in &e.headers {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            r.headers_mut().insert(*name, v);
        }
    }
    r
}

/// Serves one admin request.
pub async fn handle(req: Request<Incoming>, front: &Front) -> Response<ResponseBody> {
    match serve(req, front).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn serve(req: Request<Incoming>, front: &Front) -> Result<Response<ResponseBody>, ApiError> {
    let (auth, caller) = authenticate(&req, front)?;
    let node: &Node = &front.node;
    if !caller.system {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!(
                "user {:?} is not a system user; the admin API needs one",
                caller.uid
            ),
        ));
    }
    let method = req.method().clone();
    let path: Vec<String> = req
        .uri()
        .path()
        .strip_prefix(ADMIN_PREFIX)
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(&percent_decode(s)).into_owned())
        .collect();
    let query = req.uri().query().unwrap_or_default().to_string();
    let payload = payload_of(&auth, req.headers())?;
    let mut body = RequestBody::new(req.into_body(), payload);
    let body = body.collect(ADMIN_BODY_MAX).await?;
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    let api = Api { node, body: &body };
    match (method, parts.as_slice()) {
        (Method::GET, ["info"]) => Ok(json(StatusCode::OK, &api.node_info())),
        (Method::GET, ["users"]) => Ok(json(StatusCode::OK, &api.users())),
        (Method::POST, ["users"]) => api.create_user().await,
        (Method::GET, ["users", uid]) => Ok(json(StatusCode::OK, &api.user(uid)?)),
        (Method::POST | Method::PATCH, ["users", uid]) => {
            let m: ModifyUser = api.parse()?;
            let change = UserChange {
                display_name: m.display_name,
                email: m.email,
                suspended: m.suspended,
                max_objects: m.max_objects.map(|v| quota_value(Some(v))),
                max_bytes: m.max_bytes.map(|v| quota_value(Some(v))),
            };
            api.modify_user(uid, &change).await
        }
        (Method::POST, ["users", uid, "suspend"]) => {
            api.no_body()?;
            api.modify_user(
                uid,
                &UserChange {
                    suspended: Some(true),
                    ..UserChange::default()
                },
            )
            .await
        }
        (Method::POST, ["users", uid, "enable"]) => {
            api.no_body()?;
            api.modify_user(
                uid,
                &UserChange {
                    suspended: Some(false),
                    ..UserChange::default()
                },
            )
            .await
        }
        (Method::DELETE, ["users", uid]) if jobs::wants_purge(&query) => {
            api.no_body()?;
            let job = jobs::purge(node, JobKind::UserPurge, uid, &query, &caller.uid).await?;
            Ok(json(StatusCode::ACCEPTED, &job))
        }
        (Method::DELETE, ["users", uid]) => {
            api.no_body()?;
            api.commit(|t| ops::remove_user(t, uid)).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Method::GET, ["jobs"]) => Ok(json(StatusCode::OK, &jobs::list(node, &query)?)),
        (Method::POST, ["jobs"]) => {
            let req: crate::admin::types::ScheduleJob = api.parse()?;
            let job = jobs::schedule(node, &req, &caller.uid).await?;
            Ok(json(StatusCode::CREATED, &job))
        }
        (Method::GET, ["jobs", id]) => Ok(json(StatusCode::OK, &jobs::show(node, id)?)),
        (Method::DELETE, ["jobs", id]) => {
            api.no_body()?;
            Ok(json(StatusCode::OK, &jobs::cancel(node, id).await?))
        }
        (Method::GET, ["users", uid, "keys"]) => Ok(json(StatusCode::OK, &api.keys_of(uid)?)),
        (Method::POST, ["users", uid, "keys"]) => api.create_key(uid).await,
        (Method::DELETE, ["keys", access_key]) => {
            api.no_body()?;
            api.commit(|t| ops::remove_key(t, access_key)).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Method::GET, ["buckets"]) => {
            let uid = query
                .split('&')
                .find_map(|p| p.strip_prefix("uid="))
                .map(|v| String::from_utf8_lossy(&percent_decode(v)).into_owned());
            Ok(json(StatusCode::OK, &api.buckets(uid.as_deref())))
        }
        (Method::GET, ["buckets", name]) => Ok(json(StatusCode::OK, &api.bucket(name)?)),
        (Method::POST, ["buckets", name, "quota"]) => {
            let q: SetQuota = api.parse()?;
            let quota = Quota {
                max_objects: quota_value(q.max_objects),
                max_bytes: quota_value(q.max_bytes),
            };
            node.store
                .set_bucket_quota(name, quota)
                .await
                .map_err(ApiError::from)??;
            Ok(json(StatusCode::OK, &api.bucket(name)?))
        }
        (Method::DELETE, ["buckets", name]) if jobs::wants_purge(&query) => {
            api.no_body()?;
            let job = jobs::purge(node, JobKind::BucketPurge, name, &query, &caller.uid).await?;
            Ok(json(StatusCode::ACCEPTED, &job))
        }
        (Method::DELETE, ["buckets", name]) => {
            api.no_body()?;
            node.store
                .bucket(name)
                .map_err(|_| ApiError::from(AdminError::NoSuchBucket((*name).to_string())))?;
            node.store.delete_bucket(name).await.map_err(|e| {
                if e.code == S3ErrorCode::BucketNotEmpty {
                    ApiError::from(AdminError::BucketNotEmpty((*name).to_string()))
                } else {
                    ApiError::from(e)
                }
            })?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Method::POST, ["expiry", "run"]) => {
            let limit = query
                .split('&')
                .find_map(|p| p.strip_prefix("limit="))
                .map(|v| v.parse::<usize>())
                .transpose()
                .map_err(|_| {
                    ApiError::from(AdminError::InvalidArgument(
                        "limit must be a whole number".into(),
                    ))
                })?
                .unwrap_or(usize::MAX);
            api.no_body()?;
            let r = node.expire_now(limit).await?;
            Ok(json(
                StatusCode::OK,
                &ExpiryRun {
                    expired: r.expired,
                    bytes: r.bytes,
                    skipped: r.skipped,
                    uploads_aborted: r.uploads_aborted,
                },
            ))
        }
        (Method::POST, ["compact", "run"]) => {
            api.no_body()?;
            Ok(json(StatusCode::OK, &node.compact_now().await?))
        }
        (Method::GET, ["compact"]) => {
            let last = node.compacting.lock().await.clone();
            Ok(json(StatusCode::OK, &serde_json::json!({ "last": last })))
        }
        (Method::GET, ["scrub"]) => Ok(json(StatusCode::OK, &node.scrub.status())),
        (Method::POST, ["scrub", "run"]) => {
            api.no_body()?;
            node.scrub.trigger();
            Ok(json(
                StatusCode::ACCEPTED,
                &serde_json::json!({ "started": true, "passes_before": node.scrub.status().passes }),
            ))
        }
        (Method::POST, ["test", "orphan"]) => {
            // A data record nothing references, for orphan-search tests:
            // only on a test node.
            api.no_body()?;
            if !crate::clock::test_clock_enabled() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "TestClockOff",
                    "test records are planted only on a node started with SHALE_TEST_CLOCK=1",
                ));
            }
            let loc = node
                .store
                .segments()
                .append(
                    crate::segment::RecordKind::DataChunk,
                    bytes::Bytes::from(vec![0x5a; 1000]),
                )
                .await
                .map_err(internal)?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "segment": loc.segment, "offset": loc.offset, "len": loc.len }),
            ))
        }
        (Method::POST, ["test", "clock"]) => {
            let t: TestClock = api.parse()?;
            let ok = match (t.advance_secs, t.now_secs) {
                (Some(a), None) => crate::clock::advance_expiry_clock(a).is_some(),
                (None, Some(n)) => crate::clock::freeze_expiry_clock(n),
                _ => {
                    return Err(
                        AdminError::InvalidArgument("give advance_secs or now_secs".into()).into(),
                    )
                }
            };
            if !ok {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "TestClockOff",
                    "the expiry clock moves only on a node started with SHALE_TEST_CLOCK=1",
                ));
            }
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "now_secs": crate::clock::expiry_now_secs() }),
            ))
        }
        (Method::POST, ["reload"]) => {
            api.no_body()?;
            let changed = match node.reloader.get() {
                Some(reload) => reload()
                    .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "InvalidConfig", e))?,
                None => Vec::new(),
            };
            Ok(json(StatusCode::OK, &Reloaded { changed }))
        }
        (m, p) => {
            let known = matches!(
                p,
                ["info"]
                    | ["users"]
                    | ["users", _]
                    | ["users", _, "suspend" | "enable" | "keys"]
                    | ["keys", _]
                    | ["buckets"]
                    | ["buckets", _]
                    | ["buckets", _, "quota"]
                    | ["reload"]
                    | ["expiry", "run"]
                    | ["test", "clock"]
                    | ["scrub"]
                    | ["scrub", "run"]
                    | ["compact"]
                    | ["compact", "run"]
            );
            Err(if known {
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    format!("{m} is not allowed on /admin/{}", p.join("/")),
                )
            } else {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchResource",
                    format!(
                        "/admin/{} is not an admin API resource (see `shale admin --help`)",
                        p.join("/")
                    ),
                )
            })
        }
    }
}

fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::empty());
    *r.status_mut() = status;
    r
}

struct Api<'a> {
    node: &'a Node,
    body: &'a [u8],
}

impl Api<'_> {
    /// The request body as `T`; an empty body is `{}`.
    fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let b: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            self.body
        };
        let bad = |what: String| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidJson",
                format!("the request body is not valid: {what}"),
            )
        };
        let v: serde_json::Value = serde_json::from_slice(b).map_err(|e| bad(e.to_string()))?;
        if !v.is_object() {
            return Err(bad("expected a JSON object ({...})".into()));
        }
        serde_json::from_value(v).map_err(|e| bad(e.to_string()))
    }

    fn no_body(&self) -> Result<(), ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "UnexpectedBody",
                "this request takes no body",
            ))
        }
    }

    /// Logs one checked change; the refusal becomes the answer.
    async fn commit(
        &self,
        check: impl FnOnce(&MetaTable) -> Result<crate::meta::mdlog::MdOp, AdminError>,
    ) -> Result<(), ApiError> {
        self.node.meta.commit(check).await.map_err(internal)??;
        Ok(())
    }

    fn user_info(&self, t: &MetaTable, u: &UserRecord) -> UserInfo {
        let (objects, bytes) = self.node.store.usage_of(&u.uid);
        UserInfo {
            uid: u.uid.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            suspended: u.suspended,
            system: u.system,
            max_objects: quota_shown(u.quota.max_objects),
            max_bytes: quota_shown(u.quota.max_bytes),
            keys: t
                .keys
                .values()
                .filter(|k| k.uid == u.uid)
                .map(|k| k.access_key.clone())
                .collect(),
            buckets: t.buckets_of(&u.uid).count() as u64,
            objects,
            bytes,
        }
    }

    fn users(&self) -> Vec<UserInfo> {
        self.node
            .meta
            .read(|t| t.users.values().map(|u| self.user_info(t, u)).collect())
    }

    fn user(&self, uid: &str) -> Result<UserInfo, ApiError> {
        self.node
            .meta
            .read(|t| t.users.get(uid).map(|u| self.user_info(t, u)))
            .ok_or_else(|| AdminError::NoSuchUser(uid.to_string()).into())
    }

    async fn create_user(&self) -> Result<Response<ResponseBody>, ApiError> {
        let c: CreateUser = self.parse()?;
        let new = NewUser {
            uid: c.uid.clone(),
            display_name: if c.display_name.is_empty() {
                c.uid.clone()
            } else {
                c.display_name
            },
            email: c.email,
            system: c.system,
            quota: Quota {
                max_objects: quota_value(c.max_objects),
                max_bytes: quota_value(c.max_bytes),
            },
        };
        self.commit(|t| ops::create_user(t, &new)).await?;
        let key = if c.generate_key.unwrap_or(true) {
            Some(self.new_key(&c.uid, &CreateKey::default()).await?)
        } else {
            None
        };
        let user = self.user(&c.uid)?;
        Ok(json(StatusCode::CREATED, &CreatedUser { user, key }))
    }

    async fn modify_user(
        &self,
        uid: &str,
        change: &UserChange,
    ) -> Result<Response<ResponseBody>, ApiError> {
        self.commit(|t| ops::modify_user(t, uid, change)).await?;
        Ok(json(StatusCode::OK, &self.user(uid)?))
    }

    fn keys_of(&self, uid: &str) -> Result<Vec<KeyInfo>, ApiError> {
        self.node.meta.read(|t| {
            if !t.users.contains_key(uid) {
                return Err(AdminError::NoSuchUser(uid.to_string()).into());
            }
            Ok(t.keys
                .values()
                .filter(|k| k.uid == uid)
                .map(|k| KeyInfo {
                    access_key: k.access_key.clone(),
                    uid: k.uid.clone(),
                    secret_key: None,
                })
                .collect())
        })
    }

    async fn new_key(&self, uid: &str, req: &CreateKey) -> Result<KeyInfo, ApiError> {
        let (access_key, secret) = match (&req.access_key, &req.secret_key) {
            (Some(a), Some(s)) => (a.clone(), s.clone()),
            (None, None) => crate::datadir::new_key_pair().map_err(internal)?,
            _ => {
                return Err(AdminError::InvalidArgument(
                    "give both access_key and secret_key, or neither for a random pair".into(),
                )
                .into())
            }
        };
        self.commit(|t| ops::create_key(t, uid, &access_key, &secret))
            .await?;
        Ok(KeyInfo {
            access_key,
            uid: uid.to_string(),
            secret_key: Some(secret),
        })
    }

    async fn create_key(&self, uid: &str) -> Result<Response<ResponseBody>, ApiError> {
        let req: CreateKey = self.parse()?;
        let key = self.new_key(uid, &req).await?;
        Ok(json(StatusCode::CREATED, &key))
    }

    /// A bucket's record and stats; `count_locked`: count its locked
    /// versions too (a walk of its index).
    fn bucket_info(&self, name: &str, count_locked: bool) -> Option<BucketInfo> {
        let b = self.node.store.bucket(name).ok()?;
        let object_lock = match self.node.store.lock_config(name).ok().flatten() {
            None => None,
            Some(c) => Some(crate::admin::types::ObjectLockStatus {
                default_retention: c.default.map_or("none".to_string(), |d| {
                    let unit = if d.years { "years" } else { "days" };
                    format!("{} {} {unit}", d.mode.name(), d.days)
                }),
                locked_versions: match count_locked {
                    true => Some(self.node.store.locked_versions(name).ok()?),
                    false => None,
                },
            }),
        };
        let quota = self.node.store.bucket_quota(name);
        let (objects, bytes) = b.index.stats();
        Some(BucketInfo {
            name: b.name.clone(),
            owner: b.meta.owner.clone(),
            created: crate::s3::time::iso8601_millis(b.meta.created_nanos),
            versioning: match b.versioning() {
                Versioning::Never => "Unversioned",
                Versioning::Enabled => "Enabled",
                Versioning::Suspended => "Suspended",
            }
            .to_string(),
            shards: b.meta.shards,
            objects,
            bytes,
            max_objects: quota_shown(quota.max_objects),
            max_bytes: quota_shown(quota.max_bytes),
            lifecycle: b.lifecycle().map(|lc| {
                let p = b.lifecycle_progress();
                crate::admin::types::LifecycleStatus {
                    rules: lc.rules.len() as u64,
                    evaluation: p.state,
                    examined: p.examined,
                    changed: p.changed,
                }
            }),
            object_lock,
        })
    }

    fn buckets(&self, uid: Option<&str>) -> Vec<BucketInfo> {
        self.node
            .store
            .list_buckets(uid)
            .into_iter()
            .filter_map(|(n, _)| self.bucket_info(&n, false))
            .collect()
    }

    fn bucket(&self, name: &str) -> Result<BucketInfo, ApiError> {
        self.bucket_info(name, true)
            .ok_or_else(|| AdminError::NoSuchBucket(name.to_string()).into())
    }

    fn node_info(&self) -> NodeInfo {
        let n = self.node;
        let (zone_id, zone_name) = n
            .meta
            .read(|t| t.zone.clone())
            .map(|(id, name)| (format!("{id:016x}"), name))
            .unwrap_or_default();
        let (disk_total_bytes, disk_free_bytes) = disk_space(&n.data_dir).unwrap_or((0, 0));
        let (users, buckets) = n.meta.read(|t| (t.users.len(), t.buckets.len()));
        let (objects, bytes) = n
            .store
            .all_buckets()
            .iter()
            .map(|b| b.index.stats())
            .fold((0u64, 0u64), |(o, s), (a, b)| {
                (o.saturating_add(a), s.saturating_add(b))
            });
        NodeInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            zone_id,
            zone_name,
            data_dir: n.data_dir.display().to_string(),
            data_dir_bytes: dir_bytes(&n.data_dir),
            disk_total_bytes,
            disk_free_bytes,
            uptime_secs: n.started.elapsed().as_secs(),
            users: users as u64,
            buckets: buckets as u64,
            objects,
            bytes,
        }
    }
}

/// Bytes of every file under `dir` (what it occupies, not what it could).
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => {
                    use std::os::unix::fs::MetadataExt;
                    total = total.saturating_add(m.blocks().saturating_mul(512));
                }
                Err(_) => {}
            }
        }
    }
    total
}
