//! Access control on the wire: who may run a request (`Op::authorize`,
//! from the bucket's policy, ACLs and PublicAccessBlock, decided by
//! `s3::access`), and the operations that set them: Get/PutBucketAcl,
//! Get/PutObjectAcl, Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus,
//! Put/Get/DeletePublicAccessBlock.
//!
//! Bucket ACLs, policies and PublicAccessBlocks are bucket configurations
//! in the metadata log (`format-spec/mdlog.md`, kinds 4-6); an object's
//! ACL is an entry of its head's metadata (`s3::acl::ACL_META`,
//! `format-spec/object.md`), so it lives and dies with the version.

use http::StatusCode;
use hyper::Response;

use super::{empty, err, header, set_header, xml_response, Op, XML_BODY_MAX};
use crate::meta::mdlog::{CONFIG_ACL, CONFIG_POLICY, CONFIG_PUBLIC_ACCESS_BLOCK};
use crate::object::versioning::{format_version_id, parse_version_id};
use crate::s3::access::{self, AclNeed, Facts, PublicAccessBlock};
use crate::s3::acl::{self, Acl, Who};
use crate::s3::operation::{self, Operation};
use crate::s3::policy::{Ask, Decision, Policy};
use crate::s3::{xml, S3Error, S3ErrorCode};
use crate::server::body::{RequestBody, ResponseBody};

fn denied() -> S3Error {
    err(S3ErrorCode::AccessDenied, "Access Denied")
}

/// What a bucket says about access, read once per check.
struct BucketAccess {
    owner: String,
    policy: Option<Policy>,
    acl: Acl,
    block: PublicAccessBlock,
}

impl Op<'_> {
    /// Who signed the request (or nobody).
    pub(super) fn who(&self) -> Who<'_> {
        if self.anonymous {
            Who::Anonymous
        } else {
            Who::User(&self.caller.uid)
        }
    }

    fn bucket_access(&self, bucket: &str, owner: String) -> Result<BucketAccess, S3Error> {
        let store = self.store();
        let stored = |what: &str, e: S3Error| {
            err(
                S3ErrorCode::InternalError,
                format!("the stored {what} of {bucket}: {}", e.message),
            )
        };
        let policy = store
            .bucket_config(bucket, CONFIG_POLICY)?
            .map(|doc| Policy::parse(&doc, bucket, &|_| true))
            .transpose()
            .map_err(|e| stored("policy", e))?;
        let acl = match store.bucket_config(bucket, CONFIG_ACL)? {
            Some(doc) => Acl::decode(&String::from_utf8_lossy(&doc))
                .ok_or_else(|| stored("ACL", err(S3ErrorCode::InternalError, "unreadable")))?,
            None => Acl::default(),
        };
        Ok(BucketAccess {
            owner,
            policy,
            acl,
            block: self.public_access_block(bucket)?.unwrap_or_default(),
        })
    }

    fn public_access_block(&self, bucket: &str) -> Result<Option<PublicAccessBlock>, S3Error> {
        self.store()
            .bucket_config(bucket, CONFIG_PUBLIC_ACCESS_BLOCK)?
            .map(|doc| xml::parse_public_access_block(&doc))
            .transpose()
    }

    /// The condition keys of this request.
    fn context(&self, op: Operation) -> Vec<(&'static str, String)> {
        let mut c = vec![("aws:securetransport", "false".to_string())];
        if let Some(ip) = self.peer {
            c.push(("aws:sourceip", ip.to_string()));
        }
        for (key, name) in [
            ("aws:useragent", "user-agent"),
            ("aws:referer", "referer"),
            ("s3:x-amz-acl", "x-amz-acl"),
        ] {
            if let Some(v) = header(self.headers, name) {
                c.push((key, v.to_string()));
            }
        }
        if !self.anonymous {
            c.push(("aws:userid", self.caller.uid.clone()));
            c.push(("aws:username", self.caller.uid.clone()));
        }
        if matches!(
            op,
            Operation::ListObjects | Operation::ListObjectsV2 | Operation::ListObjectVersions
        ) {
            for (key, name) in [
                ("s3:prefix", "prefix"),
                ("s3:delimiter", "delimiter"),
                ("s3:max-keys", "max-keys"),
            ] {
                if let Some(v) = self.q(name) {
                    c.push((key, v.to_string()));
                }
            }
        }
        c
    }

    /// Whether `op` on `bucket` (and `key`) may run for the caller; the
    /// bucket exists. `object_acl` is the object's ACL where the action
    /// is granted by it (`None`: it is not known, counts as no grant).
    fn permits(
        &self,
        op: Operation,
        bucket: &str,
        key: Option<&[u8]>,
        state: &BucketAccess,
        object_acl: Option<&Acl>,
    ) -> Option<bool> {
        let action = access::action_of(op, self.q("versionId").is_some())?;
        let resource = match (action.on_object, key) {
            (true, Some(k)) => format!("arn:aws:s3:::{bucket}/{}", String::from_utf8_lossy(k)),
            (true, None) => format!("arn:aws:s3:::{bucket}/*"),
            (false, _) => format!("arn:aws:s3:::{bucket}"),
        };
        let who = self.who();
        let context = self.context(op);
        let ask = Ask {
            who,
            action: action.name,
            resource: &resource,
            context: &context,
        };
        let policy = state
            .policy
            .as_ref()
            .map_or(Decision::Neutral, |p| p.decide(&ask));
        let public_counts = !state.block.ignore_public_acls;
        let acl = match action.acl {
            AclNeed::Bucket(p) => state.acl.allows(&state.owner, who, p, public_counts),
            AclNeed::Object(p) => {
                object_acl.is_some_and(|a| a.allows(&state.owner, who, p, public_counts))
            }
            AclNeed::None => false,
        };
        Some(access::permitted(&Facts {
            owner: who == Who::User(&state.owner),
            policy,
            policy_public: state.policy.as_ref().is_some_and(Policy::is_public),
            acl,
            block: state.block,
            action: action.name,
        }))
    }

    /// Refuses the request (AccessDenied) unless the caller may run `op`
    /// on `bucket` / `key`: a system user may always; else the bucket's
    /// policy, ACL (or the object's) and ownership decide. A bucket that
    /// does not exist passes for a signed caller (the operation answers
    /// NoSuchBucket; an anonymous one gets AccessDenied), and so
    /// does an object that does not exist for a caller who may list the
    /// bucket (NoSuchKey; others learn nothing: AccessDenied).
    /// DeleteObjects is checked per key ([`Self::may_delete`]).
    pub(super) async fn authorize(
        &self,
        op: Operation,
        bucket: &str,
        key: Option<&[u8]>,
    ) -> Result<(), S3Error> {
        let Ok(b) = self.store().bucket(bucket) else {
            // Nobody gave an anonymous caller anything here, not even
            // the news that the bucket does not exist.
            return if self.anonymous {
                Err(denied())
            } else {
                Ok(())
            };
        };
        if let Some((id, due)) = self.node.purge_of_bucket(bucket, &b.meta.owner) {
            return Err(err(
                S3ErrorCode::AllAccessDisabled,
                format!(
                    "Bucket {bucket} is scheduled for removal with its data at {} (job {id}); until then the operator can cancel it (shale admin job cancel {id}).",
                    crate::s3::time::http_date(due)
                ),
            ));
        }
        // DeleteObjects is decided key by key (`may_delete`).
        if (self.caller.system && !self.anonymous) || op == Operation::DeleteObjects {
            return Ok(());
        }
        // The owner of a bucket without a policy may do everything: no
        // ACL or PublicAccessBlock to read.
        if !self.anonymous
            && b.meta.owner == self.caller.uid
            && self.store().bucket_config(bucket, CONFIG_POLICY)?.is_none()
        {
            return Ok(());
        }
        let state = self.bucket_access(bucket, b.meta.owner.clone())?;
        let Some(action) = access::action_of(op, false) else {
            return Err(denied());
        };
        let object_acl = match (action.acl, key) {
            (AclNeed::Object(_), Some(k))
                if self.permits(op, bucket, key, &state, None) != Some(true) =>
            {
                match self.object_acl(bucket, k).await {
                    Ok(a) => Some(a),
                    Err(e)
                        if matches!(
                            e.code,
                            S3ErrorCode::NoSuchKey
                                | S3ErrorCode::NoSuchVersion
                                | S3ErrorCode::MethodNotAllowed
                        ) =>
                    {
                        // Whether it exists is for those who could
                        // have the object (no explicit Deny) and may list.
                        let could = self.permits(op, bucket, key, &state, Some(&self.probe_acl()))
                            == Some(true);
                        return match could && self.may_list(bucket)? {
                            true => Ok(()),
                            false => Err(denied()),
                        };
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };
        match self.permits(op, bucket, key, &state, object_acl.as_ref()) {
            Some(true) => Ok(()),
            _ => Err(denied()),
        }
    }

    /// An object ACL that gives the caller everything: what an object's
    /// ACL could at most add for it.
    fn probe_acl(&self) -> Acl {
        let all = |grantee| acl::Grant {
            grantee,
            permission: acl::Permission::FullControl,
        };
        let mut grants = vec![all(acl::Grantee::AllUsers)];
        if !self.anonymous {
            grants.push(all(acl::Grantee::User(self.caller.uid.clone())));
        }
        Acl::Grants(grants)
    }

    /// Whether the caller may list `bucket` (s3:ListBucket): who may not
    /// is told AccessDenied rather than NoSuchKey for a key that does not
    /// exist, so that it learns nothing of which keys do.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>
    /// ("Permissions").
    pub(super) fn may_list(&self, bucket: &str) -> Result<bool, S3Error> {
        if self.caller.system && !self.anonymous {
            return Ok(true);
        }
        let Ok(b) = self.store().bucket(bucket) else {
            return Ok(true);
        };
        let state = self.bucket_access(bucket, b.meta.owner.clone())?;
        Ok(self.permits(Operation::ListObjects, bucket, None, &state, None) == Some(true))
    }

    /// Whether the caller may set the ACL of a new object at `key`
    /// (s3:PutObjectAcl; a new object has no ACL of its own yet).
    pub(super) fn may_set_acl(&self, bucket: &str, key: &[u8]) -> Result<bool, S3Error> {
        if self.caller.system && !self.anonymous {
            return Ok(true);
        }
        let Ok(b) = self.store().bucket(bucket) else {
            return Ok(true);
        };
        let state = self.bucket_access(bucket, b.meta.owner.clone())?;
        Ok(self.permits(Operation::PutObjectAcl, bucket, Some(key), &state, None) == Some(true))
    }

    /// One key of a DeleteObjects: whether the caller may delete it.
    pub(super) fn may_delete(
        &self,
        bucket: &str,
        key: &[u8],
        version: bool,
    ) -> Result<bool, S3Error> {
        if self.caller.system && !self.anonymous {
            return Ok(true);
        }
        let b = self.store().bucket(bucket)?;
        let state = self.bucket_access(bucket, b.meta.owner.clone())?;
        let op = Operation::DeleteObject;
        let action = access::action_of(op, version);
        let Some(action) = action else {
            return Ok(false);
        };
        let resource = format!("arn:aws:s3:::{bucket}/{}", String::from_utf8_lossy(key));
        let context = self.context(op);
        let who = self.who();
        let ask = Ask {
            who,
            action: action.name,
            resource: &resource,
            context: &context,
        };
        let policy = state
            .policy
            .as_ref()
            .map_or(Decision::Neutral, |p| p.decide(&ask));
        let acl = match action.acl {
            AclNeed::Bucket(p) => {
                state
                    .acl
                    .allows(&state.owner, who, p, !state.block.ignore_public_acls)
            }
            _ => false,
        };
        Ok(access::permitted(&Facts {
            owner: who == Who::User(&state.owner),
            policy,
            policy_public: state.policy.as_ref().is_some_and(Policy::is_public),
            acl,
            block: state.block,
            action: action.name,
        }))
    }

    /// Whether the caller may `action`, a policy action no ACL grants, on
    /// `key` (s3:BypassGovernanceRetention): a system user may; the
    /// bucket's owner may unless the policy denies it; others only if
    /// the policy allows it.
    pub(super) fn may_action(
        &self,
        bucket: &str,
        key: &[u8],
        action: &'static str,
    ) -> Result<bool, S3Error> {
        if self.caller.system && !self.anonymous {
            return Ok(true);
        }
        let b = self.store().bucket(bucket)?;
        let state = self.bucket_access(bucket, b.meta.owner.clone())?;
        let resource = format!("arn:aws:s3:::{bucket}/{}", String::from_utf8_lossy(key));
        let context = self.context(Operation::DeleteObject);
        let who = self.who();
        let ask = Ask {
            who,
            action,
            resource: &resource,
            context: &context,
        };
        let policy = state
            .policy
            .as_ref()
            .map_or(Decision::Neutral, |p| p.decide(&ask));
        Ok(access::permitted(&Facts {
            owner: who == Who::User(&state.owner),
            policy,
            policy_public: state.policy.as_ref().is_some_and(Policy::is_public),
            acl: false,
            block: state.block,
            action,
        }))
    }

    /// The ACL of the object (or of `versionId`).
    async fn object_acl(&self, bucket: &str, key: &[u8]) -> Result<Acl, S3Error> {
        let found = self.found(bucket, key).await?;
        Ok(acl::acl_in(&found.head.meta))
    }

    async fn found(
        &self,
        bucket: &str,
        key: &[u8],
    ) -> Result<crate::object::store::FoundObject, S3Error> {
        let version = self.q("versionId").map(parse_version_id).transpose()?;
        match version {
            Some(v) => self.store().get_object_version(bucket, key, v).await,
            None => self.store().get_object(bucket, key).await,
        }
    }

    /// The ACL the request's `x-amz-acl` / `x-amz-grant-*` headers set,
    /// if any; a public one where the bucket blocks public ACLs is
    /// AccessDenied.
    pub(super) fn header_acl(&self, bucket: &str) -> Result<Option<Acl>, S3Error> {
        let acl = acl::from_headers(
            &|n| header(self.headers, n).map(str::to_string),
            &|u| self.node.meta.read(|t| t.users.contains_key(u)),
            &|e| self.user_by_email(e),
        )?;
        if let Some(a) = &acl {
            self.check_public_acl(bucket, a)?;
        }
        Ok(acl)
    }

    fn user_by_email(&self, email: &str) -> Option<String> {
        self.node.meta.read(|t| {
            t.users
                .values()
                .find(|u| !u.email.is_empty() && u.email.eq_ignore_ascii_case(email))
                .map(|u| u.uid.clone())
        })
    }

    /// BlockPublicAcls: a public ACL may not be set.
    fn check_public_acl(&self, bucket: &str, acl: &Acl) -> Result<(), S3Error> {
        let blocked = self.store().bucket(bucket).is_ok()
            && self
                .public_access_block(bucket)?
                .is_some_and(|b| b.block_public_acls);
        if blocked && acl.is_public() {
            return Err(err(
                S3ErrorCode::AccessDenied,
                "Access Denied: the bucket's PublicAccessBlock (BlockPublicAcls) forbids public ACLs",
            ));
        }
        Ok(())
    }

    /// The ACL of a PutBucketAcl / PutObjectAcl: from its headers, else
    /// from its AccessControlPolicy body.
    async fn acl_of_request(&self, bucket: &str, mut body: RequestBody) -> Result<Acl, S3Error> {
        if let Some(a) = self.header_acl(bucket)? {
            return Ok(a);
        }
        let b = body.collect(XML_BODY_MAX).await?;
        if b.iter().all(u8::is_ascii_whitespace) {
            return Err(err(
                S3ErrorCode::MalformedACLError,
                "An ACL needs x-amz-acl, x-amz-grant-* headers or an AccessControlPolicy body",
            ));
        }
        let (_owner, raw) = xml::parse_access_control_policy(&b)?;
        let a = acl::resolve_grants(
            raw,
            &|u| self.node.meta.read(|t| t.users.contains_key(u)),
            &|e| self.user_by_email(e),
        )?;
        self.check_public_acl(bucket, &a)?;
        Ok(a)
    }

    fn acl_document(&self, bucket: &str, acl: &Acl) -> Result<Response<ResponseBody>, S3Error> {
        let owner = self.owner(bucket);
        let names = |id: &str| {
            self.node
                .meta
                .read(|t| t.users.get(id).map(|u| u.display_name.clone()))
        };
        xml_response(
            StatusCode::OK,
            xml::access_control_policy(&owner, &acl.grants(&owner.0), &names),
        )
    }

    /// Runs an ACL, policy or PublicAccessBlock operation.
    pub(super) async fn access_op(
        &self,
        op: Operation,
        bucket: &str,
        key: Option<&[u8]>,
        body: RequestBody,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let store = self.store();
        store.bucket(bucket)?;
        match (op, key) {
            (Operation::GetBucketAcl, _) => {
                let state = self.bucket_access(bucket, String::new())?;
                self.acl_document(bucket, &state.acl)
            }
            (Operation::PutBucketAcl, _) => {
                let a = self.acl_of_request(bucket, body).await?;
                let doc = if a == Acl::default() {
                    Vec::new()
                } else {
                    a.encode().into_bytes()
                };
                store.set_bucket_config(bucket, CONFIG_ACL, doc).await?;
                empty(StatusCode::OK)
            }
            (Operation::GetObjectAcl, Some(k)) => {
                let found = self.found(bucket, k).await?;
                let mut r = self.acl_document(bucket, &acl::acl_in(&found.head.meta))?;
                self.version_header(bucket, &found, &mut r)?;
                Ok(r)
            }
            (Operation::PutObjectAcl, Some(k)) => {
                let a = self.acl_of_request(bucket, body).await?;
                let version = self.q("versionId").map(parse_version_id).transpose()?;
                let current = self.found(bucket, k).await?;
                super::object::fits_head(&acl::with_acl(&current.head.meta, &a))?;
                let found = store
                    .rewrite_meta(bucket, k, version, |meta| acl::with_acl(meta, &a))
                    .await?;
                let mut r = empty(StatusCode::OK)?;
                self.version_header(bucket, &found, &mut r)?;
                Ok(r)
            }
            (Operation::GetBucketPolicy, _) => match store.bucket_config(bucket, CONFIG_POLICY)? {
                Some(doc) => Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/json")
                    .body(ResponseBody::from_string(
                        String::from_utf8_lossy(&doc).into_owned(),
                    ))
                    .map_err(|e| err(S3ErrorCode::InternalError, e.to_string())),
                None => Err(no_policy()),
            },
            (Operation::PutBucketPolicy, _) => {
                // Content-MD5 checked; the size cap is the parser's.
                let doc = self.xml_body(body).await?;
                let policy = Policy::parse(&doc, bucket, &|u| {
                    self.node.meta.read(|t| t.users.contains_key(u))
                })?;
                if policy.is_public()
                    && self
                        .public_access_block(bucket)?
                        .is_some_and(|b| b.block_public_policy)
                {
                    return Err(err(
                        S3ErrorCode::AccessDenied,
                        "Access Denied: the bucket's PublicAccessBlock (BlockPublicPolicy) forbids a public policy",
                    ));
                }
                store.set_bucket_config(bucket, CONFIG_POLICY, doc).await?;
                empty(StatusCode::NO_CONTENT)
            }
            (Operation::DeleteBucketPolicy, _) => {
                store
                    .set_bucket_config(bucket, CONFIG_POLICY, Vec::new())
                    .await?;
                empty(StatusCode::NO_CONTENT)
            }
            (Operation::GetBucketPolicyStatus, _) => {
                let state = self.bucket_access(bucket, String::new())?;
                let policy = state.policy.ok_or_else(no_policy)?;
                xml_response(StatusCode::OK, xml::policy_status(policy.is_public()))
            }
            (Operation::PutPublicAccessBlock, _) => {
                let b = self.xml_body(body).await?;
                let block = xml::parse_public_access_block(&b)?;
                let doc = xml::public_access_block(&block).into_bytes();
                store
                    .set_bucket_config(bucket, CONFIG_PUBLIC_ACCESS_BLOCK, doc)
                    .await?;
                empty(StatusCode::OK)
            }
            (Operation::GetPublicAccessBlock, _) => match self.public_access_block(bucket)? {
                Some(b) => xml_response(StatusCode::OK, xml::public_access_block(&b)),
                None => Err(err(
                    S3ErrorCode::NoSuchPublicAccessBlockConfiguration,
                    "The public access block configuration was not found",
                )),
            },
            (Operation::DeletePublicAccessBlock, _) => {
                store
                    .set_bucket_config(bucket, CONFIG_PUBLIC_ACCESS_BLOCK, Vec::new())
                    .await?;
                empty(StatusCode::NO_CONTENT)
            }
            (other, _) => Err(operation::not_implemented(other)),
        }
    }

    fn version_header(
        &self,
        bucket: &str,
        found: &crate::object::store::FoundObject,
        r: &mut Response<ResponseBody>,
    ) -> Result<(), S3Error> {
        if let Some(v) = self
            .store()
            .bucket(bucket)?
            .shown_version(found.head.version_id)
        {
            set_header(r, "x-amz-version-id", &format_version_id(&v));
        }
        Ok(())
    }
}

fn no_policy() -> S3Error {
    err(
        S3ErrorCode::NoSuchBucketPolicy,
        "The bucket policy does not exist",
    )
}
