//! Bucket CORS: the rules of a `CORSConfiguration` (PutBucketCors), their
//! validation, and which rule answers a browser's request. Pure: parsing
//! is `xml::parse_cors`, rendering `xml::cors`, the HTTP side the server's.
//!
//! As S3 does it (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html>,
//! "How does Amazon S3 evaluate the CORS configuration on a bucket?"): the
//! first rule whose AllowedOrigin matches the `Origin`, whose AllowedMethod
//! holds the method (the preflight's `Access-Control-Request-Method`), and
//! whose AllowedHeader entries cover every header the preflight names in
//! `Access-Control-Request-Headers` answers; an origin or header pattern
//! may hold one `*` wildcard.

use super::{S3Error, S3ErrorCode};

/// Most rules one configuration may hold (CORSConfiguration in the S3 API
/// reference: "You can add up to 100 rules").
pub const RULES_MAX: usize = 100;
/// The methods a rule may allow.
pub const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];
/// Longest rule ID (CORSRule: "cannot be longer than 255 characters").
pub const ID_MAX: usize = 255;

/// One `CORSRule`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u64>,
}

/// A bucket's CORS configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cors {
    pub rules: Vec<CorsRule>,
}

fn invalid(msg: impl Into<String>) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidRequest, msg)
}

impl Cors {
    /// Checks the rules as S3 does before storing them.
    pub fn validate(&self) -> Result<(), S3Error> {
        if self.rules.is_empty() {
            return Err(S3Error::new(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        if self.rules.len() > RULES_MAX {
            return Err(invalid(format!(
                "A CORS configuration may hold at most {RULES_MAX} rules"
            )));
        }
        for r in &self.rules {
            if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
                return Err(S3Error::new(
                    S3ErrorCode::MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema",
                ));
            }
            if let Some(m) = r
                .allowed_methods
                .iter()
                .find(|m| !METHODS.contains(&m.as_str()))
            {
                return Err(invalid(format!(
                    "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                )));
            }
            if let Some(o) = r
                .allowed_origins
                .iter()
                .find(|o| o.matches('*').count() > 1)
            {
                return Err(invalid(format!(
                    "AllowedOrigin \"{o}\" can not have more than one wildcard."
                )));
            }
            if let Some(h) = r
                .allowed_headers
                .iter()
                .find(|h| h.matches('*').count() > 1)
            {
                return Err(invalid(format!(
                    "AllowedHeader \"{h}\" can not have more than one wildcard."
                )));
            }
            if r.id.as_ref().is_some_and(|id| id.chars().count() > ID_MAX) {
                return Err(invalid(format!(
                    "The ID of a CORS rule can not be longer than {ID_MAX} characters"
                )));
            }
        }
        Ok(())
    }

    /// The rule that allows a request from `origin` with `method` and
    /// (for a preflight) the headers it asks for, if any.
    pub fn find(&self, origin: &str, method: &str, headers: &[String]) -> Option<&CorsRule> {
        self.rules.iter().find(|r| {
            r.allowed_origins
                .iter()
                .any(|o| wildcard_match(o, origin, false))
                && r.allowed_methods.iter().any(|m| m == method)
                && headers
                    .iter()
                    .all(|h| r.allowed_headers.iter().any(|a| wildcard_match(a, h, true)))
        })
    }
}

impl CorsRule {
    /// What `Access-Control-Allow-Origin` says: `*` for a rule open to
    /// every origin, else the request's origin.
    pub fn allow_origin<'a>(&self, origin: &'a str) -> &'a str {
        if self.allowed_origins.iter().any(|o| o == "*") {
            "*"
        } else {
            origin
        }
    }
}

/// The header names of an `Access-Control-Request-Headers` value,
/// lowercase.
pub fn requested_headers(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// Whether `value` matches `pattern`, which may hold one `*` standing for
/// any run of characters (`ignore_case` for header names).
fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_string(), value.to_string())
    };
    match p.split_once('*') {
        None => p == v,
        Some((pre, post)) => {
            v.len() >= pre.len() + post.len() && v.starts_with(pre) && v.ends_with(post)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        CorsRule {
            allowed_origins: v(origins),
            allowed_methods: v(methods),
            allowed_headers: v(headers),
            ..CorsRule::default()
        }
    }

    #[test]
    fn the_first_rule_allowing_origin_method_and_headers_answers() {
        let cors = Cors {
            rules: vec![
                rule(&["https://*.example.com"], &["PUT"], &["content-*"]),
                rule(&["*"], &["GET"], &[]),
            ],
        };
        let h = |s: &str| requested_headers(Some(s));
        let first = cors.rules.first();
        assert_eq!(
            cors.find("https://a.example.com", "PUT", &h("Content-Type")),
            first
        );
        assert_eq!(
            cors.find("https://a.example.com", "PUT", &h("x-amz-date")),
            None
        );
        assert_eq!(cors.find("http://a.example.com", "PUT", &[]), None);
        assert_eq!(cors.find("https://example.com", "PUT", &[]), None);
        assert_eq!(cors.find("http://other", "GET", &[]), cors.rules.get(1));
        assert_eq!(cors.find("http://other", "DELETE", &[]), None);
        assert_eq!(
            cors.rules.get(1).map(|r| r.allow_origin("http://o")),
            Some("*")
        );
    }

    #[test]
    fn rules_are_validated_as_s3_does() {
        let ok = Cors {
            rules: vec![rule(&["*"], &["GET", "HEAD"], &["*"])],
        };
        assert!(ok.validate().is_ok());
        let code = |c: Cors| c.validate().map_err(|e| e.code);
        assert_eq!(
            code(Cors {
                rules: vec![rule(&["*"], &["PATCH"], &[])]
            }),
            Err(S3ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(Cors {
                rules: vec![rule(&["*.*"], &["GET"], &[])]
            }),
            Err(S3ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(Cors {
                rules: vec![rule(&[], &["GET"], &[])]
            }),
            Err(S3ErrorCode::MalformedXML)
        );
        assert_eq!(
            code(Cors {
                rules: vec![rule(&["*"], &["GET"], &[]); RULES_MAX + 1]
            }),
            Err(S3ErrorCode::InvalidRequest)
        );
        assert_eq!(code(Cors::default()), Err(S3ErrorCode::MalformedXML));
    }
}
