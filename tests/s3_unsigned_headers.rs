//! A signature only vouches for what it covers: against the real binary, a
//! presigned URL (or a header-signed request) plus a header left out of
//! SignedHeaders is refused with 403 AccessDenied naming the header, and
//! nothing is stored or changed (no CopyObject of another user's object,
//! no metadata, tags, expiry); headers that only narrow a read may stay
//! unsigned; a credential scope for another region than the node's is
//! refused (400, naming the node's region); all signed still works.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use md5::Digest as _;
use sha2::Sha256;

use common::server::{creds_env, shale, start, start_with, test_credentials};
use shale::client::sign::{self, RequestToSign};
use shale::client::{Body, Conn, Credentials, PayloadMode, Request, Response, S3Client};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The body, with the XML escape of `'` undone.
fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).replace("&apos;", "'")
}

/// A user `uid` with a key, created by root through the admin API.
fn user(addr: SocketAddr, uid: &str) -> Credentials {
    let mut root = S3Client::new(addr, test_credentials());
    let r = root
        .send(
            "POST",
            "admin",
            "users",
            Request {
                body: format!(r#"{{"uid":"{uid}"}}"#).as_bytes(),
                headers: owned(&[("content-type", "application/json")]),
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert!(r.status < 300, "{}", text(&r));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    Credentials {
        access_key: v["key"]["access_key"].as_str().unwrap().into(),
        secret_key: v["key"]["secret_key"].as_str().unwrap().into(),
        region: "us-east-1".into(),
    }
}

/// Sends `method target` with exactly `headers` (plus Host) and `body`.
fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Response {
    let mut c = Conn::new(addr, Duration::from_secs(30));
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Bytes(body)
    };
    c.request(method, target, headers, &body).unwrap()
}

/// A presigned URL for `method /bucket/key` covering host and `signed`.
fn presign(
    addr: SocketAddr,
    creds: &Credentials,
    method: &str,
    bucket: &str,
    key: &str,
    signed: &[(String, String)],
) -> String {
    sign::presign_with_headers(
        creds,
        method,
        &sign::object_path(bucket, key),
        &addr.to_string(),
        signed,
        300,
        now(),
    )
}

/// Header-signed `method /bucket/key` whose signature covers `signed`
/// (and the body's SHA-256); `extra` is sent without being signed.
fn header_signed(
    addr: SocketAddr,
    creds: &Credentials,
    method: &str,
    (bucket, key): (&str, &str),
    signed: &[(String, String)],
    extra: &[(String, String)],
    body: &[u8],
) -> Response {
    let path = sign::object_path(bucket, key);
    let payload: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let s = sign::sign(
        creds,
        &RequestToSign {
            method,
            path: &path,
            query: &[],
            host: &addr.to_string(),
            headers: signed,
            payload_line: &payload,
        },
        now(),
    );
    let mut headers = s.headers;
    headers.extend_from_slice(extra);
    raw(addr, method, &path, &headers, body)
}

fn md5_b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b))
}

const BODY: &[u8] = b"the uploader's bytes";
const SECRET: &[u8] = b"bob's private object";

/// Every header an attacker might add to a PUT it was given a URL for,
/// each of which shale would otherwise act on or store.
fn attack_headers(far_future: u64) -> Vec<(String, String)> {
    owned(&[
        ("x-amz-copy-source", "bob-private/secret"),
        ("x-amz-meta-x", "injected"),
        ("x-amz-tagging", "owner=mallory"),
        ("x-delete-after", "1"),
        ("x-delete-at", &far_future.to_string()),
        ("content-md5", &md5_b64(BODY)),
        ("content-type", "text/html"),
        ("content-encoding", "gzip"),
        ("content-disposition", "attachment; filename=x.exe"),
        ("content-language", "xx"),
        ("expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
        ("if-none-match", "*"),
        ("x-amz-storage-class", "STANDARD"),
        ("x-amz-website-redirect-location", "/elsewhere"),
        ("x-amz-checksum-crc32", "AAAAAA=="),
        ("x-amz-anything-unknown", "1"),
    ])
}

struct World {
    _tmp: tempfile::TempDir,
    node: common::server::Node,
    alice: Credentials,
    bob: Credentials,
    /// HEAD of `existing` as first written.
    existing_head: Vec<(String, String)>,
}

/// A HEAD's headers but those that change per request.
fn stable_head(r: &Response) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(n, _)| {
            !["date", "x-amz-request-id", "connection", "keep-alive"].contains(&n.as_str())
        })
        .cloned()
        .collect();
    h.sort();
    h
}

/// Alice owns `alice-b` (with `existing` = "original"); Bob owns
/// `bob-private` with `secret`.
fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    let alice = user(node.addr, "alice");
    let bob = user(node.addr, "bob");
    let mut a = S3Client::new(node.addr, alice.clone());
    let mut b = S3Client::new(node.addr, bob.clone());
    assert_eq!(a.create_bucket("alice-b").unwrap().status, 200);
    assert_eq!(b.create_bucket("bob-private").unwrap().status, 200);
    let r = a
        .put_object("alice-b", "existing", b"original", PayloadMode::Signed)
        .unwrap();
    assert_eq!(r.status, 200);
    let r = b
        .put_object("bob-private", "secret", SECRET, PayloadMode::Signed)
        .unwrap();
    assert_eq!(r.status, 200);
    let existing_head = stable_head(&a.head_object("alice-b", "existing").unwrap());
    World {
        _tmp: tmp,
        node,
        alice,
        bob,
        existing_head,
    }
}

impl World {
    fn alice(&self) -> S3Client {
        S3Client::new(self.node.addr, self.alice.clone())
    }

    /// Nothing the attacks could touch has changed: `target` absent,
    /// `existing` as first written, Bob's object and bucket as they were.
    fn assert_untouched(&self, target: &str, what: &str) {
        let mut a = self.alice();
        assert_eq!(
            a.head_object("alice-b", target).unwrap().status,
            404,
            "{what}: {target} was written"
        );
        let e = a.get_object("alice-b", "existing").unwrap();
        assert_eq!(
            (e.status, e.body.as_slice()),
            (200, &b"original"[..]),
            "{what}"
        );
        let head = stable_head(&a.head_object("alice-b", "existing").unwrap());
        assert_eq!(head, self.existing_head, "{what}: existing's head changed");
        let listed = a.list_all("alice-b", "").unwrap().unwrap();
        assert_eq!(listed, ["existing"], "{what}");
        let mut b = S3Client::new(self.node.addr, self.bob.clone());
        let s = b.get_object("bob-private", "secret").unwrap();
        assert_eq!((s.status, s.body.as_slice()), (200, SECRET), "{what}");
        assert_eq!(
            b.list_all("bob-private", "").unwrap().unwrap(),
            ["secret"],
            "{what}"
        );
    }
}

fn assert_refused_naming(r: &Response, header: &str, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", text(r));
    let body = text(r);
    assert!(body.contains("<Code>AccessDenied</Code>"), "{what}: {body}");
    assert!(
        body.contains("not signed") && body.contains(header),
        "{what}: {body}"
    );
}

#[test]
fn a_presigned_put_plus_any_unsigned_header_is_refused_and_stores_nothing() {
    let w = world();
    let addr = w.node.addr;
    for (n, v) in attack_headers(now() + 86_400) {
        let what = format!("presigned PUT + {n}");
        // A new key and an existing one: neither written, nothing copied.
        for key in ["target", "existing"] {
            let url = presign(addr, &w.alice, "PUT", "alice-b", key, &[]);
            let r = raw(addr, "PUT", &url, &[(n.clone(), v.clone())], BODY);
            assert_refused_naming(&r, &n, &what);
        }
        w.assert_untouched("target", &what);
    }
    // Several at once are all named.
    let url = presign(addr, &w.alice, "PUT", "alice-b", "target", &[]);
    let r = raw(addr, "PUT", &url, &attack_headers(now() + 86_400), BODY);
    for (n, _) in attack_headers(0) {
        assert_refused_naming(&r, &n, "all at once");
    }
    w.assert_untouched("target", "all at once");
}

#[test]
fn the_copy_source_attack_does_not_copy_another_users_object() {
    let w = world();
    let addr = w.node.addr;
    let url = presign(addr, &w.alice, "PUT", "alice-b", "stolen", &[]);
    let r = raw(
        addr,
        "PUT",
        &url,
        &owned(&[("x-amz-copy-source", "bob-private/secret")]),
        b"",
    );
    assert_refused_naming(&r, "x-amz-copy-source", "copy");
    assert_eq!(
        w.alice().head_object("alice-b", "stolen").unwrap().status,
        404
    );
    // Header-signed, the copy source left out of SignedHeaders.
    let r = header_signed(
        addr,
        &w.alice,
        "PUT",
        ("alice-b", "stolen"),
        &[],
        &owned(&[("x-amz-copy-source", "bob-private/secret")]),
        b"",
    );
    assert_refused_naming(&r, "x-amz-copy-source", "header copy");
    w.assert_untouched("stolen", "copy");
}

#[test]
fn a_header_signed_request_with_a_header_left_out_of_signed_headers_is_refused() {
    let w = world();
    let addr = w.node.addr;
    for (n, v) in attack_headers(now() + 86_400) {
        let what = format!("header-signed PUT + unsigned {n}");
        for key in ["target", "existing"] {
            let extra = [(n.clone(), v.clone())];
            let r = header_signed(addr, &w.alice, "PUT", ("alice-b", key), &[], &extra, BODY);
            assert_refused_naming(&r, &n, &what);
        }
        w.assert_untouched("target", &what);
    }
    // CreateMultipartUpload would store the metadata for the upload's object.
    let r = {
        let path = format!("{}?uploads=", sign::object_path("alice-b", "target"));
        let s = sign::sign(
            &w.alice,
            &RequestToSign {
                method: "POST",
                path: &sign::object_path("alice-b", "target"),
                query: &owned(&[("uploads", "")]),
                host: &addr.to_string(),
                headers: &[],
                payload_line: "UNSIGNED-PAYLOAD",
            },
            now(),
        );
        let mut h = s.headers;
        h.extend(owned(&[("x-amz-meta-x", "injected")]));
        raw(addr, "POST", &path, &h, b"")
    };
    assert_refused_naming(&r, "x-amz-meta-x", "create multipart");
    // A read too: x-amz-* headers must be signed whatever the method.
    let r = header_signed(
        addr,
        &w.alice,
        "GET",
        ("alice-b", "existing"),
        &[],
        &owned(&[("x-amz-checksum-mode", "ENABLED")]),
        b"",
    );
    assert_refused_naming(&r, "x-amz-checksum-mode", "get");
    // The admin API authenticates the same way: no user is made.
    let r = header_signed(
        addr,
        &test_credentials(),
        "POST",
        ("admin", "users"),
        &owned(&[("content-type", "application/json")]),
        &owned(&[("x-amz-meta-x", "1")]),
        br#"{"uid":"mallory"}"#,
    );
    assert_eq!(r.status, 403, "{}", text(&r));
    assert!(
        text(&r).contains("AccessDenied") && text(&r).contains("x-amz-meta-x"),
        "{}",
        text(&r)
    );
    let mut root = S3Client::new(addr, test_credentials());
    let users = root
        .send(
            "GET",
            "admin",
            "users",
            Request::default(),
            PayloadMode::Signed,
        )
        .unwrap();
    assert!(!text(&users).contains("mallory"), "{}", text(&users));
    w.assert_untouched("target", "other operations");
}

#[test]
fn everything_signed_still_works_and_read_narrowing_headers_may_stay_unsigned() {
    let w = world();
    let addr = w.node.addr;
    let at = (now() + 86_400).to_string();
    let meta = owned(&[
        ("x-amz-meta-x", "chosen"),
        ("x-amz-tagging", "k=v"),
        ("x-delete-at", &at),
        ("content-md5", &md5_b64(BODY)),
        ("content-type", "text/plain"),
        ("cache-control", "no-cache"),
        ("x-amz-storage-class", "STANDARD"),
    ]);
    // Presigned with every header in X-Amz-SignedHeaders.
    let url = presign(addr, &w.alice, "PUT", "alice-b", "pre", &meta);
    let r = raw(addr, "PUT", &url, &meta, BODY);
    assert_eq!(r.status, 200, "{}", text(&r));
    // Header-signed with every header in SignedHeaders.
    let r = header_signed(addr, &w.alice, "PUT", ("alice-b", "hdr"), &meta, &[], BODY);
    assert_eq!(r.status, 200, "{}", text(&r));
    let mut a = w.alice();
    for key in ["pre", "hdr"] {
        let g = a.get_object("alice-b", key).unwrap();
        assert_eq!((g.status, g.body.as_slice()), (200, BODY), "{key}");
        assert_eq!(g.header("x-amz-meta-x"), Some("chosen"), "{key}");
        assert_eq!(g.header("content-type"), Some("text/plain"), "{key}");
        assert_eq!(g.header("x-delete-at"), Some(at.as_str()), "{key}");
        assert_eq!(g.header("x-amz-tagging-count"), Some("1"), "{key}");
    }
    // A presigned GET fetched with unsigned headers that only narrow or
    // shape the read (a browser adds cache-control on reload).
    let url = presign(addr, &w.alice, "GET", "alice-b", "pre", &[]);
    let r = raw(
        addr,
        "GET",
        &url,
        &owned(&[
            ("range", "bytes=0-2"),
            ("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("cache-control", "max-age=0"),
            ("user-agent", "Mozilla/5.0"),
            ("accept-encoding", "gzip"),
            ("x-amzn-trace-id", "Root=1-0-0"),
            ("x-forwarded-for", "10.0.0.1"),
        ]),
        b"",
    );
    assert_eq!(
        (r.status, r.body.as_slice()),
        (206, &BODY[..3]),
        "{}",
        text(&r)
    );
    // A presigned PUT without extra headers, as curl -T sends it.
    let url = presign(addr, &w.alice, "PUT", "alice-b", "plain", &[]);
    let r = raw(
        addr,
        "PUT",
        &url,
        &owned(&[("user-agent", "curl/8"), ("accept", "*/*")]),
        BODY,
    );
    assert_eq!(r.status, 200, "{}", text(&r));
}

#[test]
fn a_scope_for_another_region_is_refused_naming_the_nodes_region() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start_with(tmp.path(), &creds_env(), &["--region", "eu-central-1"]);
    let addr = node.addr;
    let at = |region: &str| Credentials {
        region: region.into(),
        ..test_credentials()
    };
    let mut good = S3Client::new(addr, at("eu-central-1"));
    assert_eq!(good.create_bucket("reg").unwrap().status, 200);
    for region in ["us-east-1", "eu-central-2", "EU-CENTRAL-1"] {
        // Header auth.
        let mut c = S3Client::new(addr, at(region));
        let r = c.put_object("reg", "k", BODY, PayloadMode::Signed).unwrap();
        assert_eq!(r.status, 400, "{region}: {}", text(&r));
        let body = text(&r);
        assert!(
            body.contains("<Code>AuthorizationHeaderMalformed</Code>"),
            "{body}"
        );
        assert!(
            body.contains(&format!("'{region}' is wrong; expecting 'eu-central-1'")),
            "{body}"
        );
        assert_eq!(r.header("x-amz-bucket-region"), Some("eu-central-1"));
        // Presigned.
        let url = presign(addr, &at(region), "PUT", "reg", "k", &[]);
        let r = raw(addr, "PUT", &url, &[], BODY);
        assert_eq!(r.status, 400, "{region}: {}", text(&r));
        assert!(
            text(&r).contains("<Code>AuthorizationQueryParametersError</Code>"),
            "{}",
            text(&r)
        );
        assert!(
            text(&r).contains("expecting 'eu-central-1'"),
            "{}",
            text(&r)
        );
    }
    assert_eq!(
        good.head_object("reg", "k").unwrap().status,
        404,
        "written with a wrong scope"
    );
    assert_eq!(
        good.put_object("reg", "k", BODY, PayloadMode::Signed)
            .unwrap()
            .status,
        200
    );
    // shale's own admin CLI, told no region, follows the node's answer.
    let out = shale()
        .arg("admin")
        .args(["--endpoint", &format!("http://{addr}")])
        .args(["--access-key", common::server::ACCESS_KEY])
        .args(["--secret-key", common::server::SECRET_KEY])
        .args(["user", "list"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
