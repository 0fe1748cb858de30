"""Users, keys, isolation, suspension and quotas: `shale admin` (the real
CLI, run as scripts run it) makes users and keys, boto3 uses them. Run by
tests/s3_clients.rs with S3_ENDPOINT, S3_ACCESS_KEY/S3_SECRET_KEY (root)
and SHALE_BIN set."""

import json
import os
import subprocess
import unittest
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
ROOT_AK = os.environ["S3_ACCESS_KEY"]
ROOT_SK = os.environ["S3_SECRET_KEY"]
SHALE = os.environ["SHALE_BIN"]


def admin(*args, ok=True):
    """Runs `shale admin ... --json`; returns (exit code, parsed JSON)."""
    cmd = [SHALE, "admin", "--endpoint", ENDPOINT, "--access-key", ROOT_AK,
           "--secret-key", ROOT_SK, *args, "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if ok and p.returncode != 0:
        raise AssertionError(f"{cmd} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out


def s3(ak, sk):
    return boto3.client(
        "s3", endpoint_url=ENDPOINT, aws_access_key_id=ak,
        aws_secret_access_key=sk, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}))


def code(e):
    return e.response["Error"]["Code"]


def new_user(**flags):
    uid = "u-" + uuid.uuid4().hex[:10]
    args = ["user", "create", "--uid", uid, "--display-name", uid.upper()]
    for k, v in flags.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    _, out = admin(*args)
    assert out["user"]["uid"] == uid, out
    k = out["key"]
    return uid, s3(k["access_key"], k["secret_key"]), k


def bucket_name():
    return "b-" + uuid.uuid4().hex[:12]


class Users(unittest.TestCase):
    def test_isolation(self):
        a_uid, a, _ = new_user()
        b_uid, b, _ = new_user()
        ba, bb = bucket_name(), bucket_name()
        a.create_bucket(Bucket=ba)
        b.create_bucket(Bucket=bb)
        a.put_object(Bucket=ba, Key="secret", Body=b"a's data")
        # B reaches nothing of A's: read, write, list, delete, head, copy out.
        for call in (
            lambda: b.get_object(Bucket=ba, Key="secret"),
            lambda: b.put_object(Bucket=ba, Key="x", Body=b"no"),
            lambda: b.list_objects_v2(Bucket=ba),
            lambda: b.delete_object(Bucket=ba, Key="secret"),
            lambda: b.delete_bucket(Bucket=ba),
            lambda: b.copy_object(Bucket=bb, Key="stolen",
                                  CopySource={"Bucket": ba, "Key": "secret"}),
        ):
            with self.assertRaises(ClientError) as cm:
                call()
            self.assertEqual(code(cm.exception), "AccessDenied")
        with self.assertRaises(ClientError) as cm:
            b.head_bucket(Bucket=ba)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        # A taken name is BucketAlreadyExists for another user.
        with self.assertRaises(ClientError) as cm:
            b.create_bucket(Bucket=ba)
        self.assertEqual(code(cm.exception), "BucketAlreadyExists")
        # Each lists only its own; root (a system user) reaches both.
        self.assertEqual([x["Name"] for x in a.list_buckets()["Buckets"]], [ba])
        self.assertEqual(a.list_buckets()["Owner"]["ID"], a_uid)
        self.assertEqual([x["Name"] for x in b.list_buckets()["Buckets"]], [bb])
        root = s3(ROOT_AK, ROOT_SK)
        self.assertEqual(root.get_object(Bucket=ba, Key="secret")["Body"].read(), b"a's data")
        names = [x["Name"] for x in root.list_buckets()["Buckets"]]
        self.assertIn(ba, names)
        self.assertIn(bb, names)
        # The admin API is for system users only.
        rc, _ = admin("bucket", "list", "--uid", a_uid)
        self.assertEqual(rc, 0)
        _, buckets = admin("bucket", "list", "--uid", a_uid)
        self.assertEqual([x["name"] for x in buckets], [ba])
        self.assertEqual(buckets[0]["owner"], a_uid)
        self.assertEqual(buckets[0]["objects"], 1)
        # Removing a user who owns a bucket is refused, saying why.
        rc, out = admin("user", "rm", "--uid", a_uid, ok=False)
        self.assertEqual(rc, 1)
        self.assertEqual(out["error"]["code"], "UserOwnsBuckets")
        a.delete_object(Bucket=ba, Key="secret")
        a.delete_bucket(Bucket=ba)
        admin("user", "rm", "--uid", a_uid)
        rc, out = admin("user", "info", "--uid", a_uid, ok=False)
        self.assertEqual(out["error"]["code"], "NoSuchUser")

    def test_suspension(self):
        uid, c, _ = new_user()
        bkt = bucket_name()
        c.create_bucket(Bucket=bkt)
        c.put_object(Bucket=bkt, Key="k", Body=b"v")
        _, u = admin("user", "suspend", "--uid", uid)
        self.assertTrue(u["suspended"])
        for call in (lambda: c.get_object(Bucket=bkt, Key="k"),
                     lambda: c.put_object(Bucket=bkt, Key="k2", Body=b"v"),
                     lambda: c.list_buckets()):
            with self.assertRaises(ClientError) as cm:
                call()
            self.assertEqual(code(cm.exception), "AccountSuspended")
            self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        admin("user", "enable", "--uid", uid)
        self.assertEqual(c.get_object(Bucket=bkt, Key="k")["Body"].read(), b"v")
        # Nothing was written while suspended.
        keys = [o["Key"] for o in c.list_objects_v2(Bucket=bkt).get("Contents", [])]
        self.assertEqual(keys, ["k"])

    def test_key_removal_takes_effect_at_once(self):
        uid, c, k = new_user()
        bkt = bucket_name()
        c.create_bucket(Bucket=bkt)
        _, k2 = admin("key", "create", "--uid", uid)
        c2 = s3(k2["access_key"], k2["secret_key"])
        c2.put_object(Bucket=bkt, Key="by-second-key", Body=b"2")
        _, keys = admin("key", "list", "--uid", uid)
        self.assertEqual(sorted(x["access_key"] for x in keys),
                         sorted([k["access_key"], k2["access_key"]]))
        self.assertTrue(all("secret_key" not in x for x in keys))
        admin("key", "rm", "--key", k["access_key"])
        # The very next request with the removed key fails; the other works.
        with self.assertRaises(ClientError) as cm:
            c.list_objects_v2(Bucket=bkt)
        self.assertEqual(code(cm.exception), "InvalidAccessKeyId")
        self.assertEqual(c2.get_object(Bucket=bkt, Key="by-second-key")["Body"].read(), b"2")

    def test_user_quota(self):
        uid, c, _ = new_user(max_objects=3, max_bytes=1000)
        b1, b2 = bucket_name(), bucket_name()
        c.create_bucket(Bucket=b1)
        c.create_bucket(Bucket=b2)
        c.put_object(Bucket=b1, Key="a", Body=b"x" * 400)
        c.put_object(Bucket=b2, Key="b", Body=b"x" * 400)
        # Bytes are counted over all of the user's buckets.
        with self.assertRaises(ClientError) as cm:
            c.put_object(Bucket=b2, Key="c", Body=b"x" * 300)
        self.assertEqual(code(cm.exception), "QuotaExceeded")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        with self.assertRaises(ClientError):
            c.head_object(Bucket=b2, Key="c")
        # Replacing an object counts its old size as freed.
        c.put_object(Bucket=b1, Key="a", Body=b"x" * 550)
        c.put_object(Bucket=b2, Key="c", Body=b"x" * 10)
        # Objects: three in all.
        with self.assertRaises(ClientError) as cm:
            c.put_object(Bucket=b1, Key="d", Body=b"")
        self.assertEqual(code(cm.exception), "QuotaExceeded")
        # Deleting frees room; raising the limit (-1: none) lets writes in.
        c.delete_object(Bucket=b2, Key="c")
        c.put_object(Bucket=b1, Key="d", Body=b"")
        admin("user", "modify", "--uid", uid, "--max-objects", "-1", "--max-bytes", "-1")
        for i in range(5):
            c.put_object(Bucket=b1, Key=f"more-{i}", Body=b"x" * 500)
        _, u = admin("user", "info", "--uid", uid)
        self.assertEqual(u["objects"], 8)
        self.assertIsNone(u["max_objects"])

    def test_bucket_quota_and_multipart(self):
        uid, c, _ = new_user()
        bkt = bucket_name()
        c.create_bucket(Bucket=bkt)
        _, info = admin("bucket", "quota", "--bucket", bkt, "--max-bytes", "8MiB")
        self.assertEqual(info["max_bytes"], 8 << 20)
        up = c.create_multipart_upload(Bucket=bkt, Key="big")
        parts = []
        # Parts count in the quota: the second 5 MiB part would pass 8 MiB.
        r = c.upload_part(Bucket=bkt, Key="big", UploadId=up["UploadId"],
                          PartNumber=1, Body=b"p" * (5 << 20))
        parts.append({"PartNumber": 1, "ETag": r["ETag"]})
        with self.assertRaises(ClientError) as cm:
            c.upload_part(Bucket=bkt, Key="big", UploadId=up["UploadId"],
                          PartNumber=2, Body=b"p" * (5 << 20))
        self.assertEqual(code(cm.exception), "QuotaExceeded")
        # Nor can a plain PUT use the room the part holds.
        with self.assertRaises(ClientError) as cm:
            c.put_object(Bucket=bkt, Key="other", Body=b"o" * (4 << 20))
        self.assertEqual(code(cm.exception), "QuotaExceeded")
        # The upload is still open and completes within the quota.
        c.complete_multipart_upload(Bucket=bkt, Key="big", UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": parts})
        self.assertEqual(c.head_object(Bucket=bkt, Key="big")["ContentLength"], 5 << 20)
        _, stats = admin("bucket", "stats", "--bucket", bkt)
        self.assertEqual((stats["objects"], stats["bytes"]), (1, 5 << 20))
        # Completed, the part is the object: 3 MiB of room are left.
        c.put_object(Bucket=bkt, Key="other", Body=b"o" * (2 << 20))

    def test_admin_api_refuses_non_system_users(self):
        uid, _, k = new_user()
        p = subprocess.run(
            [SHALE, "admin", "--endpoint", ENDPOINT, "--access-key", k["access_key"],
             "--secret-key", k["secret_key"], "user", "list"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("AccessDenied", p.stderr)

    def test_reserved_bucket_names(self):
        c = s3(ROOT_AK, ROOT_SK)
        for name in ("admin", "metrics", "health", "ready"):
            with self.assertRaises(ClientError) as cm:
                c.create_bucket(Bucket=name)
            self.assertEqual(code(cm.exception), "InvalidBucketName")


if __name__ == "__main__":
    unittest.main(verbosity=2)
