"""boto3 against a running shale node: Object Lock (issue 23 item 1).
Buckets with Object Lock, their configuration and default retention,
per-version retention (GOVERNANCE, COMPLIANCE) and legal hold on PUT,
copy and multipart, and every path that would remove a locked version:
DELETE of the version, DeleteObjects, a lifecycle rule, a bucket purge
job. The expiry clock (which also decides retention) is moved through
the admin API (SHALE_TEST_CLOCK=1), so nothing sleeps on it. Run by
tests/s3_object_lock.rs with S3_ENDPOINT, S3_ACCESS_KEY/S3_SECRET_KEY
(root) and SHALE_BIN set; argv names the test classes to run."""

import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.request
import uuid

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
AK = os.environ["S3_ACCESS_KEY"]
SK = os.environ["S3_SECRET_KEY"]
SHALE = os.environ["SHALE_BIN"]
CFG = dict(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
DAY = 86400


def s3(ak=AK, sk=SK):
    return boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=ak,
                        aws_secret_access_key=sk, region_name="us-east-1",
                        config=Config(**CFG))


def signed(method, path, body=b"", query="", headers=None):
    """A raw SigV4-signed request (root); (status, body bytes)."""
    url = f"{ENDPOINT}{path}" + (f"?{query}" if query else "")
    h = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest(),
         "content-type": "application/xml"}
    h.update(headers or {})
    req = AWSRequest(method=method, url=url, data=body, headers=h)
    SigV4Auth(botocore.credentials.Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    r = urllib.request.Request(url, data=body or None, method=method,
                               headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def admin_api(method, path, obj=None, query=""):
    body = json.dumps(obj).encode() if obj is not None else b""
    st, out = signed(method, f"/admin/{path}", body, query)
    assert st < 300, (method, path, st, out)
    return json.loads(out) if out else None


def admin_cli(*args):
    cmd = [SHALE, "admin", "--endpoint", ENDPOINT, "--access-key", AK,
           "--secret-key", SK, *args, "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{cmd}\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout)


def new_user():
    uid = "u-" + uuid.uuid4().hex[:10]
    out = admin_cli("user", "create", "--uid", uid, "--display-name", uid.upper(),
                    "--email", f"{uid}@example.com")
    k = out["key"]
    return uid, s3(k["access_key"], k["secret_key"])


def set_clock(secs):
    admin_api("POST", "test/clock", {"now_secs": secs})


def metrics():
    st, out = signed("GET", "/metrics")
    assert st == 200, out
    return out.decode()


def refused(reason):
    line = f'shale_object_lock_refused_deletes_total{{reason="{reason}"}}'
    for l in metrics().splitlines():
        if l.startswith(line):
            return int(float(l.split()[-1]))
    raise AssertionError(f"{line} not in /metrics")


def code(e):
    return e.response["Error"]["Code"]


def at(secs):
    return datetime.datetime.fromtimestamp(secs, tz=datetime.timezone.utc)


def lock_bucket(c=None):
    c = c or s3()
    name = "ol-" + uuid.uuid4().hex[:12]
    c.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


class Base(unittest.TestCase):
    def setUp(self):
        self.s3 = s3()
        self.t0 = int(time.time())
        set_clock(self.t0)

    def tearDown(self):
        set_clock(0)

    def denied(self, f):
        with self.assertRaises(ClientError) as cm:
            f()
        self.assertEqual(code(cm.exception), "AccessDenied", cm.exception.response)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        return cm.exception


class LockConfiguration(Base):
    def test_lock_bucket_is_versioned_for_good_and_config_round_trips(self):
        b = lock_bucket()
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=b)["Status"], "Enabled")
        cfg = self.s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]
        self.assertEqual(cfg, {"ObjectLockEnabled": "Enabled"})
        with self.assertRaises(ClientError) as cm:
            self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
        self.assertEqual(code(cm.exception), "InvalidBucketState")
        self.s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 3}}})
        rule = self.s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]["Rule"]
        self.assertEqual(rule["DefaultRetention"], {"Mode": "GOVERNANCE", "Days": 3})
        self.s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 1}}})
        rule = self.s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]["Rule"]
        self.assertEqual(rule["DefaultRetention"], {"Mode": "COMPLIANCE", "Years": 1})
        for bad in [{"Mode": "GOVERNANCE", "Days": 0}, {"Mode": "GOVERNANCE", "Days": 1, "Years": 1},
                    {"Mode": "NOPE", "Days": 1}]:
            with self.assertRaises(ClientError) as cm:
                self.s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": bad}})
            self.assertIn(code(cm.exception), ("InvalidArgument", "MalformedXML"), bad)

    def test_a_bucket_without_lock_refuses_lock_headers_and_has_no_config(self):
        b = "pl-" + uuid.uuid4().hex[:12]
        self.s3.create_bucket(Bucket=b)
        with self.assertRaises(ClientError) as cm:
            self.s3.get_object_lock_configuration(Bucket=b)
        self.assertEqual(code(cm.exception), "ObjectLockConfigurationNotFoundError")
        with self.assertRaises(ClientError) as cm:
            self.s3.put_object(Bucket=b, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                               ObjectLockRetainUntilDate=at(self.t0 + DAY))
        self.assertEqual(code(cm.exception), "InvalidRequest")
        with self.assertRaises(ClientError) as cm:
            self.s3.head_object(Bucket=b, Key="k")
        # Lock configuration on an unversioned bucket: versioning first.
        with self.assertRaises(ClientError) as cm:
            self.s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled"})
        self.assertEqual(code(cm.exception), "InvalidBucketState")

    def test_lock_operations_need_content_md5_or_a_checksum(self):
        b = lock_bucket()
        v = self.s3.put_object(Bucket=b, Key="k", Body=b"x")["VersionId"]
        body = b"<LegalHold><Status>ON</Status></LegalHold>"
        st, out = signed("PUT", f"/{b}/k", body, f"legal-hold&versionId={v}")
        self.assertEqual(st, 400, out)
        self.assertIn(b"InvalidRequest", out)
        self.assertFalse(self.s3.get_object_legal_hold(Bucket=b, Key="k")["LegalHold"]["Status"] == "ON")
        import base64
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        st, out = signed("PUT", f"/{b}/k", body, f"legal-hold&versionId={v}", {"content-md5": md5})
        self.assertEqual(st, 200, out)
        self.assertEqual(self.s3.get_object_legal_hold(Bucket=b, Key="k")["LegalHold"]["Status"], "ON")
        # A bad retain-until date, a date in the past, a mode alone.
        with self.assertRaises(ClientError) as cm:
            self.s3.put_object(Bucket=b, Key="p", Body=b"x", ObjectLockMode="GOVERNANCE",
                               ObjectLockRetainUntilDate=at(self.t0 - 10))
        self.assertEqual(code(cm.exception), "InvalidArgument")
        st, out = signed("PUT", f"/{b}/p", b"", "", {"x-amz-object-lock-mode": "GOVERNANCE",
                                                      "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg=="})
        self.assertEqual(st, 400, out)
        self.assertIn(b"InvalidArgument", out)
        st, _ = signed("HEAD", f"/{b}/p")
        self.assertEqual(st, 404)


class Compliance(Base):
    def test_root_cannot_delete_or_shorten_a_compliance_locked_version(self):
        b = lock_bucket()
        until = self.t0 + 10 * DAY
        v = self.s3.put_object(Bucket=b, Key="k", Body=b"keep me", ObjectLockMode="COMPLIANCE",
                               ObjectLockRetainUntilDate=at(until))["VersionId"]
        h = self.s3.head_object(Bucket=b, Key="k")
        self.assertEqual(h["ObjectLockMode"], "COMPLIANCE")
        self.assertEqual(int(h["ObjectLockRetainUntilDate"].timestamp()), until)
        r = self.s3.get_object_retention(Bucket=b, Key="k", VersionId=v)["Retention"]
        self.assertEqual((r["Mode"], int(r["RetainUntilDate"].timestamp())), ("COMPLIANCE", until))
        before = refused("compliance")
        self.denied(lambda: self.s3.delete_object(Bucket=b, Key="k", VersionId=v))
        self.denied(lambda: self.s3.delete_object(Bucket=b, Key="k", VersionId=v,
                                                  BypassGovernanceRetention=True))
        out = self.s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "k", "VersionId": v}]},
                                     BypassGovernanceRetention=True)
        self.assertEqual([e["Code"] for e in out.get("Errors", [])], ["AccessDenied"], out)
        self.assertEqual(refused("compliance"), before + 3)
        # Shortening, removing or weakening: refused; extending: fine.
        self.denied(lambda: self.s3.put_object_retention(
            Bucket=b, Key="k", VersionId=v, BypassGovernanceRetention=True,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": at(until - DAY)}))
        self.denied(lambda: self.s3.put_object_retention(
            Bucket=b, Key="k", VersionId=v, BypassGovernanceRetention=True,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": at(until + DAY)}))
        self.s3.put_object_retention(Bucket=b, Key="k", VersionId=v, Retention={
            "Mode": "COMPLIANCE", "RetainUntilDate": at(until + DAY)})
        until += DAY
        # A delete without a version id makes a delete marker.
        d = self.s3.delete_object(Bucket=b, Key="k")
        self.assertTrue(d["DeleteMarker"])
        self.s3.delete_object(Bucket=b, Key="k", VersionId=d["VersionId"])
        self.assertEqual(self.s3.get_object(Bucket=b, Key="k", VersionId=v)["Body"].read(), b"keep me")
        # Once the retention passes, the version can go.
        set_clock(until + 1)
        self.s3.delete_object(Bucket=b, Key="k", VersionId=v)
        self.assertNotIn("Versions", self.s3.list_object_versions(Bucket=b))


class Governance(Base):
    def test_only_a_user_allowed_to_bypass_governance_may_delete_early(self):
        owner_uid, owner = new_user()
        bob_uid, bob = new_user()
        carol_uid, carol = new_user()
        b = lock_bucket(owner)
        arn = f"arn:aws:s3:::{b}/*"
        owner.put_bucket_policy(Bucket=b, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [bob_uid, carol_uid]},
             "Action": ["s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:GetObjectRetention"],
             "Resource": arn},
            {"Effect": "Allow", "Principal": {"AWS": [bob_uid]},
             "Action": ["s3:BypassGovernanceRetention"], "Resource": arn}]}))
        until = at(self.t0 + DAY)
        vs = [owner.put_object(Bucket=b, Key=f"k{i}", Body=b"x", ObjectLockMode="GOVERNANCE",
                               ObjectLockRetainUntilDate=until)["VersionId"] for i in range(4)]
        before = refused("governance")
        # Carol may delete versions but not bypass: refused, with or without asking.
        self.denied(lambda: carol.delete_object(Bucket=b, Key="k0", VersionId=vs[0]))
        self.denied(lambda: carol.delete_object(Bucket=b, Key="k0", VersionId=vs[0],
                                                BypassGovernanceRetention=True))
        self.denied(lambda: carol.put_object_retention(Bucket=b, Key="k0", VersionId=vs[0],
                                                       BypassGovernanceRetention=True, Retention={}))
        # Bob without the header: refused; with it: deleted. (Refused
        # retention changes are not refused deletions.)
        self.denied(lambda: bob.delete_object(Bucket=b, Key="k0", VersionId=vs[0]))
        self.assertEqual(refused("governance"), before + 3)
        bob.delete_object(Bucket=b, Key="k0", VersionId=vs[0], BypassGovernanceRetention=True)
        out = bob.delete_objects(Bucket=b, BypassGovernanceRetention=True, Delete={"Objects": [
            {"Key": "k1", "VersionId": vs[1]}]})
        self.assertEqual([d["Key"] for d in out.get("Deleted", [])], ["k1"], out)
        out = carol.delete_objects(Bucket=b, BypassGovernanceRetention=True, Delete={"Objects": [
            {"Key": "k2", "VersionId": vs[2]}]})
        self.assertEqual([e["Code"] for e in out.get("Errors", [])], ["AccessDenied"], out)
        # Bob may shorten (remove) a governance retention with the bypass.
        bob.put_object_retention(Bucket=b, Key="k2", VersionId=vs[2],
                                 BypassGovernanceRetention=True, Retention={})
        carol.delete_object(Bucket=b, Key="k2", VersionId=vs[2])
        # The owner may bypass too.
        owner.delete_object(Bucket=b, Key="k3", VersionId=vs[3], BypassGovernanceRetention=True)
        self.assertNotIn("Versions", owner.list_object_versions(Bucket=b))


class LegalHold(Base):
    def test_a_legal_hold_blocks_deletes_until_it_is_lifted(self):
        b = lock_bucket()
        v = self.s3.put_object(Bucket=b, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON")["VersionId"]
        self.assertEqual(self.s3.head_object(Bucket=b, Key="k")["ObjectLockLegalHoldStatus"], "ON")
        self.assertEqual(self.s3.get_object_legal_hold(Bucket=b, Key="k", VersionId=v)["LegalHold"]["Status"], "ON")
        with self.assertRaises(ClientError) as cm:
            self.s3.get_object_retention(Bucket=b, Key="k")
        self.assertEqual(code(cm.exception), "NoSuchObjectLockConfiguration")
        before = refused("legal_hold")
        self.denied(lambda: self.s3.delete_object(Bucket=b, Key="k", VersionId=v,
                                                  BypassGovernanceRetention=True))
        set_clock(self.t0 + 1000 * DAY)
        self.denied(lambda: self.s3.delete_object(Bucket=b, Key="k", VersionId=v))
        self.assertEqual(refused("legal_hold"), before + 2)
        self.s3.put_object_legal_hold(Bucket=b, Key="k", VersionId=v, LegalHold={"Status": "OFF"})
        self.assertEqual(self.s3.get_object_legal_hold(Bucket=b, Key="k")["LegalHold"]["Status"], "OFF")
        self.s3.put_object_legal_hold(Bucket=b, Key="k", VersionId=v, LegalHold={"Status": "ON"})
        self.denied(lambda: self.s3.delete_object(Bucket=b, Key="k", VersionId=v))
        self.s3.put_object_legal_hold(Bucket=b, Key="k", VersionId=v, LegalHold={"Status": "OFF"})
        self.s3.delete_object(Bucket=b, Key="k", VersionId=v)
        self.assertNotIn("Versions", self.s3.list_object_versions(Bucket=b))


class DefaultsCopyMultipart(Base):
    def test_default_retention_copy_and_multipart_carry_locks(self):
        b = lock_bucket()
        self.s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}})
        v = self.s3.put_object(Bucket=b, Key="d", Body=b"default")["VersionId"]
        r = self.s3.get_object_retention(Bucket=b, Key="d", VersionId=v)["Retention"]
        self.assertEqual(r["Mode"], "GOVERNANCE")
        self.assertAlmostEqual(int(r["RetainUntilDate"].timestamp()), self.t0 + 2 * DAY, delta=5)
        self.denied(lambda: self.s3.delete_object(Bucket=b, Key="d", VersionId=v))
        # A copy gets the request's lock, not the source's.
        until = self.t0 + 5 * DAY
        c = self.s3.copy_object(Bucket=b, Key="c", CopySource={"Bucket": b, "Key": "d"},
                                ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=at(until),
                                ObjectLockLegalHoldStatus="ON")
        h = self.s3.head_object(Bucket=b, Key="c", VersionId=c["VersionId"])
        self.assertEqual((h["ObjectLockMode"], int(h["ObjectLockRetainUntilDate"].timestamp()),
                          h["ObjectLockLegalHoldStatus"]), ("COMPLIANCE", until, "ON"))
        # Multipart: CreateMultipartUpload's lock headers.
        up = self.s3.create_multipart_upload(Bucket=b, Key="m", ObjectLockMode="COMPLIANCE",
                                             ObjectLockRetainUntilDate=at(until))
        part = self.s3.upload_part(Bucket=b, Key="m", UploadId=up["UploadId"], PartNumber=1,
                                   Body=b"p" * 100)
        done = self.s3.complete_multipart_upload(
            Bucket=b, Key="m", UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        r = self.s3.get_object_retention(Bucket=b, Key="m", VersionId=done["VersionId"])["Retention"]
        self.assertEqual((r["Mode"], int(r["RetainUntilDate"].timestamp())), ("COMPLIANCE", until))
        self.denied(lambda: self.s3.delete_object(Bucket=b, Key="m", VersionId=done["VersionId"],
                                                  BypassGovernanceRetention=True))
        set_clock(until + 1)
        self.s3.put_object_legal_hold(Bucket=b, Key="c", VersionId=c["VersionId"],
                                      LegalHold={"Status": "OFF"})
        for k, vid in [("d", v), ("c", c["VersionId"]), ("m", done["VersionId"])]:
            self.s3.delete_object(Bucket=b, Key=k, VersionId=vid)


class LifecycleAndPurge(Base):
    def test_lifecycle_expiry_waits_for_retention(self):
        b = lock_bucket()
        self.s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [{
            "ID": "old", "Status": "Enabled", "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
        until = self.t0 + 10 * DAY
        v1 = self.s3.put_object(Bucket=b, Key="k", Body=b"one", ObjectLockMode="COMPLIANCE",
                                ObjectLockRetainUntilDate=at(until))["VersionId"]
        v2 = self.s3.put_object(Bucket=b, Key="k", Body=b"two")["VersionId"]
        w1 = self.s3.put_object(Bucket=b, Key="w", Body=b"one")["VersionId"]
        self.s3.put_object(Bucket=b, Key="w", Body=b"two")
        set_clock(self.t0 + 3 * DAY)
        admin_api("POST", "expiry/run")
        ids = {(x["Key"], x["VersionId"]) for x in self.s3.list_object_versions(Bucket=b)["Versions"]}
        self.assertIn(("k", v1), ids, "the locked noncurrent version stays")
        self.assertIn(("k", v2), ids)
        self.assertNotIn(("w", w1), ids, "an unlocked noncurrent version expires")
        self.assertEqual(self.s3.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read(), b"one")
        set_clock(until + 1)
        admin_api("POST", "expiry/run")
        ids = {(x["Key"], x["VersionId"]) for x in self.s3.list_object_versions(Bucket=b)["Versions"]}
        self.assertNotIn(("k", v1), ids, "after its retention it expires")

    def test_a_purge_job_skips_locked_versions_and_says_so(self):
        b = lock_bucket()
        held = self.s3.put_object(Bucket=b, Key="held", Body=b"x", ObjectLockLegalHoldStatus="ON")["VersionId"]
        for i in range(3):
            self.s3.put_object(Bucket=b, Key=f"free{i}", Body=b"y")
        stats = admin_cli("bucket", "stats", "--bucket", b)
        self.assertEqual(stats["object_lock"]["locked_versions"], 1, stats)
        self.assertEqual(stats["object_lock"]["default_retention"], "none", stats)
        job = admin_cli("bucket", "rm", "--bucket", b, "--purge-data", "--after", "1s")
        set_clock(self.t0 + 5)
        for _ in range(600):
            j = admin_api("GET", f"jobs/{job['id']}")
            if j["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
        self.assertEqual(j["state"], "done", j)
        self.assertIn("kept 1 locked versions", j["message"], j)
        self.assertIn("kept 1 locked versions", j["checkpoint"], j)
        versions = self.s3.list_object_versions(Bucket=b)
        self.assertEqual([(x["Key"], x["VersionId"]) for x in versions["Versions"]], [("held", held)])
        self.assertNotIn("DeleteMarkers", versions)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="held")["Body"].read(), b"x")


if __name__ == "__main__":
    names = sys.argv[1:]
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for n in names:
        suite.addTests(loader.loadTestsFromTestCase(globals()[n]))
    r = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if r.wasSuccessful() else 1)
