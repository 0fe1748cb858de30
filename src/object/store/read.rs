//! Object reads: the current object or a version, its chunks, and
//! listings of objects and versions.

use std::collections::HashMap;

use bytes::Bytes;

use super::{internal, FoundObject, ObjectStore};
use crate::index::bucket::ListMode;
use crate::index::entry::IndexEntry;
use crate::index::key::SortKey;
use crate::index::listing::{ListPage, ListParams};
use crate::object::head::{Chunk, ObjectHead};
use crate::object::versioning::{format_version_id, VersionId, NULL_VERSION};
use crate::s3::{S3Error, S3ErrorCode};

impl ObjectStore {
    /// The current version of `key`, with its head.
    pub async fn get_object(&self, bucket: &str, key: &[u8]) -> Result<FoundObject, S3Error> {
        let b = self.bucket(bucket)?;
        let entry = b
            .index
            .current_resolved(key, &self.resolver(bucket))
            .await
            .map_err(|e| internal("index lookup", e))?;
        match entry {
            Some(e) => self.found(e).await,
            None => {
                let mut e =
                    S3Error::new(S3ErrorCode::NoSuchKey, "The specified key does not exist.");
                // A current delete marker says so.
                let head = b
                    .index
                    .get(&SortKey::Head { key: key.to_vec() })
                    .map_err(|e| internal("index lookup", e))?;
                if let Some(h) = head.filter(|h| h.delete_marker) {
                    e = e
                        .with_header("x-amz-delete-marker", "true")
                        .with_header("x-amz-version-id", format_version_id(&h.version_id));
                }
                Err(e)
            }
        }
    }

    /// Reads one chunk (verified) and returns bytes `from..to` of it.
    pub async fn read_chunk(&self, c: &Chunk, from: usize, to: usize) -> Result<Bytes, S3Error> {
        let rec = self
            .segments
            .read(c.loc)
            .await
            .map_err(|e| internal("reading object data", e))?;
        if rec.payload.len() != c.len as usize || to > rec.payload.len() || from > to {
            return Err(internal(
                "object data",
                "chunk length differs from the head",
            ));
        }
        Ok(rec.payload.slice(from..to))
    }

    /// GET/HEAD with `versionId`: that version. A missing one is
    /// `NoSuchVersion`; a delete marker is `MethodNotAllowed` (405) with
    /// `x-amz-delete-marker`.
    pub async fn get_object_version(
        &self,
        bucket: &str,
        key: &[u8],
        v: VersionId,
    ) -> Result<FoundObject, S3Error> {
        let b = self.bucket(bucket)?;
        let entry = self.version_entry(&b, key, v)?.ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::NoSuchVersion,
                "The specified version does not exist.",
            )
        })?;
        if entry.delete_marker {
            return Err(S3Error::new(
                S3ErrorCode::MethodNotAllowed,
                "The specified method is not allowed against this resource (a delete marker).",
            )
            .with_header("x-amz-delete-marker", "true")
            .with_header("x-amz-version-id", format_version_id(&v)));
        }
        self.found(entry).await
    }

    pub(super) async fn found(&self, entry: IndexEntry) -> Result<FoundObject, S3Error> {
        let rec = self
            .segments
            .read(entry.head)
            .await
            .map_err(|e| internal("reading the object head", e))?;
        let head = ObjectHead::decode(&rec.payload).map_err(|e| internal("object head", e))?;
        Ok(FoundObject { entry, head })
    }

    /// One page of every version and delete marker (ListObjectVersions),
    /// with the current version id of each key listed.
    pub async fn list_versions(
        &self,
        bucket: &str,
        params: &ListParams,
    ) -> Result<(ListPage<IndexEntry>, HashMap<Vec<u8>, VersionId>), S3Error> {
        let b = self.bucket(bucket)?;
        let resolver = self.resolver(bucket);
        let page = b
            .index
            .list(params, ListMode::Versions, Some(&resolver))
            .await
            .map_err(|e| internal("listing", e))?;
        let mut current = HashMap::new();
        for (k, _) in &page.items {
            if current.contains_key(k) {
                continue;
            }
            let head = b
                .index
                .get(&SortKey::Head { key: k.clone() })
                .map_err(|e| internal("index lookup", e))?;
            if let Some(h) = head.filter(|h| !h.placeholder) {
                // An unversioned key's object is its null version.
                let v = if h.versioned {
                    h.version_id
                } else {
                    NULL_VERSION
                };
                current.insert(k.clone(), v);
            }
        }
        Ok((page, current))
    }

    /// One page of the current objects.
    pub async fn list_objects(
        &self,
        bucket: &str,
        params: &ListParams,
    ) -> Result<ListPage<IndexEntry>, S3Error> {
        let b = self.bucket(bucket)?;
        let resolver = self.resolver(bucket);
        b.index
            .list(params, ListMode::Current, Some(&resolver))
            .await
            .map_err(|e| internal("listing", e))
    }
}
