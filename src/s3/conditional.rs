//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`
//! and `If-Unmodified-Since` on reads (RFC 9110 section 13.2.2, which is
//! also what S3 does), and the two write conditions S3 has, `If-None-Match:
//! *` and `If-Match: ETAG` on PutObject and CompleteMultipartUpload, and
//! the delete conditions (`If-Match`, last modified time, size). Pure:
//! the caller supplies the object's ETag and modification time.

use super::time::parse_http_date;
use super::{S3Error, S3ErrorCode};

/// An entity-tag list as a header gives it: `*`, or tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagList {
    Any,
    /// Opaque tags without quotes or a weak prefix (ours are all strong).
    Tags(Vec<String>),
}

impl TagList {
    /// `*` or a comma-separated list of entity tags. Quotes are optional
    /// (S3 clients often send a bare ETag) and `W/` is dropped: S3 ETags
    /// are strong, so weak and strong comparison agree.
    pub fn parse(value: &str) -> TagList {
        if value.trim() == "*" {
            return TagList::Any;
        }
        let tags = value
            .split(',')
            .map(|t| {
                let t = t.trim();
                let t = t.strip_prefix("W/").unwrap_or(t);
                t.trim_matches('"').to_string()
            })
            .filter(|t| !t.is_empty())
            .collect();
        TagList::Tags(tags)
    }

    /// Whether `etag` (unquoted) is in the list.
    pub fn matches(&self, etag: &str) -> bool {
        match self {
            TagList::Any => true,
            TagList::Tags(tags) => tags.iter().any(|t| t == etag),
        }
    }
}

/// The read preconditions of a GET or HEAD.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadConditions {
    pub if_match: Option<TagList>,
    pub if_none_match: Option<TagList>,
    /// Seconds since the epoch; a date that does not parse is ignored, as
    /// RFC 9110 says.
    pub if_modified_since: Option<u64>,
    pub if_unmodified_since: Option<u64>,
}

/// What a read's preconditions say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadVerdict {
    Proceed,
    /// 304: the client's copy is current.
    NotModified,
    /// 412.
    PreconditionFailed(&'static str),
}

impl ReadConditions {
    /// From the request's headers (`get(name)` returns a header's value).
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> ReadConditions {
        ReadConditions {
            if_match: get("if-match").map(TagList::parse),
            if_none_match: get("if-none-match").map(TagList::parse),
            if_modified_since: get("if-modified-since").and_then(parse_http_date),
            if_unmodified_since: get("if-unmodified-since").and_then(parse_http_date),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == ReadConditions::default()
    }

    /// RFC 9110 section 13.2.2, for GET and HEAD: If-Match (else
    /// If-Unmodified-Since) can fail with 412; then If-None-Match (else
    /// If-Modified-Since) can answer 304. Times compare in whole seconds,
    /// the precision of an HTTP date.
    pub fn evaluate(&self, etag: &str, mtime_secs: u64) -> ReadVerdict {
        if let Some(m) = &self.if_match {
            if !m.matches(etag) {
                return ReadVerdict::PreconditionFailed("If-Match");
            }
        } else if let Some(t) = self.if_unmodified_since {
            if mtime_secs > t {
                return ReadVerdict::PreconditionFailed("If-Unmodified-Since");
            }
        }
        if let Some(n) = &self.if_none_match {
            if n.matches(etag) {
                return ReadVerdict::NotModified;
            }
        } else if let Some(t) = self.if_modified_since {
            if mtime_secs <= t {
                return ReadVerdict::NotModified;
            }
        }
        ReadVerdict::Proceed
    }
}

/// A write precondition S3 supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteCondition {
    /// `If-None-Match: *`: only if the key has no current object.
    Absent,
    /// `If-Match: ETAG`: only if the current object has this ETag (or, for
    /// `*`, any current object).
    Matches(TagList),
}

impl WriteCondition {
    /// The condition of a PutObject or CompleteMultipartUpload, if any.
    /// `If-None-Match` with anything but `*` is not something S3 does.
    pub fn from_headers<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<WriteCondition>, S3Error> {
        match (get("if-none-match"), get("if-match")) {
            (Some(_), Some(_)) => Err(S3Error::new(
                S3ErrorCode::NotImplemented,
                "A header you provided implies functionality that is not implemented: If-Match together with If-None-Match",
            )),
            (Some(n), None) if n.trim() == "*" => Ok(Some(WriteCondition::Absent)),
            (Some(_), None) => Err(S3Error::new(
                S3ErrorCode::NotImplemented,
                "A header you provided implies functionality that is not implemented: If-None-Match on a write takes only *",
            )),
            (None, Some(m)) => Ok(Some(WriteCondition::Matches(TagList::parse(m)))),
            (None, None) => Ok(None),
        }
    }

    /// Checks the condition against the key's current object (its ETag,
    /// `None` if the key has none): `Ok` to write, else the error to
    /// answer with.
    pub fn check(&self, current_etag: Option<&str>) -> Result<(), S3Error> {
        match (self, current_etag) {
            (WriteCondition::Absent, None) => Ok(()),
            (WriteCondition::Absent, Some(_)) => Err(S3Error::new(
                S3ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold (If-None-Match: the key has an object)",
            )),
            (WriteCondition::Matches(_), None) => Err(S3Error::new(
                S3ErrorCode::NoSuchKey,
                "The specified key does not exist (If-Match needs a current object).",
            )),
            (WriteCondition::Matches(tags), Some(e)) if tags.matches(e) => Ok(()),
            (WriteCondition::Matches(_), Some(_)) => Err(S3Error::new(
                S3ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold (If-Match: the ETag differs)",
            )),
        }
    }
}

/// The preconditions of a DeleteObject (`If-Match`,
/// `x-amz-if-match-last-modified-time`, `x-amz-if-match-size`) or of one
/// object of a DeleteObjects (its `ETag`, `LastModifiedTime`, `Size`).
/// All given must hold of the key's current object; they are checked
/// atomically with the delete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteCondition {
    pub if_match: Option<TagList>,
    /// Seconds since the epoch (S3 times have no finer resolution).
    pub last_modified_secs: Option<u64>,
    pub size: Option<u64>,
}

/// What a conditional delete compares: the current object's ETag
/// (unquoted), modification time (seconds) and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentObject {
    pub etag: String,
    pub mtime_secs: u64,
    pub size: u64,
}

impl DeleteCondition {
    /// From a DeleteObject's headers; `None` when it has none. A time or
    /// size that does not parse is `InvalidArgument`.
    pub fn from_headers<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<DeleteCondition>, S3Error> {
        let time = get("x-amz-if-match-last-modified-time")
            .map(|t| {
                parse_http_date(t)
                    .or_else(|| super::time::parse_iso8601(t))
                    .ok_or_else(|| invalid("x-amz-if-match-last-modified-time", t))
            })
            .transpose()?;
        let size = get("x-amz-if-match-size")
            .map(|v| parse_size("x-amz-if-match-size", v))
            .transpose()?;
        Ok(DeleteCondition {
            if_match: get("if-match").map(TagList::parse),
            last_modified_secs: time,
            size,
        }
        .none_if_empty())
    }

    /// From the `ETag`, `LastModifiedTime` (ISO 8601) and `Size` elements
    /// of a DeleteObjects `Object`, as sent.
    pub fn from_elements(
        etag: Option<&str>,
        last_modified: Option<&str>,
        size: Option<&str>,
    ) -> Result<Option<DeleteCondition>, S3Error> {
        let time = last_modified
            .map(|t| super::time::parse_iso8601(t).ok_or_else(|| invalid("LastModifiedTime", t)))
            .transpose()?;
        Ok(DeleteCondition {
            if_match: etag.map(TagList::parse),
            last_modified_secs: time,
            size: size.map(|v| parse_size("Size", v)).transpose()?,
        }
        .none_if_empty())
    }

    fn none_if_empty(self) -> Option<DeleteCondition> {
        (self != DeleteCondition::default()).then_some(self)
    }

    /// Checks the condition against the key's current object (`None`: no
    /// object, or a delete marker). With no object, `If-Match` answers
    /// NoSuchKey as it does on a write, while a time or size alone lets
    /// the delete go ahead (DeleteObject in the S3 API reference: "If the
    /// Size matches or if the object doesn't exist, the operation returns
    /// a 204"); a mismatch of any is PreconditionFailed.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html>,
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html>
    pub fn check(&self, current: Option<&CurrentObject>) -> Result<(), S3Error> {
        let Some(c) = current else {
            return match self.if_match {
                Some(_) => Err(S3Error::new(
                    S3ErrorCode::NoSuchKey,
                    "The specified key does not exist (If-Match needs a current object).",
                )),
                None => Ok(()),
            };
        };
        let failed = |what: &str| {
            Err(S3Error::new(
                S3ErrorCode::PreconditionFailed,
                format!("At least one of the pre-conditions you specified did not hold ({what})"),
            ))
        };
        if self.if_match.as_ref().is_some_and(|t| !t.matches(&c.etag)) {
            return failed("If-Match: the ETag differs");
        }
        if self.last_modified_secs.is_some_and(|t| t != c.mtime_secs) {
            return failed("the last modified time differs");
        }
        if self.size.is_some_and(|s| s != c.size) {
            return failed("the size differs");
        }
        Ok(())
    }
}

fn parse_size(what: &str, v: &str) -> Result<u64, S3Error> {
    v.trim().parse::<u64>().map_err(|_| invalid(what, v))
}

fn invalid(what: &str, v: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidArgument,
        format!("Invalid value for {what}: {v:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conds(pairs: &[(&'static str, &'static str)]) -> ReadConditions {
        ReadConditions::from_headers(|n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
    }

    const ETAG: &str = "5d41402abc4b2a76b9719d911017c592";
    // Sun, 22 Nov 2026 08:00:00 GMT
    const T: u64 = 1_795_334_400;

    #[test]
    fn tag_lists_take_quotes_weak_prefixes_and_stars() {
        assert_eq!(TagList::parse(" * "), TagList::Any);
        let l = TagList::parse(&format!("W/\"x\", \"{ETAG}\" ,y"));
        assert!(l.matches(ETAG) && l.matches("x") && l.matches("y"));
        assert!(!l.matches("z"));
        assert!(!TagList::parse("").matches(""));
    }

    #[test]
    fn reads_follow_rfc_9110_precedence() {
        use ReadVerdict::*;
        let date = "Sun, 22 Nov 2026 08:00:00 GMT";
        let older = "Sun, 22 Nov 2026 07:59:59 GMT";
        assert_eq!(conds(&[]).evaluate(ETAG, T), Proceed);
        assert_eq!(conds(&[("if-match", ETAG)]).evaluate(ETAG, T), Proceed);
        assert!(matches!(
            conds(&[("if-match", "\"other\"")]).evaluate(ETAG, T),
            PreconditionFailed(_)
        ));
        assert_eq!(
            conds(&[("if-none-match", ETAG)]).evaluate(ETAG, T),
            NotModified
        );
        assert_eq!(
            conds(&[("if-none-match", "*")]).evaluate(ETAG, T),
            NotModified
        );
        assert_eq!(
            conds(&[("if-modified-since", date)]).evaluate(ETAG, T),
            NotModified
        );
        assert_eq!(
            conds(&[("if-modified-since", older)]).evaluate(ETAG, T),
            Proceed
        );
        assert_eq!(
            conds(&[("if-unmodified-since", date)]).evaluate(ETAG, T),
            Proceed
        );
        assert!(matches!(
            conds(&[("if-unmodified-since", older)]).evaluate(ETAG, T),
            PreconditionFailed(_)
        ));
        // If-Match true overrides a failing If-Unmodified-Since (S3 answers 200).
        assert_eq!(
            conds(&[("if-match", ETAG), ("if-unmodified-since", older)]).evaluate(ETAG, T),
            Proceed
        );
        // If-None-Match false overrides If-Modified-Since (304), and a
        // failing If-None-Match is not saved by a modified date.
        assert_eq!(
            conds(&[("if-none-match", ETAG), ("if-modified-since", older)]).evaluate(ETAG, T),
            NotModified
        );
        assert_eq!(
            conds(&[("if-none-match", "\"other\""), ("if-modified-since", date)]).evaluate(ETAG, T),
            Proceed
        );
        // 412 wins over 304.
        assert!(matches!(
            conds(&[("if-match", "\"other\""), ("if-none-match", ETAG)]).evaluate(ETAG, T),
            PreconditionFailed(_)
        ));
        // An unparsable date is ignored; sub-second times compare by second.
        assert_eq!(
            conds(&[("if-modified-since", "yesterday")]).evaluate(ETAG, T),
            Proceed
        );
        assert_eq!(
            conds(&[("if-modified-since", date)]).evaluate(ETAG, T),
            NotModified
        );
    }

    #[test]
    fn delete_conditions_need_every_given_one_to_hold() {
        let obj = CurrentObject {
            etag: ETAG.into(),
            mtime_secs: T,
            size: 5,
        };
        let from = |pairs: &'static [(&'static str, &'static str)]| {
            DeleteCondition::from_headers(move |n| {
                pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
            })
        };
        assert_eq!(from(&[]), Ok(None));
        const DATE: &str = "Sun, 22 Nov 2026 08:00:00 GMT";
        let all = from(&[
            ("if-match", ETAG),
            ("x-amz-if-match-last-modified-time", DATE),
            ("x-amz-if-match-size", "5"),
        ])
        .ok()
        .flatten()
        .unwrap_or_default();
        assert!(all.check(Some(&obj)).is_ok());
        for (field, bad) in [("etag", 0), ("time", 1), ("size", 2)] {
            let mut o = obj.clone();
            match bad {
                0 => o.etag = "other".into(),
                1 => o.mtime_secs += 1,
                _ => o.size += 1,
            }
            assert_eq!(
                all.check(Some(&o)).map_err(|e| e.code),
                Err(S3ErrorCode::PreconditionFailed),
                "{field}"
            );
        }
        assert_eq!(
            all.check(None).map_err(|e| e.code),
            Err(S3ErrorCode::NoSuchKey)
        );
        let size_only = from(&[("x-amz-if-match-size", "9")]).ok().flatten();
        assert!(size_only.is_some_and(|c| c.check(None).is_ok()));
        assert_eq!(
            from(&[("x-amz-if-match-size", "-1")]).map_err(|e| e.code),
            Err(S3ErrorCode::InvalidArgument)
        );
        let star = DeleteCondition::from_elements(Some("*"), None, None);
        assert!(star
            .ok()
            .flatten()
            .is_some_and(|c| c.check(Some(&obj)).is_ok()));
        assert_eq!(
            DeleteCondition::from_elements(None, Some("yesterday"), None).map_err(|e| e.code),
            Err(S3ErrorCode::InvalidArgument)
        );
    }

    #[test]
    fn write_conditions_are_star_or_an_etag() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            WriteCondition::from_headers(move |n| {
                pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
            })
        };
        assert_eq!(get(&[]), Ok(None));
        assert_eq!(
            get(&[("if-none-match", "*")]),
            Ok(Some(WriteCondition::Absent))
        );
        assert_eq!(
            get(&[("if-none-match", "\"x\"")]).map_err(|e| e.code),
            Err(S3ErrorCode::NotImplemented)
        );
        let m = get(&[("if-match", "\"x\"")]).ok().flatten();
        assert_eq!(
            m,
            Some(WriteCondition::Matches(TagList::Tags(vec!["x".into()])))
        );
        let m = m.unwrap_or(WriteCondition::Absent);
        assert!(m.check(Some("x")).is_ok());
        assert_eq!(
            m.check(Some("y")).map_err(|e| e.code),
            Err(S3ErrorCode::PreconditionFailed)
        );
        assert_eq!(
            m.check(None).map_err(|e| e.code),
            Err(S3ErrorCode::NoSuchKey)
        );
        assert!(WriteCondition::Absent.check(None).is_ok());
        assert_eq!(
            WriteCondition::Absent.check(Some("x")).map_err(|e| e.code),
            Err(S3ErrorCode::PreconditionFailed)
        );
    }
}
