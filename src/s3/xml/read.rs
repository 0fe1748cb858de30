//! Request bodies: CompleteMultipartUpload, DeleteObjects (`Delete`),
//! CreateBucketConfiguration, VersioningConfiguration, Tagging,
//! LifecycleConfiguration and CORSConfiguration.
//!
//! What is accepted: namespace prefixes (only local names are compared),
//! attributes, comments, processing instructions, whitespace between
//! elements, and unknown elements anywhere (skipped with everything in
//! them). What is `MalformedXML`: anything not well-formed (mismatched or
//! unclosed tags, bad entities, a second root, text outside the root, a
//! DOCTYPE), the wrong root element, a required element missing or given
//! twice, a known leaf element holding elements, and more than the caps
//! below. The body size cap (1 MiB) is the caller's.
//!
//! Text follows XML 1.0: raw line ends (`\r\n`, `\r`) read as `\n`, and a
//! `\r` that matters is sent as `&#xD;` (botocore does exactly that).
//! Object keys are taken as written, spaces and all; other values are
//! trimmed.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::s3::{S3Error, S3ErrorCode};

/// Most parts one CompleteMultipartUpload may list (S3's part limit).
pub const COMPLETE_PARTS_MAX: usize = 10_000;
/// Most objects one DeleteObjects may name (S3's limit).
pub const DELETE_OBJECTS_MAX: usize = 1_000;
/// Most elements of any one body: room for `COMPLETE_PARTS_MAX` parts with
/// PartNumber, ETag and a few checksums each.
pub const ELEMENTS_MAX: usize = 100_000;
/// Deepest element nesting of any one body (S3's need 3).
pub const NESTING_MAX: usize = 16;

/// A DeleteObjects request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteRequest {
    /// Report only the failures.
    pub quiet: bool,
    /// `(key, version id)` in the order sent, 1 to [`DELETE_OBJECTS_MAX`].
    /// Keys are not validated here (an empty key is returned as such).
    pub objects: Vec<(String, Option<String>)>,
    /// `(index in objects, condition)` of the objects that carry an
    /// `ETag`, `LastModifiedTime` or `Size` (conditional deletes).
    pub conditions: Vec<(usize, crate::s3::conditional::DeleteCondition)>,
}

/// The elements of one `Object` of a DeleteObjects body.
#[derive(Default)]
struct DeleteObjectElements {
    key: Option<String>,
    version: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    size: Option<String>,
}

/// The `(part number, ETag)` list of a CompleteMultipartUpload, in the order
/// sent (checking it ascends is the caller's: `InvalidPartOrder`). ETags are
/// trimmed of whitespace and quotes; checksum elements are in
/// [`parse_complete_parts`].
///
/// Errors: `MalformedXML` for a part number that is not a decimal u32 and
/// for no parts or more than [`COMPLETE_PARTS_MAX`]; `InvalidArgument` for
/// a part number outside 1..=10000 (the message S3 gives UploadPart).
pub fn parse_complete_multipart(body: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    Ok(parse_complete_parts(body)?
        .into_iter()
        .map(|p| (p.number, p.etag))
        .collect())
}

/// One `Part` of a CompleteMultipartUpload body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompletePart {
    pub number: u32,
    /// Trimmed of whitespace and quotes.
    pub etag: String,
    /// `(element, value)` of the checksum elements it carries
    /// (`ChecksumCRC32`, ...), values trimmed.
    pub checksums: Vec<(String, String)>,
}

/// [`parse_complete_multipart`] with each part's checksum elements.
pub fn parse_complete_parts(body: &[u8]) -> Result<Vec<CompletePart>, S3Error> {
    const ROOT: &str = "CompleteMultipartUpload";
    let mut parts = Vec::new();
    type Partial = (Option<u32>, Option<String>, Vec<(String, String)>);
    let mut part: Option<Partial> = None;
    walk(body, ROOT, |step| match step {
        Step::Open(path) => {
            if names_are(path, &[ROOT, "Part"]) {
                if parts.len() >= COMPLETE_PARTS_MAX {
                    return Err(malformed());
                }
                part = Some((None, None, Vec::new()));
            }
            Ok(())
        }
        Step::Close(parents, element) => {
            if names_are(parents, &[ROOT, "Part"]) {
                let Some((number, etag, checksums)) = part.as_mut() else {
                    return Err(malformed());
                };
                match element.name.as_str() {
                    "PartNumber" => set_once(number, parse_part_number(&leaf(element)?)?),
                    "ETag" => set_once(etag, leaf(element)?.trim().trim_matches('"').to_owned()),
                    n if n.starts_with("Checksum") && n != "ChecksumType" => {
                        if checksums.iter().any(|(e, _)| e == n) {
                            return Err(malformed());
                        }
                        let name = n.to_owned();
                        checksums.push((name, leaf(element)?.trim().to_owned()));
                        Ok(())
                    }
                    _ => Ok(()),
                }
            } else if names_are(parents, &[ROOT]) && element.name == "Part" {
                match part.take() {
                    Some((Some(number), Some(etag), checksums)) => {
                        parts.push(CompletePart {
                            number,
                            etag,
                            checksums,
                        });
                        Ok(())
                    }
                    _ => Err(malformed()),
                }
            } else {
                Ok(())
            }
        }
    })?;
    if parts.is_empty() {
        return Err(malformed());
    }
    Ok(parts)
}

fn parse_part_number(text: &str) -> Result<u32, S3Error> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let number: u32 = text.parse().map_err(|_| malformed())?;
    if !(1..=10_000).contains(&number) {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive",
        ));
    }
    Ok(number)
}

/// A DeleteObjects body. `MalformedXML` for no objects, more than
/// [`DELETE_OBJECTS_MAX`], an Object without a Key, or a Quiet that is not
/// a boolean (`true`/`false`/`1`/`0`).
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, S3Error> {
    const ROOT: &str = "Delete";
    let mut request = DeleteRequest::default();
    let mut quiet: Option<bool> = None;
    let mut object: Option<DeleteObjectElements> = None;
    walk(body, ROOT, |step| match step {
        Step::Open(path) => {
            if names_are(path, &[ROOT, "Object"]) {
                if request.objects.len() >= DELETE_OBJECTS_MAX {
                    return Err(malformed());
                }
                object = Some(DeleteObjectElements::default());
            }
            Ok(())
        }
        Step::Close(parents, element) => {
            if names_are(parents, &[ROOT, "Object"]) {
                let Some(o) = object.as_mut() else {
                    return Err(malformed());
                };
                match element.name.as_str() {
                    "Key" => set_once(&mut o.key, leaf(element)?),
                    "VersionId" => set_once(&mut o.version, leaf(element)?.trim().to_owned()),
                    "ETag" => set_once(&mut o.etag, leaf(element)?.trim().to_owned()),
                    "LastModifiedTime" => {
                        set_once(&mut o.last_modified, leaf(element)?.trim().to_owned())
                    }
                    "Size" => set_once(&mut o.size, leaf(element)?.trim().to_owned()),
                    _ => Ok(()),
                }
            } else if names_are(parents, &[ROOT]) {
                match element.name.as_str() {
                    "Object" => match object.take() {
                        Some(DeleteObjectElements {
                            key: Some(key),
                            version,
                            etag,
                            last_modified,
                            size,
                        }) => {
                            let condition = crate::s3::conditional::DeleteCondition::from_elements(
                                etag.as_deref(),
                                last_modified.as_deref(),
                                size.as_deref(),
                            )
                            .map_err(|_| malformed())?;
                            if let Some(c) = condition {
                                request.conditions.push((request.objects.len(), c));
                            }
                            request.objects.push((key, version));
                            Ok(())
                        }
                        _ => Err(malformed()),
                    },
                    "Quiet" => set_once(&mut quiet, parse_bool(&leaf(element)?)?),
                    _ => Ok(()),
                }
            } else {
                Ok(())
            }
        }
    })?;
    if request.objects.is_empty() {
        return Err(malformed());
    }
    request.quiet = quiet.unwrap_or(false);
    Ok(request)
}

fn parse_bool(text: &str) -> Result<bool, S3Error> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") || t == "1" => Ok(true),
        t if t.eq_ignore_ascii_case("false") || t == "0" => Ok(false),
        _ => Err(malformed()),
    }
}

/// A CreateBucket body: its LocationConstraint, `None` for an empty body
/// (all whitespace counts as empty), no LocationConstraint or an empty one.
pub fn parse_create_bucket(body: &[u8]) -> Result<Option<String>, S3Error> {
    const ROOT: &str = "CreateBucketConfiguration";
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut location: Option<String> = None;
    walk(body, ROOT, |step| match step {
        Step::Close(parents, element)
            if names_are(parents, &[ROOT]) && element.name == "LocationConstraint" =>
        {
            set_once(&mut location, leaf(element)?.trim().to_owned())
        }
        _ => Ok(()),
    })?;
    Ok(location.filter(|l| !l.is_empty()))
}

/// A PutBucketVersioning body's `Status`: `true` Enabled, `false`
/// Suspended. `MfaDelete` may be given as `Disabled`; `Enabled` needs MFA,
/// which shale does not do (`NotImplemented`). No or another Status is
/// `MalformedXML`.
pub fn parse_versioning(body: &[u8]) -> Result<bool, S3Error> {
    const ROOT: &str = "VersioningConfiguration";
    let mut status: Option<String> = None;
    let mut mfa: Option<String> = None;
    walk(body, ROOT, |step| match step {
        Step::Close(parents, element) if names_are(parents, &[ROOT]) => {
            match element.name.as_str() {
                "Status" => set_once(&mut status, leaf(element)?.trim().to_owned()),
                "MfaDelete" => set_once(&mut mfa, leaf(element)?.trim().to_owned()),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    })?;
    match mfa.as_deref() {
        None | Some("Disabled") => {}
        Some("Enabled") => {
            return Err(S3Error::new(
                S3ErrorCode::NotImplemented,
                "MFA delete is not supported",
            ))
        }
        Some(_) => return Err(malformed()),
    }
    match status.as_deref() {
        Some("Enabled") => Ok(true),
        Some("Suspended") => Ok(false),
        _ => Err(malformed()),
    }
}

fn malformed() -> S3Error {
    S3Error::new(
        S3ErrorCode::MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

/// Stores `value` in an element's slot; a second one is `MalformedXML`.
fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), S3Error> {
    if slot.is_some() {
        return Err(malformed());
    }
    *slot = Some(value);
    Ok(())
}

/// An element being read: its local name and text so far.
struct Element {
    name: String,
    text: String,
    has_children: bool,
}

/// The text of an element that must hold only text.
fn leaf(element: Element) -> Result<String, S3Error> {
    if element.has_children {
        return Err(malformed());
    }
    Ok(element.text)
}

/// What [`walk`] reports.
enum Step<'a> {
    /// An element opened; the path from the root, itself last.
    Open(&'a [Element]),
    /// An element closed; the path to its parent, and the element.
    Close(&'a [Element], Element),
}

fn names_are(path: &[Element], names: &[&str]) -> bool {
    path.len() == names.len() && path.iter().zip(names).all(|(e, n)| e.name == *n)
}

/// Reads `body` as one well-formed XML document whose root's local name is
/// `root`, reporting each element's opening and closing to `visit`.
fn walk(
    body: &[u8],
    root: &str,
    mut visit: impl FnMut(Step<'_>) -> Result<(), S3Error>,
) -> Result<(), S3Error> {
    let mut reader = Reader::from_reader(body);
    let mut stack: Vec<Element> = Vec::new();
    let (mut elements, mut root_done) = (0usize, false);
    loop {
        let event = reader.read_event().map_err(|_| malformed())?;
        let start = match &event {
            Event::Start(e) | Event::Empty(e) => Some(e),
            _ => None,
        };
        if let Some(start) = start {
            elements += 1;
            if root_done || elements > ELEMENTS_MAX || stack.len() >= NESTING_MAX {
                return Err(malformed());
            }
            let name = local_name(start)?;
            if stack.is_empty() && name != root {
                return Err(malformed());
            }
            if let Some(parent) = stack.last_mut() {
                parent.has_children = true;
            }
            stack.push(Element {
                name,
                text: String::new(),
                has_children: false,
            });
            visit(Step::Open(&stack))?;
        }
        match event {
            Event::Start(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Empty(_) | Event::End(_) => {
                let element = stack.pop().ok_or_else(malformed)?;
                visit(Step::Close(&stack, element))?;
                root_done = stack.is_empty();
            }
            Event::Text(t) => append_text(&mut stack, &t, true)?,
            Event::CData(t) => append_text(&mut stack, &t, false)?,
            Event::Decl(_) if elements == 0 => {}
            Event::Decl(_) | Event::DocType(_) => return Err(malformed()),
            Event::Eof if root_done => return Ok(()),
            Event::Eof => return Err(malformed()),
        }
    }
}

/// The element's name without a namespace prefix; its attributes must be
/// well-formed (no duplicates, quoted values).
fn local_name(start: &BytesStart<'_>) -> Result<String, S3Error> {
    for attribute in start.attributes() {
        attribute.map_err(|_| malformed())?;
    }
    let name = start.local_name();
    std::str::from_utf8(name.as_ref())
        .map(str::to_owned)
        .map_err(|_| malformed())
}

/// Adds raw text (`escaped`: entity references still in it, as in a Text
/// event; not, as in CDATA) to the innermost open element. Outside the root
/// only whitespace is allowed.
fn append_text(stack: &mut [Element], raw: &[u8], escaped: bool) -> Result<(), S3Error> {
    let raw = std::str::from_utf8(raw).map_err(|_| malformed())?;
    let Some(element) = stack.last_mut() else {
        let blank = escaped && raw.bytes().all(|b| b.is_ascii_whitespace());
        return if blank { Ok(()) } else { Err(malformed()) };
    };
    let normalized = normalize_line_ends(raw);
    if escaped {
        let text = quick_xml::escape::unescape(&normalized).map_err(|_| malformed())?;
        element.text.push_str(&text);
    } else {
        element.text.push_str(&normalized);
    }
    Ok(())
}

/// XML 1.0 §2.11: `\r\n` and a lone `\r` read as `\n`.
fn normalize_line_ends(raw: &str) -> Cow<'_, str> {
    if raw.contains('\r') {
        Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(raw)
    }
}

/// A `Tagging` body (PutObjectTagging): `(key, value)` in the order sent,
/// checked (`InvalidTag`) by `lifecycle::validate_tags`.
pub fn parse_tagging(body: &[u8]) -> Result<Vec<(String, String)>, S3Error> {
    let tags = parse_tag_set(body)?;
    crate::s3::lifecycle::validate_tags(&tags)?;
    Ok(tags)
}

/// A `Tagging` body of PutBucketTagging: checked by
/// `lifecycle::validate_bucket_tags`.
pub fn parse_bucket_tagging(body: &[u8]) -> Result<Vec<(String, String)>, S3Error> {
    let tags = parse_tag_set(body)?;
    crate::s3::lifecycle::validate_bucket_tags(&tags)?;
    Ok(tags)
}

fn parse_tag_set(body: &[u8]) -> Result<Vec<(String, String)>, S3Error> {
    const ROOT: &str = "Tagging";
    let mut tags = Vec::new();
    let mut cur: (Option<String>, Option<String>) = (None, None);
    let mut saw_set = false;
    walk(body, ROOT, |step| match step {
        Step::Open(path) if names_are(path, &[ROOT, "TagSet", "Tag"]) => {
            cur = (None, None);
            Ok(())
        }
        Step::Close(parents, element) if names_are(parents, &[ROOT, "TagSet", "Tag"]) => {
            match element.name.as_str() {
                "Key" => set_once(&mut cur.0, leaf(element)?),
                "Value" => set_once(&mut cur.1, leaf(element)?),
                _ => Ok(()),
            }
        }
        Step::Close(parents, element) if names_are(parents, &[ROOT, "TagSet"]) => {
            if element.name == "Tag" {
                let (k, v) = std::mem::take(&mut cur);
                tags.push((k.ok_or_else(malformed)?, v.ok_or_else(malformed)?));
            }
            Ok(())
        }
        Step::Close(parents, element) if names_are(parents, &[ROOT]) => {
            if element.name == "TagSet" {
                saw_set = true;
            }
            Ok(())
        }
        _ => Ok(()),
    })?;
    if !saw_set {
        return Err(malformed());
    }
    Ok(tags)
}

fn push(list: &mut Vec<String>, text: String) -> Result<(), S3Error> {
    list.push(text);
    Ok(())
}

/// A `CORSConfiguration` body (PutBucketCors), checked by
/// `Cors::validate`. Leaf values are trimmed; `MaxAgeSeconds` must be a
/// decimal number.
pub fn parse_cors(body: &[u8]) -> Result<crate::s3::cors::Cors, S3Error> {
    use crate::s3::cors::{Cors, CorsRule, RULES_MAX};
    const ROOT: &str = "CORSConfiguration";
    let mut cors = Cors::default();
    let mut rule: Option<CorsRule> = None;
    walk(body, ROOT, |step| match step {
        Step::Open(path) if names_are(path, &[ROOT, "CORSRule"]) => {
            // One past the cap is kept, so validation names the cap.
            if cors.rules.len() > RULES_MAX {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!("A CORS configuration may hold at most {RULES_MAX} rules"),
                ));
            }
            rule = Some(CorsRule::default());
            Ok(())
        }
        Step::Close(parents, element) if names_are(parents, &[ROOT, "CORSRule"]) => {
            let r = rule.as_mut().ok_or_else(malformed)?;
            let name = element.name.clone();
            let text = leaf(element)?.trim().to_owned();
            match name.as_str() {
                "ID" => set_once(&mut r.id, text),
                "AllowedOrigin" => push(&mut r.allowed_origins, text),
                "AllowedMethod" => push(&mut r.allowed_methods, text),
                "AllowedHeader" => push(&mut r.allowed_headers, text),
                "ExposeHeader" => push(&mut r.expose_headers, text),
                "MaxAgeSeconds" => {
                    let n = text.parse::<u64>().map_err(|_| malformed())?;
                    set_once(&mut r.max_age_seconds, n)
                }
                _ => Ok(()),
            }
        }
        Step::Close(parents, element) if names_are(parents, &[ROOT]) => {
            if element.name == "CORSRule" {
                cors.rules.push(rule.take().ok_or_else(malformed)?);
            }
            Ok(())
        }
        _ => Ok(()),
    })?;
    cors.validate()?;
    Ok(cors)
}

/// A `LifecycleConfiguration` body: the rules, checked as S3 checks them
/// (`Lifecycle::validate`). Transitions (storage classes shale does not
/// have) are `NotImplemented`.
pub fn parse_lifecycle(body: &[u8]) -> Result<crate::s3::lifecycle::Lifecycle, S3Error> {
    use crate::s3::lifecycle::{Expiration, Filter, Lifecycle, NoncurrentExpiration, Rule};
    const ROOT: &str = "LifecycleConfiguration";

    /// A rule as it is read.
    #[derive(Default)]
    struct Draft {
        id: Option<String>,
        status: Option<String>,
        legacy_prefix: Option<String>,
        has_filter: bool,
        /// Predicates directly in Filter (at most one allowed).
        filter_predicates: usize,
        prefix: Option<String>,
        tags: Vec<(String, String)>,
        tag: (Option<String>, Option<String>),
        gt: Option<u64>,
        lt: Option<u64>,
        and: bool,
        days: Option<u64>,
        date: Option<u64>,
        eodm: Option<bool>,
        has_expiration: bool,
        nc_days: Option<u64>,
        nc_newer: Option<u32>,
        has_noncurrent: bool,
        abort_days: Option<u64>,
        has_abort: bool,
        transition: bool,
    }
    fn number<T: std::str::FromStr>(s: &str) -> Result<T, S3Error> {
        s.trim().parse().map_err(|_| malformed())
    }
    fn days(s: &str, what: &str) -> Result<u64, S3Error> {
        s.trim()
            .parse::<i64>()
            .map_err(|_| malformed())
            .and_then(|d| {
                u64::try_from(d).map_err(|_| {
                    S3Error::new(
                        S3ErrorCode::InvalidArgument,
                        format!("'{what}' must be a positive integer"),
                    )
                })
            })
    }
    fn date(s: &str) -> Result<u64, S3Error> {
        // ISO 8601 as S3 takes it: 2026-01-01T00:00:00Z or with .000Z.
        let s = s.trim();
        let bad = || {
            S3Error::new(
                S3ErrorCode::InvalidArgument,
                "'Date' must be ISO 8601 at midnight GMT, like 2027-01-01T00:00:00.000Z",
            )
        };
        let d = s.get(..10).ok_or_else(bad)?;
        let rest = s.get(10..).ok_or_else(bad)?;
        if !["", "T00:00:00Z", "T00:00:00.000Z", "T00:00:00+00:00"].contains(&rest) {
            return Err(bad());
        }
        let secs = crate::s3::time::parse_ymd(d).ok_or_else(bad)?;
        Ok(secs)
    }

    let mut rules: Vec<Rule> = Vec::new();
    let mut d = Draft::default();
    let mut failure: Option<S3Error> = None;
    walk(body, ROOT, |step| {
        match step {
            Step::Open(path) => {
                let names: Vec<&str> = path.iter().map(|e| e.name.as_str()).collect();
                match names.as_slice() {
                    [ROOT, "Rule"] => d = Draft::default(),
                    [ROOT, "Rule", "Filter"] => d.has_filter = true,
                    [ROOT, "Rule", "Filter", p] => {
                        d.filter_predicates += 1;
                        match *p {
                            "And" => d.and = true,
                            "Tag" => d.tag = (None, None),
                            _ => {}
                        }
                    }
                    [ROOT, "Rule", "Filter", "And", "Tag"] => d.tag = (None, None),
                    [ROOT, "Rule", "Expiration"] => d.has_expiration = true,
                    [ROOT, "Rule", "NoncurrentVersionExpiration"] => d.has_noncurrent = true,
                    [ROOT, "Rule", "AbortIncompleteMultipartUpload"] => d.has_abort = true,
                    [ROOT, "Rule", "Transition" | "NoncurrentVersionTransition", ..] => {
                        d.transition = true
                    }
                    _ => {}
                }
            }
            Step::Close(parents, element) => {
                let names: Vec<&str> = parents.iter().map(|e| e.name.as_str()).collect();
                let name = element.name.clone();
                match (names.as_slice(), name.as_str()) {
                    ([ROOT], "Rule") => {
                        let r = std::mem::take(&mut d);
                        match finish(r) {
                            Ok(rule) => rules.push(rule),
                            Err(e) => {
                                failure.get_or_insert(e);
                            }
                        }
                    }
                    ([ROOT, "Rule"], "ID") => {
                        set_once(&mut d.id, leaf(element)?.trim().to_string())?
                    }
                    ([ROOT, "Rule"], "Status") => {
                        set_once(&mut d.status, leaf(element)?.trim().to_string())?
                    }
                    ([ROOT, "Rule"], "Prefix") => set_once(&mut d.legacy_prefix, leaf(element)?)?,
                    ([ROOT, "Rule", "Filter"] | [ROOT, "Rule", "Filter", "And"], "Prefix") => {
                        set_once(&mut d.prefix, leaf(element)?)?
                    }
                    (
                        [ROOT, "Rule", "Filter"] | [ROOT, "Rule", "Filter", "And"],
                        "ObjectSizeGreaterThan",
                    ) => set_once(&mut d.gt, number(&leaf(element)?)?)?,
                    (
                        [ROOT, "Rule", "Filter"] | [ROOT, "Rule", "Filter", "And"],
                        "ObjectSizeLessThan",
                    ) => set_once(&mut d.lt, number(&leaf(element)?)?)?,
                    (
                        [ROOT, "Rule", "Filter", "Tag"] | [ROOT, "Rule", "Filter", "And", "Tag"],
                        "Key",
                    ) => set_once(&mut d.tag.0, leaf(element)?)?,
                    (
                        [ROOT, "Rule", "Filter", "Tag"] | [ROOT, "Rule", "Filter", "And", "Tag"],
                        "Value",
                    ) => set_once(&mut d.tag.1, leaf(element)?)?,
                    ([ROOT, "Rule", "Filter"] | [ROOT, "Rule", "Filter", "And"], "Tag") => {
                        let (k, v) = std::mem::take(&mut d.tag);
                        d.tags
                            .push((k.ok_or_else(malformed)?, v.unwrap_or_default()));
                    }
                    ([ROOT, "Rule", "Expiration"], "Days") => {
                        set_once(&mut d.days, days(&leaf(element)?, "Days")?)?
                    }
                    ([ROOT, "Rule", "Expiration"], "Date") => {
                        set_once(&mut d.date, date(&leaf(element)?)?)?
                    }
                    ([ROOT, "Rule", "Expiration"], "ExpiredObjectDeleteMarker") => {
                        let t = leaf(element)?;
                        set_once(&mut d.eodm, parse_bool(t.trim())?)?
                    }
                    ([ROOT, "Rule", "NoncurrentVersionExpiration"], "NoncurrentDays") => {
                        set_once(&mut d.nc_days, days(&leaf(element)?, "NoncurrentDays")?)?
                    }
                    ([ROOT, "Rule", "NoncurrentVersionExpiration"], "NewerNoncurrentVersions") => {
                        set_once(&mut d.nc_newer, number(&leaf(element)?)?)?
                    }
                    ([ROOT, "Rule", "AbortIncompleteMultipartUpload"], "DaysAfterInitiation") => {
                        set_once(
                            &mut d.abort_days,
                            days(&leaf(element)?, "DaysAfterInitiation")?,
                        )?
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    })?;
    if let Some(e) = failure {
        return Err(e);
    }

    fn finish(d: Draft) -> Result<Rule, S3Error> {
        if d.transition {
            return Err(S3Error::new(
                S3ErrorCode::NotImplemented,
                "Transition actions are not supported: shale has one storage class",
            ));
        }
        let enabled = match d.status.as_deref() {
            Some("Enabled") => true,
            Some("Disabled") => false,
            _ => return Err(malformed()),
        };
        // One of Filter and (legacy) Prefix; a Filter holds one predicate
        // (several go in And).
        if d.has_filter == d.legacy_prefix.is_some() || d.filter_predicates > 1 {
            return Err(malformed());
        }
        let filter = Filter {
            prefix: d.prefix.or(d.legacy_prefix.clone()).unwrap_or_default(),
            tags: d.tags,
            size_greater_than: d.gt,
            size_less_than: d.lt,
            and: d.and,
            legacy_prefix: d.legacy_prefix.is_some(),
        };
        let expiration = if d.has_expiration {
            Some(match (d.days, d.date, d.eodm) {
                (Some(n), None, None) => Expiration::Days(n),
                (None, Some(t), None) => Expiration::Date(t),
                (None, None, Some(true)) => Expiration::ExpiredObjectDeleteMarker,
                _ => return Err(malformed()),
            })
        } else {
            None
        };
        let noncurrent = if d.has_noncurrent {
            Some(NoncurrentExpiration {
                days: d.nc_days.ok_or_else(malformed)?,
                newer_noncurrent: d.nc_newer,
            })
        } else {
            None
        };
        let abort_multipart_days = if d.has_abort {
            Some(d.abort_days.ok_or_else(malformed)?)
        } else {
            None
        };
        Ok(Rule {
            id: d.id.unwrap_or_default(),
            enabled,
            filter,
            expiration,
            noncurrent,
            abort_multipart_days,
        })
    }

    let lc = Lifecycle { rules };
    lc.validate()?;
    Ok(lc)
}

/// What an `AccessControlPolicy` body says: the owner id, if given, and
/// the grants as sent.
pub type AccessControlPolicy = (
    Option<String>,
    Vec<(crate::s3::acl::RawGrantee, crate::s3::acl::Permission)>,
);

/// An `AccessControlPolicy` body (PutBucketAcl / PutObjectAcl): its
/// owner id if given, and the grants, unresolved (`acl::resolve_grants`
/// checks the grantees). A grant without a grantee or with a permission
/// that is not one of the five is `MalformedACLError`, as on AWS.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketAcl.html>
pub fn parse_access_control_policy(body: &[u8]) -> Result<AccessControlPolicy, S3Error> {
    use crate::s3::acl::{Permission, RawGrantee, GRANTS_MAX};
    const ROOT: &str = "AccessControlPolicy";
    let bad_acl = |what: &str| {
        S3Error::new(
            S3ErrorCode::MalformedACLError,
            format!("The XML you provided was not well-formed or did not validate against our published schema: {what}"),
        )
    };
    let mut owner = None;
    let mut grants = Vec::new();
    let mut grantee: Option<RawGrantee> = None;
    let mut permission: Option<Permission> = None;
    walk(body, ROOT, |step| match step {
        Step::Open(path) if names_are(path, &[ROOT, "AccessControlList", "Grant"]) => {
            if grants.len() >= GRANTS_MAX {
                return Err(bad_acl("too many grants"));
            }
            grantee = None;
            permission = None;
            Ok(())
        }
        Step::Close(parents, element) if names_are(parents, &[ROOT, "Owner"]) => {
            if element.name == "ID" {
                set_once(&mut owner, leaf(element)?.trim().to_owned())?;
            }
            Ok(())
        }
        Step::Close(parents, element)
            if names_are(parents, &[ROOT, "AccessControlList", "Grant", "Grantee"]) =>
        {
            let name = element.name.clone();
            let text = leaf(element)?.trim().to_owned();
            let g = match name.as_str() {
                "ID" => RawGrantee::Id(text),
                "URI" => RawGrantee::Uri(text),
                "EmailAddress" => RawGrantee::Email(text),
                _ => return Ok(()),
            };
            if grantee.is_some() {
                return Err(bad_acl("a Grantee names one ID, URI or EmailAddress"));
            }
            grantee = Some(g);
            Ok(())
        }
        Step::Close(parents, element)
            if names_are(parents, &[ROOT, "AccessControlList", "Grant"]) =>
        {
            if element.name == "Permission" {
                let text = leaf(element)?;
                let p = Permission::parse(text.trim())
                    .ok_or_else(|| bad_acl(&format!("unknown Permission {:?}", text.trim())))?;
                set_once(&mut permission, p)?;
            }
            Ok(())
        }
        Step::Close(parents, element) if names_are(parents, &[ROOT, "AccessControlList"]) => {
            if element.name == "Grant" {
                match (grantee.take(), permission.take()) {
                    (Some(g), Some(p)) => grants.push((g, p)),
                    _ => return Err(bad_acl("a Grant needs a Grantee and a Permission")),
                }
            }
            Ok(())
        }
        _ => Ok(()),
    })?;
    Ok((owner, grants))
}

/// A `PublicAccessBlockConfiguration` body; absent settings are false.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutPublicAccessBlock.html>
pub fn parse_public_access_block(
    body: &[u8],
) -> Result<crate::s3::access::PublicAccessBlock, S3Error> {
    const ROOT: &str = "PublicAccessBlockConfiguration";
    let mut slots: [Option<bool>; 4] = [None; 4];
    walk(body, ROOT, |step| match step {
        Step::Close(parents, element) if names_are(parents, &[ROOT]) => {
            let i = match element.name.as_str() {
                "BlockPublicAcls" => 0,
                "IgnorePublicAcls" => 1,
                "BlockPublicPolicy" => 2,
                "RestrictPublicBuckets" => 3,
                _ => return Ok(()),
            };
            let v = parse_bool(&leaf(element)?)?;
            match slots.get_mut(i) {
                Some(slot) => set_once(slot, v),
                None => Err(malformed()),
            }
        }
        _ => Ok(()),
    })?;
    let [a, b, c, d] = slots.map(|s| s.unwrap_or(false));
    Ok(crate::s3::access::PublicAccessBlock {
        block_public_acls: a,
        ignore_public_acls: b,
        block_public_policy: c,
        restrict_public_buckets: d,
    })
}

/// A PutObjectLockConfiguration body: `ObjectLockEnabled` must be
/// `Enabled`; a `Rule` needs a `DefaultRetention` with a `Mode` and
/// exactly one of `Days` and `Years` (a positive integer, at most 100
/// years).
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectLockConfiguration.html>
pub fn parse_object_lock_config(
    body: &[u8],
) -> Result<crate::s3::object_lock::LockConfig, S3Error> {
    use crate::s3::object_lock::{DefaultRetention, LockConfig, LockMode, DEFAULT_DAYS_MAX};
    const ROOT: &str = "ObjectLockConfiguration";
    const RETENTION: [&str; 3] = [ROOT, "Rule", "DefaultRetention"];
    let mut enabled: Option<String> = None;
    let mut rule = false;
    let mut mode: Option<String> = None;
    let mut days: Option<String> = None;
    let mut years: Option<String> = None;
    walk(body, ROOT, |step| match step {
        Step::Close(parents, element) if names_are(parents, &[ROOT]) => {
            match element.name.as_str() {
                "ObjectLockEnabled" => set_once(&mut enabled, leaf(element)?.trim().to_owned()),
                "Rule" => {
                    rule = true;
                    Ok(())
                }
                _ => Ok(()),
            }
        }
        Step::Close(parents, element) if names_are(parents, &RETENTION) => {
            match element.name.as_str() {
                "Mode" => set_once(&mut mode, leaf(element)?.trim().to_owned()),
                "Days" => set_once(&mut days, leaf(element)?.trim().to_owned()),
                "Years" => set_once(&mut years, leaf(element)?.trim().to_owned()),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    })?;
    if enabled.as_deref() != Some("Enabled") {
        return Err(malformed());
    }
    if !rule {
        return Ok(LockConfig::default());
    }
    let mode = mode
        .as_deref()
        .map(|m| {
            LockMode::from_name(m).ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::MalformedXML,
                    "Unknown Object Lock retention mode",
                )
            })
        })
        .transpose()?
        .ok_or_else(malformed)?;
    let (n, is_years) = match (days, years) {
        (Some(d), None) => (d, false),
        (None, Some(y)) => (y, true),
        _ => return Err(malformed()),
    };
    let n: u32 = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            "Default retention period must be a positive integer value",
        )
    })?;
    let days = if is_years { n.saturating_mul(365) } else { n };
    if days > DEFAULT_DAYS_MAX {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "Default retention period is too large (at most 100 years)",
        ));
    }
    Ok(LockConfig {
        default: Some(DefaultRetention {
            mode,
            days: if is_years { n } else { days },
            years: is_years,
        }),
    })
}

/// A PutObjectRetention body: `(mode, retain-until text)`, both or
/// neither (an empty `Retention` removes it).
pub fn parse_retention(body: &[u8]) -> Result<(Option<String>, Option<String>), S3Error> {
    const ROOT: &str = "Retention";
    let mut mode: Option<String> = None;
    let mut until: Option<String> = None;
    walk(body, ROOT, |step| match step {
        Step::Close(parents, element) if names_are(parents, &[ROOT]) => {
            match element.name.as_str() {
                "Mode" => set_once(&mut mode, leaf(element)?.trim().to_owned()),
                "RetainUntilDate" => set_once(&mut until, leaf(element)?.trim().to_owned()),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    })?;
    Ok((mode, until))
}

/// A PutObjectLegalHold body's `Status` (`ON` / `OFF`, unchecked).
pub fn parse_legal_hold(body: &[u8]) -> Result<String, S3Error> {
    const ROOT: &str = "LegalHold";
    let mut status: Option<String> = None;
    walk(body, ROOT, |step| match step {
        Step::Close(parents, element) if names_are(parents, &[ROOT]) => {
            match element.name.as_str() {
                "Status" => set_once(&mut status, leaf(element)?.trim().to_owned()),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    })?;
    status.ok_or_else(malformed)
}

/// A PutBucketEncryption body: one `Rule` whose
/// `ApplyServerSideEncryptionByDefault` has `SSEAlgorithm` AES256 (the
/// only default shale has: `aws:kms` needs a KMS, refused with 501).
/// `BucketKeyEnabled` is read and has no effect (it is a KMS setting).
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketEncryption.html>
pub fn parse_bucket_encryption(body: &[u8]) -> Result<(), S3Error> {
    const ROOT: &str = "ServerSideEncryptionConfiguration";
    const DEFAULT: [&str; 3] = [ROOT, "Rule", "ApplyServerSideEncryptionByDefault"];
    let mut rules = 0usize;
    let mut algorithm: Option<String> = None;
    let mut kms_key = false;
    walk(body, ROOT, |step| match step {
        Step::Close(parents, element) if names_are(parents, &[ROOT]) => {
            if element.name == "Rule" {
                rules += 1;
            }
            Ok(())
        }
        Step::Close(parents, element) if names_are(parents, &DEFAULT) => {
            match element.name.as_str() {
                "SSEAlgorithm" => set_once(&mut algorithm, leaf(element)?.trim().to_owned()),
                "KMSMasterKeyID" => {
                    kms_key = true;
                    Ok(())
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    })?;
    let kms = || {
        S3Error::new(
            S3ErrorCode::NotImplemented,
            "A header you provided implies functionality that is not implemented: default encryption with aws:kms needs a key management service and shale has none configured; use AES256.",
        )
    };
    if rules != 1 {
        return Err(malformed());
    }
    match algorithm.as_deref() {
        Some("AES256") if !kms_key => Ok(()),
        Some("AES256") => Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "a KMSMasterKeyID is allowed only with SSEAlgorithm aws:kms",
        )),
        Some(a) if a.starts_with("aws:kms") => Err(kms()),
        Some(_) => Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "SSEAlgorithm must be AES256",
        )),
        None => Err(malformed()),
    }
}
