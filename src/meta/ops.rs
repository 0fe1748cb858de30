//! What may be written to the metadata log, decided against the table:
//! each function checks one administrative change and returns the log op
//! that makes it, or the reason it is refused. Pure (the caller passes
//! the table under the store's commit lock, and any random key material),
//! so every rule here is tested without a disk.

use thiserror::Error;

use super::mdlog::{KeyRecord, MdOp, Quota, UserRecord, MD_STRING_MAX};
use super::table::MetaTable;

/// The uid of the user made from the root credentials.
pub const ROOT_UID: &str = "root";

/// Why an administrative change is refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AdminError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error("no access key {0:?}")]
    NoSuchKey(String),
    #[error("access key {0:?} already exists")]
    KeyExists(String),
    #[error("no bucket {0:?}")]
    NoSuchBucket(String),
    #[error(
        "user {uid:?} still owns {count} bucket(s) ({first}...); remove them first, or remove \
         the user with its data: shale admin user rm {uid} --purge-data [--after 7d]"
    )]
    UserOwnsBuckets {
        uid: String,
        count: usize,
        first: String,
    },
    #[error("the root user {0:?} cannot be removed, suspended or stripped of its last key")]
    ProtectedUser(String),
    #[error(
        "bucket {0:?} is not empty; delete its objects first, or remove it with its data: \
         shale admin bucket rm {0} --purge-data [--after 7d]"
    )]
    BucketNotEmpty(String),
}

impl AdminError {
    /// The HTTP status the admin API answers with.
    pub fn status(&self) -> u16 {
        match self {
            AdminError::InvalidArgument(_) => 400,
            AdminError::NoSuchUser(_) | AdminError::NoSuchKey(_) | AdminError::NoSuchBucket(_) => {
                404
            }
            AdminError::UserExists(_)
            | AdminError::KeyExists(_)
            | AdminError::UserOwnsBuckets { .. }
            | AdminError::BucketNotEmpty(_) => 409,
            AdminError::ProtectedUser(_) => 403,
        }
    }

    /// A stable name for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::InvalidArgument(_) => "InvalidArgument",
            AdminError::UserExists(_) => "UserAlreadyExists",
            AdminError::NoSuchUser(_) => "NoSuchUser",
            AdminError::NoSuchKey(_) => "NoSuchKey",
            AdminError::KeyExists(_) => "KeyAlreadyExists",
            AdminError::NoSuchBucket(_) => "NoSuchBucket",
            AdminError::UserOwnsBuckets { .. } => "UserOwnsBuckets",
            AdminError::ProtectedUser(_) => "ProtectedUser",
            AdminError::BucketNotEmpty(_) => "BucketNotEmpty",
        }
    }
}

fn invalid(msg: impl Into<String>) -> AdminError {
    AdminError::InvalidArgument(msg.into())
}

/// A uid: 1 to 64 characters of a-z, A-Z, 0-9, '-', '_', '.', '@'.
pub fn validate_uid(uid: &str) -> Result<(), AdminError> {
    let ok = (1..=64).contains(&uid.len())
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "uid {uid:?} is not valid: use 1 to 64 characters of a-z, A-Z, 0-9, '-', '_', '.', '@'"
        )))
    }
}

/// An access key given by an operator: 3 to 128 characters of A-Z,
/// a-z, 0-9, '-', '_'; a secret: 8 to 128 printable ASCII characters.
pub fn validate_key_pair(access_key: &str, secret: &str) -> Result<(), AdminError> {
    let ok_access = (3..=128).contains(&access_key.len())
        && access_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok_access {
        return Err(invalid(
            "access key must be 3 to 128 characters of A-Z, a-z, 0-9, '-' or '_'",
        ));
    }
    if !(8..=128).contains(&secret.len()) || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "secret key must be 8 to 128 printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

fn text_field(what: &str, s: &str) -> Result<(), AdminError> {
    if s.len() > MD_STRING_MAX || s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} must be at most {MD_STRING_MAX} bytes without control characters"
        )));
    }
    Ok(())
}

/// A new user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewUser {
    pub uid: String,
    pub display_name: String,
    pub email: String,
    pub system: bool,
    pub quota: Quota,
}

pub fn create_user(t: &MetaTable, u: &NewUser) -> Result<MdOp, AdminError> {
    validate_uid(&u.uid)?;
    text_field("display name", &u.display_name)?;
    text_field("email", &u.email)?;
    if t.users.contains_key(&u.uid) {
        return Err(AdminError::UserExists(u.uid.clone()));
    }
    Ok(MdOp::UserPut(UserRecord {
        uid: u.uid.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        suspended: false,
        system: u.system,
        quota: u.quota,
    }))
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub suspended: Option<bool>,
    pub max_objects: Option<u64>,
    pub max_bytes: Option<u64>,
}

pub fn modify_user(t: &MetaTable, uid: &str, c: &UserChange) -> Result<MdOp, AdminError> {
    let mut u = t
        .users
        .get(uid)
        .cloned()
        .ok_or_else(|| AdminError::NoSuchUser(uid.to_string()))?;
    if let Some(n) = &c.display_name {
        text_field("display name", n)?;
        u.display_name = n.clone();
    }
    if let Some(e) = &c.email {
        text_field("email", e)?;
        u.email = e.clone();
    }
    if let Some(s) = c.suspended {
        if s && uid == ROOT_UID {
            return Err(AdminError::ProtectedUser(uid.to_string()));
        }
        u.suspended = s;
    }
    if let Some(m) = c.max_objects {
        u.quota.max_objects = m;
    }
    if let Some(m) = c.max_bytes {
        u.quota.max_bytes = m;
    }
    Ok(MdOp::UserPut(u))
}

/// Removing a user: refused while it owns buckets (purge comes later).
pub fn remove_user(t: &MetaTable, uid: &str) -> Result<MdOp, AdminError> {
    if !t.users.contains_key(uid) {
        return Err(AdminError::NoSuchUser(uid.to_string()));
    }
    if uid == ROOT_UID {
        return Err(AdminError::ProtectedUser(uid.to_string()));
    }
    let owned: Vec<&str> = t.buckets_of(uid).map(|b| b.name.as_str()).collect();
    if let Some(first) = owned.first() {
        return Err(AdminError::UserOwnsBuckets {
            uid: uid.to_string(),
            count: owned.len(),
            first: (*first).to_string(),
        });
    }
    Ok(MdOp::UserRemove {
        uid: uid.to_string(),
    })
}

/// A new access key for `uid` (key and secret made by the caller, given
/// by an operator or random).
pub fn create_key(
    t: &MetaTable,
    uid: &str,
    access_key: &str,
    secret: &str,
) -> Result<MdOp, AdminError> {
    if !t.users.contains_key(uid) {
        return Err(AdminError::NoSuchUser(uid.to_string()));
    }
    validate_key_pair(access_key, secret)?;
    if t.keys.contains_key(access_key) {
        return Err(AdminError::KeyExists(access_key.to_string()));
    }
    Ok(MdOp::KeyPut(KeyRecord {
        access_key: access_key.to_string(),
        uid: uid.to_string(),
        secret: secret.to_string(),
    }))
}

/// Removing an access key; the root user keeps at least one.
pub fn remove_key(t: &MetaTable, access_key: &str) -> Result<MdOp, AdminError> {
    let k = t
        .keys
        .get(access_key)
        .ok_or_else(|| AdminError::NoSuchKey(access_key.to_string()))?;
    if k.uid == ROOT_UID && t.keys.values().filter(|o| o.uid == ROOT_UID).count() == 1 {
        return Err(AdminError::ProtectedUser(ROOT_UID.to_string()));
    }
    Ok(MdOp::KeyRemove {
        access_key: access_key.to_string(),
    })
}

/// A bucket's quota.
pub fn set_bucket_quota(t: &MetaTable, name: &str, quota: Quota) -> Result<MdOp, AdminError> {
    let mut b = t
        .buckets
        .get(name)
        .cloned()
        .ok_or_else(|| AdminError::NoSuchBucket(name.to_string()))?;
    b.quota = quota;
    Ok(MdOp::BucketPut(b))
}

/// Whether writing one more object of `size` bytes (replacing one of
/// `replaced`, if the key had an object) keeps `used` within `quota`.
/// Objects and bytes count the caller's current objects.
pub fn quota_allows(quota: &Quota, used: (u64, u64), size: u64, replaced: Option<u64>) -> bool {
    let (objects, bytes) = used;
    let objects_after = if replaced.is_some() {
        objects
    } else {
        objects.saturating_add(1)
    };
    let bytes_after = bytes
        .saturating_sub(replaced.unwrap_or(0))
        .saturating_add(size);
    objects_after <= quota.max_objects && bytes_after <= quota.max_bytes
}

/// The most bytes one more object may have (replacing one of `replaced`
/// bytes, if the key had an object) and keep `used` within `quota`;
/// `None` if even an empty one would pass the object count.
pub fn quota_room(quota: &Quota, used: (u64, u64), replaced: Option<u64>) -> Option<u64> {
    let (objects, bytes) = used;
    let objects_after = match replaced {
        Some(_) => objects,
        None => objects.saturating_add(1),
    };
    if objects_after > quota.max_objects {
        return None;
    }
    let kept = bytes.saturating_sub(replaced.unwrap_or(0));
    quota.max_bytes.checked_sub(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::mdlog::{BucketRecord, MdEntry, NO_QUOTA};

    #[test]
    fn quota_room_agrees_with_quota_allows() {
        let q = Quota {
            max_objects: 5,
            max_bytes: 1000,
        };
        for objects in 0..8u64 {
            for bytes in [0u64, 1, 400, 999, 1000, 1001, 5000] {
                for replaced in [None, Some(0), Some(300), Some(1000)] {
                    let room = quota_room(&q, (objects, bytes), replaced);
                    for size in [0u64, 1, 100, 600, 1000, 2000] {
                        let allowed = quota_allows(&q, (objects, bytes), size, replaced);
                        assert_eq!(
                            allowed,
                            room.is_some_and(|r| size <= r),
                            "{objects} {bytes} {replaced:?} {size}"
                        );
                    }
                }
            }
        }
    }

    fn table_with(ops: Vec<MdOp>) -> MetaTable {
        let mut t = MetaTable::default();
        for (i, op) in ops.into_iter().enumerate() {
            t.apply(&MdEntry {
                marker: i as u64 + 1,
                time_nanos: 0,
                source_zone: 1,
                op,
            });
        }
        t
    }

    fn user(uid: &str) -> NewUser {
        NewUser {
            uid: uid.into(),
            display_name: uid.into(),
            ..NewUser::default()
        }
    }

    #[test]
    fn users_keys_and_their_rules() {
        let t = MetaTable::default();
        let op = create_user(&t, &user("alice")).unwrap();
        let t = table_with(vec![op]);
        assert_eq!(
            create_user(&t, &user("alice")),
            Err(AdminError::UserExists("alice".into()))
        );
        assert!(matches!(
            create_user(&t, &user("no spaces")),
            Err(AdminError::InvalidArgument(_))
        ));
        assert_eq!(
            create_key(&t, "bob", "AKIDBOB1", "secret-secret"),
            Err(AdminError::NoSuchUser("bob".into()))
        );
        let k = create_key(&t, "alice", "AKIDALICE1", "secret-secret").unwrap();
        let b = MdOp::BucketPut(BucketRecord {
            name: "photos".into(),
            owner: "alice".into(),
            ..BucketRecord::default()
        });
        let t = table_with(vec![
            create_user(&MetaTable::default(), &user("alice")).unwrap(),
            k,
            b,
        ]);
        assert_eq!(
            create_key(&t, "alice", "AKIDALICE1", "another-secret"),
            Err(AdminError::KeyExists("AKIDALICE1".into()))
        );
        assert!(matches!(
            remove_user(&t, "alice"),
            Err(AdminError::UserOwnsBuckets { count: 1, .. })
        ));
        assert_eq!(
            remove_key(&t, "nope"),
            Err(AdminError::NoSuchKey("nope".into()))
        );
        assert!(remove_key(&t, "AKIDALICE1").is_ok());
    }

    #[test]
    fn root_keeps_its_last_key_and_is_never_suspended_or_removed() {
        let root = NewUser {
            system: true,
            ..user(ROOT_UID)
        };
        let t = table_with(vec![
            create_user(&MetaTable::default(), &root).unwrap(),
            MdOp::KeyPut(KeyRecord {
                access_key: "ROOTKEY".into(),
                uid: ROOT_UID.into(),
                secret: "s".into(),
            }),
        ]);
        assert!(matches!(
            remove_key(&t, "ROOTKEY"),
            Err(AdminError::ProtectedUser(_))
        ));
        assert!(matches!(
            remove_user(&t, ROOT_UID),
            Err(AdminError::ProtectedUser(_))
        ));
        let suspend = UserChange {
            suspended: Some(true),
            ..UserChange::default()
        };
        assert!(matches!(
            modify_user(&t, ROOT_UID, &suspend),
            Err(AdminError::ProtectedUser(_))
        ));
    }

    #[test]
    fn quota_counts_replacements() {
        let q = Quota {
            max_objects: 2,
            max_bytes: 100,
        };
        assert!(quota_allows(&q, (1, 50), 50, None));
        assert!(!quota_allows(&q, (2, 50), 1, None));
        assert!(quota_allows(&q, (2, 50), 60, Some(40)));
        assert!(!quota_allows(&q, (1, 50), 51, None));
        let none = Quota {
            max_objects: NO_QUOTA,
            max_bytes: NO_QUOTA,
        };
        assert!(quota_allows(&none, (u64::MAX, u64::MAX), u64::MAX, None));
    }
}
