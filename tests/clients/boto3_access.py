"""boto3 against a running shale node: ACLs, bucket policies, anonymous
(unsigned) access and PublicAccessBlock (issue 22 item 5). Users other
than root are made with `shale admin` (root is a system user and reaches
everything, so the buckets here belong to ordinary users). Run by
tests/s3_access.rs with S3_ENDPOINT, S3_ACCESS_KEY/S3_SECRET_KEY (root)
and SHALE_BIN set; argv names the test classes to run."""

import json
import os
import subprocess
import sys
import unittest
import urllib.request
import uuid

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
ROOT_AK = os.environ["S3_ACCESS_KEY"]
ROOT_SK = os.environ["S3_SECRET_KEY"]
SHALE = os.environ["SHALE_BIN"]
STATE = os.environ.get("STATE_FILE")
CFG = dict(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def admin(*args):
    cmd = [SHALE, "admin", "--endpoint", ENDPOINT, "--access-key", ROOT_AK,
           "--secret-key", ROOT_SK, *args, "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{cmd}\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout)


def s3(ak, sk):
    return boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=ak,
                        aws_secret_access_key=sk, region_name="us-east-1",
                        config=Config(**CFG))


def anonymous():
    return boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED, **CFG))


def new_user():
    uid = "u-" + uuid.uuid4().hex[:10]
    out = admin("user", "create", "--uid", uid, "--display-name", uid.upper(),
                "--email", f"{uid}@example.com")
    k = out["key"]
    return uid, s3(k["access_key"], k["secret_key"])


def bucket_name():
    return "b-" + uuid.uuid4().hex[:12]


def code(e):
    return e.response["Error"]["Code"]


class Base(unittest.TestCase):
    def denied(self, call, want="AccessDenied"):
        with self.assertRaises(ClientError) as cm:
            call()
        self.assertEqual(code(cm.exception), want, cm.exception.response)
        return cm.exception

    def grants(self, acl):
        out = set()
        for g in acl["Grants"]:
            who = g["Grantee"].get("ID") or g["Grantee"].get("URI")
            out.add((g["Grantee"]["Type"], who, g["Permission"]))
        return out


class AnonymousAccess(Base):
    def test_public_read_bucket_and_objects_by_an_unsigned_client(self):
        uid, owner = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b, ACL="public-read")
        owner.put_object(Bucket=b, Key="open.txt", Body=b"hello", ACL="public-read")
        owner.put_object(Bucket=b, Key="closed.txt", Body=b"secret")
        anon = anonymous()
        # The bucket ACL lets everyone list; each object's ACL says who reads it.
        keys = [o["Key"] for o in anon.list_objects_v2(Bucket=b)["Contents"]]
        self.assertEqual(keys, ["closed.txt", "open.txt"])
        self.assertEqual(anon.get_object(Bucket=b, Key="open.txt")["Body"].read(), b"hello")
        self.assertEqual(anon.head_object(Bucket=b, Key="open.txt")["ContentLength"], 5)
        # Plain HTTP without any signature, as a browser would.
        with urllib.request.urlopen(f"{ENDPOINT}/{b}/open.txt") as r:
            self.assertEqual(r.read(), b"hello")
        self.denied(lambda: anon.get_object(Bucket=b, Key="closed.txt"))
        # A missing key: 404 for whoever may list the bucket.
        self.denied(lambda: anon.get_object(Bucket=b, Key="missing"), "NoSuchKey")
        # Everything the ACL does not give everyone stays AccessDenied.
        self.denied(lambda: anon.put_object(Bucket=b, Key="new", Body=b"x"))
        self.denied(lambda: anon.delete_object(Bucket=b, Key="open.txt"))
        self.denied(lambda: anon.get_bucket_acl(Bucket=b))
        self.denied(lambda: anon.put_bucket_acl(Bucket=b, ACL="public-read-write"))
        self.denied(lambda: anon.get_object_acl(Bucket=b, Key="open.txt"))
        self.denied(lambda: anon.list_buckets())
        self.denied(lambda: anon.create_bucket(Bucket=bucket_name()))
        self.denied(lambda: anon.get_bucket_tagging(Bucket=b))
        r = anon.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "open.txt"}]})
        self.assertEqual([e["Code"] for e in r["Errors"]], ["AccessDenied"])
        self.assertEqual(owner.get_object(Bucket=b, Key="open.txt")["Body"].read(), b"hello")
        # public-read-write lets everyone write too.
        owner.put_bucket_acl(Bucket=b, ACL="public-read-write")
        anon.put_object(Bucket=b, Key="dropped", Body=b"from anyone")
        # Writing is not setting the ACL of the owner's object.
        self.denied(lambda: anon.put_object(Bucket=b, Key="mine", Body=b"x", ACL="public-read"))
        self.assertEqual(owner.get_object(Bucket=b, Key="dropped")["Body"].read(), b"from anyone")
        # Back to private: the unsigned client sees nothing.
        owner.put_bucket_acl(Bucket=b, ACL="private")
        self.denied(lambda: anon.list_objects_v2(Bucket=b))
        self.denied(lambda: anon.get_object(Bucket=b, Key="missing"))
        self.denied(lambda: anon.put_object(Bucket=b, Key="new", Body=b"x"))
        # The object's own ACL still lets everyone read it.
        self.assertEqual(anon.get_object(Bucket=b, Key="open.txt")["Body"].read(), b"hello")

    def test_a_private_bucket_refuses_every_unsigned_request(self):
        _, owner = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b)
        owner.put_object(Bucket=b, Key="k", Body=b"v")
        anon = anonymous()
        for call in (
            lambda: anon.list_objects(Bucket=b),
            lambda: anon.get_object(Bucket=b, Key="k"),
            lambda: anon.head_bucket(Bucket=b),
            lambda: anon.put_object(Bucket=b, Key="k", Body=b"w"),
            lambda: anon.get_bucket_policy(Bucket=b),
            lambda: anon.put_bucket_policy(Bucket=b, Policy="{}"),
        ):
            with self.assertRaises(ClientError) as cm:
                call()
            self.assertIn(code(cm.exception), ("AccessDenied", "403"))
        self.assertEqual(owner.get_object(Bucket=b, Key="k")["Body"].read(), b"v")

    def test_a_policy_gives_everyone_one_prefix(self):
        _, owner = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b)
        owner.put_object(Bucket=b, Key="public/a", Body=b"A")
        owner.put_object(Bucket=b, Key="private/b", Body=b"B")
        owner.put_bucket_policy(Bucket=b, Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                           "Action": ["s3:GetObject"],
                           "Resource": [f"arn:aws:s3:::{b}/public/*"]}]}))
        anon = anonymous()
        self.assertEqual(anon.get_object(Bucket=b, Key="public/a")["Body"].read(), b"A")
        self.denied(lambda: anon.get_object(Bucket=b, Key="private/b"))
        self.denied(lambda: anon.list_objects_v2(Bucket=b))
        # No s3:ListBucket: a missing key is AccessDenied, not NoSuchKey.
        self.denied(lambda: anon.get_object(Bucket=b, Key="public/missing"))
        self.assertTrue(owner.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"])


class PolicyDeniesPrefix(Base):
    def test_a_policy_denies_one_prefix_to_one_user(self):
        owner_uid, owner = new_user()
        bob_uid, bob = new_user()
        carol_uid, carol = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b)
        for k in ("shared/a", "secret/s"):
            owner.put_object(Bucket=b, Key=k, Body=k.encode())
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Team", "Effect": "Allow",
                 "Principal": {"AWS": [f"arn:aws:iam::{bob_uid}:root", carol_uid]},
                 "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
                 "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]},
                {"Sid": "NotBobSecret", "Effect": "Deny", "Principal": {"AWS": bob_uid},
                 "Action": "s3:*", "Resource": f"arn:aws:s3:::{b}/secret/*"},
                {"Sid": "NotBobListSecret", "Effect": "Deny", "Principal": {"AWS": bob_uid},
                 "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{b}",
                 "Condition": {"StringLike": {"s3:prefix": "secret*"}}},
            ],
        }
        owner.put_bucket_policy(Bucket=b, Policy=json.dumps(policy))
        self.assertEqual(json.loads(owner.get_bucket_policy(Bucket=b)["Policy"]), policy)
        self.assertFalse(owner.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"])
        # Bob: everything but secret/.
        self.assertEqual(bob.get_object(Bucket=b, Key="shared/a")["Body"].read(), b"shared/a")
        bob.put_object(Bucket=b, Key="shared/by-bob", Body=b"x")
        self.assertEqual(len(bob.list_objects_v2(Bucket=b)["Contents"]), 3)
        self.assertEqual(bob.list_objects_v2(Bucket=b, Prefix="shared/")["KeyCount"], 2)
        self.denied(lambda: bob.list_objects_v2(Bucket=b, Prefix="secret/"))
        self.denied(lambda: bob.get_object(Bucket=b, Key="secret/s"))
        self.denied(lambda: bob.put_object(Bucket=b, Key="secret/t", Body=b"x"))
        self.denied(lambda: bob.delete_object(Bucket=b, Key="secret/s"))
        r = bob.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "secret/s"}, {"Key": "shared/by-bob"}]})
        self.assertEqual([(e["Key"], e["Code"]) for e in r.get("Errors", [])], [("secret/s", "AccessDenied")])
        self.assertEqual([d["Key"] for d in r["Deleted"]], ["shared/by-bob"])
        # Bob may list, yet a missing key under the denied prefix is
        # AccessDenied too (an explicit Deny tells nothing).
        self.denied(lambda: bob.get_object(Bucket=b, Key="secret/missing"))
        self.denied(lambda: bob.get_object(Bucket=b, Key="shared/missing"), "NoSuchKey")
        # Nor may Bob touch the bucket's configuration or policy.
        self.denied(lambda: bob.get_bucket_policy(Bucket=b))
        self.denied(lambda: bob.delete_bucket_policy(Bucket=b))
        self.denied(lambda: bob.put_bucket_acl(Bucket=b, ACL="public-read"))
        # Carol is not denied the prefix; the owner reaches everything.
        self.assertEqual(carol.get_object(Bucket=b, Key="secret/s")["Body"].read(), b"secret/s")
        self.assertEqual(owner.get_object(Bucket=b, Key="secret/s")["Body"].read(), b"secret/s")
        # Without the policy Bob reaches nothing.
        owner.delete_bucket_policy(Bucket=b)
        self.denied(lambda: owner.get_bucket_policy(Bucket=b), "NoSuchBucketPolicy")
        self.denied(lambda: owner.get_bucket_policy_status(Bucket=b), "NoSuchBucketPolicy")
        self.denied(lambda: bob.get_object(Bucket=b, Key="shared/a"))

    def test_a_deny_for_the_owner_does_not_lock_it_out_of_the_policy(self):
        owner_uid, owner = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b)
        owner.put_object(Bucket=b, Key="k", Body=b"v")
        owner.put_bucket_policy(Bucket=b, Policy=json.dumps({
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                           "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]}]}))
        self.denied(lambda: owner.get_object(Bucket=b, Key="k"))
        self.denied(lambda: owner.list_objects_v2(Bucket=b))
        owner.get_bucket_policy(Bucket=b)
        owner.delete_bucket_policy(Bucket=b)
        self.assertEqual(owner.get_object(Bucket=b, Key="k")["Body"].read(), b"v")

    def test_malformed_policies_are_refused_and_change_nothing(self):
        _, owner = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b)
        good = json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*",
                                          "Action": "s3:GetObject",
                                          "Resource": f"arn:aws:s3:::{b}/*"}]})
        owner.put_bucket_policy(Bucket=b, Policy=good)
        bad = [
            "not json",
            "{}",
            json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:Fly",
                                       "Resource": f"arn:aws:s3:::{b}/*"}]}),
            json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                       "Resource": "arn:aws:s3:::some-other-bucket/*"}]}),
            json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "nobody-here"},
                                       "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/*"}]}),
            json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                       "Resource": f"arn:aws:s3:::{b}/*",
                                       "Condition": {"IpAddress": {"aws:SourceIp": "300.1.1.1/8"}}}]}),
        ]
        for p in bad:
            e = self.denied(lambda: owner.put_bucket_policy(Bucket=b, Policy=p), "MalformedPolicy")
            self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(owner.get_bucket_policy(Bucket=b)["Policy"], good)

    def test_source_ip_conditions_use_the_client_address(self):
        _, owner = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b)
        owner.put_object(Bucket=b, Key="k", Body=b"v")
        anon = anonymous()
        for cidr, allowed in (("127.0.0.0/8", True), ("10.0.0.0/8", False)):
            owner.put_bucket_policy(Bucket=b, Policy=json.dumps({
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": f"arn:aws:s3:::{b}/*",
                               "Condition": {"IpAddress": {"aws:SourceIp": cidr}}}]}))
            if allowed:
                self.assertEqual(anon.get_object(Bucket=b, Key="k")["Body"].read(), b"v")
            else:
                self.denied(lambda: anon.get_object(Bucket=b, Key="k"))
        # aws:SecureTransport is false on plain HTTP.
        owner.put_bucket_policy(Bucket=b, Policy=json.dumps({
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{b}/*",
                           "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}))
        self.denied(lambda: anon.get_object(Bucket=b, Key="k"))


class AclRoundTrips(Base):
    def test_bucket_and_object_acls_round_trip(self):
        owner_uid, owner = new_user()
        bob_uid, bob = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b)
        acl = owner.get_bucket_acl(Bucket=b)
        self.assertEqual(acl["Owner"]["ID"], owner_uid)
        self.assertEqual(self.grants(acl), {("CanonicalUser", owner_uid, "FULL_CONTROL")})
        owner.put_bucket_acl(Bucket=b, ACL="authenticated-read")
        self.assertEqual(self.grants(owner.get_bucket_acl(Bucket=b)), {
            ("CanonicalUser", owner_uid, "FULL_CONTROL"),
            ("Group", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "READ")})
        bob.list_objects_v2(Bucket=b)  # any signed user may list now
        self.denied(lambda: anonymous().list_objects_v2(Bucket=b))
        # Explicit grants in the body: Bob may read the ACL and write.
        owner.put_bucket_acl(Bucket=b, AccessControlPolicy={
            "Owner": {"ID": owner_uid},
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": owner_uid}, "Permission": "FULL_CONTROL"},
                {"Grantee": {"Type": "CanonicalUser", "ID": bob_uid}, "Permission": "READ_ACP"},
                {"Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": f"{bob_uid}@example.com"},
                 "Permission": "WRITE"},
            ]})
        got = self.grants(bob.get_bucket_acl(Bucket=b))
        self.assertEqual(got, {("CanonicalUser", owner_uid, "FULL_CONTROL"),
                               ("CanonicalUser", bob_uid, "READ_ACP"),
                               ("CanonicalUser", bob_uid, "WRITE")})
        bob.put_object(Bucket=b, Key="from-bob", Body=b"x")
        self.denied(lambda: bob.list_objects_v2(Bucket=b))
        self.denied(lambda: bob.put_bucket_acl(Bucket=b, ACL="private"))
        # Header grants.
        owner.put_bucket_acl(Bucket=b, GrantRead=f'id="{bob_uid}", uri="{ALL_USERS}"')
        self.assertEqual(self.grants(owner.get_bucket_acl(Bucket=b)), {
            ("CanonicalUser", bob_uid, "READ"), ("Group", ALL_USERS, "READ")})
        # Refusals change nothing.
        for call, want in (
            (lambda: owner.put_bucket_acl(Bucket=b, AccessControlPolicy={
                "Owner": {"ID": owner_uid},
                "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "no-such-user"},
                            "Permission": "READ"}]}), "InvalidArgument"),
            (lambda: owner.put_bucket_acl(Bucket=b, AccessControlPolicy={
                "Owner": {"ID": owner_uid},
                "Grants": [{"Grantee": {"Type": "Group", "URI": "http://example.com/group"},
                            "Permission": "READ"}]}), "InvalidArgument"),
            (lambda: owner.put_bucket_acl(Bucket=b, AccessControlPolicy={
                "Owner": {"ID": owner_uid},
                "Grants": [{"Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "x@nowhere"},
                            "Permission": "READ"}]}), "UnresolvableGrantByEmailAddress"),
            (lambda: owner.put_bucket_acl(Bucket=b, ACL="public-read", GrantRead=f'id="{bob_uid}"'),
             "InvalidRequest"),
        ):
            self.denied(call, want)
        self.assertEqual(len(owner.get_bucket_acl(Bucket=b)["Grants"]), 2)

        # Objects: x-amz-acl on PUT, PutObjectAcl, CopyObject, multipart.
        owner.put_object(Bucket=b, Key="o", Body=b"x", ACL="public-read")
        self.assertIn(("Group", ALL_USERS, "READ"), self.grants(owner.get_object_acl(Bucket=b, Key="o")))
        self.assertNotIn("x-amz-acl", owner.head_object(Bucket=b, Key="o")["ResponseMetadata"]["HTTPHeaders"])
        owner.put_object_acl(Bucket=b, Key="o", ACL="private")
        self.assertEqual(self.grants(owner.get_object_acl(Bucket=b, Key="o")),
                         {("CanonicalUser", owner_uid, "FULL_CONTROL")})
        owner.put_object_acl(Bucket=b, Key="o", AccessControlPolicy={
            "Owner": {"ID": owner_uid},
            "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": bob_uid}, "Permission": "READ"}]})
        self.assertEqual(bob.get_object(Bucket=b, Key="o")["Body"].read(), b"x")
        self.assertEqual(self.grants(owner.get_object_acl(Bucket=b, Key="o")),
                         {("CanonicalUser", bob_uid, "READ")})
        owner.put_object(Bucket=b, Key="src", Body=b"y", ACL="public-read")
        owner.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "src"})
        self.assertEqual(len(owner.get_object_acl(Bucket=b, Key="copy")["Grants"]), 1)
        owner.copy_object(Bucket=b, Key="copy2", CopySource={"Bucket": b, "Key": "src"},
                          ACL="bucket-owner-full-control")
        self.assertEqual(len(owner.get_object_acl(Bucket=b, Key="copy2")["Grants"]), 1)
        mp = owner.create_multipart_upload(Bucket=b, Key="mp", ACL="public-read")
        part = owner.upload_part(Bucket=b, Key="mp", UploadId=mp["UploadId"], PartNumber=1, Body=b"z")
        owner.complete_multipart_upload(Bucket=b, Key="mp", UploadId=mp["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        self.assertEqual(anonymous().get_object(Bucket=b, Key="mp")["Body"].read(), b"z")
        self.denied(lambda: owner.get_object_acl(Bucket=b, Key="nope"), "NoSuchKey")
        self.denied(lambda: owner.put_object(Bucket=b, Key="bad", Body=b"x", ACL="public-write"),
                    "InvalidArgument")
        self.denied(lambda: owner.head_object(Bucket=b, Key="bad"), "404")
        # Metadata and ACL together must fit the object's head: refused
        # before anything is stored, never a 500.
        self.denied(lambda: owner.put_object(Bucket=b, Key="big", Body=b"x",
                                             Metadata={"m": "v" * 9000}), "MetadataTooLarge")
        self.denied(lambda: owner.head_object(Bucket=b, Key="big"), "404")
        owner.put_object(Bucket=b, Key="big", Body=b"x", Metadata={"m": "v" * 8000})
        many = ", ".join([f'id="{bob_uid}"'] * 100)
        self.denied(lambda: owner.put_object_acl(Bucket=b, Key="big", GrantRead=many),
                    "MetadataTooLarge")
        self.assertEqual(len(owner.get_object_acl(Bucket=b, Key="big")["Grants"]), 1)

    def test_versioned_objects_keep_an_acl_per_version(self):
        owner_uid, owner = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b)
        owner.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        v1 = owner.put_object(Bucket=b, Key="k", Body=b"1", ACL="public-read")["VersionId"]
        v2 = owner.put_object(Bucket=b, Key="k", Body=b"2")["VersionId"]
        self.assertEqual(len(owner.get_object_acl(Bucket=b, Key="k", VersionId=v1)["Grants"]), 2)
        self.assertEqual(len(owner.get_object_acl(Bucket=b, Key="k")["Grants"]), 1)
        anon = anonymous()
        self.assertEqual(anon.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read(), b"1")
        self.denied(lambda: anon.get_object(Bucket=b, Key="k"))
        r = owner.put_object_acl(Bucket=b, Key="k", VersionId=v2, ACL="public-read")
        self.assertEqual(r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-version-id"), v2)
        self.assertEqual(anon.get_object(Bucket=b, Key="k")["Body"].read(), b"2")


class PublicAccessBlock(Base):
    def test_public_access_block_is_honoured(self):
        _, owner = new_user()
        bob_uid, bob = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b)
        self.denied(lambda: owner.get_public_access_block(Bucket=b),
                    "NoSuchPublicAccessBlockConfiguration")
        owner.put_object(Bucket=b, Key="pub", Body=b"p", ACL="public-read")
        public_policy = json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*",
                                                   "Action": "s3:GetObject",
                                                   "Resource": f"arn:aws:s3:::{b}/*"}]})
        bob_policy = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": bob_uid},
                                                "Action": "s3:GetObject",
                                                "Resource": f"arn:aws:s3:::{b}/*"}]})
        anon = anonymous()
        # BlockPublicPolicy: a public policy is refused, a private one is not.
        owner.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "BlockPublicPolicy": True})
        got = owner.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
        self.assertEqual(got, {"BlockPublicAcls": False, "IgnorePublicAcls": False,
                               "BlockPublicPolicy": True, "RestrictPublicBuckets": False})
        self.denied(lambda: owner.put_bucket_policy(Bucket=b, Policy=public_policy))
        self.denied(lambda: owner.get_bucket_policy(Bucket=b), "NoSuchBucketPolicy")
        owner.put_bucket_policy(Bucket=b, Policy=bob_policy)
        self.assertEqual(bob.get_object(Bucket=b, Key="pub")["Body"].read(), b"p")
        # BlockPublicAcls: public ACLs may not be set, by header or body.
        owner.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True})
        self.denied(lambda: owner.put_bucket_acl(Bucket=b, ACL="public-read"))
        self.denied(lambda: owner.put_object(Bucket=b, Key="new", Body=b"x", ACL="public-read"))
        self.denied(lambda: owner.head_object(Bucket=b, Key="new"), "404")
        self.denied(lambda: owner.put_object_acl(Bucket=b, Key="pub", AccessControlPolicy={
            "Owner": {"ID": "x"},
            "Grants": [{"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]}))
        owner.put_object(Bucket=b, Key="new", Body=b"x", ACL="private")
        # The ACL set before still works until IgnorePublicAcls.
        self.assertEqual(anon.get_object(Bucket=b, Key="pub")["Body"].read(), b"p")
        owner.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "IgnorePublicAcls": True})
        self.denied(lambda: anon.get_object(Bucket=b, Key="pub"))
        # RestrictPublicBuckets: a public policy set before reaches no one else.
        owner.delete_public_access_block(Bucket=b)
        self.denied(lambda: owner.get_public_access_block(Bucket=b),
                    "NoSuchPublicAccessBlockConfiguration")
        owner.put_bucket_policy(Bucket=b, Policy=public_policy)
        owner.put_object_acl(Bucket=b, Key="pub", ACL="private")
        self.assertEqual(anon.get_object(Bucket=b, Key="pub")["Body"].read(), b"p")
        owner.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "RestrictPublicBuckets": True})
        self.denied(lambda: anon.get_object(Bucket=b, Key="pub"))
        self.denied(lambda: bob.get_object(Bucket=b, Key="pub"))
        self.assertEqual(owner.get_object(Bucket=b, Key="pub")["Body"].read(), b"p")


class PersistWrite(Base):
    def test_write(self):
        _, owner = new_user()
        b = bucket_name()
        owner.create_bucket(Bucket=b, ACL="public-read")
        owner.put_object(Bucket=b, Key="o", Body=b"kept", ACL="public-read")
        owner.put_bucket_policy(Bucket=b, Policy=json.dumps({
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{b}/denied/*"}]}))
        owner.put_object(Bucket=b, Key="denied/x", Body=b"d", ACL="public-read")
        owner.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "BlockPublicPolicy": True})
        with open(STATE, "w") as f:
            f.write(b)


class PersistRead(Base):
    def test_read(self):
        with open(STATE) as f:
            b = f.read().strip()
        anon = anonymous()
        self.assertEqual([o["Key"] for o in anon.list_objects_v2(Bucket=b)["Contents"]],
                         ["denied/x", "o"])
        self.assertEqual(anon.get_object(Bucket=b, Key="o")["Body"].read(), b"kept")
        self.denied(lambda: anon.get_object(Bucket=b, Key="denied/x"))
        root = s3(ROOT_AK, ROOT_SK)
        self.assertTrue(root.get_public_access_block(Bucket=b)
                        ["PublicAccessBlockConfiguration"]["BlockPublicPolicy"])


if __name__ == "__main__":
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for n in sys.argv[1:]:
        suite.addTests(loader.loadTestsFromTestCase(globals()[n]))
    ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    sys.exit(0 if ok else 1)
