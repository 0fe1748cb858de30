//! Bucket names follow S3's general purpose naming rules, and object keys
//! are 1 to 1024 bytes of UTF-8, control characters included.

use shale::s3::names::{validate_bucket_name, validate_object_key};
use shale::s3::S3ErrorCode;

#[test]
fn valid_bucket_names_are_accepted() {
    for name in [
        "abc",
        "my-bucket",
        "my.bucket.name",
        "123",
        "a1-b2.c3",
        "docexamplebucket1",
        "xn-single-dash",
        "bucket-s3alias-not-at-end",
        "1.2.3",
        "1.2.3.4.5",
        "192.168.5.a",
        &"a".repeat(63),
    ] {
        assert_eq!(validate_bucket_name(name), Ok(()), "{name}");
    }
}

#[test]
fn invalid_bucket_names_are_rejected() {
    for name in [
        "",
        "ab",
        &"a".repeat(64),
        "My-Bucket",
        "my_bucket",
        "my bucket",
        "-bucket",
        "bucket-",
        ".bucket",
        "bucket.",
        "my..bucket",
        "my.-bucket",
        "my-.bucket",
        "192.168.5.4",
        "10.0.0.1",
        "999.999.999.999",
        "xn--bucket",
        "sthree-bucket",
        "sthree-configurator",
        "amzn-s3-demo-bucket",
        "bucket-s3alias",
        "bucket--ol-s3",
        "bucket.mrap",
        "bucket--x-s3",
        "bucket--table-s3",
        "bücket",
        "bucket/x",
    ] {
        let e = validate_bucket_name(name).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidBucketName, "{name}");
    }
}

#[test]
fn object_keys_are_nonempty_utf8_up_to_1024_bytes() {
    for key in [
        &b"a"[..],
        b"\x01\x02\r\n\t\x00",
        b"../../etc/passwd",
        "ключ/😀".as_bytes(),
        &[b'k'; 1024],
    ] {
        assert_eq!(validate_object_key(key), Ok(()), "{key:?}");
    }
    let code = |key: &[u8]| validate_object_key(key).unwrap_err().code;
    assert_eq!(code(&[b'k'; 1025]), S3ErrorCode::KeyTooLongError);
    // 1024 bytes of 4-byte characters is fine, one more is not.
    assert_eq!(validate_object_key("😀".repeat(256).as_bytes()), Ok(()));
    assert_eq!(
        code(format!("{}a", "😀".repeat(256)).as_bytes()),
        S3ErrorCode::KeyTooLongError
    );
    assert_eq!(code(b""), S3ErrorCode::InvalidArgument);
    assert_eq!(code(b"\xff"), S3ErrorCode::InvalidArgument);
    assert_eq!(code(b"a\xc3"), S3ErrorCode::InvalidArgument);
}
