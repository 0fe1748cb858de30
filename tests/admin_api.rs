//! The admin API over real sockets: malformed JSON and unknown fields get
//! 400 with a message that says what is wrong, unknown resources 404,
//! wrong methods 405, unsigned and non-system callers 403; users, keys,
//! buckets and quotas survive restarts (the metadata log), its directory
//! is private; and a data dir from before the metadata log (buckets with
//! their own BUCKET records) is taken over on start with nothing lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;

use common::server::{creds_env, start, stop, test_credentials};
use shale::client::{Credentials, PayloadMode, Request, Response, S3Client};

fn call(c: &mut S3Client, method: &str, path: &str, body: &str) -> Response {
    c.send(
        method,
        "admin",
        path,
        Request {
            body: body.as_bytes(),
            headers: vec![("content-type".into(), "application/json".into())],
            ..Request::default()
        },
        PayloadMode::Signed,
    )
    .unwrap()
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

fn error_of(r: &Response) -> (u16, String, String) {
    let v = json(r);
    (
        r.status,
        v["error"]["code"].as_str().unwrap().to_string(),
        v["error"]["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn bad_requests_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    let mut c = S3Client::new(node.addr, test_credentials());

    let cases: [(&str, &str, &str, u16, &str, &str); 9] = [
        (
            "POST",
            "users",
            "{not json",
            400,
            "InvalidJson",
            "key must be a string",
        ),
        (
            "POST",
            "users",
            "[1,2]",
            400,
            "InvalidJson",
            "expected a JSON object",
        ),
        (
            "POST",
            "users",
            r#"{"uid":"a","colour":"red"}"#,
            400,
            "InvalidJson",
            "unknown field `colour`",
        ),
        (
            "POST",
            "users",
            r#"{"display_name":"x"}"#,
            400,
            "InvalidJson",
            "missing field `uid`",
        ),
        (
            "POST",
            "users",
            r#"{"uid":"has space"}"#,
            400,
            "InvalidArgument",
            "uid \"has space\" is not valid",
        ),
        (
            "POST",
            "users",
            r#"{"uid":"a","max_objects":"ten"}"#,
            400,
            "InvalidJson",
            "invalid type",
        ),
        (
            "POST",
            "users/nobody",
            r#"{"suspended":true}"#,
            404,
            "NoSuchUser",
            "no user \"nobody\"",
        ),
        (
            "GET",
            "nothing/here",
            "",
            404,
            "NoSuchResource",
            "/admin/nothing/here",
        ),
        (
            "PUT",
            "users",
            "",
            405,
            "MethodNotAllowed",
            "PUT is not allowed",
        ),
    ];
    for (method, path, body, status, code, msg) in cases {
        let r = call(&mut c, method, path, body);
        let (s, c_, m) = error_of(&r);
        assert_eq!(
            (s, c_.as_str()),
            (status, code),
            "{method} {path} {body}: {m}"
        );
        assert!(
            m.contains(msg),
            "{method} {path} {body}: {m:?} lacks {msg:?}"
        );
    }
    // A body where none is taken.
    let r = call(&mut c, "POST", "users/root/enable", "{}");
    assert_eq!(error_of(&r).1, "UnexpectedBody");
    // Nothing was created by any of them.
    let users = json(&call(&mut c, "GET", "users", ""));
    assert_eq!(users.as_array().unwrap().len(), 1);

    // Unsigned: 403.
    let mut s = TcpStream::connect(node.addr).unwrap();
    write!(
        s,
        "GET /admin/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    // A wrong secret: 403 SignatureDoesNotMatch, nothing done.
    let mut bad = S3Client::new(
        node.addr,
        Credentials {
            secret_key: "wrong-secret-key".into(),
            ..test_credentials()
        },
    );
    let r = call(&mut bad, "POST", "users", r#"{"uid":"mallory"}"#);
    assert_eq!(r.status, 403);
    assert_eq!(
        json(&call(&mut c, "GET", "users", ""))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A user that is not a system user: 403 AccessDenied.
    let made = json(&call(&mut c, "POST", "users", r#"{"uid":"alice"}"#));
    let key = &made["key"];
    let mut alice = S3Client::new(
        node.addr,
        Credentials {
            access_key: key["access_key"].as_str().unwrap().into(),
            secret_key: key["secret_key"].as_str().unwrap().into(),
            region: "us-east-1".into(),
        },
    );
    let (s, code, _) = error_of(&call(&mut alice, "GET", "users", ""));
    assert_eq!((s, code.as_str()), (403, "AccessDenied"));
    // Operator-chosen keys are checked, and a key is unique.
    let r = call(
        &mut c,
        "POST",
        "users/alice/keys",
        r#"{"access_key":"AKIDALICE2"}"#,
    );
    assert_eq!(error_of(&r).1, "InvalidArgument");
    let r = call(
        &mut c,
        "POST",
        "users/alice/keys",
        r#"{"access_key":"AKIDALICE2","secret_key":"sec-ret-123"}"#,
    );
    assert_eq!(r.status, 201);
    let r = call(
        &mut c,
        "POST",
        "users/root/keys",
        r#"{"access_key":"AKIDALICE2","secret_key":"sec-ret-123"}"#,
    );
    assert_eq!(error_of(&r).1, "KeyAlreadyExists");
    // The root user keeps its last key and cannot be removed.
    let r = call(
        &mut c,
        "DELETE",
        &format!("keys/{}", test_credentials().access_key),
        "",
    );
    assert_eq!(error_of(&r).1, "ProtectedUser");
    let r = call(&mut c, "DELETE", "users/root", "");
    assert_eq!(error_of(&r).1, "ProtectedUser");
}

#[test]
fn metadata_survives_restarts_and_is_private() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    let mut c = S3Client::new(node.addr, test_credentials());
    let made = json(&call(
        &mut c,
        "POST",
        "users",
        r#"{"uid":"bob","display_name":"Bob","email":"bob@example.com","max_objects":10}"#,
    ));
    let bob = Credentials {
        access_key: made["key"]["access_key"].as_str().unwrap().into(),
        secret_key: made["key"]["secret_key"].as_str().unwrap().into(),
        region: "us-east-1".into(),
    };
    let mut b = S3Client::new(node.addr, bob.clone());
    assert_eq!(b.create_bucket("bobs").unwrap().status, 200);
    assert_eq!(
        b.put_object("bobs", "k", b"v", PayloadMode::Signed)
            .unwrap()
            .status,
        200
    );
    let r = call(
        &mut c,
        "POST",
        "buckets/bobs/quota",
        r#"{"max_bytes":4096}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        json(&call(&mut c, "POST", "users/bob/suspend", ""))["suspended"],
        true
    );
    let (ok, _) = stop(node);
    assert!(ok);

    let meta = tmp.path().join("meta");
    let mode = std::fs::metadata(&meta).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the metadata dir holds secrets");

    let node = start(tmp.path(), &creds_env());
    let mut c = S3Client::new(node.addr, test_credentials());
    let u = json(&call(&mut c, "GET", "users/bob", ""));
    assert_eq!(u["email"], "bob@example.com");
    assert_eq!(u["max_objects"], 10);
    assert_eq!(u["suspended"], true);
    assert_eq!(u["objects"], 1);
    let bk = json(&call(&mut c, "GET", "buckets/bobs", ""));
    assert_eq!(
        (bk["owner"].as_str(), bk["max_bytes"].as_u64()),
        (Some("bob"), Some(4096))
    );
    let mut b = S3Client::new(node.addr, bob);
    assert_eq!(b.get_object("bobs", "k").unwrap().status, 403);
    call(&mut c, "POST", "users/bob/enable", "");
    let r = b.get_object("bobs", "k").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, b"v".as_slice()));
    // Bucket removal through the API: refused while not empty.
    let (s, code, _) = error_of(&call(&mut c, "DELETE", "buckets/bobs", ""));
    assert_eq!((s, code.as_str()), (409, "BucketNotEmpty"));
    assert_eq!(b.delete_object("bobs", "k").unwrap().status, 204);
    assert_eq!(call(&mut c, "DELETE", "buckets/bobs", "").status, 204);
    assert_eq!(b.get_object("bobs", "k").unwrap().status, 404);
    let info = json(&call(&mut c, "GET", "info", ""));
    assert_eq!(info["users"], 2);
    assert_eq!(info["buckets"], 0);
    assert!(info["zone_id"].as_str().unwrap().len() == 16);
}

#[test]
fn a_data_dir_from_before_the_metadata_log_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(tmp.path(), &creds_env());
    let mut c = S3Client::new(node.addr, test_credentials());
    assert_eq!(c.create_bucket("old").unwrap().status, 200);
    for i in 0..20 {
        let r = c.put_object(
            "old",
            &format!("k{i}"),
            format!("v{i}").as_bytes(),
            PayloadMode::Signed,
        );
        assert_eq!(r.unwrap().status, 200);
    }
    let (ok, _) = stop(node);
    assert!(ok);
    // What an older shale left: no metadata log, a BUCKET record per bucket.
    std::fs::remove_dir_all(tmp.path().join("meta")).unwrap();
    let record = shale::object::bucket_meta::BucketMeta {
        created_nanos: 1_700_000_000_000_000_000,
        shards: shale::index::bucket::DEFAULT_SHARDS,
        versioning: 1,
        location: "eu-west-1".into(),
        owner: test_credentials().access_key,
    };
    std::fs::write(
        tmp.path().join("buckets/old/BUCKET"),
        record.encode().unwrap(),
    )
    .unwrap();

    let node = start(tmp.path(), &creds_env());
    let mut c = S3Client::new(node.addr, test_credentials());
    for i in 0..20 {
        let r = c.get_object("old", &format!("k{i}")).unwrap();
        assert_eq!((r.status, r.body), (200, format!("v{i}").into_bytes()));
    }
    let r = c
        .send(
            "GET",
            "old",
            "",
            Request {
                query: vec![("versioning".into(), String::new())],
                ..Request::default()
            },
            PayloadMode::Signed,
        )
        .unwrap();
    assert!(String::from_utf8_lossy(&r.body).contains("<Status>Enabled</Status>"));
    let bk = json(&call(&mut c, "GET", "buckets/old", ""));
    assert_eq!(bk["owner"], "root");
    assert_eq!(bk["objects"], 20);
    assert!(!tmp.path().join("buckets/old/BUCKET").exists());
    let (ok, _) = stop(node);
    assert!(ok);
    // And again: from the log this time.
    let node = start(tmp.path(), &creds_env());
    let mut c = S3Client::new(node.addr, test_credentials());
    assert_eq!(c.get_object("old", "k7").unwrap().body, b"v7");
}
