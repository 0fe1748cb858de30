//! S3 XML bodies and documents: any key (control characters, `&`, `<`,
//! `]]>`, any Unicode) survives the writers and an independent quick-xml
//! read, and, url-encoded, any decoder; request bodies built from random
//! keys parse back to them; malformed, oversized or arbitrary bodies are
//! `MalformedXML` and never panic.

use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::Reader;
use shale::s3::xml::{
    self, complete_multipart, delete_result, escape_text, initiate_multipart, list_buckets,
    list_multipart_uploads, list_objects_v1, list_objects_v2, list_parts, location_constraint,
    parse_complete_multipart, parse_create_bucket, parse_delete, url_encode, DeleteRequest,
    DeletedEntry, ListEntry, ListObjectsResult, ListPartsResult, ListUploadsResult, PartEntry,
    UploadEntry,
};
use shale::s3::S3ErrorCode;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

// ---------------------------------------------------------------------------
// An independent reader: the texts of every element at a path.

/// The texts of the elements at `path` (local names joined by '/'), in
/// document order, read with plain quick-xml.
fn texts(doc: &str, path: &str) -> Vec<String> {
    let mut reader = Reader::from_str(doc);
    let (mut stack, mut out, mut text) = (Vec::<String>::new(), Vec::new(), String::new());
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                stack.push(String::from_utf8(e.local_name().as_ref().to_vec()).unwrap());
                text.clear();
            }
            Event::Empty(e) => {
                stack.push(String::from_utf8(e.local_name().as_ref().to_vec()).unwrap());
                if stack.join("/") == path {
                    out.push(String::new());
                }
                stack.pop();
            }
            Event::Text(t) => text.push_str(&t.unescape().unwrap()),
            Event::End(_) => {
                if stack.join("/") == path {
                    out.push(std::mem::take(&mut text));
                }
                stack.pop();
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

/// Percent-decoding as `urllib.parse.unquote` (plus: as `unquote_plus`).
fn unquote(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        match b[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Keys heavy in what breaks XML and URLs, plus any Unicode at all.
fn hostile_key() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        prop::sample::select(vec![
            '\0', '\u{1}', '\u{8}', '\u{1B}', '\u{1F}', '\t', '\n', '\r', '&', '<', '>', '"', '\'',
            ']', ' ', '+', '%', '/', '=', '?', '#', ';', 'é', '😀', '\u{85}', '\u{FEFF}',
            '\u{FFFE}', '\u{FFFF}', '\u{7F}',
        ]),
        any::<char>(),
    ];
    prop::collection::vec(c, 0..24).prop_map(|cs| cs.into_iter().collect())
}

fn list_result(keys: &[String], prefixes: &[String], encoding_url: bool) -> ListObjectsResult {
    ListObjectsResult {
        bucket: "bucket".into(),
        prefix: keys.first().cloned().unwrap_or_default(),
        delimiter: Some(keys.last().cloned().unwrap_or_default()),
        max_keys: 1000,
        is_truncated: true,
        encoding_url,
        marker: keys.get(1).cloned().unwrap_or_default(),
        next_marker: keys.get(2).cloned(),
        continuation_token: Some("tok&<".into()),
        next_continuation_token: Some("next".into()),
        start_after: keys.get(3).cloned(),
        key_count: (keys.len() + prefixes.len()) as u32,
        fetch_owner: true,
        contents: keys
            .iter()
            .map(|k| ListEntry {
                key: k.clone(),
                last_modified_iso: "2026-11-22T08:00:00.000Z".into(),
                etag_quoted: "\"abc\"".into(),
                size: 7,
                storage_class: "STANDARD".into(),
                owner: Some((k.clone(), "name".into())),
            })
            .collect(),
        common_prefixes: prefixes.to_vec(),
    }
}

/// Every key-like field of a listing, read back through `decode`.
fn listed_keys(doc: &str, decode: impl Fn(&str) -> String) -> Vec<Vec<String>> {
    let dec = |path: &str| texts(doc, path).iter().map(|s| decode(s)).collect();
    vec![
        dec("ListBucketResult/Contents/Key"),
        dec("ListBucketResult/CommonPrefixes/Prefix"),
        dec("ListBucketResult/Prefix"),
        dec("ListBucketResult/Delimiter"),
    ]
}

proptest! {
    #[test]
    fn delete_result_keys_round_trip(
        deleted in prop::collection::vec((hostile_key(), prop::option::of(hostile_key())), 0..6),
        failed in prop::collection::vec((hostile_key(), hostile_key()), 0..6),
    ) {
        let errors: Vec<(String, String, String)> = failed
            .iter()
            .map(|(k, m)| (k.clone(), "AccessDenied".to_string(), m.clone()))
            .collect();
        let entries: Vec<DeletedEntry> = deleted
            .iter()
            .enumerate()
            .map(|(i, (k, v))| DeletedEntry {
                key: k.clone(),
                version_id: v.clone(),
                delete_marker: i % 2 == 0,
                delete_marker_version_id: (i % 4 == 0).then(|| format!("{i:032x}")),
            })
            .collect();
        let doc = delete_result(&entries, &errors);
        let head = format!("{DECL}<DeleteResult {NS}>");
        prop_assert!(doc.starts_with(&head));
        let keys: Vec<String> = deleted.iter().map(|(k, _)| k.clone()).collect();
        prop_assert_eq!(texts(&doc, "DeleteResult/Deleted/Key"), keys);
        let versions: Vec<String> = deleted.iter().filter_map(|(_, v)| v.clone()).collect();
        prop_assert_eq!(texts(&doc, "DeleteResult/Deleted/VersionId"), versions);
        let markers: Vec<String> = entries.iter().filter(|e| e.delete_marker).map(|_| "true".to_string()).collect();
        prop_assert_eq!(texts(&doc, "DeleteResult/Deleted/DeleteMarker"), markers);
        let marker_ids: Vec<String> = entries.iter().filter_map(|e| e.delete_marker_version_id.clone()).collect();
        prop_assert_eq!(texts(&doc, "DeleteResult/Deleted/DeleteMarkerVersionId"), marker_ids);
        let keys: Vec<String> = failed.iter().map(|(k, _)| k.clone()).collect();
        prop_assert_eq!(texts(&doc, "DeleteResult/Error/Key"), keys);
        let messages: Vec<String> = failed.iter().map(|(_, m)| m.clone()).collect();
        prop_assert_eq!(texts(&doc, "DeleteResult/Error/Message"), messages);
        // No raw CR (a conforming parser would read it as LF), and no raw
        // control character but NUL.
        prop_assert!(!doc.chars().any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\0')));
    }

    #[test]
    fn listing_keys_round_trip_plain(
        keys in prop::collection::vec(hostile_key(), 1..6),
        prefixes in prop::collection::vec(hostile_key(), 0..4),
    ) {
        let r = list_result(&keys, &prefixes, false);
        let want = vec![
            keys.clone(), prefixes.clone(), vec![keys[0].clone()], vec![keys[keys.len() - 1].clone()],
        ];
        for doc in [list_objects_v1(&r), list_objects_v2(&r)] {
            prop_assert_eq!(listed_keys(&doc, str::to_owned), want.clone());
            prop_assert!(texts(&doc, "ListBucketResult/EncodingType").is_empty());
        }
        let v1 = list_objects_v1(&r);
        prop_assert_eq!(texts(&v1, "ListBucketResult/Marker"), vec![r.marker.clone()]);
        let v2 = list_objects_v2(&r);
        prop_assert_eq!(texts(&v2, "ListBucketResult/Contents/Owner/ID"), keys.clone());
        prop_assert_eq!(
            texts(&v2, "ListBucketResult/KeyCount"),
            vec![(keys.len() + prefixes.len()).to_string()]
        );
    }

    #[test]
    fn listing_keys_round_trip_url_encoded(
        keys in prop::collection::vec(hostile_key(), 1..6),
        prefixes in prop::collection::vec(hostile_key(), 0..4),
    ) {
        let r = list_result(&keys, &prefixes, true);
        let want = vec![
            keys.clone(), prefixes.clone(), vec![keys[0].clone()], vec![keys[keys.len() - 1].clone()],
        ];
        for doc in [list_objects_v1(&r), list_objects_v2(&r)] {
            // Decoders that treat '+' as a space and decoders that do not
            // both get the keys back.
            prop_assert_eq!(listed_keys(&doc, |s| unquote(s, false)), want.clone());
            prop_assert_eq!(listed_keys(&doc, |s| unquote(s, true)), want.clone());
            prop_assert_eq!(texts(&doc, "ListBucketResult/EncodingType"), vec!["url".to_string()]);
            for key in texts(&doc, "ListBucketResult/Contents/Key") {
                prop_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)));
            }
        }
        let v1 = list_objects_v1(&r);
        let marker: Vec<String> = texts(&v1, "ListBucketResult/Marker").iter().map(|s| unquote(s, false)).collect();
        prop_assert_eq!(marker, vec![r.marker.clone()]);
        let next: Vec<String> = texts(&v1, "ListBucketResult/NextMarker").iter().map(|s| unquote(s, false)).collect();
        prop_assert_eq!(next, r.next_marker.clone().into_iter().collect::<Vec<_>>());
        let v2 = list_objects_v2(&r);
        let after: Vec<String> = texts(&v2, "ListBucketResult/StartAfter").iter().map(|s| unquote(s, false)).collect();
        prop_assert_eq!(after, r.start_after.clone().into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn upload_listing_keys_round_trip(keys in prop::collection::vec(hostile_key(), 1..5), url: bool) {
        let r = ListUploadsResult {
            bucket: "b".into(),
            prefix: keys[0].clone(),
            uploads: keys
                .iter()
                .map(|k| UploadEntry { key: k.clone(), upload_id: "id".into(), ..Default::default() })
                .collect(),
            common_prefixes: keys.clone(),
            encoding_url: url,
            ..Default::default()
        };
        let doc = list_multipart_uploads(&r);
        let decode = |s: &String| if url { unquote(s, false) } else { s.clone() };
        let got: Vec<String> = texts(&doc, "ListMultipartUploadsResult/Upload/Key").iter().map(decode).collect();
        prop_assert_eq!(got, keys.clone());
        let got: Vec<String> = texts(&doc, "ListMultipartUploadsResult/CommonPrefixes/Prefix").iter().map(decode).collect();
        prop_assert_eq!(got, keys.clone());
    }

    #[test]
    fn delete_bodies_from_random_keys_parse_back(
        objects in prop::collection::vec((hostile_key(), prop::option::of("[a-zA-Z0-9._-]{1,32}")), 1..20),
        quiet in prop::option::of(any::<bool>()),
        prefixed: bool,
        pretty: bool,
    ) {
        let body = delete_body(&objects, quiet, prefixed, pretty);
        let got = parse_delete(body.as_bytes()).unwrap();
        // Every object carries `<ETag>e</ETag>`: a conditional delete.
        let etag = shale::s3::conditional::DeleteCondition {
            if_match: Some(shale::s3::conditional::TagList::Tags(vec!["e".into()])),
            ..Default::default()
        };
        let conditions = (0..objects.len()).map(|i| (i, etag.clone())).collect();
        prop_assert_eq!(got, DeleteRequest { quiet: quiet.unwrap_or(false), objects, conditions });
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_no_panic(&body);
    }

    #[test]
    fn arbitrary_tag_soup_never_panics(
        tokens in prop::collection::vec(prop::sample::select(vec![
            "<Delete>", "</Delete>", "<Object>", "</Object>", "<Key>", "</Key>", "k", "&amp;",
            "&bogus;", "&#0;", "&#x1;", "<![CDATA[x]]>", "<Quiet>", "</Quiet>", "true", "<a/>",
            "<CompleteMultipartUpload>", "</CompleteMultipartUpload>", "<Part>", "</Part>",
            "<PartNumber>", "</PartNumber>", "1", "<ETag>", "</ETag>", "<!-- c -->", "<?pi?>",
            "<CreateBucketConfiguration>", "</CreateBucketConfiguration>",
            "<LocationConstraint>", "</LocationConstraint>", " ", "\r\n", "<", ">", "\"", "<x:Key a=\"1\">",
            "</x:Key>", "<!DOCTYPE d>", "<?xml version=\"1.0\"?>",
        ]), 0..40),
    ) {
        check_no_panic(tokens.concat().as_bytes());
    }
}

fn check_no_panic(body: &[u8]) {
    for result in [
        parse_delete(body).map(|_| ()),
        parse_complete_multipart(body).map(|_| ()),
        parse_create_bucket(body).map(|_| ()),
    ] {
        if let Err(e) = result {
            assert!(
                matches!(
                    e.code,
                    S3ErrorCode::MalformedXML | S3ErrorCode::InvalidArgument
                ),
                "{e}"
            );
        }
    }
}

/// A Delete body as botocore writes one: text escaped with quick-xml, CR and
/// LF as references; optionally with a namespace prefix and indentation.
fn delete_body(
    objects: &[(String, Option<String>)],
    quiet: Option<bool>,
    prefixed: bool,
    pretty: bool,
) -> String {
    let p = if prefixed { "s3:" } else { "" };
    let ns = if prefixed { "xmlns:s3" } else { "xmlns" };
    let nl = if pretty { "\n  " } else { "" };
    let esc = |s: &str| {
        quick_xml::escape::escape(s)
            .replace('\r', "&#xD;")
            .replace('\n', "&#xA;")
    };
    let mut body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{nl}<{p}Delete {ns}=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    if let Some(q) = quiet {
        body += &format!("{nl}<{p}Quiet>{q}</{p}Quiet>");
    }
    for (key, version) in objects {
        body += &format!("{nl}<{p}Object>{nl}<{p}Key>{}</{p}Key>", esc(key));
        if let Some(v) = version {
            body += &format!("{nl}<{p}VersionId> {v} </{p}VersionId>");
        }
        body += &format!("{nl}<{p}ETag>\"e\"</{p}ETag></{p}Object>");
    }
    body += &format!("{nl}</{p}Delete>{nl}");
    body
}

fn key_objects(n: usize) -> Vec<(String, Option<String>)> {
    (0..n).map(|i| (format!("k{i}"), None)).collect()
}

fn malformed(body: &str) -> bool {
    matches!(parse_delete(body.as_bytes()), Err(e) if e.code == S3ErrorCode::MalformedXML)
}

// ---------------------------------------------------------------------------
// DeleteObjects bodies.

#[test]
fn delete_body_basics() {
    let body = r#"<Delete><Quiet>true</Quiet>
        <Object><Key>a &amp; b</Key><VersionId>v1</VersionId></Object>
        <Object><Key> spaced </Key><Unknown><Deep>x</Deep></Unknown></Object>
        <Object><Key><![CDATA[<raw>]]></Key></Object>
        <Object><Key>line&#13;&#10;end
crlf</Key></Object>
        <Object><Key/></Object>
        </Delete>"#;
    let got = parse_delete(body.as_bytes()).unwrap();
    assert!(got.quiet);
    assert_eq!(
        got.objects,
        vec![
            ("a & b".to_string(), Some("v1".to_string())),
            (" spaced ".to_string(), None),
            ("<raw>".to_string(), None),
            ("line\r\nend\ncrlf".to_string(), None),
            (String::new(), None),
        ]
    );
    // Raw CRLF and CR read as LF (XML end-of-line handling).
    let got = parse_delete(b"<Delete><Object><Key>a\r\nb\rc</Key></Object></Delete>").unwrap();
    assert_eq!(got.objects[0].0, "a\nb\nc");
    for (quiet, want) in [
        ("false", false),
        ("1", true),
        ("0", false),
        (" TRUE ", true),
    ] {
        let body = format!("<Delete><Quiet>{quiet}</Quiet><Object><Key>k</Key></Object></Delete>");
        assert_eq!(parse_delete(body.as_bytes()).unwrap().quiet, want);
    }
}

#[test]
fn delete_allows_exactly_1000_objects() {
    let body = delete_body(&key_objects(1000), None, false, false);
    assert_eq!(parse_delete(body.as_bytes()).unwrap().objects.len(), 1000);
    assert!(malformed(&delete_body(
        &key_objects(1001),
        None,
        false,
        false
    )));
}

#[test]
fn every_truncation_of_a_delete_body_is_malformed() {
    let body = delete_body(
        &[("a&b<c".into(), Some("v".into())), ("😀\r".into(), None)],
        Some(true),
        true,
        true,
    );
    let body = body.trim_end();
    assert!(parse_delete(body.as_bytes()).is_ok());
    for (cut, _) in body.char_indices().skip(1) {
        assert!(malformed(&body[..cut]), "cut at {cut}: {:?}", &body[..cut]);
    }
}

#[test]
fn malformed_delete_bodies() {
    for body in [
        "",
        "   ",
        "not xml",
        "<Delete></Delete>",
        "<Delete/>",
        "<Delete><Quiet>true</Quiet></Delete>",
        "<Remove><Object><Key>k</Key></Object></Remove>",
        "<Delete><Object><Key>k</Key></Object></Delete><Delete/>",
        "<Delete><Object><Key>k</Key></Object></Delete>trailing",
        "leading<Delete><Object><Key>k</Key></Object></Delete>",
        "<Delete><Object><Key>k</Object></Key></Delete>",
        "<Delete><Object><Key>k</Key></Object></Remove>",
        "<Delete><Object><Key>k</Key></Object>",
        "<Delete><Object></Object></Delete>",
        "<Delete><Object><VersionId>v</VersionId></Object></Delete>",
        "<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
        "<Delete><Object><Key>a<b/></Key></Object></Delete>",
        "<Delete><Object><Key>&bogus;</Key></Object></Delete>",
        "<Delete><Object><Key>a & b</Key></Object></Delete>",
        "<Delete><Object><Key>&#0;</Key></Object></Delete>",
        "<Delete><Object><Key>k</Key></Object><Quiet>maybe</Quiet></Delete>",
        "<Delete><Quiet>true</Quiet><Quiet>true</Quiet><Object><Key>k</Key></Object></Delete>",
        "<!DOCTYPE Delete [<!ENTITY x \"y\">]><Delete><Object><Key>&x;</Key></Object></Delete>",
        "<Delete a=\"1\" a=\"2\"><Object><Key>k</Key></Object></Delete>",
        "<Delete a=1><Object><Key>k</Key></Object></Delete>",
        "<Delete><Object><Key>k</Key></Object></Delete><?xml version=\"1.0\"?>",
    ] {
        assert!(malformed(body), "{body:?}");
    }
    // Not UTF-8.
    assert_eq!(
        parse_delete(b"<Delete><Object><Key>\xff</Key></Object></Delete>")
            .unwrap_err()
            .code,
        S3ErrorCode::MalformedXML
    );
    // Nesting is bounded.
    let deep = format!(
        "<Delete><Object><Key>k</Key></Object>{}{}</Delete>",
        "<a>".repeat(xml::NESTING_MAX),
        "</a>".repeat(xml::NESTING_MAX)
    );
    assert!(malformed(&deep));
}

// ---------------------------------------------------------------------------
// CompleteMultipartUpload bodies.

#[test]
fn complete_multipart_body() {
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part>
    <ETag>"0cc175b9c0f1b6a831c399e269772661"</ETag>
    <PartNumber> 1 </PartNumber>
    <ChecksumCRC32>AAAAAA==</ChecksumCRC32>
  </Part>
  <Part><PartNumber>3</PartNumber><ETag>&quot;92eb5ffee6ae2fec3ad71c777531578f-2&quot;</ETag></Part>
  <Part><PartNumber>2</PartNumber><ETag>bare</ETag></Part>
</CompleteMultipartUpload>"#;
    assert_eq!(
        parse_complete_multipart(body.as_bytes()).unwrap(),
        vec![
            (1, "0cc175b9c0f1b6a831c399e269772661".to_string()),
            (3, "92eb5ffee6ae2fec3ad71c777531578f-2".to_string()),
            (2, "bare".to_string()),
        ]
    );
}

#[test]
fn complete_multipart_errors() {
    let part = |n: &str| {
        format!("<CompleteMultipartUpload><Part><PartNumber>{n}</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>")
    };
    let code = |body: &str| parse_complete_multipart(body.as_bytes()).unwrap_err().code;
    assert_eq!(
        parse_complete_multipart(part("10000").as_bytes()).unwrap(),
        vec![(10000, "e".into())]
    );
    for n in ["0", "10001", "4294967295"] {
        assert_eq!(code(&part(n)), S3ErrorCode::InvalidArgument, "{n}");
    }
    for n in [
        "",
        "-1",
        "+1",
        "1.0",
        "one",
        "4294967296",
        "99999999999999999999",
    ] {
        assert_eq!(code(&part(n)), S3ErrorCode::MalformedXML, "{n}");
    }
    for body in [
        "<CompleteMultipartUpload></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
        "<Complete><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></Complete>",
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>",
    ] {
        assert_eq!(code(body), S3ErrorCode::MalformedXML, "{body}");
    }
    let many = |n: usize| {
        let parts: String = (1..=n)
            .map(|i| {
                format!(
                    "<Part><PartNumber>{}</PartNumber><ETag>e</ETag></Part>",
                    (i - 1) % 10000 + 1
                )
            })
            .collect();
        format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>")
    };
    assert_eq!(
        parse_complete_multipart(many(10_000).as_bytes())
            .unwrap()
            .len(),
        10_000
    );
    assert_eq!(code(&many(10_001)), S3ErrorCode::MalformedXML);
}

// ---------------------------------------------------------------------------
// CreateBucket bodies.

#[test]
fn create_bucket_body() {
    assert_eq!(parse_create_bucket(b""), Ok(None));
    assert_eq!(parse_create_bucket(b" \r\n"), Ok(None));
    let body = br#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
        <LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#;
    assert_eq!(parse_create_bucket(body), Ok(Some("eu-west-1".into())));
    let body = b"<s3:CreateBucketConfiguration xmlns:s3=\"x\"><s3:LocationConstraint/></s3:CreateBucketConfiguration>";
    assert_eq!(parse_create_bucket(body), Ok(None));
    assert_eq!(
        parse_create_bucket(b"<CreateBucketConfiguration><Bucket><Type>Directory</Type></Bucket></CreateBucketConfiguration>"),
        Ok(None)
    );
    for body in [
        &b"<Other/>"[..],
        b"<CreateBucketConfiguration>",
        b"<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint><LocationConstraint>b</LocationConstraint></CreateBucketConfiguration>",
        b"garbage",
    ] {
        assert_eq!(
            parse_create_bucket(body).unwrap_err().code,
            S3ErrorCode::MalformedXML
        );
    }
}

// ---------------------------------------------------------------------------
// Writers.

#[test]
fn small_documents_exactly() {
    assert_eq!(
        location_constraint(None),
        format!("{DECL}<LocationConstraint {NS}></LocationConstraint>")
    );
    assert_eq!(
        location_constraint(Some("us-east-1")),
        location_constraint(None)
    );
    assert_eq!(
        location_constraint(Some("eu-west-1")),
        format!("{DECL}<LocationConstraint {NS}>eu-west-1</LocationConstraint>")
    );
    assert_eq!(
        initiate_multipart("b", "a&b", "id"),
        format!("{DECL}<InitiateMultipartUploadResult {NS}><Bucket>b</Bucket><Key>a&amp;b</Key><UploadId>id</UploadId></InitiateMultipartUploadResult>")
    );
    assert_eq!(
        complete_multipart("http://h/b/k", "b", "k", "\"e-2\""),
        format!("{DECL}<CompleteMultipartUploadResult {NS}><Location>http://h/b/k</Location><Bucket>b</Bucket><Key>k</Key><ETag>&quot;e-2&quot;</ETag></CompleteMultipartUploadResult>")
    );
    let doc = list_buckets(
        "id",
        "me",
        &[("b1".into(), "2026-11-22T08:00:00.000Z".into())],
    );
    assert_eq!(
        doc,
        format!("{DECL}<ListAllMyBucketsResult {NS}><Owner><ID>id</ID><DisplayName>me</DisplayName></Owner><Buckets><Bucket><Name>b1</Name><CreationDate>2026-11-22T08:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>")
    );
}

#[test]
fn list_parts_document() {
    let r = ListPartsResult {
        bucket: "b".into(),
        key: "k<".into(),
        upload_id: "u".into(),
        initiator: ("i".into(), "in".into()),
        owner: ("o".into(), "on".into()),
        storage_class: "STANDARD".into(),
        part_number_marker: 0,
        next_part_number_marker: 2,
        max_parts: 2,
        is_truncated: true,
        parts: (1..=2)
            .map(|n| PartEntry {
                part_number: n,
                last_modified_iso: "2026-11-22T08:00:00.000Z".into(),
                etag_quoted: format!("\"e{n}\""),
                size: 5 << 20,
            })
            .collect(),
    };
    let doc = list_parts(&r);
    assert!(doc.starts_with(&format!("{DECL}<ListPartsResult {NS}>")));
    assert_eq!(texts(&doc, "ListPartsResult/Key"), vec!["k<"]);
    assert_eq!(
        texts(&doc, "ListPartsResult/Part/PartNumber"),
        vec!["1", "2"]
    );
    assert_eq!(
        texts(&doc, "ListPartsResult/Part/ETag"),
        vec!["\"e1\"", "\"e2\""]
    );
    assert_eq!(texts(&doc, "ListPartsResult/Part/Size"), vec!["5242880"; 2]);
    assert_eq!(
        texts(&doc, "ListPartsResult/NextPartNumberMarker"),
        vec!["2"]
    );
    assert_eq!(texts(&doc, "ListPartsResult/Initiator/ID"), vec!["i"]);
    assert_eq!(texts(&doc, "ListPartsResult/Owner/DisplayName"), vec!["on"]);
    assert_eq!(texts(&doc, "ListPartsResult/IsTruncated"), vec!["true"]);
}

#[test]
fn listing_owner_rules() {
    let mut r = list_result(&["k".into()], &[], false);
    assert_eq!(
        texts(&list_objects_v1(&r), "ListBucketResult/Contents/Owner/ID").len(),
        1
    );
    r.fetch_owner = false;
    assert!(texts(&list_objects_v2(&r), "ListBucketResult/Contents/Owner/ID").is_empty());
    // v1 always writes Marker; v2 never does.
    r.marker.clear();
    assert_eq!(
        texts(&list_objects_v1(&r), "ListBucketResult/Marker"),
        vec![""]
    );
    assert!(texts(&list_objects_v2(&r), "ListBucketResult/Marker").is_empty());
}

#[test]
fn text_and_url_encodings() {
    assert_eq!(escape_text("a&<>\"'b"), "a&amp;&lt;&gt;&quot;&apos;b");
    assert_eq!(escape_text("]]>"), "]]&gt;");
    assert_eq!(
        escape_text("a\rb\u{1}c\u{1F}\t\n"),
        "a&#xD;b&#x1;c&#x1F;\t\n"
    );
    assert_eq!(escape_text("\0"), "\0");
    assert_eq!(url_encode("a b+c/d~e-f_g.h"), "a%20b%2Bc/d~e-f_g.h");
    assert_eq!(url_encode("test_file(3).png"), "test_file%283%29.png");
    assert_eq!(url_encode("é\u{1}%"), "%C3%A9%01%25");
}

#[test]
fn a_byte_order_mark_is_tolerated() {
    let body = "\u{FEFF}<?xml version=\"1.0\"?><Delete><Object><Key>k</Key></Object></Delete>";
    assert_eq!(parse_delete(body.as_bytes()).unwrap().objects.len(), 1);
    let body = "\u{FEFF}<Delete><Object><Key>k</Key></Object></Delete>";
    assert_eq!(parse_delete(body.as_bytes()).unwrap().objects.len(), 1);
}
