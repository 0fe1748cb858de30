//! Access control lists: canned ACLs (`x-amz-acl`), explicit grants
//! (`x-amz-grant-*` headers and the AccessControlPolicy body), the
//! compact text form shale stores them in, and whether one grants a
//! permission. Pure.
//!
//! shale has no cross-account object ownership: every object is owned by
//! its bucket's owner (AWS's "bucket owner preferred"), so a canned ACL
//! expands against that one owner.
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html>

use crate::s3::{percent_decode, S3Error, S3ErrorCode};

/// Most grants one ACL may hold (AWS's limit).
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html>
pub const GRANTS_MAX: usize = 100;

pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub const LOG_DELIVERY_URI: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::Read,
        Permission::Write,
        Permission::ReadAcp,
        Permission::WriteAcp,
        Permission::FullControl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Whether holding `self` gives `needed` (FULL_CONTROL gives all).
    fn covers(self, needed: Permission) -> bool {
        self == needed || self == Permission::FullControl
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grantee {
    /// A shale user by canonical id (its user id).
    User(String),
    AllUsers,
    AuthenticatedUsers,
    /// Accepted and kept; shale writes no access logs, so it grants
    /// nothing.
    LogDelivery,
}

impl Grantee {
    /// The group of a `URI` grantee.
    pub fn group(uri: &str) -> Option<Grantee> {
        match uri {
            ALL_USERS_URI => Some(Grantee::AllUsers),
            AUTHENTICATED_USERS_URI => Some(Grantee::AuthenticatedUsers),
            LOG_DELIVERY_URI => Some(Grantee::LogDelivery),
            _ => None,
        }
    }

    pub fn uri(&self) -> Option<&'static str> {
        match self {
            Grantee::User(_) => None,
            Grantee::AllUsers => Some(ALL_USERS_URI),
            Grantee::AuthenticatedUsers => Some(AUTHENTICATED_USERS_URI),
            Grantee::LogDelivery => Some(LOG_DELIVERY_URI),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canned {
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
    AwsExecRead,
    BucketOwnerRead,
    BucketOwnerFullControl,
    LogDeliveryWrite,
}

impl Canned {
    const ALL: [Canned; 8] = [
        Canned::Private,
        Canned::PublicRead,
        Canned::PublicReadWrite,
        Canned::AuthenticatedRead,
        Canned::AwsExecRead,
        Canned::BucketOwnerRead,
        Canned::BucketOwnerFullControl,
        Canned::LogDeliveryWrite,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Canned::Private => "private",
            Canned::PublicRead => "public-read",
            Canned::PublicReadWrite => "public-read-write",
            Canned::AuthenticatedRead => "authenticated-read",
            Canned::AwsExecRead => "aws-exec-read",
            Canned::BucketOwnerRead => "bucket-owner-read",
            Canned::BucketOwnerFullControl => "bucket-owner-full-control",
            Canned::LogDeliveryWrite => "log-delivery-write",
        }
    }

    /// The canned ACL `x-amz-acl` names (`InvalidArgument` otherwise).
    pub fn parse(s: &str) -> Result<Canned, S3Error> {
        Canned::ALL
            .into_iter()
            .find(|c| c.name() == s.trim())
            .ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    format!("x-amz-acl: {s:?} is not a canned ACL"),
                )
            })
    }

    /// The grants it stands for, the owner's FULL_CONTROL first. (The
    /// bucket-owner-* ACLs add the bucket owner, here the owner itself.)
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#canned-acl>
    fn grants(self, owner: &str) -> Vec<Grant> {
        let g = |grantee, permission| Grant {
            grantee,
            permission,
        };
        let mut out = vec![g(Grantee::User(owner.to_string()), Permission::FullControl)];
        match self {
            Canned::PublicRead => out.push(g(Grantee::AllUsers, Permission::Read)),
            Canned::PublicReadWrite => {
                out.push(g(Grantee::AllUsers, Permission::Read));
                out.push(g(Grantee::AllUsers, Permission::Write));
            }
            Canned::AuthenticatedRead => out.push(g(Grantee::AuthenticatedUsers, Permission::Read)),
            Canned::LogDeliveryWrite => {
                out.push(g(Grantee::LogDelivery, Permission::Write));
                out.push(g(Grantee::LogDelivery, Permission::ReadAcp));
            }
            _ => {}
        }
        out
    }
}

/// An ACL as stored: a canned one (expanded against the owner when read)
/// or an explicit grant list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acl {
    Canned(Canned),
    Grants(Vec<Grant>),
}

impl Default for Acl {
    fn default() -> Acl {
        Acl::Canned(Canned::Private)
    }
}

/// Who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who<'a> {
    Anonymous,
    User(&'a str),
}

const STORED_GRANTS: &str = "grants:";

impl Acl {
    pub fn grants(&self, owner: &str) -> Vec<Grant> {
        match self {
            Acl::Canned(c) => c.grants(owner),
            Acl::Grants(g) => g.clone(),
        }
    }

    /// Whether the ACL gives `who` the permission `needed`; grants to the
    /// AllUsers and AuthenticatedUsers groups count only when
    /// `public_counts` (PublicAccessBlock's IgnorePublicAcls clears it).
    pub fn allows(
        &self,
        owner: &str,
        who: Who<'_>,
        needed: Permission,
        public_counts: bool,
    ) -> bool {
        self.grants(owner).iter().any(|g| {
            g.permission.covers(needed)
                && match (&g.grantee, who) {
                    (Grantee::User(id), Who::User(u)) => id == u,
                    (Grantee::AllUsers, _) => public_counts,
                    (Grantee::AuthenticatedUsers, Who::User(_)) => public_counts,
                    _ => false,
                }
        })
    }

    /// Whether it grants anything to everyone or to every signed-in user
    /// (what PublicAccessBlock calls a public ACL).
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status>
    pub fn is_public(&self) -> bool {
        self.grants("")
            .iter()
            .any(|g| matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers))
    }

    /// The stored form: the canned ACL's name, or `grants:` then
    /// `PERMISSION=grantee` pairs joined by `&`, a grantee being `id:`
    /// and the percent-encoded user id, or a group name.
    pub fn encode(&self) -> String {
        match self {
            Acl::Canned(c) => c.name().to_string(),
            Acl::Grants(grants) => {
                let parts: Vec<String> = grants
                    .iter()
                    .map(|g| {
                        let who = match &g.grantee {
                            Grantee::User(id) => format!("id:{}", crate::s3::xml::url_encode(id)),
                            Grantee::AllUsers => "AllUsers".into(),
                            Grantee::AuthenticatedUsers => "AuthenticatedUsers".into(),
                            Grantee::LogDelivery => "LogDelivery".into(),
                        };
                        format!("{}={who}", g.permission.name())
                    })
                    .collect();
                format!("{STORED_GRANTS}{}", parts.join("&"))
            }
        }
    }

    /// Reads [`Acl::encode`]'s form back; `None` if it is not one.
    pub fn decode(s: &str) -> Option<Acl> {
        let Some(list) = s.strip_prefix(STORED_GRANTS) else {
            return Canned::parse(s).ok().map(Acl::Canned);
        };
        let mut grants = Vec::new();
        for part in list.split('&').filter(|p| !p.is_empty()) {
            let (perm, who) = part.split_once('=')?;
            let grantee = match who {
                "AllUsers" => Grantee::AllUsers,
                "AuthenticatedUsers" => Grantee::AuthenticatedUsers,
                "LogDelivery" => Grantee::LogDelivery,
                w => Grantee::User(String::from_utf8(percent_decode(w.strip_prefix("id:")?)).ok()?),
            };
            grants.push(Grant {
                grantee,
                permission: Permission::parse(perm)?,
            });
        }
        Some(Acl::Grants(grants))
    }
}

/// The object metadata entry that holds an object's ACL (its stored
/// form, [`Acl::encode`]); none means private. Only shale writes it: a
/// request's metadata is `x-amz-meta-*` and content headers.
pub const ACL_META: &str = "x-amz-acl";

/// The ACL kept in an object's metadata (private if none, or if it does
/// not read back).
pub fn acl_in(meta: &[(String, String)]) -> Acl {
    meta.iter()
        .find(|(n, _)| n == ACL_META)
        .and_then(|(_, v)| Acl::decode(v))
        .unwrap_or_default()
}

/// `meta` with its ACL replaced by `acl` (a private one is not stored).
pub fn with_acl(meta: &[(String, String)], acl: &Acl) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = meta
        .iter()
        .filter(|(n, _)| n != ACL_META)
        .cloned()
        .collect();
    if *acl != Acl::default() {
        out.push((ACL_META.to_string(), acl.encode()));
    }
    out
}

/// A grantee as a request names it, before it is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawGrantee {
    Id(String),
    Uri(String),
    Email(String),
}

/// Turns the raw grants of a request into an ACL: user ids must be users
/// (`known_user`), e-mail addresses must name one (`user_by_email`),
/// URIs must be groups.
pub fn resolve_grants(
    raw: Vec<(RawGrantee, Permission)>,
    known_user: &dyn Fn(&str) -> bool,
    user_by_email: &dyn Fn(&str) -> Option<String>,
) -> Result<Acl, S3Error> {
    if raw.len() > GRANTS_MAX {
        return Err(S3Error::new(
            S3ErrorCode::MalformedACLError,
            format!("An ACL may hold at most {GRANTS_MAX} grants"),
        ));
    }
    let mut grants = Vec::with_capacity(raw.len());
    for (who, permission) in raw {
        let grantee = match who {
            RawGrantee::Id(id) if known_user(&id) => Grantee::User(id),
            RawGrantee::Id(id) => {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    format!("Invalid id: {id} is not a user"),
                ))
            }
            RawGrantee::Uri(uri) => Grantee::group(&uri).ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    format!("Invalid group uri: {uri}"),
                )
            })?,
            RawGrantee::Email(e) => Grantee::User(user_by_email(&e).ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::UnresolvableGrantByEmailAddress,
                    format!(
                        "The e-mail address you provided does not match any account on record: {e}"
                    ),
                )
            })?),
        };
        grants.push(Grant {
            grantee,
            permission,
        });
    }
    Ok(Acl::Grants(grants))
}

/// The `x-amz-grant-*` headers and the permission each gives.
pub const GRANT_HEADERS: [(&str, Permission); 5] = [
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

/// The grants of one `x-amz-grant-*` value: `id="..."`, `uri="..."`,
/// `emailAddress="..."` joined by commas.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectAcl.html>
fn parse_grant_header(
    value: &str,
    permission: Permission,
) -> Result<Vec<(RawGrantee, Permission)>, S3Error> {
    let bad = || {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("Invalid grant header value: {value:?}"),
        )
    };
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (kind, v) = item.split_once('=').ok_or_else(bad)?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
            .to_string();
        let who = match kind.trim().to_ascii_lowercase().as_str() {
            "id" => RawGrantee::Id(v),
            "uri" => RawGrantee::Uri(v),
            "emailaddress" => RawGrantee::Email(v),
            _ => return Err(bad()),
        };
        out.push((who, permission));
    }
    Ok(out)
}

/// What a request's headers say about its ACL: `x-amz-acl` (canned),
/// `x-amz-grant-*` (explicit), or nothing. Both at once is
/// `InvalidRequest`, as on AWS.
pub fn from_headers(
    header: &dyn Fn(&str) -> Option<String>,
    known_user: &dyn Fn(&str) -> bool,
    user_by_email: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Acl>, S3Error> {
    let mut raw = Vec::new();
    let mut any_grant = false;
    for (name, permission) in GRANT_HEADERS {
        if let Some(v) = header(name) {
            any_grant = true;
            raw.extend(parse_grant_header(&v, permission)?);
        }
    }
    match (header("x-amz-acl"), any_grant) {
        (Some(_), true) => Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(c), false) => Ok(Some(Acl::Canned(Canned::parse(&c)?))),
        (None, true) => resolve_grants(raw, known_user, user_by_email).map(Some),
        (None, false) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn canned_acls_grant_what_aws_documents() {
        let owner = "alice";
        let cases = [
            (Canned::Private, Who::Anonymous, Permission::Read, false),
            (
                Canned::Private,
                Who::User("alice"),
                Permission::WriteAcp,
                true,
            ),
            (Canned::Private, Who::User("bob"), Permission::Read, false),
            (Canned::PublicRead, Who::Anonymous, Permission::Read, true),
            (Canned::PublicRead, Who::Anonymous, Permission::Write, false),
            (
                Canned::PublicRead,
                Who::User("bob"),
                Permission::ReadAcp,
                false,
            ),
            (
                Canned::PublicReadWrite,
                Who::Anonymous,
                Permission::Write,
                true,
            ),
            (
                Canned::AuthenticatedRead,
                Who::Anonymous,
                Permission::Read,
                false,
            ),
            (
                Canned::AuthenticatedRead,
                Who::User("bob"),
                Permission::Read,
                true,
            ),
            (
                Canned::BucketOwnerFullControl,
                Who::User("bob"),
                Permission::Read,
                false,
            ),
            (
                Canned::LogDeliveryWrite,
                Who::Anonymous,
                Permission::Write,
                false,
            ),
        ];
        for (c, who, p, want) in cases {
            assert_eq!(
                Acl::Canned(c).allows(owner, who, p, true),
                want,
                "{c:?} {who:?} {p:?}"
            );
        }
        assert!(!Acl::Canned(Canned::PublicRead).allows(
            owner,
            Who::Anonymous,
            Permission::Read,
            false
        ));
        assert!(Acl::Canned(Canned::PublicRead).is_public());
        assert!(Acl::Canned(Canned::AuthenticatedRead).is_public());
        assert!(!Acl::Canned(Canned::BucketOwnerRead).is_public());
        assert!(Canned::parse("public-write").is_err());
    }

    #[test]
    fn stored_form_round_trips() {
        let acls = [
            Acl::Canned(Canned::PublicReadWrite),
            Acl::Grants(vec![]),
            Acl::Grants(vec![
                Grant {
                    grantee: Grantee::User("a b&c=d%".into()),
                    permission: Permission::FullControl,
                },
                Grant {
                    grantee: Grantee::AllUsers,
                    permission: Permission::Read,
                },
                Grant {
                    grantee: Grantee::LogDelivery,
                    permission: Permission::WriteAcp,
                },
            ]),
        ];
        for a in acls {
            assert_eq!(Acl::decode(&a.encode()), Some(a.clone()), "{}", a.encode());
        }
        assert_eq!(Acl::decode("grants:BOGUS=AllUsers"), None);
        assert_eq!(Acl::decode("nonsense"), None);
    }

    #[test]
    fn headers_give_canned_or_grants_not_both() {
        let users = |u: &str| u == "bob";
        let email = |e: &str| (e == "bob@example.com").then(|| "bob".to_string());
        let get = |pairs: &[(&str, &str)]| from_headers(&header_of(pairs), &users, &email);
        assert_eq!(get(&[]), Ok(None));
        assert_eq!(
            get(&[("x-amz-acl", "public-read")]),
            Ok(Some(Acl::Canned(Canned::PublicRead)))
        );
        let acl = get(&[
            (
                "x-amz-grant-read",
                "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\", id=\"bob\"",
            ),
            (
                "x-amz-grant-full-control",
                "emailAddress=\"bob@example.com\"",
            ),
        ])
        .unwrap()
        .unwrap();
        assert!(acl.allows("alice", Who::Anonymous, Permission::Read, true));
        assert!(acl.allows("alice", Who::User("bob"), Permission::WriteAcp, true));
        assert!(!acl.allows("alice", Who::User("alice"), Permission::WriteAcp, true));
        let code = |r: Result<Option<Acl>, S3Error>| r.map_err(|e| e.code);
        assert_eq!(
            code(get(&[
                ("x-amz-acl", "private"),
                ("x-amz-grant-read", "id=\"bob\"")
            ])),
            Err(S3ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(get(&[("x-amz-grant-read", "id=\"carol\"")])),
            Err(S3ErrorCode::InvalidArgument)
        );
        assert_eq!(
            code(get(&[("x-amz-grant-read", "uri=\"http://x/y\"")])),
            Err(S3ErrorCode::InvalidArgument)
        );
        assert_eq!(
            code(get(&[("x-amz-grant-read", "emailAddress=\"x@y\"")])),
            Err(S3ErrorCode::UnresolvableGrantByEmailAddress)
        );
        assert_eq!(
            code(get(&[("x-amz-grant-read", "nonsense")])),
            Err(S3ErrorCode::InvalidArgument)
        );
        assert_eq!(
            code(get(&[("x-amz-acl", "bogus")])),
            Err(S3ErrorCode::InvalidArgument)
        );
    }
}
