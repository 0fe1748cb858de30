//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`
//! and `If-Unmodified-Since` on reads (RFC 9110 section 13.2.2, which is
//! also what S3 does), and the two write conditions S3 has, `If-None-Match:
//! *` and `If-Match: ETAG` on PutObject and CompleteMultipartUpload. Pure:
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
