//! Which bucket names and object keys S3 accepts.
//!
//! Bucket names follow the general purpose bucket rules of the S3 user
//! guide ("Bucket naming rules"), including the reserved prefixes and
//! suffixes AWS added for its own features, so a name that works here also
//! works on AWS. Object keys are any UTF-8 of 1 to 1024 bytes; control
//! characters (NUL included) are allowed, as on AWS — the XML writers in
//! [`super::xml`] deal with them.

use super::{S3Error, S3ErrorCode};

/// Shortest bucket name, in bytes.
pub const BUCKET_NAME_LEN_MIN: usize = 3;
/// Longest bucket name, in bytes.
pub const BUCKET_NAME_LEN_MAX: usize = 63;
/// Longest object key, in bytes of UTF-8.
pub const OBJECT_KEY_LEN_MAX: usize = 1024;

/// Prefixes AWS reserves (punycode, its own endpoints, documentation).
const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
/// Suffixes AWS reserves (access point aliases, Object Lambda, Multi-Region
/// Access Points, directory buckets, table buckets).
const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// `Ok` if `name` is a valid general purpose bucket name, else
/// `InvalidBucketName` saying which rule it breaks.
pub fn validate_bucket_name(name: &str) -> Result<(), S3Error> {
    let invalid = |why: &str| {
        Err(S3Error::new(
            S3ErrorCode::InvalidBucketName,
            format!("The specified bucket is not valid: {why}"),
        ))
    };
    if !(BUCKET_NAME_LEN_MIN..=BUCKET_NAME_LEN_MAX).contains(&name.len()) {
        return invalid("a bucket name is 3 to 63 characters long");
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-';
    if !name.bytes().all(allowed) {
        return invalid("only lowercase letters, digits, '.' and '-' are allowed");
    }
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !alnum(name.bytes().next()) || !alnum(name.bytes().last()) {
        return invalid("a bucket name starts and ends with a letter or digit");
    }
    if name.contains("..") {
        return invalid("two adjacent periods are not allowed");
    }
    // A period next to a hyphen is no valid DNS label boundary; AWS refuses
    // it (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html>).
    if name.contains(".-") || name.contains("-.") {
        return invalid("a period next to a hyphen is not allowed");
    }
    if looks_like_ipv4(name) {
        return invalid("a bucket name must not be formatted as an IP address");
    }
    if RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return invalid("the prefix is reserved");
    }
    if RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return invalid("the suffix is reserved");
    }
    Ok(())
}

/// Four dot-separated groups of digits, like `192.168.5.4`.
fn looks_like_ipv4(name: &str) -> bool {
    let groups: Vec<&str> = name.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
}

/// `Ok` if `key` is a valid object key: 1 to 1024 bytes (`KeyTooLongError`
/// past that) of UTF-8 (`InvalidArgument` otherwise, and for an empty key).
pub fn validate_object_key(key: &[u8]) -> Result<(), S3Error> {
    if key.is_empty() {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "An object key must not be empty",
        ));
    }
    if key.len() > OBJECT_KEY_LEN_MAX {
        return Err(S3Error::new(
            S3ErrorCode::KeyTooLongError,
            "Your key is too long",
        ));
    }
    if std::str::from_utf8(key).is_err() {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "An object key must be UTF-8",
        ));
    }
    Ok(())
}

/// Longest `LocationConstraint` accepted, in bytes (AWS region names are
/// under 20; a node's own region is as free as its config allows).
pub const LOCATION_CONSTRAINT_LEN_MAX: usize = 64;

/// `Ok` if `location` (a CreateBucket `LocationConstraint`) has the shape
/// of a region name: 1 to 64 ASCII letters, digits and '-', as the
/// node's `region` setting (`InvalidLocationConstraint` otherwise).
pub fn validate_location_constraint(location: &str) -> Result<(), S3Error> {
    let shaped = (1..=LOCATION_CONSTRAINT_LEN_MAX).contains(&location.len())
        && location
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if shaped {
        Ok(())
    } else {
        Err(S3Error::new(
            S3ErrorCode::InvalidLocationConstraint,
            format!(
                "The specified location-constraint is not valid: a region name is 1 to {LOCATION_CONSTRAINT_LEN_MAX} letters, digits and '-'."
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_constraints() {
        for ok in ["eu-west-1", "us-gov-west-1", "EU", "home-lab", "a"] {
            assert_eq!(validate_location_constraint(ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(LOCATION_CONSTRAINT_LEN_MAX + 1);
        for bad in ["", "eu west", "../x", "eu_west_1", "é", long.as_str()] {
            assert_eq!(
                validate_location_constraint(bad).map_err(|e| e.code),
                Err(S3ErrorCode::InvalidLocationConstraint),
                "{bad}"
            );
        }
    }
}
