//! Every S3 request-body parser (and the version id parser) on the same input: no panics, only the
//! documented error codes, and what parses stays within the caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::s3::xml::{
    lifecycle, parse_complete_multipart, parse_create_bucket, parse_delete, parse_lifecycle,
    parse_tagging, parse_versioning, tagging, COMPLETE_PARTS_MAX, DELETE_OBJECTS_MAX,
};
use shale::object::versioning::parse_version_id;
use shale::s3::S3ErrorCode;

fuzz_target!(|data: &[u8]| {
    match parse_delete(data) {
        Ok(d) => assert!((1..=DELETE_OBJECTS_MAX).contains(&d.objects.len())),
        Err(e) => assert_eq!(e.code, S3ErrorCode::MalformedXML),
    }
    match parse_complete_multipart(data) {
        Ok(parts) => {
            assert!((1..=COMPLETE_PARTS_MAX).contains(&parts.len()));
            assert!(parts.iter().all(|(n, _)| (1..=10_000).contains(n)));
        }
        Err(e) => assert!(matches!(
            e.code,
            S3ErrorCode::MalformedXML | S3ErrorCode::InvalidArgument
        )),
    }
    if let Err(e) = parse_create_bucket(data) {
        assert_eq!(e.code, S3ErrorCode::MalformedXML);
    }
    // PutBucketVersioning.
    if let Err(e) = parse_versioning(data) {
        assert!(matches!(
            e.code,
            S3ErrorCode::MalformedXML | S3ErrorCode::NotImplemented
        ));
    }
    // PutBucketLifecycleConfiguration: what parses is valid, and renders
    // to a document that parses back to the same rules (the stored form).
    match parse_lifecycle(data) {
        Ok(lc) => {
            assert!(lc.validate().is_ok());
            let again = parse_lifecycle(lifecycle(&lc).as_bytes()).expect("a rendered configuration parses");
            assert_eq!(again, lc);
        }
        Err(e) => assert!(matches!(
            e.code,
            S3ErrorCode::MalformedXML
                | S3ErrorCode::InvalidArgument
                | S3ErrorCode::InvalidRequest
                | S3ErrorCode::NotImplemented
        )),
    }
    // PutObjectTagging: the same for tag sets.
    match parse_tagging(data) {
        Ok(tags) => assert_eq!(parse_tagging(tagging(&tags).as_bytes()).expect("rendered tags parse"), tags),
        Err(e) => assert!(matches!(e.code, S3ErrorCode::MalformedXML | S3ErrorCode::InvalidTag)),
    }
    // PutBucketAcl / PutObjectAcl bodies and PutPublicAccessBlock: what
    // parses stays within the grant cap; the block renders and reads back.
    match shale::s3::xml::parse_access_control_policy(data) {
        Ok((_, grants)) => assert!(grants.len() <= shale::s3::acl::GRANTS_MAX),
        Err(e) => assert!(matches!(
            e.code,
            S3ErrorCode::MalformedXML | S3ErrorCode::MalformedACLError
        )),
    }
    match shale::s3::xml::parse_public_access_block(data) {
        Ok(b) => {
            let doc = shale::s3::xml::public_access_block(&b);
            assert_eq!(shale::s3::xml::parse_public_access_block(doc.as_bytes()).ok(), Some(b));
        }
        Err(e) => assert_eq!(e.code, S3ErrorCode::MalformedXML),
    }
    // Version ids as clients send them (versionId, VersionId, markers).
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(id) = parse_version_id(text) {
            assert_eq!(shale::object::versioning::format_version_id(&id), text);
        }
    }
});
