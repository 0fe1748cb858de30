//! Bucket lifecycle in the object store: create (index and metadata
//! record), delete or purge, and the settings kept in the metadata log
//! (lifecycle rules, quota, versioning).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{
    bucket_meta, internal, no_bucket, remove_tree, Bucket, ObjectStore, RESERVED_BUCKET_NAMES,
};
use crate::index::bucket::ListMode;
use crate::index::listing::ListParams;
use crate::meta::mdlog::{BucketRecord, MdOp, Quota, CONFIG_LIFECYCLE};
use crate::s3::lifecycle::Lifecycle;
use crate::s3::{S3Error, S3ErrorCode};

impl ObjectStore {
    /// Creates a bucket owned by `owner`: its index directory first, then
    /// the metadata log entry (the commit point). `BucketAlreadyOwnedByYou`
    /// or `BucketAlreadyExists` if the name is taken.
    /// `Ok` if `name` may be given to a new bucket: a valid bucket name
    /// that is not one of the node's own paths.
    pub fn check_new_bucket_name(&self, name: &str) -> Result<(), S3Error> {
        crate::s3::names::validate_bucket_name(name)?;
        if RESERVED_BUCKET_NAMES.contains(&name) {
            return Err(S3Error::new(
                S3ErrorCode::InvalidBucketName,
                format!(
                    "The bucket name {name:?} is reserved (its path serves the node's own API)."
                ),
            ));
        }
        Ok(())
    }

    /// Creates a bucket: its record in the metadata log is all it takes
    /// (the commit point; creations share the log's group commit). Its
    /// index has no file until something is checkpointed in it.
    pub async fn create_bucket(
        &self,
        name: &str,
        location: Option<&str>,
        owner: &str,
    ) -> Result<(), S3Error> {
        self.check_new_bucket_name(name)?;
        if let Some(l) = location {
            crate::s3::names::validate_location_constraint(l)?;
        }
        let _shared = self.bucket_changes.read().await;
        if let Some(b) = self.buckets.read().get(name) {
            return Err(bucket_taken(&b.meta.owner, owner));
        }
        let Some(_creating) = CreatingName::claim(&self.creating, name) else {
            // The same name is being created now: by whom is not known
            // until it commits, and AWS answers a race with a conflict.
            return Err(S3Error::new(
                S3ErrorCode::OperationAborted,
                "A conflicting conditional operation is currently in progress against this resource. Please try again.",
            ));
        };
        let dir = self.data_dir.join("buckets").join(name);
        // Left by a bucket of this name whose removal a crash cut short
        // (a start removes those too).
        remove_tree(&dir);
        let rec = BucketRecord {
            name: name.to_string(),
            owner: owner.to_string(),
            created_nanos: crate::clock::now_nanos(),
            shards: self.index_options.shards,
            versioning: 0,
            quota: Quota::default(),
            location: location.unwrap_or_default().to_string(),
        };
        // Opening writes nothing: the index has no layout yet.
        let index = super::open_bucket_index(
            &self.io,
            &self.wal,
            &self.open_shards,
            self.index_options,
            &rec,
            &dir,
        )
        .map_err(|e| internal("creating the bucket index", e))?;
        let r = rec.clone();
        let committed = self
            .meta
            .commit(|t| match t.buckets.get(&r.name) {
                Some(b) => Err(bucket_taken(&b.owner, owner)),
                None => Ok(MdOp::BucketPut(r)),
            })
            .await
            .map_err(|e| internal("writing the bucket record", e))?;
        if let Err(taken) = committed {
            // A creation of this name dropped after its record reached the
            // log (its client left) never made the bucket here: this one
            // finishes it (the name's claim says no other is under way).
            self.adopt_recorded_bucket(name)?;
            return Err(taken);
        }
        self.buckets.write().insert(
            name.to_string(),
            Arc::new(Bucket::new(name.to_string(), bucket_meta(&rec), index, dir)),
        );
        Ok(())
    }

    /// Makes the bucket of `name`'s record in the metadata log if this
    /// node has none (see `create_bucket`).
    fn adopt_recorded_bucket(&self, name: &str) -> Result<(), S3Error> {
        if self.buckets.read().contains_key(name) {
            return Ok(());
        }
        let Some(rec) = self.meta.read(|t| t.buckets.get(name).cloned()) else {
            return Ok(());
        };
        let dir = self.data_dir.join("buckets").join(name);
        let index = super::open_bucket_index(
            &self.io,
            &self.wal,
            &self.open_shards,
            self.index_options,
            &rec,
            &dir,
        )
        .map_err(|e| internal("opening the bucket index", e))?;
        self.buckets
            .write()
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Bucket::new(name.to_string(), bucket_meta(&rec), index, dir))
            });
        Ok(())
    }

    /// Deletes an empty bucket (`BucketNotEmpty` otherwise).
    pub async fn delete_bucket(&self, name: &str) -> Result<(), S3Error> {
        self.remove_bucket(name, true).await.map(|_| ())
    }

    /// Removes a bucket with everything in it (a purge job): its index
    /// goes with it, so its objects' records are referenced by nothing
    /// and compaction reclaims their space. The caller aborts the
    /// bucket's multipart uploads first. Returns the (objects, bytes) it
    /// held.
    pub async fn purge_bucket(&self, name: &str) -> Result<(u64, u64), S3Error> {
        self.remove_bucket(name, false).await
    }

    /// Removes a bucket (refused with `BucketNotEmpty` if `only_if_empty`
    /// and it holds anything), writers held off. The bucket-remove entry
    /// in the metadata log is the commit point: a crash before it leaves
    /// the bucket whole, after it the index dir is removed at the next
    /// start if not here. Returns the (objects, bytes) it held.
    pub(super) async fn remove_bucket(
        &self,
        name: &str,
        only_if_empty: bool,
    ) -> Result<(u64, u64), S3Error> {
        let _one = self.bucket_changes.write().await;
        let bucket = self.bucket(name)?;
        let _held = bucket.gate.write().await;
        if only_if_empty {
            let page = bucket
                .index
                .list(
                    &ListParams {
                        max_keys: 1,
                        ..ListParams::default()
                    },
                    ListMode::Versions,
                    Some(&self.resolver(&bucket.name)),
                )
                .await
                .map_err(|e| internal("listing", e))?;
            if !page.items.is_empty() {
                return Err(S3Error::new(
                    S3ErrorCode::BucketNotEmpty,
                    "The bucket you tried to delete is not empty",
                ));
            }
        }
        let held = bucket.index.stats();
        self.meta
            .commit(|_| {
                Ok::<_, ()>(MdOp::BucketRemove {
                    name: name.to_string(),
                })
            })
            .await
            .map_err(|e| internal("removing the bucket record", e))?
            .map_err(|()| internal("bucket record", "refused"))?;
        self.buckets.write().remove(name);
        remove_tree(&bucket.dir);
        Ok(held)
    }

    /// Sets (or with `None` removes) a bucket's lifecycle configuration:
    /// durable in the metadata log before it takes effect.
    pub async fn set_lifecycle(
        &self,
        bucket: &str,
        lifecycle: Option<Lifecycle>,
    ) -> Result<(), S3Error> {
        let _one = self.bucket_changes.write().await;
        let b = self.bucket(bucket)?;
        let body = lifecycle
            .as_ref()
            .map(|lc| crate::s3::xml::lifecycle(lc).into_bytes())
            .unwrap_or_default();
        self.meta
            .commit(|t| match t.buckets.contains_key(bucket) {
                true => Ok(MdOp::BucketConfig {
                    name: bucket.to_string(),
                    kind: CONFIG_LIFECYCLE,
                    body,
                }),
                false => Err(no_bucket(bucket)),
            })
            .await
            .map_err(|e| internal("writing the bucket configuration", e))??;
        *b.lifecycle.write() = lifecycle.map(Arc::new);
        // Existing objects follow in the background (on this thread's
        // runtime); reads of new writes follow the rules at once.
        let generation = crate::object::lifecycle_eval::begin(&b);
        tokio::task::spawn_local(crate::object::lifecycle_eval::run(
            Arc::clone(&b),
            self.segments.clone(),
            generation,
        ));
        Ok(())
    }

    /// A bucket's configuration document of `kind` (`CONFIG_TAGGING`,
    /// `CONFIG_CORS`) as the metadata log holds it, if set.
    pub fn bucket_config(&self, bucket: &str, kind: u8) -> Result<Option<Vec<u8>>, S3Error> {
        self.bucket(bucket)?;
        Ok(self
            .meta
            .read(|t| t.bucket_config(bucket, kind).map(<[u8]>::to_vec)))
    }

    /// Sets a bucket's configuration document of `kind` (in the canonical
    /// form shale renders), or with an empty `body` removes it: durable in
    /// the metadata log before it takes effect.
    pub async fn set_bucket_config(
        &self,
        bucket: &str,
        kind: u8,
        body: Vec<u8>,
    ) -> Result<(), S3Error> {
        let _one = self.bucket_changes.write().await;
        self.bucket(bucket)?;
        self.meta
            .commit(|t| match t.buckets.contains_key(bucket) {
                true => Ok(MdOp::BucketConfig {
                    name: bucket.to_string(),
                    kind,
                    body,
                }),
                false => Err(no_bucket(bucket)),
            })
            .await
            .map_err(|e| internal("writing the bucket configuration", e))??;
        Ok(())
    }

    /// Re-evaluates every bucket that has lifecycle rules, one after the
    /// other (at start: entries a crash left without their rule's expiry
    /// get it back).
    pub async fn reevaluate_lifecycles(&self) {
        for b in self.all_buckets() {
            if b.lifecycle().is_some() {
                let g = crate::object::lifecycle_eval::begin(&b);
                crate::object::lifecycle_eval::run(b, self.segments.clone(), g).await;
            }
        }
    }

    /// Sets a bucket's quota in the metadata log.
    pub async fn set_bucket_quota(
        &self,
        name: &str,
        quota: Quota,
    ) -> Result<Result<(), crate::meta::ops::AdminError>, S3Error> {
        let _one = self.bucket_changes.write().await;
        Ok(self
            .meta
            .commit(|t| crate::meta::ops::set_bucket_quota(t, name, quota))
            .await
            .map_err(|e| internal("writing the bucket record", e))?
            .map(|_| ()))
    }

    /// Turns versioning on (`true`) or suspends it: the bucket's record
    /// in the metadata log is rewritten (durably) before the new state
    /// takes effect.
    pub async fn set_versioning(&self, bucket: &str, enabled: bool) -> Result<(), S3Error> {
        let _one = self.bucket_changes.write().await;
        let b = self.bucket(bucket)?;
        // Writers finish under the old state first.
        let _held = b.gate.write().await;
        let state = if enabled {
            crate::object::bucket_meta::VERSIONING_ENABLED
        } else {
            crate::object::bucket_meta::VERSIONING_SUSPENDED
        };
        self.meta
            .commit(|t| match t.buckets.get(bucket) {
                Some(r) => Ok(MdOp::BucketPut(BucketRecord {
                    versioning: state,
                    ..r.clone()
                })),
                None => Err(no_bucket(bucket)),
            })
            .await
            .map_err(|e| internal("writing the bucket record", e))??;
        b.versioning.store(state, Ordering::Release);
        if b.lifecycle().is_some() {
            // What an Expiration does at expiry changed (a delete marker
            // now): existing objects follow in the background.
            let generation = crate::object::lifecycle_eval::begin(&b);
            tokio::task::spawn_local(crate::object::lifecycle_eval::run(
                Arc::clone(&b),
                self.segments.clone(),
                generation,
            ));
        }
        Ok(())
    }
}

/// The answer to creating a bucket whose name `holder` has.
fn bucket_taken(holder: &str, requester: &str) -> S3Error {
    if holder == requester {
        S3Error::new(
            S3ErrorCode::BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it.",
        )
    } else {
        S3Error::new(
            S3ErrorCode::BucketAlreadyExists,
            "The requested bucket name is not available. Select a different name and try again.",
        )
    }
}

/// A bucket name claimed by the creation under way (released on drop,
/// whatever becomes of the creation).
struct CreatingName<'a> {
    set: &'a parking_lot::Mutex<std::collections::HashSet<String>>,
    name: String,
}

impl<'a> CreatingName<'a> {
    fn claim(
        set: &'a parking_lot::Mutex<std::collections::HashSet<String>>,
        name: &str,
    ) -> Option<CreatingName<'a>> {
        set.lock().insert(name.to_string()).then(|| CreatingName {
            set,
            name: name.to_string(),
        })
    }
}

impl Drop for CreatingName<'_> {
    fn drop(&mut self) {
        self.set.lock().remove(&self.name);
    }
}
