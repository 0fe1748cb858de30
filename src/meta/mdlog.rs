//! Metadata log entries (`format-spec/mdlog.md`): the node's durable
//! record of its zone, users, access keys and buckets. Each entry carries
//! the whole record it leaves behind (not a delta), a marker, the time it
//! was made and the zone it came from, so applying an entry twice changes
//! nothing and a peer zone can later order and merge them. Pure
//! encode/decode; the segment record around an entry carries its checksum.

use thiserror::Error;

use crate::le::{u16_at, u32_at, u64_at};

/// Bytes before an entry's body.
pub const MD_HEADER_LEN: usize = 32;
/// Longest string field (names, e-mail, secrets).
pub const MD_STRING_MAX: usize = 1024;
/// Largest bucket configuration document.
pub const MD_BLOB_MAX: usize = 1024 * 1024;
/// Bucket configuration kinds.
pub const CONFIG_LIFECYCLE: u8 = 1;
/// The bucket's tag set (`Tagging` XML).
pub const CONFIG_TAGGING: u8 = 2;
/// The bucket's CORS rules (`CORSConfiguration` XML).
pub const CONFIG_CORS: u8 = 3;
/// The bucket's ACL (`s3::acl::Acl::encode`'s text).
pub const CONFIG_ACL: u8 = 4;
/// The bucket policy (its JSON as PutBucketPolicy sent it, checked).
pub const CONFIG_POLICY: u8 = 5;
/// The bucket's PublicAccessBlock (`PublicAccessBlockConfiguration` XML).
pub const CONFIG_PUBLIC_ACCESS_BLOCK: u8 = 6;
/// The bucket's Object Lock configuration (`ObjectLockConfiguration`
/// XML): present means Object Lock is enabled, for good.
pub const CONFIG_OBJECT_LOCK: u8 = 7;
/// The bucket's default encryption (`ServerSideEncryptionConfiguration`
/// XML as GetBucketEncryption shows it).
pub const CONFIG_ENCRYPTION: u8 = 8;

/// Whether `kind` is a bucket configuration kind shale knows.
fn known_config_kind(kind: u8) -> bool {
    (CONFIG_LIFECYCLE..=CONFIG_ENCRYPTION).contains(&kind)
}
/// A quota that is not set.
pub const NO_QUOTA: u64 = u64::MAX;

/// Per-user or per-bucket limits; `NO_QUOTA` for none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub max_objects: u64,
    pub max_bytes: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            max_objects: NO_QUOTA,
            max_bytes: NO_QUOTA,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserRecord {
    pub uid: String,
    pub display_name: String,
    pub email: String,
    pub suspended: bool,
    /// May reach every bucket (the root/system user).
    pub system: bool,
    pub quota: Quota,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyRecord {
    pub access_key: String,
    pub uid: String,
    pub secret: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketRecord {
    pub name: String,
    pub owner: String,
    pub created_nanos: u64,
    pub shards: u32,
    /// As the bucket record (`object.md`): 0 never, 1 enabled, 2 suspended.
    pub versioning: u8,
    pub quota: Quota,
    /// The LocationConstraint it was created with ("" for none).
    pub location: String,
}

/// What an entry does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MdOp {
    /// The zone's identity: its id and a name.
    Zone {
        id: u64,
        name: String,
    },
    /// A user created or changed: its whole record.
    UserPut(UserRecord),
    UserRemove {
        uid: String,
    },
    KeyPut(KeyRecord),
    KeyRemove {
        access_key: String,
    },
    BucketPut(BucketRecord),
    BucketRemove {
        name: String,
    },
    /// A bucket's configuration document of one kind (`CONFIG_LIFECYCLE`,
    /// `CONFIG_TAGGING`, `CONFIG_CORS`, `CONFIG_ACL`, `CONFIG_POLICY`,
    /// `CONFIG_PUBLIC_ACCESS_BLOCK`),
    /// in the canonical form shale renders; an empty body removes it.
    BucketConfig {
        name: String,
        kind: u8,
        body: Vec<u8>,
    },
    /// Lease `name` is held by `owner` until `expires_nanos` (acquired or
    /// renewed).
    LeasePut(LeaseRecord),
    /// Lease `name` let go by `owner`.
    LeaseRelease {
        name: String,
        owner: u64,
    },
}

/// A lease on a piece of background work (`jobs::lease`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseRecord {
    pub name: String,
    /// The process incarnation (and worker slot) that holds it.
    pub owner: u64,
    /// It lapses at this time, ns since the Unix epoch, unless renewed.
    pub expires_nanos: u64,
}

impl MdOp {
    fn code(&self) -> u8 {
        match self {
            MdOp::Zone { .. } => 1,
            MdOp::UserPut(_) => 2,
            MdOp::UserRemove { .. } => 3,
            MdOp::KeyPut(_) => 4,
            MdOp::KeyRemove { .. } => 5,
            MdOp::BucketPut(_) => 6,
            MdOp::BucketRemove { .. } => 7,
            MdOp::BucketConfig { .. } => 8,
            MdOp::LeasePut(_) => 9,
            MdOp::LeaseRelease { .. } => 10,
        }
    }
}

/// One metadata log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MdEntry {
    /// Position in the log: 1, 2, 3, ...; never repeats or shrinks.
    pub marker: u64,
    /// When it was made, ns since the Unix epoch.
    pub time_nanos: u64,
    /// The zone it came from.
    pub source_zone: u64,
    pub op: MdOp,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MdError {
    #[error("metadata entry is {have} bytes, {need} needed")]
    Truncated { need: usize, have: usize },
    #[error("unknown metadata op {0}")]
    UnknownOp(u8),
    #[error("reserved metadata entry byte {0} is not zero")]
    ReservedNotZero(usize),
    #[error("metadata entry has {0} bytes past its body")]
    TrailingBytes(usize),
    #[error("{0} is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("{what} is {len} bytes, more than {MD_STRING_MAX}")]
    TooLong { what: &'static str, len: usize },
    #[error("unknown flag bits {0:#04x} in {1}")]
    UnknownFlags(u8, &'static str),
    #[error("versioning state {0} is not 0, 1 or 2")]
    BadVersioning(u8),
    #[error("unknown bucket configuration kind {0}")]
    UnknownConfigKind(u8),
    #[error("configuration document is {0} bytes, more than {MD_BLOB_MAX}")]
    BlobTooLong(usize),
}

const USER_SUSPENDED: u8 = 1;
const USER_SYSTEM: u8 = 2;

/// Writes the body fields.
struct Out(Vec<u8>);

impl Out {
    fn str(&mut self, what: &'static str, s: &str) -> Result<(), MdError> {
        if s.len() > MD_STRING_MAX {
            return Err(MdError::TooLong { what, len: s.len() });
        }
        self.0.extend_from_slice(&(s.len() as u16).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn blob(&mut self, b: &[u8]) -> Result<(), MdError> {
        if b.len() > MD_BLOB_MAX {
            return Err(MdError::BlobTooLong(b.len()));
        }
        self.0.extend_from_slice(&(b.len() as u32).to_le_bytes());
        self.0.extend_from_slice(b);
        Ok(())
    }
    fn quota(&mut self, q: &Quota) {
        self.u64(q.max_objects);
        self.u64(q.max_bytes);
    }
}

/// Reads the body fields front to back.
struct In<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MdError> {
        let end = self.at.checked_add(n).ok_or(MdError::Truncated {
            need: usize::MAX,
            have: self.b.len(),
        })?;
        let s = self.b.get(self.at..end).ok_or(MdError::Truncated {
            need: MD_HEADER_LEN + end,
            have: MD_HEADER_LEN + self.b.len(),
        })?;
        self.at = end;
        Ok(s)
    }
    fn str(&mut self, what: &'static str) -> Result<String, MdError> {
        let len = usize::from(u16_at(self.take(2)?, 0).unwrap_or_default());
        if len > MD_STRING_MAX {
            return Err(MdError::TooLong { what, len });
        }
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| MdError::NotUtf8(what))
    }
    fn u64(&mut self) -> Result<u64, MdError> {
        Ok(u64_at(self.take(8)?, 0).unwrap_or_default())
    }
    fn u32(&mut self) -> Result<u32, MdError> {
        Ok(u32_at(self.take(4)?, 0).unwrap_or_default())
    }
    fn u8(&mut self) -> Result<u8, MdError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }
    fn blob(&mut self) -> Result<Vec<u8>, MdError> {
        let len = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        if len > MD_BLOB_MAX {
            return Err(MdError::BlobTooLong(len));
        }
        Ok(self.take(len)?.to_vec())
    }
    fn quota(&mut self) -> Result<Quota, MdError> {
        Ok(Quota {
            max_objects: self.u64()?,
            max_bytes: self.u64()?,
        })
    }
}

impl MdEntry {
    /// The encoded entry; refuses (writing nothing) what the decoder would
    /// refuse: a string over `MD_STRING_MAX`, a versioning state over 2.
    pub fn encode(&self) -> Result<Vec<u8>, MdError> {
        let mut o = Out(Vec::new());
        match &self.op {
            MdOp::Zone { id, name } => {
                o.u64(*id);
                o.str("zone name", name)?;
            }
            MdOp::UserPut(u) => {
                o.str("uid", &u.uid)?;
                o.str("display name", &u.display_name)?;
                o.str("email", &u.email)?;
                let mut flags = 0;
                if u.suspended {
                    flags |= USER_SUSPENDED;
                }
                if u.system {
                    flags |= USER_SYSTEM;
                }
                o.u8(flags);
                o.quota(&u.quota);
            }
            MdOp::UserRemove { uid } => o.str("uid", uid)?,
            MdOp::KeyPut(k) => {
                o.str("access key", &k.access_key)?;
                o.str("uid", &k.uid)?;
                o.str("secret", &k.secret)?;
            }
            MdOp::KeyRemove { access_key } => o.str("access key", access_key)?,
            MdOp::BucketPut(b) => {
                if b.versioning > 2 {
                    return Err(MdError::BadVersioning(b.versioning));
                }
                o.str("bucket name", &b.name)?;
                o.str("owner", &b.owner)?;
                o.u64(b.created_nanos);
                o.u32(b.shards);
                o.u8(b.versioning);
                o.quota(&b.quota);
                o.str("location", &b.location)?;
            }
            MdOp::BucketRemove { name } => o.str("bucket name", name)?,
            MdOp::BucketConfig { name, kind, body } => {
                if !known_config_kind(*kind) {
                    return Err(MdError::UnknownConfigKind(*kind));
                }
                o.str("bucket name", name)?;
                o.u8(*kind);
                o.blob(body)?;
            }
            MdOp::LeasePut(l) => {
                o.str("lease name", &l.name)?;
                o.u64(l.owner);
                o.u64(l.expires_nanos);
            }
            MdOp::LeaseRelease { name, owner } => {
                o.str("lease name", name)?;
                o.u64(*owner);
            }
        }
        let body = o.0;
        let mut out = Vec::with_capacity(MD_HEADER_LEN + body.len());
        out.push(self.op.code());
        out.extend_from_slice(&[0, 0, 0]); // flags and reserved
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.marker.to_le_bytes());
        out.extend_from_slice(&self.time_nanos.to_le_bytes());
        out.extend_from_slice(&self.source_zone.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes an entry, checking it as `format-spec/mdlog.md` says.
    pub fn decode(b: &[u8]) -> Result<MdEntry, MdError> {
        let header = b.get(..MD_HEADER_LEN).ok_or(MdError::Truncated {
            need: MD_HEADER_LEN,
            have: b.len(),
        })?;
        let code = header.first().copied().unwrap_or_default();
        if !(1..=10).contains(&code) {
            return Err(MdError::UnknownOp(code));
        }
        if let Some(i) = header
            .get(1..4)
            .and_then(|r| r.iter().position(|&x| x != 0))
        {
            return Err(MdError::ReservedNotZero(1 + i));
        }
        let body_len = usize::try_from(u32_at(header, 4).unwrap_or_default()).unwrap_or(usize::MAX);
        let need = MD_HEADER_LEN.saturating_add(body_len);
        if b.len() < need {
            return Err(MdError::Truncated {
                need,
                have: b.len(),
            });
        }
        if b.len() > need {
            return Err(MdError::TrailingBytes(b.len() - need));
        }
        let mut i = In {
            b: b.get(MD_HEADER_LEN..).unwrap_or_default(),
            at: 0,
        };
        let op = match code {
            1 => MdOp::Zone {
                id: i.u64()?,
                name: i.str("zone name")?,
            },
            2 => {
                let uid = i.str("uid")?;
                let display_name = i.str("display name")?;
                let email = i.str("email")?;
                let flags = i.u8()?;
                if flags & !(USER_SUSPENDED | USER_SYSTEM) != 0 {
                    return Err(MdError::UnknownFlags(flags, "a user"));
                }
                MdOp::UserPut(UserRecord {
                    uid,
                    display_name,
                    email,
                    suspended: flags & USER_SUSPENDED != 0,
                    system: flags & USER_SYSTEM != 0,
                    quota: i.quota()?,
                })
            }
            3 => MdOp::UserRemove { uid: i.str("uid")? },
            4 => MdOp::KeyPut(KeyRecord {
                access_key: i.str("access key")?,
                uid: i.str("uid")?,
                secret: i.str("secret")?,
            }),
            5 => MdOp::KeyRemove {
                access_key: i.str("access key")?,
            },
            6 => {
                let name = i.str("bucket name")?;
                let owner = i.str("owner")?;
                let created_nanos = i.u64()?;
                let shards = i.u32()?;
                let versioning = i.u8()?;
                if versioning > 2 {
                    return Err(MdError::BadVersioning(versioning));
                }
                MdOp::BucketPut(BucketRecord {
                    name,
                    owner,
                    created_nanos,
                    shards,
                    versioning,
                    quota: i.quota()?,
                    location: i.str("location")?,
                })
            }
            7 => MdOp::BucketRemove {
                name: i.str("bucket name")?,
            },
            9 => MdOp::LeasePut(LeaseRecord {
                name: i.str("lease name")?,
                owner: i.u64()?,
                expires_nanos: i.u64()?,
            }),
            10 => MdOp::LeaseRelease {
                name: i.str("lease name")?,
                owner: i.u64()?,
            },
            _ => {
                let name = i.str("bucket name")?;
                let kind = i.u8()?;
                if !known_config_kind(kind) {
                    return Err(MdError::UnknownConfigKind(kind));
                }
                MdOp::BucketConfig {
                    name,
                    kind,
                    body: i.blob()?,
                }
            }
        };
        if i.at != i.b.len() {
            return Err(MdError::TrailingBytes(i.b.len() - i.at));
        }
        Ok(MdEntry {
            marker: u64_at(header, 8).unwrap_or_default(),
            time_nanos: u64_at(header, 16).unwrap_or_default(),
            source_zone: u64_at(header, 24).unwrap_or_default(),
            op,
        })
    }
}
