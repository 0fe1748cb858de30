//! POST Object's form and its policy document, as AWS documents them
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html>):
//! the form's fields, the policy's SigV4 signature (the string to sign is
//! the base64 policy itself), its expiration and every condition. Pure:
//! the caller passes the clock and the secret lookup.

use base64::Engine;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::sigv4::{self, SecretLookup, ALGORITHM};
use super::time::parse_amz_date;
use super::{S3Error, S3ErrorCode};

/// Bytes of the form fields before the file AWS accepts.
pub const FIELDS_BYTES_MAX: usize = 20 * 1024;
/// Conditions a policy may hold (a bound on the work of checking one).
pub const CONDITIONS_MAX: usize = 256;

/// The form fields that precede the file, names lowercased (form field
/// names are not case-sensitive; values are), in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Adds a field; a name given twice is refused (a policy checked on one
    /// value while another is used would be a way around it).
    pub fn add(&mut self, name: &str, value: String) -> Result<(), S3Error> {
        let name = name.to_ascii_lowercase();
        if self.get(&name).is_some() {
            return Err(S3Error::new(
                S3ErrorCode::InvalidArgument,
                format!("The form field {name} is given more than once."),
            ));
        }
        self.0.push((name, value));
        Ok(())
    }

    /// The value of field `name` (lowercase).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The field AWS requires, or its error.
    pub fn required(&self, name: &str) -> Result<&str, S3Error> {
        self.get(name).ok_or_else(|| missing_field(name))
    }
}

/// AWS's answer for a missing field (also one sent after the file).
pub fn missing_field(name: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidArgument,
        format!("Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."),
    )
}

/// One condition of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The field (lowercase, no `$`) equals the value.
    Eq(String, String),
    /// The field starts with the value (any value for an empty one).
    StartsWith(String, String),
    /// The file's size is within [min, max].
    LengthRange(u64, u64),
}

impl Condition {
    /// The field the condition covers, if any.
    fn field(&self) -> Option<&str> {
        match self {
            Condition::Eq(f, _) | Condition::StartsWith(f, _) => Some(f),
            Condition::LengthRange(..) => None,
        }
    }

    /// As AWS shows a failed condition.
    fn show(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        match self {
            Condition::Eq(f, v) => format!("[\"eq\", {}, {}]", q(&format!("${f}")), q(v)),
            Condition::StartsWith(f, v) => {
                format!("[\"starts-with\", {}, {}]", q(&format!("${f}")), q(v))
            }
            Condition::LengthRange(a, b) => format!("[\"content-length-range\", {a}, {b}]"),
        }
    }

    /// Whether a field's value satisfies the condition.
    fn holds(&self, value: &str) -> bool {
        match self {
            Condition::Eq(_, v) => value == v,
            // A Content-Type may list several types; each must match.
            Condition::StartsWith(f, p) if f == "content-type" => {
                value.split(',').all(|t| t.trim().starts_with(p.as_str()))
            }
            Condition::StartsWith(_, p) => value.starts_with(p.as_str()),
            Condition::LengthRange(..) => true,
        }
    }
}

/// A decoded policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Unix seconds.
    pub expiration: u64,
    pub conditions: Vec<Condition>,
}

fn invalid_policy(what: impl std::fmt::Display) -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidPolicyDocument,
        format!("Invalid Policy: {what}"),
    )
}

fn policy_denied(what: impl std::fmt::Display) -> S3Error {
    S3Error::new(
        S3ErrorCode::AccessDenied,
        format!("Invalid according to Policy: {what}"),
    )
}

/// Decodes the base64 policy document.
pub fn parse_policy(b64: &str) -> Result<Policy, S3Error> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| invalid_policy("Invalid Base64 Encoding."))?;
    let doc: Value = serde_json::from_slice(&raw).map_err(|_| invalid_policy("Invalid JSON."))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| invalid_policy("Invalid JSON."))?;
    let expiration = match obj.get("expiration") {
        None => return Err(invalid_policy("Policy missing expiration.")),
        Some(Value::String(s)) => super::time::parse_iso8601(s)
            .ok_or_else(|| invalid_policy(format!("Invalid 'expiration' value: '{s}'")))?,
        Some(_) => return Err(invalid_policy("Invalid 'expiration' value.")),
    };
    let list = match obj.get("conditions") {
        None => return Err(invalid_policy("Policy missing conditions.")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid_policy("Invalid 'conditions' value.")),
    };
    if list.len() > CONDITIONS_MAX {
        return Err(invalid_policy(format!(
            "More than {CONDITIONS_MAX} conditions."
        )));
    }
    let conditions = list.iter().map(parse_condition).collect::<Result<_, _>>()?;
    Ok(Policy {
        expiration,
        conditions,
    })
}

fn parse_condition(c: &Value) -> Result<Condition, S3Error> {
    let bad = || invalid_policy(format!("Invalid Condition: {c}"));
    match c {
        // {"field": "value"}: an exact match.
        Value::Object(o) if o.len() == 1 => {
            let (k, v) = o.iter().next().ok_or_else(bad)?;
            let v = v.as_str().ok_or_else(bad)?;
            Ok(Condition::Eq(k.to_ascii_lowercase(), v.to_string()))
        }
        Value::Array(a) => {
            let op = a.first().and_then(Value::as_str).ok_or_else(bad)?;
            let (Some(x), Some(y), None) = (a.get(1), a.get(2), a.get(3)) else {
                return Err(bad());
            };
            match op.to_ascii_lowercase().as_str() {
                "content-length-range" => {
                    let n = |v: &Value| match v {
                        Value::Number(n) => n.as_u64(),
                        Value::String(s) => s.trim().parse::<u64>().ok(),
                        _ => None,
                    };
                    match (n(x), n(y)) {
                        (Some(min), Some(max)) if min <= max => {
                            Ok(Condition::LengthRange(min, max))
                        }
                        _ => Err(bad()),
                    }
                }
                op @ ("eq" | "starts-with") => {
                    let field = x
                        .as_str()
                        .and_then(|f| f.strip_prefix('$'))
                        .filter(|f| !f.is_empty())
                        .ok_or_else(bad)?
                        .to_ascii_lowercase();
                    let value = y.as_str().ok_or_else(bad)?.to_string();
                    Ok(if op == "eq" {
                        Condition::Eq(field, value)
                    } else {
                        Condition::StartsWith(field, value)
                    })
                }
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

/// Fields no condition needs to cover.
fn exempt(name: &str) -> bool {
    matches!(name, "x-amz-signature" | "file" | "policy") || name.starts_with("x-ignore-")
}

/// Checks the policy against the form posted to `bucket` at `now` (Unix
/// seconds): not expired, every condition holds (a field the form lacks
/// counts as empty) and every field is covered by a condition. Returns
/// the file size range the policy allows.
pub fn check_policy(
    policy: &Policy,
    fields: &Fields,
    bucket: &str,
    now: u64,
) -> Result<(u64, u64), S3Error> {
    if now > policy.expiration {
        return Err(policy_denied("Policy expired."));
    }
    let mut range = (0, u64::MAX);
    for c in &policy.conditions {
        if let Condition::LengthRange(min, max) = c {
            range = (range.0.max(*min), range.1.min(*max));
            continue;
        }
        let value = match c.field() {
            Some("bucket") => bucket,
            Some(f) => fields.get(f).unwrap_or_default(),
            None => "",
        };
        if !c.holds(value) {
            return Err(policy_denied(format!(
                "Policy Condition failed: {}",
                c.show()
            )));
        }
    }
    let extra: Vec<&str> = fields
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !exempt(n) && !policy.conditions.iter().any(|c| c.field() == Some(n)))
        .collect();
    if !extra.is_empty() {
        return Err(policy_denied(format!(
            "Extra input fields: {}",
            extra.join(", ")
        )));
    }
    Ok(range)
}

/// Who signed the form: the access key, once the policy's signature is
/// verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPolicy {
    pub access_key: String,
    pub policy: Policy,
}

/// Verifies the form's SigV4 policy signature (`x-amz-algorithm`,
/// `x-amz-credential`, `x-amz-date`, `x-amz-signature` over the base64
/// `policy`) for a node serving `region`, then decodes the policy. A form
/// without a policy is an anonymous upload: refused (no bucket here is
/// writable by anyone).
pub fn verify_signature(
    fields: &Fields,
    region: &str,
    secrets: &dyn SecretLookup,
) -> Result<SignedPolicy, S3Error> {
    let Some(policy_b64) = fields.get("policy") else {
        return Err(S3Error::new(S3ErrorCode::AccessDenied, "Access Denied"));
    };
    if fields.get("x-amz-algorithm").is_none() && fields.get("awsaccesskeyid").is_some() {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        ));
    }
    let algorithm = fields.required("x-amz-algorithm")?;
    if algorithm != ALGORITHM {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("The x-amz-algorithm {algorithm:?} is not supported; use {ALGORITHM}."),
        ));
    }
    let credential = sigv4::parse_credential(
        fields.required("x-amz-credential")?,
        S3ErrorCode::InvalidArgument,
    )?;
    if credential.region != region {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!(
                "Error parsing the x-amz-credential field; the region '{}' is wrong; expecting '{region}'",
                credential.region
            ),
        )
        .with_header("x-amz-bucket-region", region));
    }
    let amz_date = fields.required("x-amz-date")?;
    if parse_amz_date(amz_date).is_none() || amz_date.get(..8) != Some(credential.date.as_str()) {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "The x-amz-date field must be yyyymmddThhmmssZ on the date of the x-amz-credential scope.",
        ));
    }
    let given = fields.required("x-amz-signature")?;
    let Some(secret) = secrets.secret_for(&credential.access_key) else {
        return Err(S3Error::new(
            S3ErrorCode::InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records.",
        ));
    };
    let key = sigv4::signing_key(&secret, &credential.date, &credential.region);
    let expected = sigv4::signature(&key, policy_b64);
    if !bool::from(expected.as_bytes().ct_eq(given.trim().as_bytes())) {
        return Err(S3Error::new(
            S3ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ));
    }
    Ok(SignedPolicy {
        access_key: credential.access_key,
        policy: parse_policy(policy_b64)?,
    })
}

/// The object key: the `key` field with each `${filename}` replaced by
/// the file's name.
pub fn object_key(key_field: &str, filename: Option<&str>) -> String {
    key_field.replace("${filename}", filename.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    struct Secrets;
    impl SecretLookup for Secrets {
        fn secret_for(&self, access_key: &str) -> Option<String> {
            (access_key == "AK").then(|| "SECRET".to_string())
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::default();
        for (n, v) in pairs {
            f.add(n, v.to_string()).unwrap();
        }
        f
    }

    const POLICY: &str = r#"{"expiration": "2030-01-01T00:00:00.000Z", "conditions": [
        {"bucket": "b"}, ["starts-with", "$key", "up/"], {"acl": "private"},
        ["content-length-range", 1, "100"], ["starts-with", "$Content-Type", "image/"],
        ["eq", "$x-amz-meta-a", "1"], ["starts-with", "$success_action_status", ""]]}"#;

    fn ok_fields() -> Vec<(&'static str, &'static str)> {
        vec![
            ("key", "up/${filename}"),
            ("ACL", "private"),
            ("Content-Type", "image/png, image/gif"),
            ("x-amz-meta-a", "1"),
            ("x-ignore-me", "z"),
            ("policy", "p"),
            ("x-amz-signature", "s"),
        ]
    }

    #[test]
    fn conditions_hold_and_give_the_length_range() {
        let p = parse_policy(&b64(POLICY)).unwrap();
        assert_eq!(p.conditions.len(), 7);
        let f = fields(&ok_fields());
        assert_eq!(check_policy(&p, &f, "b", 0), Ok((1, 100)));
        // success_action_status may be absent or anything.
        let mut more = ok_fields();
        more.push(("success_action_status", "201"));
        assert!(check_policy(&p, &fields(&more), "b", 0).is_ok());
    }

    #[test]
    fn each_failure_is_access_denied_naming_the_condition() {
        let p = parse_policy(&b64(POLICY)).unwrap();
        let f = fields(&ok_fields());
        let e = check_policy(&p, &f, "other", 0).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessDenied);
        assert!(
            e.message.contains(r#"["eq", "$bucket", "b"]"#),
            "{}",
            e.message
        );
        let expired = check_policy(&p, &f, "b", p.expiration + 1).unwrap_err();
        assert!(expired.message.contains("Policy expired"));
        for (name, value) in [
            ("key", "down/x"),
            ("ACL", "public-read"),
            ("Content-Type", "image/png, text/html"),
            ("x-amz-meta-a", "2"),
        ] {
            let mut v = ok_fields();
            v.retain(|(n, _)| *n != name);
            v.push((name, value));
            let e = check_policy(&p, &fields(&v), "b", 0).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::AccessDenied, "{name}");
            assert!(e.message.contains("Condition failed"), "{}", e.message);
        }
        // A missing field is empty: an exact match on it fails.
        let mut v = ok_fields();
        v.retain(|(n, _)| *n != "x-amz-meta-a");
        assert!(check_policy(&p, &fields(&v), "b", 0).is_err());
        // A field no condition covers.
        let mut v = ok_fields();
        v.push(("x-amz-meta-b", "1"));
        let e = check_policy(&p, &fields(&v), "b", 0).unwrap_err();
        assert!(
            e.message.contains("Extra input fields: x-amz-meta-b"),
            "{}",
            e.message
        );
    }

    #[test]
    fn malformed_policies_are_invalid_policy_documents() {
        for doc in [
            "not json",
            "[]",
            r#"{"conditions": []}"#,
            r#"{"expiration": "2030-01-01T00:00:00Z"}"#,
            r#"{"expiration": "tomorrow", "conditions": []}"#,
            r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "key", "x"]]}"#,
            r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["matches", "$key", "x"]]}"#,
            r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 5, 1]]}"#,
            r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 1]]}"#,
            r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"a": "1", "b": "2"}]}"#,
            r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$key"]]}"#,
        ] {
            let e = parse_policy(&b64(doc)).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidPolicyDocument, "{doc}");
        }
        assert_eq!(
            parse_policy("%%%").unwrap_err().code,
            S3ErrorCode::InvalidPolicyDocument
        );
    }

    fn signed(policy: &str, sign_with: &str) -> Fields {
        let p = b64(policy);
        let key = sigv4::signing_key(sign_with, "20300101", "us-east-1");
        let sig = sigv4::signature(&key, &p);
        fields(&[
            ("key", "k"),
            ("x-amz-algorithm", ALGORITHM),
            ("x-amz-credential", "AK/20300101/us-east-1/s3/aws4_request"),
            ("x-amz-date", "20300101T000000Z"),
            ("policy", Box::leak(p.into_boxed_str())),
            ("x-amz-signature", Box::leak(sig.into_boxed_str())),
        ])
    }

    #[test]
    fn the_signature_covers_the_base64_policy() {
        let doc = r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": []}"#;
        let ok = verify_signature(&signed(doc, "SECRET"), "us-east-1", &Secrets).unwrap();
        assert_eq!(ok.access_key, "AK");
        let e = verify_signature(&signed(doc, "WRONG"), "us-east-1", &Secrets).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::SignatureDoesNotMatch);
        let e = verify_signature(&signed(doc, "SECRET"), "eu-west-1", &Secrets).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidArgument);
        let e = verify_signature(&fields(&[("key", "k")]), "us-east-1", &Secrets).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessDenied);
        let e = verify_signature(&fields(&[("policy", "x")]), "us-east-1", &Secrets).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidArgument);
    }

    #[test]
    fn fields_are_case_insensitive_and_unique() {
        let mut f = Fields::default();
        f.add("Key", "a".into()).unwrap();
        assert_eq!(f.get("key"), Some("a"));
        assert!(f.add("KEY", "b".into()).is_err());
        assert_eq!(object_key("u/${filename}", Some("a.txt")), "u/a.txt");
        assert_eq!(object_key("u/x", Some("a.txt")), "u/x");
    }
}
