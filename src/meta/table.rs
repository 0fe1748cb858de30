//! The metadata table: zone, users, access keys and buckets as the
//! metadata log leaves them. Rebuilt by applying the log in marker order
//! (or from a checkpoint and the entries after it); applying is total and
//! idempotent (every entry carries the whole record it leaves), so a
//! replayed prefix converges to the same table. Pure.

use std::collections::BTreeMap;

use super::mdlog::{BucketRecord, KeyRecord, LeaseRecord, MdEntry, MdOp, UserRecord};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaTable {
    /// (zone id, zone name), once set.
    pub zone: Option<(u64, String)>,
    pub users: BTreeMap<String, UserRecord>,
    /// By access key.
    pub keys: BTreeMap<String, KeyRecord>,
    pub buckets: BTreeMap<String, BucketRecord>,
    /// (bucket, kind) -> configuration document (lifecycle, ...).
    pub bucket_configs: BTreeMap<(String, u8), Vec<u8>>,
    /// Leases on background work, by name.
    pub leases: BTreeMap<String, LeaseRecord>,
    /// The marker of the last entry applied (0: none).
    pub applied: u64,
}

impl MetaTable {
    /// Applies `e` if it comes after what is applied; an entry at or below
    /// `applied` is skipped (a replay of a prefix). Removing a user takes
    /// its keys with it (they cannot outlive it).
    pub fn apply(&mut self, e: &MdEntry) {
        if e.marker <= self.applied {
            return;
        }
        self.applied = e.marker;
        match &e.op {
            MdOp::Zone { id, name } => self.zone = Some((*id, name.clone())),
            MdOp::UserPut(u) => {
                self.users.insert(u.uid.clone(), u.clone());
            }
            MdOp::UserRemove { uid } => {
                self.users.remove(uid);
                self.keys.retain(|_, k| k.uid != *uid);
            }
            MdOp::KeyPut(k) => {
                self.keys.insert(k.access_key.clone(), k.clone());
            }
            MdOp::KeyRemove { access_key } => {
                self.keys.remove(access_key);
            }
            MdOp::BucketPut(b) => {
                self.buckets.insert(b.name.clone(), b.clone());
            }
            MdOp::BucketRemove { name } => {
                self.buckets.remove(name);
                self.bucket_configs.retain(|(b, _), _| b != name);
            }
            MdOp::BucketConfig { name, kind, body } => {
                if body.is_empty() {
                    self.bucket_configs.remove(&(name.clone(), *kind));
                } else {
                    self.bucket_configs
                        .insert((name.clone(), *kind), body.clone());
                }
            }
            MdOp::LeasePut(l) => {
                self.leases.insert(l.name.clone(), l.clone());
            }
            MdOp::LeaseRelease { name, owner } => {
                if self.leases.get(name).is_some_and(|l| l.owner == *owner) {
                    self.leases.remove(name);
                }
            }
        }
    }

    /// The user an access key belongs to, if both exist.
    pub fn user_of_key(&self, access_key: &str) -> Option<(&KeyRecord, &UserRecord)> {
        let k = self.keys.get(access_key)?;
        Some((k, self.users.get(&k.uid)?))
    }

    /// A bucket's configuration document of `kind`, if set.
    pub fn bucket_config(&self, bucket: &str, kind: u8) -> Option<&[u8]> {
        self.bucket_configs
            .get(&(bucket.to_string(), kind))
            .map(Vec::as_slice)
    }

    /// The buckets a user owns, by name.
    pub fn buckets_of<'a>(&'a self, uid: &'a str) -> impl Iterator<Item = &'a BucketRecord> + 'a {
        self.buckets.values().filter(move |b| b.owner == uid)
    }
}
