//! CreateBucket checks the whole request (name, body, LocationConstraint,
//! headers) before it makes anything: a malformed one is a 4xx that
//! leaves no directory, no bucket and no trace in
//! ListBuckets; an internal failure tells the client nothing of the
//! server's files (the log keeps the detail) and leaves no bucket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::server::{client, creds_env, start, stop};
use shale::client::{xml_texts, PayloadMode, Request, Response, S3Client};

/// Request headers of a case.
type Headers = Vec<(&'static str, &'static str)>;

fn create(c: &mut S3Client, name: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let req = Request {
        query: Vec::new(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body,
    };
    c.send("PUT", name, "", req, PayloadMode::Signed).unwrap()
}

fn bucket_names(c: &mut S3Client) -> Vec<String> {
    let r = c
        .send("GET", "", "", Request::default(), PayloadMode::Signed)
        .unwrap();
    assert_eq!(r.status, 200);
    xml_texts(&r.body, "Bucket", "Name")
}

/// The entries of `<data_dir>/buckets`.
fn bucket_dirs(data_dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data_dir.join("buckets"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn location(l: &str) -> Vec<u8> {
    format!("<CreateBucketConfiguration><LocationConstraint>{l}</LocationConstraint></CreateBucketConfiguration>")
        .into_bytes()
}

#[test]
fn a_long_location_constraint_is_invalid_and_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &creds_env());
    let mut c = client(node.addr);
    assert_eq!(c.create_bucket("kept").unwrap().status, 200);
    let (names, dirs) = (bucket_names(&mut c), bucket_dirs(dir.path()));

    let r = create(&mut c, "longloc", &[], &location(&"a".repeat(1100)));
    let t = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 400, "{t}");
    assert!(t.contains("<Code>InvalidLocationConstraint</Code>"), "{t}");
    assert!(!t.contains(&dir.path().display().to_string()), "{t}");
    assert!(!dir.path().join("buckets").join("longloc").exists());
    assert_eq!(bucket_dirs(dir.path()), dirs);
    assert_eq!(bucket_names(&mut c), names);
    // The name is free for a good request.
    let r = create(&mut c, "longloc", &[], &location("eu-west-1"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn malformed_create_bucket_requests_are_refused_and_make_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &creds_env());
    let mut c = client(node.addr);
    assert_eq!(c.create_bucket("kept").unwrap().status, 200);
    let (names, dirs) = (bucket_names(&mut c), bucket_dirs(dir.path()));
    let huge = vec![b' '; 3 << 20];
    let cases: Vec<(&str, Headers, Vec<u8>, &str)> = vec![
        // Bodies.
        ("body-a", vec![], b"<CreateBucketConfiguration><LocationConstraint>".to_vec(), "MalformedXML"),
        ("body-b", vec![], b"garbage".to_vec(), "MalformedXML"),
        ("body-c", vec![], b"<Other/>".to_vec(), "MalformedXML"),
        (
            "body-d",
            vec![],
            b"<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint><LocationConstraint>b</LocationConstraint></CreateBucketConfiguration>".to_vec(),
            "MalformedXML",
        ),
        ("body-e", vec![], huge, ""),
        // LocationConstraint values.
        ("loc-a", vec![], location("../../etc"), "InvalidLocationConstraint"),
        ("loc-b", vec![], location("eu west 1"), "InvalidLocationConstraint"),
        ("loc-c", vec![], location("eu_west_1"), "InvalidLocationConstraint"),
        ("loc-d", vec![], location("&#x1;"), "InvalidLocationConstraint"),
        ("loc-e", vec![], location(&"x".repeat(65)), "InvalidLocationConstraint"),
        // Names.
        ("ab", vec![], Vec::new(), "InvalidBucketName"),
        ("Upper-Case", vec![], Vec::new(), "InvalidBucketName"),
        ("a..b", vec![], Vec::new(), "InvalidBucketName"),
        ("192.168.1.1", vec![], Vec::new(), "InvalidBucketName"),
        ("xn--reserved", vec![], Vec::new(), "InvalidBucketName"),
        ("metrics", vec![], Vec::new(), "InvalidBucketName"),
        (
            "a-name-that-is-far-too-long-for-any-bucket-on-s3-or-on-shale-x64",
            vec![],
            Vec::new(),
            "InvalidBucketName",
        ),
        // A bad name with a bad body: the name is checked first.
        ("bad_name", vec![], b"garbage".to_vec(), "InvalidBucketName"),
        // A lock flag that is neither true nor false.
        (
            "locked",
            vec![("x-amz-bucket-object-lock-enabled", "maybe")],
            Vec::new(),
            "InvalidArgument",
        ),
    ];
    for (name, headers, body, code) in &cases {
        let r = create(&mut c, name, headers, body);
        let t = String::from_utf8_lossy(&r.body).into_owned();
        let expected_status = if *code == "NotImplemented" { 501 } else { 400 };
        assert!(
            r.status == expected_status || (code.is_empty() && (400..500).contains(&r.status)),
            "{name}: {} {t}",
            r.status
        );
        assert!(t.contains(code), "{name}: {t}");
        assert!(!dir.path().join("buckets").join(name).exists(), "{name}");
        assert_eq!(bucket_dirs(dir.path()), dirs, "{name}");
        assert_eq!(bucket_names(&mut c), names, "{name}");
    }
}

#[test]
fn an_internal_failure_names_no_server_path_and_leaves_no_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &creds_env());
    let mut c = client(node.addr);
    assert_eq!(c.create_bucket("kept").unwrap().status, 200);
    let names = bucket_names(&mut c);
    // A file where the bucket's directory would go: making its index fails.
    let blocker = dir.path().join("buckets").join("blocked");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let r = create(&mut c, "blocked", &[], b"");
    let t = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 500, "{t}");
    assert!(t.contains("<Code>InternalError</Code>"), "{t}");
    let data_dir = dir.path().display().to_string();
    assert!(!t.contains(&data_dir) && !t.contains("buckets/"), "{t}");
    let request_id = r.header("x-amz-request-id").unwrap().to_string();
    assert_eq!(bucket_names(&mut c), names);
    // The operator's log has the detail under the request id.
    let (_, log) = stop(node);
    let line = log
        .lines()
        .find(|l| l.contains(&request_id))
        .unwrap_or_else(|| panic!("no log line for {request_id}:\n{log}"));
    assert!(line.contains("blocked"), "{line}");
}
