//! Every sub-resource the routing table knows, with every method, sent
//! signed to buckets and objects that hold data (a versioned one too), is
//! answered as the operation the table names (metrics agree) or refused,
//! and afterwards not a byte, version, tag, upload or bucket has changed;
//! server-side encryption and Object Lock headers are refused before
//! anything is stored; plain query parameters keep their operation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::server::{client, creds_env, start};
use http::Method;
use shale::client::{sign, xml_texts, PayloadMode, Request, Response, S3Client};
use shale::s3::operation::{resolve, subresources, Operation, Shape, Verb};

/// What a PUT or POST sends: it would be the object's bytes if the request
/// fell through to PutObject.
const BODY: &[u8] = b"<Garbage>router-test</Garbage>";

/// Operations that change data when they work; the sweep does not send
/// them (other tests cover them).
const CHANGING: [Operation; 5] = [
    Operation::PutObject,
    Operation::DeleteObject,
    Operation::DeleteObjectTagging,
    Operation::DeleteBucket,
    Operation::CreateMultipartUpload,
];

/// Query parameters or headers.
type Pairs = Vec<(String, String)>;

fn q(pairs: &[(&str, &str)]) -> Pairs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn send(
    c: &mut S3Client,
    method: &str,
    bucket: &str,
    key: &str,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: &[u8],
) -> Response {
    c.send(
        method,
        bucket,
        key,
        Request {
            query,
            headers,
            body,
        },
        PayloadMode::Signed,
    )
    .unwrap()
}

fn get(c: &mut S3Client, bucket: &str, key: &str, query: &[(&str, &str)]) -> Response {
    send(c, "GET", bucket, key, q(query), Vec::new(), b"")
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// `text` without the request id, which differs every time.
fn stable_text(r: &Response) -> String {
    let t = text(r);
    match (t.find("<RequestId>"), t.find("</RequestId>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &t[..a], &t[b..]),
        _ => t,
    }
}

/// Everything stored that a request could change, by what it is.
fn snapshot(c: &mut S3Client) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    let list = get(c, "", "", &[]);
    assert_eq!(list.status, 200, "{}", text(&list));
    let buckets = xml_texts(&list.body, "Bucket", "Name");
    s.insert("buckets".into(), buckets.join(","));
    for b in buckets {
        for sub in ["versions", "uploads", "versioning", "lifecycle", "location"] {
            let r = get(c, &b, "", &[(sub, "")]);
            s.insert(
                format!("{b}?{sub}"),
                format!("{} {}", r.status, stable_text(&r)),
            );
        }
        let versions = get(c, &b, "", &[("versions", "")]);
        let keys = xml_texts(&versions.body, "Version", "Key");
        let ids = xml_texts(&versions.body, "Version", "VersionId");
        assert_eq!(keys.len(), ids.len());
        for (k, v) in keys.iter().zip(&ids) {
            let r = get(c, &b, k, &[("versionId", v)]);
            let mut headers: Vec<String> = r
                .headers
                .iter()
                .filter(|(n, _)| n != "date" && n != "x-amz-request-id")
                .map(|(n, v)| format!("{n}: {v}"))
                .collect();
            headers.sort();
            s.insert(
                format!("{b}/{k}@{v}"),
                format!("{} {headers:?} {:?}", r.status, r.body),
            );
            let t = get(c, &b, k, &[("tagging", ""), ("versionId", v)]);
            s.insert(format!("{b}/{k}@{v}?tagging"), stable_text(&t));
        }
    }
    s
}

/// The keys whose values differ between two snapshots.
fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}:\n  before {:?}\n  after  {:?}", a.get(k), b.get(k)))
        .collect()
}

/// `shale_http_requests_total` by (op, status).
fn request_counts(c: &mut S3Client) -> BTreeMap<(String, String), u64> {
    let r = c.send_raw("GET", "/metrics").unwrap();
    assert_eq!(r.status, 200);
    let mut m = BTreeMap::new();
    for line in text(&r).lines() {
        let Some(rest) = line.strip_prefix("shale_http_requests_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").unwrap();
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap()
        };
        m.insert((label("op"), label("status")), value.parse().unwrap());
    }
    m
}

/// The (op, status) counted between two scrapes, the scrapes left out.
fn counted(
    before: &BTreeMap<(String, String), u64>,
    after: &BTreeMap<(String, String), u64>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, n) in after.iter().filter(|((op, _), _)| op != "Metrics") {
        for _ in before.get(k).copied().unwrap_or(0)..*n {
            out.push(k.clone());
        }
    }
    out
}

/// Buckets and objects for the sweep: `data` (an object with metadata and
/// tags), `ver` (versioned: two versions of `vobj`, tagged, and a delete
/// marker on `gone`) and `empty`.
fn fill(c: &mut S3Client) {
    for b in ["data", "ver", "empty"] {
        assert_eq!(c.create_bucket(b).unwrap().status, 200);
    }
    let r = send(
        c,
        "PUT",
        "data",
        "obj",
        Vec::new(),
        q(&[
            ("content-type", "text/x-shale"),
            ("x-amz-meta-color", "blue"),
            ("x-amz-tagging", "a=1&b=2"),
        ]),
        b"the object's bytes",
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let versioning = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let r = send(
        c,
        "PUT",
        "ver",
        "",
        q(&[("versioning", "")]),
        Vec::new(),
        versioning,
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    for body in [&b"version one"[..], b"version two"] {
        let r = c
            .put_object("ver", "vobj", body, PayloadMode::Signed)
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let tags = b"<Tagging><TagSet><Tag><Key>t</Key><Value>v</Value></Tag></TagSet></Tagging>";
    let r = send(
        c,
        "PUT",
        "ver",
        "vobj",
        q(&[("tagging", "")]),
        Vec::new(),
        tags,
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    c.put_object("ver", "gone", b"x", PayloadMode::Signed)
        .unwrap();
    assert_eq!(c.delete_object("ver", "gone").unwrap().status, 204);
}

#[test]
fn every_subresource_with_every_method_is_its_operation_or_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &creds_env());
    let mut c = client(node.addr);
    fill(&mut c);
    let start_state = snapshot(&mut c);
    let targets = [
        ("data", ""),
        ("data", "obj"),
        ("ver", ""),
        ("ver", "vobj"),
        ("empty", ""),
    ];
    let mut subs: Vec<Option<&str>> = vec![None];
    subs.extend(subresources().into_iter().map(Some));
    let mut sent = 0;
    let mut refused = 0;
    for (bucket, key) in targets {
        for sub in &subs {
            for verb in Verb::ALL {
                let mut query = Vec::new();
                if let Some(s) = sub {
                    query.push((s.to_string(), String::new()));
                }
                match *sub {
                    Some("uploadId") => query = q(&[("uploadId", "no-such-upload")]),
                    Some("select") => query.push(("select-type".into(), "2".into())),
                    _ => {}
                }
                let raw_query = sign::encode_query(&query);
                let method = Method::from_bytes(verb.as_str().as_bytes()).unwrap();
                let routed = resolve(&Shape {
                    method: &method,
                    bucket: Some(bucket),
                    key: !key.is_empty(),
                    query: &raw_query,
                    copy: false,
                });
                if routed.as_ref().is_ok_and(|o| CHANGING.contains(o)) {
                    continue;
                }
                let body = if matches!(verb, Verb::Put | Verb::Post) {
                    BODY
                } else {
                    b""
                };
                let before = request_counts(&mut c);
                let r = send(&mut c, verb.as_str(), bucket, key, query, Vec::new(), body);
                let after = request_counts(&mut c);
                sent += 1;
                let what = format!("{} /{bucket}/{key}?{raw_query}", verb.as_str());
                let head = verb == Verb::Head;
                let name = match &routed {
                    Ok(op) if !op.supported() => {
                        refused += 1;
                        assert_eq!(r.status, 501, "{what}: {}", text(&r));
                        if !head {
                            let t = text(&r);
                            assert!(
                                t.contains("<Code>NotImplemented</Code>") && t.contains(op.name()),
                                "{what}: {t}"
                            );
                        }
                        op.name()
                    }
                    Ok(op) => {
                        assert!(
                            ![405, 501].contains(&r.status) && r.status < 500,
                            "{what} is {}: {} {}",
                            op.name(),
                            r.status,
                            text(&r)
                        );
                        op.name()
                    }
                    Err(no) => {
                        refused += 1;
                        let e = no.error();
                        assert_eq!(r.status, e.code.status().as_u16(), "{what}: {}", text(&r));
                        if !head {
                            assert!(text(&r).contains(e.code.as_str()), "{what}: {}", text(&r));
                        }
                        "Unknown"
                    }
                };
                assert_eq!(
                    counted(&before, &after),
                    vec![(name.to_string(), r.status.to_string())],
                    "{what}: metrics name another operation"
                );
            }
            let now = snapshot(&mut c);
            let diff = changed(&start_state, &now);
            assert!(
                diff.is_empty(),
                "/{bucket}/{key} with {sub:?} changed stored data:\n{}",
                diff.join("\n")
            );
        }
    }
    // The sweep really sent requests and really met refusals.
    assert!(
        sent > 1000 && refused > 900,
        "{sent} sent, {refused} refused"
    );
}

/// The cases of the robustness report, by hand: none reaches the plain
/// operation on its path.
#[test]
fn subresources_of_the_report_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &creds_env());
    let mut c = client(node.addr);
    fill(&mut c);
    let before = snapshot(&mut c);
    let cases: [(&str, &str, &str, &str, &str); 10] = [
        ("GET", "data", "obj", "torrent", "GetObjectTorrent"),
        ("POST", "data", "obj", "restore", "RestoreObject"),
        (
            "GET",
            "data",
            "",
            "accelerate",
            "GetBucketAccelerateConfiguration",
        ),
        ("GET", "data", "", "logging", "GetBucketLogging"),
        (
            "DELETE",
            "empty",
            "",
            "ownershipControls",
            "DeleteBucketOwnershipControls",
        ),
        (
            "DELETE",
            "empty",
            "",
            "replication",
            "DeleteBucketReplication",
        ),
        (
            "PUT",
            "empty",
            "",
            "ownershipControls",
            "PutBucketOwnershipControls",
        ),
        ("DELETE", "empty", "", "website", "DeleteBucketWebsite"),
        (
            "GET",
            "empty",
            "",
            "intelligent-tiering",
            "ListBucketIntelligentTieringConfigurations",
        ),
        ("GET", "data", "", "website", "GetBucketWebsite"),
    ];
    for (method, bucket, key, sub, op) in cases {
        let query = if sub.is_empty() {
            vec![]
        } else {
            q(&[(sub, "")])
        };
        let r = send(&mut c, method, bucket, key, query, Vec::new(), BODY);
        let t = text(&r);
        assert_eq!(r.status, 501, "{method} {bucket}/{key}?{sub}: {t}");
        assert!(t.contains("NotImplemented") && t.contains(op), "{t}");
        assert!(!t.contains("the object's bytes") && !t.contains("ListBucketResult"));
    }
    // POST to a bucket is a browser form upload: a body that is no
    // multipart/form-data is refused as AWS refuses it, storing nothing.
    let r = send(&mut c, "POST", "data", "", vec![], Vec::new(), BODY);
    assert_eq!(r.status, 412, "{}", text(&r));
    assert!(text(&r).contains("multipart/form-data"), "{}", text(&r));
    // Not an operation at all.
    for (method, bucket, key, query, code) in [
        ("POST", "data", "obj", vec![], "MethodNotAllowed"),
        (
            "DELETE",
            "data",
            "",
            q(&[("location", "")]),
            "MethodNotAllowed",
        ),
        (
            "GET",
            "data",
            "",
            q(&[("retention", "")]),
            "MethodNotAllowed",
        ),
        (
            "PUT",
            "data",
            "obj",
            q(&[("acl", ""), ("tagging", "")]),
            "InvalidRequest",
        ),
    ] {
        let r = send(&mut c, method, bucket, key, query, Vec::new(), BODY);
        assert!(
            text(&r).contains(code),
            "{method} {bucket}/{key}: {}",
            text(&r)
        );
        assert!([400, 405].contains(&r.status));
    }
    assert_eq!(changed(&before, &snapshot(&mut c)), Vec::<String>::new());
}

/// Parameters that are not sub-resources keep the operation working.
#[test]
fn plain_query_parameters_keep_their_operation() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &creds_env());
    let mut c = client(node.addr);
    fill(&mut c);
    let r = get(
        &mut c,
        "data",
        "obj",
        &[
            ("response-content-type", "text/x-override"),
            ("x-id", "GetObject"),
            ("v", "2"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"the object's bytes");
    assert_eq!(r.header("content-type"), Some("text/x-override"));
    let r = send(
        &mut c,
        "HEAD",
        "data",
        "obj",
        q(&[("partNumber", "1")]),
        Vec::new(),
        b"",
    );
    assert_eq!(r.status, 200);
    let r = get(
        &mut c,
        "data",
        "",
        &[
            ("list-type", "2"),
            ("prefix", "o"),
            ("x-id", "ListObjectsV2"),
        ],
    );
    assert_eq!(xml_texts(&r.body, "Contents", "Key"), ["obj"]);
    let r = send(
        &mut c,
        "PUT",
        "data",
        "new",
        q(&[("x-id", "PutObject")]),
        Vec::new(),
        b"new bytes",
    );
    assert_eq!(r.status, 200);
    assert_eq!(get(&mut c, "data", "new", &[]).body, b"new bytes");
    // A presigned URL's X-Amz-* parameters.
    let url = c.presign_get("data", "obj", 300);
    let r = c.send_raw("GET", &url).unwrap();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"the object's bytes"[..])
    );
}

/// SSE-KMS headers on every request that could store or read data: 501
/// before the body is read (there is no KMS); an SSE-C key whose MD5
/// does not match, or a copy source's SSE-C algorithm without its key:
/// 400 InvalidArgument; Object Lock headers on a bucket without Object
/// Lock: 400 InvalidRequest. Nothing is stored by any of them.
#[test]
fn kms_bad_customer_keys_and_lock_headers_without_object_lock_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &creds_env());
    let mut c = client(node.addr);
    fill(&mut c);
    // A multipart upload in progress, for UploadPart.
    let r = send(
        &mut c,
        "POST",
        "data",
        "mp",
        q(&[("uploads", "")]),
        Vec::new(),
        b"",
    );
    let upload = xml_texts(&r.body, "InitiateMultipartUploadResult", "UploadId")
        .pop()
        .unwrap();
    let before = snapshot(&mut c);
    // The key's MD5 header is not the key's MD5.
    let bad_sse_c = [
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        (
            "x-amz-server-side-encryption-customer-key",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ),
        (
            "x-amz-server-side-encryption-customer-key-md5",
            "zZ5FnqcIqUjVwvWmyog4zw==",
        ),
    ];
    let kms: Vec<(&str, &str)> = vec![
        ("x-amz-server-side-encryption", "aws:kms"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "key"),
        ("x-amz-server-side-encryption-context", "e30="),
        ("x-amz-server-side-encryption-bucket-key-enabled", "true"),
    ];
    // (headers, status, what the error says)
    let mut header_sets: Vec<(Pairs, u16, &str)> = vec![(q(&bad_sse_c), 400, "InvalidArgument")];
    header_sets.extend(kms.iter().map(|h| (q(&[*h]), 501, "KMS")));
    let copy_sse_c = q(&[
        ("x-amz-copy-source", "/data/obj"),
        (
            "x-amz-copy-source-server-side-encryption-customer-algorithm",
            "AES256",
        ),
    ]);
    for (headers, status, says) in &header_sets {
        let requests: Vec<(&str, &str, Pairs, Pairs)> = vec![
            // PutObject: new key and overwrite.
            ("PUT", "fresh", vec![], headers.clone()),
            ("PUT", "obj", vec![], headers.clone()),
            // CreateMultipartUpload.
            ("POST", "fresh", q(&[("uploads", "")]), headers.clone()),
            // UploadPart.
            (
                "PUT",
                "mp",
                q(&[("partNumber", "1"), ("uploadId", &upload)]),
                headers.clone(),
            ),
            // CopyObject.
            (
                "PUT",
                "copied",
                vec![],
                [headers.clone(), q(&[("x-amz-copy-source", "/data/obj")])].concat(),
            ),
            // GetObject and HeadObject.
            ("GET", "obj", vec![], headers.clone()),
            ("HEAD", "obj", vec![], headers.clone()),
        ];
        for (method, key, query, h) in requests {
            let r = send(&mut c, method, "data", key, query, h.clone(), b"plaintext");
            // x-amz-server-side-encryption on a read is refused as such.
            let read = matches!(method, "GET" | "HEAD");
            let sse_on_read = read && h.iter().any(|(n, _)| n == "x-amz-server-side-encryption");
            let (want, says) = if sse_on_read {
                (400, "InvalidArgument")
            } else {
                (*status, *says)
            };
            assert_eq!(r.status, want, "{method} data/{key} {h:?}: {}", text(&r));
            if method != "HEAD" {
                let t = text(&r);
                assert!(t.contains(says), "{method} data/{key} {h:?}: {t}");
            }
        }
    }
    let r = send(&mut c, "PUT", "data", "copied", vec![], copy_sse_c, b"");
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("InvalidArgument"), "{}", text(&r));
    // Object Lock headers where the bucket has no Object Lock.
    let lock = q(&[
        ("x-amz-object-lock-mode", "COMPLIANCE"),
        (
            "x-amz-object-lock-retain-until-date",
            "2099-01-01T00:00:00Z",
        ),
        ("x-amz-object-lock-legal-hold", "ON"),
    ]);
    for (method, key, query, h) in [
        ("PUT", "fresh", vec![], lock.clone()),
        ("POST", "fresh", q(&[("uploads", "")]), lock.clone()),
        (
            "PUT",
            "copied",
            vec![],
            [lock.clone(), q(&[("x-amz-copy-source", "/data/obj")])].concat(),
        ),
    ] {
        let r = send(&mut c, method, "data", key, query, h, b"plaintext");
        assert_eq!(r.status, 400, "{method} data/{key}: {}", text(&r));
        assert!(text(&r).contains("InvalidRequest"), "{}", text(&r));
    }
    // Nothing stored anywhere: no new key, no part, no upload, no bucket.
    assert_eq!(changed(&before, &snapshot(&mut c)), Vec::<String>::new());
    let parts = get(&mut c, "data", "mp", &[("uploadId", &upload)]);
    assert_eq!(parts.status, 200);
    assert!(xml_texts(&parts.body, "Part", "PartNumber").is_empty());
    assert_eq!(get(&mut c, "data", "fresh", &[]).status, 404);
    assert_eq!(get(&mut c, "data", "copied", &[]).status, 404);
    // `false` asks for nothing.
    let r = send(
        &mut c,
        "PUT",
        "unlocked",
        "",
        vec![],
        q(&[("x-amz-bucket-object-lock-enabled", "false")]),
        b"",
    );
    assert_eq!(r.status, 200, "{}", text(&r));
}
