//! Bucket policies: the JSON policy language's commonly used subset,
//! parsed with serde into a typed model and checked (every refusal is
//! `MalformedPolicy` naming what is wrong), and evaluated for one request
//! as AWS does: an explicit Deny wins, else any Allow, else nothing
//! (the caller then looks at ownership and ACLs). Pure.
//!
//! The subset: `Version`, `Id`, `Statement` (one or a list) with `Sid`,
//! `Effect`, `Principal` (`*`, `{"AWS": ...}` or `{"CanonicalUser": ...}`
//! naming shale users by id, `arn:aws:iam::<id>:root` or
//! `arn:aws:iam::<account>:user/<id>`), `Action` / `NotAction` (S3
//! action names, `*` and `?` wildcards), `Resource` / `NotResource`
//! (`arn:aws:s3:::bucket` and `arn:aws:s3:::bucket/key` with wildcards,
//! of the policy's own bucket), and `Condition` with the string, IP,
//! `Bool` and `Null` operators (`...IfExists` too) on the keys
//! [`CONDITION_KEYS`].
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html>
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html>

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::s3::acl::Who;
use crate::s3::{S3Error, S3ErrorCode};

/// Largest bucket policy AWS accepts (20 KB).
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html>
pub const POLICY_BYTES_MAX: usize = 20 * 1024;

/// The condition keys shale fills in (compared case-insensitively).
/// `aws:SecureTransport` is always false: shale serves plain HTTP.
pub const CONDITION_KEYS: [&str; 10] = [
    "aws:sourceip",
    "aws:securetransport",
    "aws:useragent",
    "aws:referer",
    "aws:userid",
    "aws:username",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:x-amz-acl",
];

/// S3 action names a policy may name without a wildcard.
/// <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>
pub const ACTIONS: [&str; 59] = [
    "AbortMultipartUpload",
    "BypassGovernanceRetention",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "PutBucketObjectLockConfiguration",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "CreateBucket",
    "DeleteBucket",
    "DeleteBucketPolicy",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "DeleteObjectVersionTagging",
    "GetAccelerateConfiguration",
    "GetBucketAcl",
    "GetBucketCORS",
    "GetBucketLocation",
    "GetBucketLogging",
    "GetBucketNotification",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketPublicAccessBlock",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetBucketWebsite",
    "GetEncryptionConfiguration",
    "GetLifecycleConfiguration",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectTagging",
    "GetObjectVersion",
    "GetObjectVersionAcl",
    "GetObjectVersionAttributes",
    "GetObjectVersionTagging",
    "ListAllMyBuckets",
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "ListMultipartUploadParts",
    "PutBucketAcl",
    "PutBucketCORS",
    "PutEncryptionConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutLifecycleConfiguration",
    "PutObject",
    "PutObjectAcl",
    "PutObjectTagging",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "RestoreObject",
    "ReplicateObject",
];

const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];

/// A checked policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Whom a statement is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Everyone, signed or not.
    Any,
    /// These shale users (by id).
    Users(Vec<String>),
}

/// A list of patterns, or (the `Not...` form) everything but them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patterns {
    pub not: bool,
    pub patterns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Principal,
    /// Lowercased (action names compare case-insensitively).
    pub actions: Patterns,
    pub resources: Patterns,
    pub conditions: Vec<Condition>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    IpAddress,
    NotIpAddress,
    Bool,
    Null,
}

impl Operator {
    const ALL: [(&'static str, Operator); 10] = [
        ("StringEquals", Operator::StringEquals),
        ("StringNotEquals", Operator::StringNotEquals),
        ("StringEqualsIgnoreCase", Operator::StringEqualsIgnoreCase),
        (
            "StringNotEqualsIgnoreCase",
            Operator::StringNotEqualsIgnoreCase,
        ),
        ("StringLike", Operator::StringLike),
        ("StringNotLike", Operator::StringNotLike),
        ("IpAddress", Operator::IpAddress),
        ("NotIpAddress", Operator::NotIpAddress),
        ("Bool", Operator::Bool),
        ("Null", Operator::Null),
    ];

    /// Whether it holds when no value matches (and when the key is
    /// absent): the negated operators.
    fn negated(self) -> bool {
        matches!(
            self,
            Operator::StringNotEquals
                | Operator::StringNotEqualsIgnoreCase
                | Operator::StringNotLike
                | Operator::NotIpAddress
        )
    }
}

/// An IP range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub bits: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (a, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr { addr, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, width) = match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                (u128::from(u32::from(a)), u128::from(u32::from(b)), 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            (IpAddr::V4(a), IpAddr::V6(b)) => match b.to_ipv4_mapped() {
                Some(b) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => return false,
        };
        let host_bits = width - u32::from(self.bits);
        a.checked_shr(host_bits).unwrap_or(0) == b.checked_shr(host_bits).unwrap_or(0)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub operator: Operator,
    pub if_exists: bool,
    /// Lowercased.
    pub key: String,
    pub values: Vec<String>,
    /// The values as ranges, for the IP operators.
    pub cidrs: Vec<Cidr>,
}

/// The request a policy is asked about.
#[derive(Clone, Debug)]
pub struct Ask<'a> {
    pub who: Who<'a>,
    /// `s3:GetObject`, ...
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    /// Condition keys (lowercase) and their values; a key not listed is
    /// absent.
    pub context: &'a [(&'static str, String)],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An explicit Deny.
    Deny,
    Allow,
    /// No statement applies.
    Neutral,
}

// --- the JSON as serde reads it ------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(rename = "Version")]
    version: Option<String>,
    #[serde(rename = "Id")]
    _id: Option<String>,
    #[serde(rename = "Statement", deserialize_with = "statements")]
    statement: Vec<RawStatement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatement {
    #[serde(rename = "Sid")]
    sid: Option<String>,
    #[serde(rename = "Effect")]
    effect: String,
    #[serde(rename = "Principal")]
    principal: Option<Value>,
    #[serde(rename = "NotPrincipal")]
    not_principal: Option<Value>,
    #[serde(rename = "Action", default, deserialize_with = "strings")]
    action: Option<Vec<String>>,
    #[serde(rename = "NotAction", default, deserialize_with = "strings")]
    not_action: Option<Vec<String>>,
    #[serde(rename = "Resource", default, deserialize_with = "strings")]
    resource: Option<Vec<String>>,
    #[serde(rename = "NotResource", default, deserialize_with = "strings")]
    not_resource: Option<Vec<String>>,
    #[serde(rename = "Condition")]
    condition: Option<BTreeMap<String, BTreeMap<String, Value>>>,
}

/// `Statement`: one object or a list of them.
fn statements<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RawStatement>, D::Error> {
    // Read as a value first, so the error names the statement's fault
    // rather than "did not match any variant".
    let v = Value::deserialize(d)?;
    match v {
        Value::Array(items) => items
            .into_iter()
            .map(|i| RawStatement::deserialize(i).map_err(D::Error::custom))
            .collect(),
        Value::Object(_) => RawStatement::deserialize(v)
            .map(|s| vec![s])
            .map_err(D::Error::custom),
        _ => Err(D::Error::custom(
            "Statement must be an object or a list of objects",
        )),
    }
}

/// A string or a list of strings.
fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(Some(vec![s])),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                _ => Err(D::Error::custom("expected a string or a list of strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(D::Error::custom("expected a string or a list of strings")),
    }
}

fn malformed(what: impl std::fmt::Display) -> S3Error {
    S3Error::new(S3ErrorCode::MalformedPolicy, what.to_string())
}

/// A condition value: a string, a boolean or a number (as text), or a
/// list of them.
fn condition_values(v: Value) -> Result<Vec<String>, S3Error> {
    let one = |v: Value| match v {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(malformed(
            "Invalid Condition value: expected a string, boolean or number",
        )),
    };
    match v {
        Value::Array(items) if items.is_empty() => Err(malformed("Empty Condition value list")),
        Value::Array(items) => items.into_iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

/// The shale user an `AWS` principal names: a user id, or an IAM ARN
/// whose account (`:root`) or user name is one.
fn principal_user(s: &str) -> Option<&str> {
    match s.strip_prefix("arn:aws:iam::") {
        None => Some(s),
        Some(rest) => {
            let (account, what) = rest.split_once(':')?;
            if what == "root" {
                Some(account)
            } else {
                what.strip_prefix("user/")?.rsplit('/').next()
            }
        }
    }
    .filter(|u| !u.is_empty())
}

fn parse_principal(v: Value, known_user: &dyn Fn(&str) -> bool) -> Result<Principal, S3Error> {
    let invalid = || malformed("Invalid principal in policy");
    let map = match v {
        Value::String(s) if s == "*" => return Ok(Principal::Any),
        Value::Object(map) => map,
        _ => return Err(invalid()),
    };
    let mut users = Vec::new();
    for (kind, v) in map {
        if kind != "AWS" && kind != "CanonicalUser" {
            return Err(malformed(format!(
                "Invalid principal in policy: principal type {kind:?} is not supported (AWS, CanonicalUser or \"*\")"
            )));
        }
        let names = match v {
            Value::String(s) => vec![s],
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s),
                    _ => Err(invalid()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(invalid()),
        };
        for n in names {
            if n == "*" {
                return Ok(Principal::Any);
            }
            let user = principal_user(&n).ok_or_else(invalid)?;
            if !known_user(user) {
                return Err(malformed(format!(
                    "Invalid principal in policy: {n:?} is not a user"
                )));
            }
            users.push(user.to_string());
        }
    }
    if users.is_empty() {
        return Err(invalid());
    }
    Ok(Principal::Users(users))
}

fn parse_actions(
    action: Option<Vec<String>>,
    not: Option<Vec<String>>,
) -> Result<Patterns, S3Error> {
    let (not, list) = match (action, not) {
        (Some(a), None) => (false, a),
        (None, Some(a)) => (true, a),
        (None, None) => return Err(malformed("Missing required field Action")),
        (Some(_), Some(_)) => {
            return Err(malformed(
                "A statement may not have both Action and NotAction",
            ))
        }
    };
    if list.is_empty() {
        return Err(malformed("Missing required field Action"));
    }
    let mut patterns = Vec::with_capacity(list.len());
    for a in list {
        let invalid = || malformed(format!("Policy has invalid action: {a:?}"));
        let lower = a.to_ascii_lowercase();
        if lower != "*" {
            let name = lower.strip_prefix("s3:").ok_or_else(invalid)?;
            let wild = name.contains(['*', '?']);
            if !wild && !ACTIONS.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(invalid());
            }
            if name.is_empty() {
                return Err(invalid());
            }
        }
        patterns.push(lower);
    }
    Ok(Patterns { not, patterns })
}

fn parse_resources(
    resource: Option<Vec<String>>,
    not: Option<Vec<String>>,
    bucket: &str,
) -> Result<Patterns, S3Error> {
    let (not, list) = match (resource, not) {
        (Some(r), None) => (false, r),
        (None, Some(r)) => (true, r),
        (None, None) => return Err(malformed("Missing required field Resource")),
        (Some(_), Some(_)) => {
            return Err(malformed(
                "A statement may not have both Resource and NotResource",
            ))
        }
    };
    if list.is_empty() {
        return Err(malformed("Missing required field Resource"));
    }
    for r in &list {
        if r == "*" {
            continue;
        }
        let rest = r.strip_prefix("arn:aws:s3:::").ok_or_else(|| {
            malformed(format!(
                "Policy has invalid resource: {r:?} is not an S3 ARN"
            ))
        })?;
        let b = rest.split('/').next().unwrap_or_default();
        // A policy speaks only of its own bucket and its objects.
        if !glob(b, bucket, false) {
            return Err(malformed(format!(
                "Policy has invalid resource: {r:?} is not bucket {bucket} or its objects"
            )));
        }
    }
    Ok(Patterns {
        not,
        patterns: list,
    })
}

fn parse_conditions(
    raw: BTreeMap<String, BTreeMap<String, Value>>,
) -> Result<Vec<Condition>, S3Error> {
    let mut out = Vec::new();
    for (op_name, keys) in raw {
        let (base, if_exists) = match op_name.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (op_name.as_str(), false),
        };
        let operator = Operator::ALL
            .iter()
            .find(|(n, _)| *n == base)
            .map(|(_, o)| *o)
            .ok_or_else(|| malformed(format!("Invalid Condition type: {op_name}")))?;
        for (key, value) in keys {
            let k = key.to_ascii_lowercase();
            if !CONDITION_KEYS.contains(&k.as_str()) {
                return Err(malformed(format!(
                    "Policy has an invalid condition key: {key} (shale knows {})",
                    CONDITION_KEYS.join(", ")
                )));
            }
            let values = condition_values(value)?;
            let mut cidrs = Vec::new();
            match operator {
                Operator::IpAddress | Operator::NotIpAddress => {
                    for v in &values {
                        cidrs.push(Cidr::parse(v).ok_or_else(|| {
                            malformed(format!("Invalid IP address or CIDR in Condition: {v:?}"))
                        })?);
                    }
                }
                Operator::Bool | Operator::Null => {
                    if let Some(v) = values
                        .iter()
                        .find(|v| !matches!(v.to_ascii_lowercase().as_str(), "true" | "false"))
                    {
                        return Err(malformed(format!(
                            "Invalid Condition value for {op_name}: {v:?} (true or false)"
                        )));
                    }
                }
                _ => {}
            }
            out.push(Condition {
                operator,
                if_exists,
                key: k,
                values,
                cidrs,
            });
        }
    }
    Ok(out)
}

impl Policy {
    /// Parses and checks the policy of `bucket`; `known_user` says which
    /// principals exist.
    pub fn parse(
        json: &[u8],
        bucket: &str,
        known_user: &dyn Fn(&str) -> bool,
    ) -> Result<Policy, S3Error> {
        if json.len() > POLICY_BYTES_MAX {
            return Err(malformed(format!(
                "Policies must be less than {POLICY_BYTES_MAX} bytes"
            )));
        }
        let raw: RawPolicy = serde_json::from_slice(json).map_err(|e| {
            malformed(format!(
                "Policies must be valid JSON of the policy language: {e}"
            ))
        })?;
        if let Some(v) = &raw.version {
            if !VERSIONS.contains(&v.as_str()) {
                return Err(malformed(format!(
                    "Policy has an invalid version: {v:?} (2012-10-17 or 2008-10-17)"
                )));
            }
        }
        if raw.statement.is_empty() {
            return Err(malformed("Missing required field Statement"));
        }
        let mut statements = Vec::with_capacity(raw.statement.len());
        for s in raw.statement {
            if let Some(sid) = &s.sid {
                if statements
                    .iter()
                    .any(|t: &Statement| t.sid.as_ref() == Some(sid))
                {
                    return Err(malformed(format!(
                        "Statement IDs (SID) in a single policy must be unique: {sid:?}"
                    )));
                }
            }
            let effect = match s.effect.as_str() {
                "Allow" => Effect::Allow,
                "Deny" => Effect::Deny,
                e => return Err(malformed(format!("Invalid effect: {e:?} (Allow or Deny)"))),
            };
            if s.not_principal.is_some() {
                return Err(malformed("NotPrincipal is not supported by shale"));
            }
            let principal = parse_principal(
                s.principal
                    .ok_or_else(|| malformed("Missing required field Principal"))?,
                known_user,
            )?;
            statements.push(Statement {
                sid: s.sid,
                effect,
                principal,
                actions: parse_actions(s.action, s.not_action)?,
                resources: parse_resources(s.resource, s.not_resource, bucket)?,
                conditions: parse_conditions(s.condition.unwrap_or_default())?,
            });
        }
        Ok(Policy { statements })
    }

    /// What the policy says of `ask`: Deny if a Deny statement applies,
    /// else Allow if an Allow statement does, else Neutral.
    pub fn decide(&self, ask: &Ask<'_>) -> Decision {
        let mut out = Decision::Neutral;
        for s in &self.statements {
            if s.applies(ask) {
                match s.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => out = Decision::Allow,
                }
            }
        }
        out
    }

    /// Whether it allows something to everyone: an Allow statement for
    /// any principal not narrowed to IP ranges by `aws:SourceIp`.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status>
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.principal == Principal::Any
                && !s.conditions.iter().any(|c| {
                    c.operator == Operator::IpAddress
                        && c.key == "aws:sourceip"
                        && !c.cidrs.iter().any(|r| r.bits == 0)
                })
        })
    }
}

impl Statement {
    fn applies(&self, ask: &Ask<'_>) -> bool {
        let principal = match (&self.principal, ask.who) {
            (Principal::Any, _) => true,
            (Principal::Users(users), Who::User(u)) => users.iter().any(|x| x == u),
            (Principal::Users(_), Who::Anonymous) => false,
        };
        let action = ask.action.to_ascii_lowercase();
        principal
            && self.actions.matches(|p| glob(p, &action, false))
            && self
                .resources
                .matches(|p| p == "*" || glob(p, ask.resource, false))
            && self.conditions.iter().all(|c| c.holds(ask.context))
    }
}

impl Patterns {
    fn matches(&self, one: impl Fn(&str) -> bool) -> bool {
        self.patterns.iter().any(|p| one(p)) != self.not
    }
}

impl Condition {
    fn holds(&self, context: &[(&'static str, String)]) -> bool {
        let Some(value) = context
            .iter()
            .find(|(k, _)| *k == self.key)
            .map(|(_, v)| v.as_str())
        else {
            // An absent key: `Null: true` holds, IfExists holds, the
            // negated operators hold, the rest do not.
            return match self.operator {
                Operator::Null => self.values.iter().any(|v| v.eq_ignore_ascii_case("true")),
                _ => self.if_exists || self.operator.negated(),
            };
        };
        let any = match self.operator {
            Operator::StringEquals | Operator::StringNotEquals => {
                self.values.iter().any(|v| v == value)
            }
            Operator::StringEqualsIgnoreCase | Operator::StringNotEqualsIgnoreCase => {
                self.values.iter().any(|v| v.eq_ignore_ascii_case(value))
            }
            Operator::StringLike | Operator::StringNotLike => {
                self.values.iter().any(|v| glob(v, value, false))
            }
            Operator::IpAddress | Operator::NotIpAddress => match value.parse::<IpAddr>() {
                Ok(ip) => self.cidrs.iter().any(|c| c.contains(ip)),
                Err(_) => false,
            },
            Operator::Bool => self.values.iter().any(|v| v.eq_ignore_ascii_case(value)),
            Operator::Null => self.values.iter().any(|v| v.eq_ignore_ascii_case("false")),
        };
        any != self.operator.negated()
    }
}

/// Whether `text` matches `pattern`, where `*` is any run of characters
/// and `?` any one (iterative, no backtracking blow-up).
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match (p.get(pi), t.get(ti)) {
            (Some('*'), _) => {
                star = Some((pi, ti));
                pi += 1;
            }
            (Some(&pc), Some(&tc)) if pc == '?' || eq(pc, tc) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(u: &str) -> bool {
        matches!(u, "alice" | "bob")
    }

    fn parse(json: &str) -> Result<Policy, S3Error> {
        Policy::parse(json.as_bytes(), "photos", &users)
    }

    #[test]
    fn glob_matches_as_the_policy_language_does() {
        assert!(glob("s3:get*", "s3:getobject", false));
        assert!(glob("*", "", false));
        assert!(glob("a?c", "abc", false));
        assert!(!glob("a?c", "ac", false));
        assert!(glob(
            "arn:aws:s3:::photos/*",
            "arn:aws:s3:::photos/a/b",
            false
        ));
        assert!(!glob("arn:aws:s3:::photos/*", "arn:aws:s3:::photos", false));
        assert!(glob("*a*b*c*", "xxaxxbxxcxx", false));
        assert!(!glob("*a*b*c", "xxaxxbxxcxx", false));
        assert!(glob("ABC", "abc", true));
        let long = "a".repeat(5000);
        assert!(!glob(&format!("{}b", "*a".repeat(50)), &long, false));
    }

    #[test]
    fn malformed_policies_name_what_is_wrong() {
        let cases = [
            ("not json", "valid JSON"),
            ("[]", "valid JSON"),
            (r#"{"Statement": []}"#, "Statement"),
            (r#"{"Version":"2012-10-17"}"#, "Statement"),
            (
                r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#,
                "version",
            ),
            (
                r#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#,
                "effect",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#,
                "Principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"carol"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#,
                "principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}"#,
                "principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:Fly","Resource":"arn:aws:s3:::photos/*"}}"#,
                "action",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"arn:aws:s3:::photos/*"}}"#,
                "action",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::photos/*"}}"#,
                "Action",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}}"#,
                "resource",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}}"#,
                "Resource",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"Sometimes":{"aws:SourceIp":"1.2.3.4"}}}}"#,
                "Condition type",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"IpAddress":{"aws:SourceIp":"1.2.3.400/8"}}}}"#,
                "CIDR",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEquals":{"aws:Moon":"x"}}}}"#,
                "condition key",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Extra":1}}"#,
                "unknown field",
            ),
            (
                r#"{"Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#,
                "unique",
            ),
        ];
        for (json, says) in cases {
            let e = parse(json).expect_err(json);
            assert_eq!(e.code, S3ErrorCode::MalformedPolicy, "{json}");
            assert!(e.message.contains(says), "{json}: {}", e.message);
        }
        let big = format!("{{\"Id\":\"{}\"}}", "x".repeat(POLICY_BYTES_MAX));
        assert_eq!(parse(&big).unwrap_err().code, S3ErrorCode::MalformedPolicy);
    }

    /// One policy, many requests: the evaluation table.
    #[test]
    fn evaluation_follows_explicit_deny_then_allow() {
        let p = parse(
            r#"{
              "Version": "2012-10-17",
              "Statement": [
                {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                 "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::photos/public/*"},
                {"Sid": "BobAll", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::bob:root"]},
                 "Action": "s3:*", "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]},
                {"Sid": "NoBobSecret", "Effect": "Deny", "Principal": {"AWS": "bob"},
                 "Action": "s3:*", "Resource": "arn:aws:s3:::photos/secret/*"},
                {"Sid": "NoBobListSecret", "Effect": "Deny", "Principal": {"AWS": "bob"},
                 "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::photos",
                 "Condition": {"StringLike": {"s3:prefix": "secret/*"}}},
                {"Sid": "OfficeOnly", "Effect": "Deny", "Principal": "*",
                 "NotAction": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::photos/*",
                 "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1"]}}},
                {"Sid": "TlsOnlyAlice", "Effect": "Deny", "Principal": {"AWS": "alice"},
                 "Action": "s3:PutObject", "Resource": "arn:aws:s3:::photos/*",
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
              ]
            }"#,
        )
        .unwrap();
        let ip = |s: &str| {
            vec![
                ("aws:sourceip", s.to_string()),
                ("aws:securetransport", "false".to_string()),
            ]
        };
        let office = ip("10.1.2.3");
        let home = ip("192.0.2.7");
        let mut listing_secret = office.clone();
        listing_secret.push(("s3:prefix", "secret/2024".to_string()));
        let mut listing_other = office.clone();
        listing_other.push(("s3:prefix", "public/".to_string()));
        use Decision::*;
        type Case<'a> = (
            Who<'a>,
            &'a str,
            &'a str,
            &'a [(&'static str, String)],
            Decision,
        );
        let cases: Vec<Case> = vec![
            (
                Who::Anonymous,
                "s3:GetObject",
                "arn:aws:s3:::photos/public/a.jpg",
                &home,
                Allow,
            ),
            (
                Who::Anonymous,
                "s3:GetObject",
                "arn:aws:s3:::photos/private/a.jpg",
                &home,
                Neutral,
            ),
            (
                Who::Anonymous,
                "s3:PutObject",
                "arn:aws:s3:::photos/public/a.jpg",
                &office,
                Neutral,
            ),
            (
                Who::Anonymous,
                "s3:PutObject",
                "arn:aws:s3:::photos/public/a.jpg",
                &home,
                Deny,
            ),
            (
                Who::User("bob"),
                "s3:PutObject",
                "arn:aws:s3:::photos/x",
                &office,
                Allow,
            ),
            (
                Who::User("bob"),
                "s3:GetObject",
                "arn:aws:s3:::photos/secret/x",
                &office,
                Deny,
            ),
            (
                Who::User("bob"),
                "s3:ListBucket",
                "arn:aws:s3:::photos",
                &listing_secret,
                Deny,
            ),
            (
                Who::User("bob"),
                "s3:ListBucket",
                "arn:aws:s3:::photos",
                &listing_other,
                Allow,
            ),
            (
                Who::User("bob"),
                "s3:ListBucket",
                "arn:aws:s3:::photos",
                &office,
                Allow,
            ),
            (
                Who::User("bob"),
                "s3:DeleteObject",
                "arn:aws:s3:::photos/x",
                &home,
                Deny,
            ),
            (
                Who::User("alice"),
                "s3:PutObject",
                "arn:aws:s3:::photos/x",
                &office,
                Deny,
            ),
            (
                Who::User("alice"),
                "s3:GetObject",
                "arn:aws:s3:::photos/secret/x",
                &office,
                Neutral,
            ),
            (
                Who::User("carol"),
                "s3:GetObject",
                "arn:aws:s3:::photos/public/x",
                &office,
                Allow,
            ),
            (
                Who::User("bob"),
                "S3:GETOBJECT",
                "arn:aws:s3:::photos/x",
                &office,
                Allow,
            ),
        ];
        for (who, action, resource, context, want) in cases {
            let ask = Ask {
                who,
                action,
                resource,
                context,
            };
            assert_eq!(
                p.decide(&ask),
                want,
                "{who:?} {action} {resource} {context:?}"
            );
        }
        assert!(p.is_public());
    }

    #[test]
    fn conditions_on_absent_keys_and_if_exists() {
        let p = parse(
            r#"{"Statement":[
              {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos",
               "Condition":{"StringEqualsIfExists":{"s3:prefix":"docs/"}, "Null":{"s3:delimiter":"true"}}}]}"#,
        )
        .unwrap();
        let ask = |context: &[(&'static str, String)]| {
            p.decide(&Ask {
                who: Who::Anonymous,
                action: "s3:ListBucket",
                resource: "arn:aws:s3:::photos",
                context,
            })
        };
        assert_eq!(ask(&[]), Decision::Allow);
        assert_eq!(ask(&[("s3:prefix", "docs/".into())]), Decision::Allow);
        assert_eq!(ask(&[("s3:prefix", "other/".into())]), Decision::Neutral);
        assert_eq!(ask(&[("s3:delimiter", "/".into())]), Decision::Neutral);
    }

    #[test]
    fn public_means_any_principal_not_narrowed_by_ip() {
        let one = |principal: &str, cond: &str| {
            parse(&format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"{cond}}}}}"#
            ))
            .unwrap()
            .is_public()
        };
        assert!(one(r#""*""#, ""));
        assert!(one(r#"{"AWS":"*"}"#, ""));
        assert!(!one(r#"{"AWS":"bob"}"#, ""));
        assert!(!one(
            r#""*""#,
            r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#
        ));
        assert!(one(
            r#""*""#,
            r#","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#
        ));
    }

    #[test]
    fn cidr_contains() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.255.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:db8::1".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4/33").is_none());
        assert!(Cidr::parse("1.2.3.4/x").is_none());
    }
}
