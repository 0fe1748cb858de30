//! S3 lifecycle configuration: the rules (parsed and checked by
//! `xml::parse_lifecycle`, rendered by `xml::lifecycle`) and what they say
//! about an object — when a current version expires, when a noncurrent
//! one does, when an incomplete multipart upload is aborted, and the
//! `x-amz-expiration` header. Pure; day arithmetic follows AWS: the days
//! are added to the object's time and the result is rounded up to the
//! next midnight UTC.

use crate::s3::{S3Error, S3ErrorCode};

/// Most rules one configuration may hold (S3's limit).
pub const RULES_MAX: usize = 1000;
/// Longest rule ID.
pub const RULE_ID_MAX: usize = 255;
pub const TAG_KEY_MAX: usize = 128;
pub const TAG_VALUE_MAX: usize = 256;
/// Most tags an object may carry (S3's limit).
pub const OBJECT_TAGS_MAX: usize = 10;
const DAY: u64 = 86_400;

/// Which objects a rule applies to: all of these must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub prefix: String,
    pub tags: Vec<(String, String)>,
    /// The object is larger than this many bytes.
    pub size_greater_than: Option<u64>,
    /// The object is smaller than this many bytes.
    pub size_less_than: Option<u64>,
    /// Written as `<And>` (several predicates), as opposed to one.
    pub and: bool,
    /// Written as a legacy `<Prefix>` directly in the rule.
    pub legacy_prefix: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expiration {
    /// Days after the object was written.
    Days(u64),
    /// At this midnight UTC (Unix seconds).
    Date(u64),
    /// Remove a delete marker that is the only version left.
    ExpiredObjectDeleteMarker,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoncurrentExpiration {
    /// Days after the version became noncurrent.
    pub days: u64,
    /// Keep this many newer noncurrent versions regardless.
    pub newer_noncurrent: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    pub expiration: Option<Expiration>,
    pub noncurrent: Option<NoncurrentExpiration>,
    /// Days after initiation.
    pub abort_multipart_days: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub rules: Vec<Rule>,
}

/// What the rules see of an object.
#[derive(Clone, Copy, Debug)]
pub struct ObjectFacts<'a> {
    pub key: &'a [u8],
    pub size: u64,
    pub tags: &'a [(String, String)],
    /// When it was written (current) or became noncurrent, Unix seconds.
    pub time_secs: u64,
}

/// `days` after `t`, rounded up to the next midnight UTC (AWS: "adding the
/// number of days ... and rounding the resulting time to the next day
/// midnight UTC").
pub fn after_days(t: u64, days: u64) -> u64 {
    let at = t.saturating_add(days.saturating_mul(DAY));
    (at / DAY).saturating_add(1).saturating_mul(DAY)
}

impl Filter {
    pub fn matches(&self, o: &ObjectFacts<'_>) -> bool {
        o.key.starts_with(self.prefix.as_bytes())
            && self
                .tags
                .iter()
                .all(|(k, v)| o.tags.iter().any(|(ok, ov)| ok == k && ov == v))
            && self.size_greater_than.is_none_or(|n| o.size > n)
            && self.size_less_than.is_none_or(|n| o.size < n)
    }
}

fn invalid(code: S3ErrorCode, msg: impl Into<String>) -> S3Error {
    S3Error::new(code, msg)
}

impl Lifecycle {
    /// Gives every rule without an ID one, as AWS does (an ID of random
    /// base64 text; GetBucketLifecycleConfiguration then shows it):
    /// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_LifecycleRule.html>.
    /// `random` draws the bytes.
    pub fn assign_ids(
        &mut self,
        mut random: impl FnMut(&mut [u8]) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        use base64::Engine;
        for i in 0..self.rules.len() {
            if self.rules.get(i).is_some_and(|r| r.id.is_empty()) {
                let mut raw = [0u8; 30];
                random(&mut raw)?;
                let id = base64::engine::general_purpose::STANDARD.encode(raw);
                if let Some(r) = self.rules.get_mut(i) {
                    r.id = id;
                }
            }
        }
        Ok(())
    }

    /// Checks what S3 checks beyond the schema; the first problem.
    pub fn validate(&self) -> Result<(), S3Error> {
        use S3ErrorCode::{InvalidArgument, InvalidRequest, MalformedXML};
        if self.rules.is_empty() {
            return Err(invalid(
                MalformedXML,
                "a lifecycle configuration needs at least one Rule",
            ));
        }
        if self.rules.len() > RULES_MAX {
            return Err(invalid(
                InvalidArgument,
                format!("a lifecycle configuration holds at most {RULES_MAX} rules"),
            ));
        }
        for (i, r) in self.rules.iter().enumerate() {
            if r.id.len() > RULE_ID_MAX {
                return Err(invalid(
                    InvalidArgument,
                    format!("ID length should not exceed allowed limit of {RULE_ID_MAX}"),
                ));
            }
            if !r.id.is_empty() && self.rules.iter().take(i).any(|o| o.id == r.id) {
                return Err(invalid(
                    InvalidArgument,
                    "Rule ID must be unique. Found same ID for more than one rule",
                ));
            }
            if r.expiration.is_none() && r.noncurrent.is_none() && r.abort_multipart_days.is_none()
            {
                return Err(invalid(
                    InvalidRequest,
                    "At least one action needs to be specified in a rule",
                ));
            }
            let f = &r.filter;
            for (k, v) in &f.tags {
                if k.is_empty() || k.len() > TAG_KEY_MAX || v.len() > TAG_VALUE_MAX {
                    return Err(invalid(
                        InvalidArgument,
                        "The TagKey you have provided is invalid",
                    ));
                }
            }
            if f.tags
                .iter()
                .enumerate()
                .any(|(j, (k, _))| f.tags.iter().take(j).any(|(o, _)| o == k))
            {
                return Err(invalid(
                    InvalidRequest,
                    "Duplicate Tag Keys are not allowed.",
                ));
            }
            if let (Some(g), Some(l)) = (f.size_greater_than, f.size_less_than) {
                if g >= l {
                    return Err(invalid(
                        InvalidRequest,
                        "ObjectSizeGreaterThan must be less than ObjectSizeLessThan",
                    ));
                }
            }
            match &r.expiration {
                Some(Expiration::Days(0)) => {
                    return Err(invalid(
                        InvalidArgument,
                        "'Days' for Expiration action must be a positive integer",
                    ));
                }
                Some(Expiration::Date(d)) if d % DAY != 0 => {
                    return Err(invalid(InvalidArgument, "'Date' must be at midnight GMT"));
                }
                Some(Expiration::ExpiredObjectDeleteMarker) if !f.tags.is_empty() => {
                    return Err(invalid(
                        InvalidRequest,
                        "ExpiredObjectDeleteMarker cannot be specified with tags.",
                    ));
                }
                _ => {}
            }
            if let Some(n) = &r.noncurrent {
                if n.days == 0 {
                    return Err(invalid(InvalidArgument, "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"));
                }
                if n.newer_noncurrent.is_some_and(|v| !(1..=100).contains(&v)) {
                    return Err(invalid(
                        InvalidArgument,
                        "'NewerNoncurrentVersions' must be 1 to 100",
                    ));
                }
            }
            if let Some(d) = r.abort_multipart_days {
                if d == 0 {
                    return Err(invalid(InvalidArgument, "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"));
                }
                if !f.tags.is_empty() || f.size_greater_than.is_some() || f.size_less_than.is_some()
                {
                    return Err(invalid(
                        InvalidRequest,
                        "AbortIncompleteMultipartUpload cannot be specified with Tags or object size filters.",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether an enabled rule expires noncurrent versions or lone
    /// delete markers (then every change of a versioned key settles its
    /// versions' expiry, `object::noncurrent`).
    pub fn has_version_rules(&self) -> bool {
        self.enabled().any(|r| {
            r.noncurrent.is_some()
                || matches!(r.expiration, Some(Expiration::ExpiredObjectDeleteMarker))
        })
    }

    /// Whether any rule has an Expiration by Days or Date.
    pub fn expires_current(&self) -> bool {
        self.rules.iter().any(|r| {
            matches!(
                r.expiration,
                Some(Expiration::Days(_) | Expiration::Date(_))
            )
        })
    }

    fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.enabled)
    }

    /// Whether any enabled rule looks at tags (then evaluating it needs
    /// the object's tags, which live in its head).
    pub fn needs_tags(&self) -> bool {
        self.enabled().any(|r| !r.filter.tags.is_empty())
    }

    /// When the current version of `o` (written at `o.time_secs`) expires,
    /// and by which rule: the earliest of the matching Expiration rules.
    pub fn current_expiry<'a>(&'a self, o: &ObjectFacts<'_>) -> Option<(u64, &'a str)> {
        self.enabled()
            .filter(|r| r.filter.matches(o))
            .filter_map(|r| {
                let at = match r.expiration.as_ref()? {
                    Expiration::Days(d) => after_days(o.time_secs, *d),
                    Expiration::Date(t) => *t,
                    Expiration::ExpiredObjectDeleteMarker => return None,
                };
                Some((at, r.id.as_str()))
            })
            .min_by_key(|(at, _)| *at)
    }

    /// When a noncurrent version (noncurrent since `o.time_secs`, with
    /// `newer` noncurrent versions newer than it) expires.
    pub fn noncurrent_expiry(&self, o: &ObjectFacts<'_>, newer: u32) -> Option<u64> {
        self.enabled()
            .filter(|r| r.filter.matches(o))
            .filter_map(|r| {
                let n = r.noncurrent.as_ref()?;
                if n.newer_noncurrent.is_some_and(|keep| newer < keep) {
                    return None;
                }
                Some(after_days(o.time_secs, n.days))
            })
            .min()
    }

    /// Whether a delete marker of `key` that is the only version left is
    /// to be removed.
    pub fn expires_lone_markers(&self, key: &[u8]) -> bool {
        self.enabled().any(|r| {
            matches!(r.expiration, Some(Expiration::ExpiredObjectDeleteMarker))
                && key.starts_with(r.filter.prefix.as_bytes())
        })
    }

    /// When an upload of `key` initiated at `initiated_secs` is aborted.
    pub fn abort_upload_at(&self, key: &[u8], initiated_secs: u64) -> Option<u64> {
        self.enabled()
            .filter(|r| key.starts_with(r.filter.prefix.as_bytes()))
            .filter_map(|r| r.abort_multipart_days)
            .map(|d| after_days(initiated_secs, d))
            .min()
    }

    /// The `x-amz-expiration` header of a current object, if a rule
    /// expires it: `expiry-date="<http date>", rule-id="<id>"`.
    pub fn expiration_header(&self, o: &ObjectFacts<'_>) -> Option<String> {
        let (at, id) = self.current_expiry(o)?;
        Some(expiration_header(at, id))
    }
}

/// `x-amz-expiration`: `expiry-date="<HTTP date>", rule-id="<id>"`.
pub fn expiration_header(at_secs: u64, rule_id: &str) -> String {
    format!(
        "expiry-date=\"{}\", rule-id=\"{}\"",
        crate::s3::time::http_date(at_secs.saturating_mul(1_000_000_000)),
        rule_id.replace(['"', '\r', '\n'], "")
    )
}

/// Checks an object's tag set (`x-amz-tagging`, PutObjectTagging).
pub fn validate_tags(tags: &[(String, String)]) -> Result<(), S3Error> {
    if tags.len() > OBJECT_TAGS_MAX {
        return Err(invalid(
            S3ErrorCode::InvalidTag,
            format!("Object tags cannot be greater than {OBJECT_TAGS_MAX}"),
        ));
    }
    validate_tag_pairs(tags)
}

/// Most tags a bucket may have (PutBucketTagging: "up to 50 tags").
pub const BUCKET_TAGS_MAX: usize = 50;

/// Checks a bucket's tag set (PutBucketTagging): keys and values as for
/// objects, at most [`BUCKET_TAGS_MAX`], and no `aws:` keys (reserved for
/// AWS's own tags).
pub fn validate_bucket_tags(tags: &[(String, String)]) -> Result<(), S3Error> {
    if tags.len() > BUCKET_TAGS_MAX {
        return Err(invalid(
            S3ErrorCode::InvalidTag,
            format!("Bucket tag count cannot be greater than {BUCKET_TAGS_MAX}"),
        ));
    }
    if tags
        .iter()
        .any(|(k, _)| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(invalid(
            S3ErrorCode::InvalidTag,
            "System tags cannot be added/updated by requester",
        ));
    }
    validate_tag_pairs(tags)
}

/// Keys (1 to 128 characters) and values (at most 256), no key twice.
fn validate_tag_pairs(tags: &[(String, String)]) -> Result<(), S3Error> {
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > TAG_KEY_MAX {
            return Err(invalid(
                S3ErrorCode::InvalidTag,
                "The TagKey you have provided is invalid",
            ));
        }
        if v.chars().count() > TAG_VALUE_MAX {
            return Err(invalid(
                S3ErrorCode::InvalidTag,
                "The TagValue you have provided is invalid",
            ));
        }
        if tags.iter().take(i).any(|(o, _)| o == k) {
            return Err(invalid(
                S3ErrorCode::InvalidTag,
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(key: &'a str, size: u64, tags: &'a [(String, String)], t: u64) -> ObjectFacts<'a> {
        ObjectFacts {
            key: key.as_bytes(),
            size,
            tags,
            time_secs: t,
        }
    }

    fn rule(id: &str, filter: Filter, expiration: Option<Expiration>) -> Rule {
        Rule {
            id: id.into(),
            enabled: true,
            filter,
            expiration,
            noncurrent: None,
            abort_multipart_days: None,
        }
    }

    #[test]
    fn days_round_up_to_the_next_midnight_utc() {
        // 2014-01-15 10:30 UTC + 3 days -> 2014-01-19 00:00 UTC (AWS's example).
        let t = 1_389_781_800;
        assert_eq!(after_days(t, 3), 1_390_089_600);
        // Exactly midnight still goes to the next one.
        assert_eq!(after_days(1_389_744_000, 1), 1_389_744_000 + 2 * DAY);
    }

    #[test]
    fn the_earliest_matching_rule_wins_and_filters_apply() {
        let tag = vec![("class".to_string(), "tmp".to_string())];
        let lc = Lifecycle {
            rules: vec![
                rule(
                    "logs",
                    Filter {
                        prefix: "logs/".into(),
                        ..Filter::default()
                    },
                    Some(Expiration::Days(30)),
                ),
                rule(
                    "tmp",
                    Filter {
                        tags: tag.clone(),
                        ..Filter::default()
                    },
                    Some(Expiration::Days(1)),
                ),
                rule(
                    "big",
                    Filter {
                        size_greater_than: Some(1000),
                        ..Filter::default()
                    },
                    Some(Expiration::Days(7)),
                ),
                Rule {
                    enabled: false,
                    ..rule("off", Filter::default(), Some(Expiration::Days(1)))
                },
            ],
        };
        lc.validate().unwrap();
        let t = 0;
        assert_eq!(
            lc.current_expiry(&facts("logs/a", 10, &[], t)),
            Some((after_days(t, 30), "logs"))
        );
        assert_eq!(
            lc.current_expiry(&facts("logs/a", 10, &tag, t)),
            Some((after_days(t, 1), "tmp"))
        );
        assert_eq!(
            lc.current_expiry(&facts("x", 1001, &[], t)),
            Some((after_days(t, 7), "big"))
        );
        assert_eq!(lc.current_expiry(&facts("x", 1000, &[], t)), None);
        assert!(lc.needs_tags());
        assert!(lc
            .expiration_header(&facts("logs/a", 1, &[], t))
            .unwrap()
            .contains("rule-id=\"logs\""));
    }

    #[test]
    fn validation_refuses_what_s3_refuses() {
        let ok = rule("a", Filter::default(), Some(Expiration::Days(1)));
        let bad = |r: Rule| Lifecycle { rules: vec![r] }.validate().unwrap_err().code;
        assert_eq!(
            bad(rule("a", Filter::default(), Some(Expiration::Days(0)))),
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(rule("a", Filter::default(), Some(Expiration::Date(5)))),
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(rule("a", Filter::default(), None)),
            S3ErrorCode::InvalidRequest
        );
        let sizes = Filter {
            size_greater_than: Some(10),
            size_less_than: Some(5),
            ..Filter::default()
        };
        assert_eq!(
            bad(rule("a", sizes, Some(Expiration::Days(1)))),
            S3ErrorCode::InvalidRequest
        );
        let two = Lifecycle {
            rules: vec![ok.clone(), ok.clone()],
        };
        assert_eq!(
            two.validate().unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        let mut abort = rule(
            "a",
            Filter {
                tags: vec![("k".into(), "v".into())],
                ..Filter::default()
            },
            None,
        );
        abort.abort_multipart_days = Some(3);
        assert_eq!(bad(abort), S3ErrorCode::InvalidRequest);
        assert_eq!(
            Lifecycle::default().validate().unwrap_err().code,
            S3ErrorCode::MalformedXML
        );
    }

    #[test]
    fn noncurrent_keeps_the_newer_versions_asked_for() {
        let mut r = rule("nc", Filter::default(), None);
        r.noncurrent = Some(NoncurrentExpiration {
            days: 2,
            newer_noncurrent: Some(3),
        });
        let lc = Lifecycle { rules: vec![r] };
        lc.validate().unwrap();
        assert_eq!(lc.noncurrent_expiry(&facts("k", 1, &[], 0), 2), None);
        assert_eq!(
            lc.noncurrent_expiry(&facts("k", 1, &[], 0), 3),
            Some(after_days(0, 2))
        );
    }
}
