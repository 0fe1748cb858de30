//! Who may run an operation on a bucket or object: the policy action an
//! S3 operation is, the ACL permission that grants it, the bucket's
//! PublicAccessBlock, and how ownership, policy and ACL combine — as AWS
//! evaluates a request within one account: an explicit Deny in the
//! policy wins; otherwise an Allow from the policy, the ACL or ownership
//! lets it through; otherwise it is denied. Pure.
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/how-s3-evaluates-access-control.html>

use crate::s3::acl::Permission;
use crate::s3::operation::Operation;
use crate::s3::policy::Decision;

/// Which ACL can grant an operation, and which permission it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclNeed {
    Bucket(Permission),
    Object(Permission),
    /// No ACL grants it: only the owner or a policy.
    None,
}

/// An operation as the policy language and ACLs see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    /// The policy action, `s3:GetObject`.
    pub name: &'static str,
    /// Whether its resource is the object (`arn:aws:s3:::b/key`) rather
    /// than the bucket.
    pub on_object: bool,
    pub acl: AclNeed,
}

/// The action of `op` on a bucket or object (`version`: the request
/// names a version, which selects the `...Version` actions); `None` for
/// the operations outside a bucket (ListBuckets, CreateBucket) and
/// those shale does not run.
/// The mapping of ACL permissions to actions:
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#permissions>;
/// of operations to actions:
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html>.
pub fn action_of(op: Operation, version: bool) -> Option<Action> {
    use AclNeed::{Bucket, Object};
    use Operation as O;
    use Permission::{Read, ReadAcp, Write, WriteAcp};
    let v = |plain: &'static str, versioned: &'static str| if version { versioned } else { plain };
    let (name, on_object, acl) = match op {
        O::GetObject | O::HeadObject => {
            (v("s3:GetObject", "s3:GetObjectVersion"), true, Object(Read))
        }
        O::GetObjectAttributes => (
            v("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
            true,
            Object(Read),
        ),
        O::GetObjectAcl => (
            v("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
            true,
            Object(ReadAcp),
        ),
        O::PutObjectAcl => (
            v("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
            true,
            Object(WriteAcp),
        ),
        O::PutObject
        | O::PostObject
        | O::CopyObject
        | O::CreateMultipartUpload
        | O::UploadPart
        | O::UploadPartCopy
        | O::CompleteMultipartUpload => ("s3:PutObject", true, Bucket(Write)),
        O::AbortMultipartUpload => ("s3:AbortMultipartUpload", true, Bucket(Write)),
        O::ListParts => ("s3:ListMultipartUploadParts", true, Bucket(Write)),
        O::DeleteObject | O::DeleteObjects => (
            v("s3:DeleteObject", "s3:DeleteObjectVersion"),
            true,
            Bucket(Write),
        ),
        O::GetObjectTagging => (
            v("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
            true,
            AclNeed::None,
        ),
        O::PutObjectTagging => (
            v("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            true,
            AclNeed::None,
        ),
        O::DeleteObjectTagging => (
            v("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
            true,
            AclNeed::None,
        ),
        O::GetObjectRetention => ("s3:GetObjectRetention", true, AclNeed::None),
        O::PutObjectRetention => ("s3:PutObjectRetention", true, AclNeed::None),
        O::GetObjectLegalHold => ("s3:GetObjectLegalHold", true, AclNeed::None),
        O::PutObjectLegalHold => ("s3:PutObjectLegalHold", true, AclNeed::None),
        O::ListObjects | O::ListObjectsV2 | O::HeadBucket => ("s3:ListBucket", false, Bucket(Read)),
        O::ListObjectVersions => ("s3:ListBucketVersions", false, Bucket(Read)),
        O::ListMultipartUploads => ("s3:ListBucketMultipartUploads", false, Bucket(Read)),
        O::GetBucketAcl => ("s3:GetBucketAcl", false, Bucket(ReadAcp)),
        O::PutBucketAcl => ("s3:PutBucketAcl", false, Bucket(WriteAcp)),
        other => (bucket_action(other)?, false, AclNeed::None),
    };
    Some(Action {
        name,
        on_object,
        acl,
    })
}

/// The actions of the bucket operations only the owner (or a policy)
/// may run.
fn bucket_action(op: Operation) -> Option<&'static str> {
    use Operation as O;
    Some(match op {
        O::DeleteBucket => "s3:DeleteBucket",
        O::GetBucketLocation => "s3:GetBucketLocation",
        O::GetBucketVersioning => "s3:GetBucketVersioning",
        O::PutBucketVersioning => "s3:PutBucketVersioning",
        O::GetBucketTagging => "s3:GetBucketTagging",
        O::PutBucketTagging | O::DeleteBucketTagging => "s3:PutBucketTagging",
        O::GetBucketCors => "s3:GetBucketCORS",
        O::PutBucketCors | O::DeleteBucketCors => "s3:PutBucketCORS",
        O::GetBucketLifecycleConfiguration => "s3:GetLifecycleConfiguration",
        O::PutBucketLifecycleConfiguration | O::DeleteBucketLifecycle => {
            "s3:PutLifecycleConfiguration"
        }
        O::GetBucketPolicy => "s3:GetBucketPolicy",
        O::PutBucketPolicy => "s3:PutBucketPolicy",
        O::DeleteBucketPolicy => "s3:DeleteBucketPolicy",
        O::GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
        O::GetPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
        O::GetObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
        O::PutObjectLockConfiguration => "s3:PutBucketObjectLockConfiguration",
        O::PutPublicAccessBlock | O::DeletePublicAccessBlock => "s3:PutBucketPublicAccessBlock",
        O::GetBucketEncryption => "s3:GetEncryptionConfiguration",
        O::PutBucketEncryption | O::DeleteBucketEncryption => "s3:PutEncryptionConfiguration",
        _ => return None,
    })
}

/// A bucket's PublicAccessBlock configuration (all false: none).
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html>
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublicAccessBlock {
    /// PUT of a public ACL (bucket or object, by header or body) is
    /// refused.
    pub block_public_acls: bool,
    /// Public grants in ACLs are ignored when access is decided.
    pub ignore_public_acls: bool,
    /// PutBucketPolicy of a public policy is refused.
    pub block_public_policy: bool,
    /// While the policy is public, its Allow statements reach only the
    /// bucket owner (here: nobody else).
    pub restrict_public_buckets: bool,
}

/// What decides one request.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// The caller owns the bucket (and so, in shale, every object in it).
    pub owner: bool,
    /// What the bucket policy says (Neutral without one).
    pub policy: Decision,
    /// The policy is public (see `Policy::is_public`).
    pub policy_public: bool,
    /// The ACL grants the action (public grants already left out where
    /// IgnorePublicAcls says so).
    pub acl: bool,
    pub block: PublicAccessBlock,
    pub action: &'static str,
}

/// Whether the request may go on.
pub fn permitted(f: &Facts) -> bool {
    // The bucket owner can always manage the policy, so a policy that
    // denies everything cannot lock it out of its own bucket.
    // <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html>
    if f.owner
        && matches!(
            f.action,
            "s3:GetBucketPolicy" | "s3:PutBucketPolicy" | "s3:DeleteBucketPolicy"
        )
    {
        return true;
    }
    match f.policy {
        Decision::Deny => false,
        Decision::Allow if !(f.block.restrict_public_buckets && f.policy_public) => true,
        _ => f.owner || f.acl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_documented_actions() {
        let a = |op, v| action_of(op, v).map(|a| (a.name, a.on_object, a.acl));
        use Permission::*;
        assert_eq!(
            a(Operation::GetObject, false),
            Some(("s3:GetObject", true, AclNeed::Object(Read)))
        );
        assert_eq!(
            a(Operation::HeadObject, true),
            Some(("s3:GetObjectVersion", true, AclNeed::Object(Read)))
        );
        assert_eq!(
            a(Operation::ListObjectsV2, false),
            Some(("s3:ListBucket", false, AclNeed::Bucket(Read)))
        );
        assert_eq!(
            a(Operation::PutObject, false),
            Some(("s3:PutObject", true, AclNeed::Bucket(Write)))
        );
        assert_eq!(
            a(Operation::DeleteObject, true),
            Some(("s3:DeleteObjectVersion", true, AclNeed::Bucket(Write)))
        );
        assert_eq!(
            a(Operation::PutBucketAcl, false),
            Some(("s3:PutBucketAcl", false, AclNeed::Bucket(WriteAcp)))
        );
        assert_eq!(
            a(Operation::DeletePublicAccessBlock, false),
            Some(("s3:PutBucketPublicAccessBlock", false, AclNeed::None))
        );
        assert_eq!(a(Operation::ListBuckets, false), None);
        assert_eq!(a(Operation::CreateBucket, false), None);
        // Every action named is one a policy may name.
        for op in Operation::ALL {
            for v in [false, true] {
                if let Some(act) = action_of(*op, v) {
                    let name = act.name.strip_prefix("s3:").unwrap_or_default();
                    assert!(
                        crate::s3::policy::ACTIONS.contains(&name),
                        "{op:?}: {}",
                        act.name
                    );
                }
            }
        }
    }

    /// The decision table: explicit deny wins, then allow from policy,
    /// ACL or ownership; RestrictPublicBuckets voids a public policy's
    /// allows; the owner keeps the policy operations.
    #[test]
    fn decision_table() {
        use Decision::*;
        let none = PublicAccessBlock::default();
        let restrict = PublicAccessBlock {
            restrict_public_buckets: true,
            ..none
        };
        let cases = [
            // owner, policy, public, acl, block, action, permitted
            (true, Neutral, false, false, none, "s3:GetObject", true),
            (true, Deny, false, true, none, "s3:GetObject", false),
            (true, Deny, false, false, none, "s3:PutBucketPolicy", true),
            (
                true,
                Deny,
                false,
                false,
                none,
                "s3:DeleteBucketPolicy",
                true,
            ),
            (
                false,
                Deny,
                false,
                false,
                none,
                "s3:DeleteBucketPolicy",
                false,
            ),
            (false, Neutral, false, false, none, "s3:GetObject", false),
            (false, Neutral, false, true, none, "s3:GetObject", true),
            (false, Allow, false, false, none, "s3:GetObject", true),
            (false, Allow, true, false, none, "s3:GetObject", true),
            (false, Allow, true, false, restrict, "s3:GetObject", false),
            (false, Allow, false, false, restrict, "s3:GetObject", true),
            (false, Allow, true, true, restrict, "s3:GetObject", true),
            (false, Deny, false, true, none, "s3:GetObject", false),
            (true, Allow, true, false, restrict, "s3:GetObject", true),
        ];
        for (owner, policy, policy_public, acl, block, action, want) in cases {
            let f = Facts {
                owner,
                policy,
                policy_public,
                acl,
                block,
                action,
            };
            assert_eq!(permitted(&f), want, "{f:?}");
        }
    }
}
