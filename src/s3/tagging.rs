//! Object tags: the `x-amz-tagging` header (URL-query form) and how a tag
//! set is kept in an object head's metadata, under the name
//! [`TAGGING_META`] in that same form. Pure.

use crate::s3::lifecycle::validate_tags;
use crate::s3::xml::url_encode;
use crate::s3::{percent_decode, S3Error};

/// The object metadata entry that holds the tag set.
pub const TAGGING_META: &str = "x-amz-tagging";

/// Parses `k1=v1&k2=v2` (URL-encoded, `+` is a space), checked as S3
/// checks a tag set (`InvalidTag`).
pub fn parse_header(v: &str) -> Result<Vec<(String, String)>, S3Error> {
    let decode =
        |s: &str| String::from_utf8_lossy(&percent_decode(&s.replace('+', " "))).into_owned();
    let tags: Vec<(String, String)> = v
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    validate_tags(&tags)?;
    Ok(tags)
}

/// The stored (and header) form of a tag set.
pub fn encode(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The tag set kept in an object's metadata.
pub fn tags_in(meta: &[(String, String)]) -> Vec<(String, String)> {
    meta.iter()
        .find(|(n, _)| n == TAGGING_META)
        .map(|(_, v)| {
            v.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (
                        String::from_utf8_lossy(&percent_decode(k)).into_owned(),
                        String::from_utf8_lossy(&percent_decode(v)).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `meta` with its tag set replaced by `tags` (none if empty).
pub fn with_tags(meta: &[(String, String)], tags: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = meta
        .iter()
        .filter(|(n, _)| n != TAGGING_META)
        .cloned()
        .collect();
    if !tags.is_empty() {
        out.push((TAGGING_META.to_string(), encode(tags)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_stored_forms_round_trip() {
        let tags = parse_header("project=blue%20sky&team=a+b&empty=").unwrap();
        assert_eq!(
            tags,
            vec![
                ("project".to_string(), "blue sky".to_string()),
                ("team".to_string(), "a b".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
        let meta = with_tags(&[("content-type".into(), "text/plain".into())], &tags);
        assert_eq!(tags_in(&meta), tags);
        assert_eq!(tags_in(&with_tags(&meta, &[])), vec![]);
        assert!(parse_header("a=1&a=2").is_err());
        let many: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(parse_header(&many.join("&")).is_err());
    }
}
