//! PutBucketPolicy's body parser and the evaluation of what it accepts:
//! no panics, every refusal is MalformedPolicy, and a policy that parses
//! has statements and answers requests (deterministically) without
//! panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::s3::acl::Who;
use shale::s3::policy::{Ask, Decision, Policy, POLICY_BYTES_MAX};
use shale::s3::S3ErrorCode;

fuzz_target!(|data: &[u8]| {
    match Policy::parse(data, "photos", &|u| u.len() < 8) {
        Ok(p) => {
            assert!(data.len() <= POLICY_BYTES_MAX);
            assert!(!p.statements.is_empty());
            let context = [
                ("aws:sourceip", "10.1.2.3".to_string()),
                ("aws:securetransport", "false".to_string()),
                ("s3:prefix", "a/b".to_string()),
            ];
            for who in [Who::Anonymous, Who::User("bob")] {
                for (action, resource) in [
                    ("s3:GetObject", "arn:aws:s3:::photos/a/b"),
                    ("s3:ListBucket", "arn:aws:s3:::photos"),
                    ("s3:PutObject", "arn:aws:s3:::photos/x"),
                ] {
                    let ask = Ask {
                        who,
                        action,
                        resource,
                        context: &context,
                    };
                    let d = p.decide(&ask);
                    assert_eq!(d, p.decide(&ask));
                    assert!(matches!(d, Decision::Allow | Decision::Deny | Decision::Neutral));
                }
            }
            let _ = p.is_public();
        }
        Err(e) => assert_eq!(e.code, S3ErrorCode::MalformedPolicy, "{}", e.message),
    }
});
