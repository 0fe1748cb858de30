"""boto3 against a running shale node: object tagging and S3 lifecycle
configurations (valid and invalid), and lifecycle rules taking effect:
new objects, existing objects re-evaluated after a rule change, tag
filters, AbortIncompleteMultipartUpload, and in buckets with versioning
Expiration (a delete marker on top), NoncurrentVersionExpiration (with
NewerNoncurrentVersions) and ExpiredObjectDeleteMarker. The node runs with
SHALE_TEST_CLOCK=1 and its expiry pass off; the test freezes and moves
the expiry clock through the admin API, so nothing sleeps on it. Run by
tests/s3_clients.rs with S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY (root)
and SHALE_BIN set."""

import calendar
import datetime
import hashlib
import json
import os
import time
import unittest
import urllib.error
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
DAY = 86400


def client():
    return boto3.client(
        "s3", endpoint_url=ENDPOINT, aws_access_key_id=AK, aws_secret_access_key=SK,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def code(e):
    return e.response["Error"]["Code"]


def signed(method, path, body=b"", query=""):
    """A raw SigV4-signed request; (status, body bytes)."""
    url = f"{ENDPOINT}{path}" + (f"?{query}" if query else "")
    # urllib adds a Content-Type to a request with a body; set (and so
    # sign) one, as shale refuses unsigned content-type on writes.
    headers = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest(), "content-type": "application/xml"}
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(botocore.credentials.Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    r = urllib.request.Request(url, data=body or None, method=method, headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def admin(method, path, obj=None, query=""):
    body = json.dumps(obj).encode() if obj is not None else b""
    st, out = signed(method, f"/admin/{path}", body, query)
    assert st < 300, (method, path, st, out)
    return json.loads(out) if out else None


def set_clock(secs):
    admin("POST", "test/clock", {"now_secs": secs})


def run_pass():
    return admin("POST", "expiry/run")


def bucket_stats(name):
    return admin("GET", f"buckets/{name}")


def wait_evaluated(name):
    for _ in range(500):
        lc = bucket_stats(name).get("lifecycle")
        if lc and lc["evaluation"] == "done":
            return lc
        time.sleep(0.01)
    raise AssertionError(f"re-evaluation of {name} did not finish: {bucket_stats(name)}")


def next_midnight(t, days):
    return ((t + days * DAY) // DAY + 1) * DAY


def new_bucket(s3, versioned=False):
    name = "lc-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


class Tagging(unittest.TestCase):
    def setUp(self):
        self.s3 = client()
        self.bucket = new_bucket(self.s3)

    def test_tags_on_put_get_replace_delete(self):
        s3, b = self.s3, self.bucket
        s3.put_object(Bucket=b, Key="k", Body=b"x", Tagging="project=blue%20sky&team=a")
        tags = s3.get_object_tagging(Bucket=b, Key="k")["TagSet"]
        self.assertEqual(sorted((t["Key"], t["Value"]) for t in tags), [("project", "blue sky"), ("team", "a")])
        self.assertEqual(s3.get_object(Bucket=b, Key="k")["TagCount"], 2)
        self.assertNotIn("x-amz-tagging", s3.head_object(Bucket=b, Key="k")["ResponseMetadata"]["HTTPHeaders"])
        s3.put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": [{"Key": "only", "Value": "1"}]})
        self.assertEqual(s3.get_object_tagging(Bucket=b, Key="k")["TagSet"], [{"Key": "only", "Value": "1"}])
        # Data, ETag and time are untouched by tagging.
        self.assertEqual(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"x")
        s3.delete_object_tagging(Bucket=b, Key="k")
        self.assertEqual(s3.get_object_tagging(Bucket=b, Key="k")["TagSet"], [])
        self.assertNotIn("TagCount", s3.get_object(Bucket=b, Key="k"))

    def test_bad_tag_sets_are_refused(self):
        s3, b = self.s3, self.bucket
        s3.put_object(Bucket=b, Key="k", Body=b"x")
        eleven = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
        for tagset in (eleven, [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
                       [{"Key": "x" * 129, "Value": "v"}], [{"Key": "k", "Value": "v" * 257}]):
            with self.assertRaises(ClientError) as cm:
                s3.put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": tagset})
            self.assertEqual(code(cm.exception), "InvalidTag")
        with self.assertRaises(ClientError) as cm:
            s3.put_object(Bucket=b, Key="k2", Body=b"x", Tagging="a=1&a=2")
        self.assertEqual(code(cm.exception), "InvalidTag")
        with self.assertRaises(ClientError) as cm:
            s3.head_object(Bucket=b, Key="k2")
        with self.assertRaises(ClientError) as cm:
            s3.get_object_tagging(Bucket=b, Key="absent")
        self.assertEqual(code(cm.exception), "NoSuchKey")
        st, _ = signed("PUT", f"/{b}/k", b"<Tagging><TagSet><Tag><Key>a</Key></Tag>", "tagging")
        self.assertEqual(st, 400)

    def test_copy_keeps_or_replaces_tags_and_multipart_takes_them(self):
        s3, b = self.s3, self.bucket
        s3.put_object(Bucket=b, Key="src", Body=b"x", Tagging="a=1")
        s3.copy_object(Bucket=b, Key="c1", CopySource={"Bucket": b, "Key": "src"})
        self.assertEqual(s3.get_object_tagging(Bucket=b, Key="c1")["TagSet"], [{"Key": "a", "Value": "1"}])
        s3.copy_object(Bucket=b, Key="c2", CopySource={"Bucket": b, "Key": "src"},
                       TaggingDirective="REPLACE", Tagging="b=2")
        self.assertEqual(s3.get_object_tagging(Bucket=b, Key="c2")["TagSet"], [{"Key": "b", "Value": "2"}])
        up = s3.create_multipart_upload(Bucket=b, Key="mp", Tagging="m=p")
        p = s3.upload_part(Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"z" * 100)
        s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
        self.assertEqual(s3.get_object_tagging(Bucket=b, Key="mp")["TagSet"], [{"Key": "m", "Value": "p"}])

    def test_current_version_of_a_versioned_key(self):
        s3 = self.s3
        b = new_bucket(s3, versioned=True)
        v1 = s3.put_object(Bucket=b, Key="k", Body=b"1")["VersionId"]
        v2 = s3.put_object(Bucket=b, Key="k", Body=b"2")["VersionId"]
        r = s3.put_object_tagging(Bucket=b, Key="k", VersionId=v2, Tagging={"TagSet": [{"Key": "t", "Value": "v"}]})
        self.assertEqual(r["VersionId"], v2)
        self.assertEqual(s3.get_object_tagging(Bucket=b, Key="k")["TagSet"], [{"Key": "t", "Value": "v"}])
        self.assertEqual(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"2")
        self.assertEqual(s3.get_object_tagging(Bucket=b, Key="k", VersionId=v1)["TagSet"], [])
        # Versions are unchanged: still two, v2 current.
        vs = s3.list_object_versions(Bucket=b)["Versions"]
        self.assertEqual([(v["VersionId"], v["IsLatest"]) for v in vs], [(v2, True), (v1, False)])


RULES = {"Rules": [
    {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}},
    {"ID": "date", "Status": "Enabled", "Filter": {"Prefix": "old/"},
     "Expiration": {"Date": datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)}},
    {"ID": "tagged", "Status": "Enabled",
     "Filter": {"And": {"Prefix": "t/", "Tags": [{"Key": "class", "Value": "tmp"}], "ObjectSizeGreaterThan": 10}},
     "Expiration": {"Days": 1}},
    {"ID": "big", "Status": "Disabled", "Filter": {"ObjectSizeGreaterThan": 1000000}, "Expiration": {"Days": 7}},
    {"ID": "mpu", "Status": "Enabled", "Filter": {"Prefix": "up/"},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
]}


class Lifecycle(unittest.TestCase):
    def setUp(self):
        self.s3 = client()
        self.bucket = new_bucket(self.s3)

    def test_configuration_round_trips_and_deletes(self):
        s3, b = self.s3, self.bucket
        with self.assertRaises(ClientError) as cm:
            s3.get_bucket_lifecycle_configuration(Bucket=b)
        self.assertEqual(code(cm.exception), "NoSuchLifecycleConfiguration")
        s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration=RULES)
        got = s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
        self.assertEqual([r["ID"] for r in got], [r["ID"] for r in RULES["Rules"]])
        by_id = {r["ID"]: r for r in got}
        self.assertEqual(by_id["logs"]["Expiration"], {"Days": 30})
        self.assertEqual(by_id["date"]["Expiration"]["Date"].year, 2030)
        self.assertEqual(by_id["tagged"]["Filter"]["And"]["Tags"], [{"Key": "class", "Value": "tmp"}])
        self.assertEqual(by_id["tagged"]["Filter"]["And"]["ObjectSizeGreaterThan"], 10)
        self.assertEqual(by_id["big"]["Status"], "Disabled")
        self.assertEqual(by_id["mpu"]["AbortIncompleteMultipartUpload"], {"DaysAfterInitiation": 2})
        s3.delete_bucket_lifecycle(Bucket=b)
        with self.assertRaises(ClientError) as cm:
            s3.get_bucket_lifecycle_configuration(Bucket=b)
        self.assertEqual(code(cm.exception), "NoSuchLifecycleConfiguration")

    def test_invalid_configurations_say_why(self):
        b = self.bucket
        rule = '<Rule><ID>r</ID><Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status>{}</Rule>'
        cases = [
            (rule.format("<Expiration><Days>0</Days></Expiration>"), "InvalidArgument"),
            (rule.format("<Expiration><Days>-3</Days></Expiration>"), "InvalidArgument"),
            (rule.format("<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>"), "InvalidArgument"),
            (rule.format(""), "InvalidRequest"),
            (rule.format("<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>"), "MalformedXML"),
            (rule.format("<Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>"), "NotImplemented"),
            ('<Rule><Filter><Prefix>a</Prefix></Filter><Expiration><Days>1</Days></Expiration></Rule>', "MalformedXML"),
            ('<Rule><Prefix>a</Prefix><Filter><Prefix>a</Prefix></Filter><Status>Enabled</Status>'
             '<Expiration><Days>1</Days></Expiration></Rule>', "MalformedXML"),
            (rule.format("<Expiration><Days>1</Days></Expiration>") * 2, "InvalidArgument"),
            ('<Rule><ID>s</ID><Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>'
             '<ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter><Status>Enabled</Status>'
             '<Expiration><Days>1</Days></Expiration></Rule>', "InvalidRequest"),
            ('<Rule><ID>t</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>'
             '<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>'
             '</AbortIncompleteMultipartUpload></Rule>', "InvalidRequest"),
            ("", "MalformedXML"),
            ("<Rule>", "MalformedXML"),
        ]
        for rules, want in cases:
            body = f"<LifecycleConfiguration>{rules}</LifecycleConfiguration>".encode()
            st, out = signed("PUT", f"/{b}", body, "lifecycle")
            self.assertGreaterEqual(st, 400, rules)
            self.assertIn(f"<Code>{want}</Code>".encode(), out, (rules, out))
            self.assertIn(b"<Message>", out)
        # None of them was stored.
        with self.assertRaises(ClientError) as cm:
            self.s3.get_bucket_lifecycle_configuration(Bucket=b)
        self.assertEqual(code(cm.exception), "NoSuchLifecycleConfiguration")

    def test_rules_expire_new_and_existing_objects(self):
        s3, b = self.s3, self.bucket
        t0 = int(time.time())
        set_clock(t0)
        try:
            # Existing before any rule: re-evaluated when rules come.
            s3.put_object(Bucket=b, Key="t/small", Body=b"x", Tagging="class=tmp")
            s3.put_object(Bucket=b, Key="t/big", Body=b"y" * 100, Tagging="class=tmp")
            s3.put_object(Bucket=b, Key="t/other", Body=b"y" * 100, Tagging="class=keep")
            s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration=RULES)
            lc = wait_evaluated(b)
            self.assertEqual((lc["examined"], lc["changed"]), (3, 1))
            # New objects get their expiry when written; the header says which rule.
            r = s3.put_object(Bucket=b, Key="logs/a", Body=b"log")
            when = next_midnight(t0, 30)
            self.assertIn('rule-id="logs"', r["Expiration"])
            self.assertIn(time.strftime("%d %b %Y", time.gmtime(when)), r["Expiration"])
            self.assertIn('rule-id="logs"', s3.head_object(Bucket=b, Key="logs/a")["Expiration"])
            s3.put_object(Bucket=b, Key="keep/a", Body=b"keep")
            self.assertNotIn("Expiration", s3.head_object(Bucket=b, Key="keep/a"))
            # Tagging an object later brings it under the tag rule.
            s3.put_object_tagging(Bucket=b, Key="t/other", Tagging={"TagSet": [{"Key": "class", "Value": "tmp"}]})

            names = lambda: sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", []))
            self.assertEqual(names(), ["keep/a", "logs/a", "t/big", "t/other", "t/small"])
            # The tag rule's day: the tagged objects over 10 bytes are gone at
            # once for GET, LIST and stats, before any pass.
            set_clock(next_midnight(t0, 1))
            self.assertEqual(names(), ["keep/a", "logs/a", "t/small"])
            for k in ("t/big", "t/other"):
                with self.assertRaises(ClientError) as cm:
                    s3.head_object(Bucket=b, Key=k)
                self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
            self.assertEqual(bucket_stats(b)["objects"], 3)
            # 30 days on: the logs rule.
            set_clock(when)
            self.assertEqual(names(), ["keep/a", "t/small"])
            self.assertEqual(bucket_stats(b)["objects"], 2)
            r = run_pass()
            self.assertEqual(r["expired"], 3)
            self.assertEqual(names(), ["keep/a", "t/small"])
            self.assertEqual(bucket_stats(b)["objects"], 2)
        finally:
            set_clock(0)

    def test_removing_a_rule_stops_it_before_the_pass(self):
        s3, b = self.s3, self.bucket
        t0 = int(time.time())
        set_clock(t0)
        try:
            s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
                {"ID": "all", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]})
            wait_evaluated(b)
            s3.put_object(Bucket=b, Key="k", Body=b"v")
            set_clock(next_midnight(t0, 1))
            with self.assertRaises(ClientError):
                s3.head_object(Bucket=b, Key="k")
            # Disabled now: the object's expiry is re-evaluated away.
            s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
                {"ID": "all", "Status": "Disabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]})
            wait_evaluated(b)
            self.assertEqual(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"v")
            self.assertEqual(run_pass()["expired"], 0)
        finally:
            set_clock(0)

    def test_incomplete_uploads_are_aborted(self):
        s3, b = self.s3, self.bucket
        t0 = int(time.time())
        set_clock(t0)
        try:
            s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration=RULES)
            old = s3.create_multipart_upload(Bucket=b, Key="up/a")["UploadId"]
            other = s3.create_multipart_upload(Bucket=b, Key="elsewhere/a")["UploadId"]
            set_clock(next_midnight(t0, 1))
            self.assertEqual(run_pass()["uploads_aborted"], 0)
            set_clock(next_midnight(t0, 2) + DAY)
            self.assertEqual(run_pass()["uploads_aborted"], 1)
            ids = [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=b).get("Uploads", [])]
            self.assertEqual(ids, [other])
            self.assertNotIn(old, ids)
        finally:
            set_clock(0)




def versions_of(s3, b):
    """(kind, key, version id, is latest) of every version and marker."""
    r = s3.list_object_versions(Bucket=b)
    out = [("v", v["Key"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])]
    out += [("m", m["Key"], m["VersionId"], m["IsLatest"]) for m in r.get("DeleteMarkers", [])]
    return sorted(out)


def status(e):
    return e.response["ResponseMetadata"]["HTTPStatusCode"]


class VersionedLifecycle(unittest.TestCase):
    def setUp(self):
        self.s3 = client()
        self.t0 = int(time.time())
        set_clock(self.t0)

    def tearDown(self):
        set_clock(0)

    def test_expiration_puts_a_delete_marker_on_top(self):
        s3, t0 = self.s3, self.t0
        b = new_bucket(s3, versioned=True)
        s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
            {"ID": "day", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]})
        wait_evaluated(b)
        r = s3.put_object(Bucket=b, Key="k", Body=b"one")
        v1 = r["VersionId"]
        self.assertIn('rule-id="day"', r["Expiration"])
        due = next_midnight(t0, 1)
        set_clock(due - 1)
        self.assertEqual(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"one")
        # At the second: a delete marker is current for every reader, the
        # version stays (noncurrent) and still counts — before any pass.
        set_clock(due)
        with self.assertRaises(ClientError) as cm:
            s3.get_object(Bucket=b, Key="k")
        self.assertEqual(status(cm.exception), 404)
        hdrs = cm.exception.response["ResponseMetadata"]["HTTPHeaders"]
        self.assertEqual(hdrs.get("x-amz-delete-marker"), "true")
        marker = hdrs["x-amz-version-id"]
        self.assertNotEqual(marker, v1)
        self.assertEqual(s3.list_objects_v2(Bucket=b).get("KeyCount"), 0)
        before = versions_of(s3, b)
        self.assertEqual(before, [("m", "k", marker, True), ("v", "k", v1, False)])
        self.assertEqual(s3.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read(), b"one")
        with self.assertRaises(ClientError) as cm:
            s3.head_object(Bucket=b, Key="k", VersionId=marker)
        self.assertEqual(status(cm.exception), 405)
        self.assertEqual(bucket_stats(b)["objects"], 1)
        # The pass writes that very marker: nothing changes for readers.
        r = run_pass()
        self.assertGreaterEqual(r["expired"], 1)
        self.assertEqual(versions_of(s3, b), before)
        self.assertEqual(s3.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read(), b"one")
        self.assertEqual(bucket_stats(b)["objects"], 1)
        self.assertEqual(run_pass()["expired"], 0)
        # Removing the marker brings the version back, with no expiry left.
        s3.delete_object(Bucket=b, Key="k", VersionId=marker)
        self.assertEqual(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"one")

    def test_noncurrent_versions_expire_keeping_the_newer_ones(self):
        s3, t0 = self.s3, self.t0
        b = new_bucket(s3, versioned=True)
        s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
            {"ID": "nc", "Status": "Enabled", "Filter": {"Prefix": ""},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 2, "NewerNoncurrentVersions": 1}}]})
        wait_evaluated(b)
        ids = []
        for i, body in enumerate([b"1", b"22", b"333"]):
            set_clock(t0 + 100 * i)
            ids.append(s3.put_object(Bucket=b, Key="k", Body=body)["VersionId"])
        v1, v2, v3 = ids
        # v2 is the newest noncurrent version (kept: one is to be kept);
        # v1 became noncurrent when v2 was written, at t0+100.
        due = next_midnight(t0 + 100, 2)
        set_clock(due - 1)
        self.assertEqual([x[2] for x in versions_of(s3, b)], sorted([v1, v2, v3]))
        self.assertEqual(bucket_stats(b)["objects"], 3)
        set_clock(due)
        self.assertEqual(sorted(x[2] for x in versions_of(s3, b)), sorted([v2, v3]))
        with self.assertRaises(ClientError) as cm:
            s3.get_object(Bucket=b, Key="k", VersionId=v1)
        self.assertEqual(code(cm.exception), "NoSuchVersion")
        self.assertEqual(bucket_stats(b)["objects"], 2)
        self.assertEqual(run_pass()["expired"], 1)
        self.assertEqual(sorted(x[2] for x in versions_of(s3, b)), sorted([v2, v3]))
        self.assertEqual(bucket_stats(b)["objects"], 2)
        # Years on, v2 is still kept (the one newer noncurrent version).
        set_clock(due + 400 * DAY)
        self.assertEqual(run_pass()["expired"], 0)
        self.assertEqual(s3.get_object(Bucket=b, Key="k", VersionId=v2)["Body"].read(), b"22")
        self.assertEqual(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"333")

    def test_lone_delete_markers_go(self):
        s3, t0 = self.s3, self.t0
        b = new_bucket(s3, versioned=True)
        s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
            {"ID": "m", "Status": "Enabled", "Filter": {"Prefix": "m/"},
             "Expiration": {"ExpiredObjectDeleteMarker": True},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
        wait_evaluated(b)
        s3.put_object(Bucket=b, Key="m/a", Body=b"a")
        s3.delete_object(Bucket=b, Key="m/a")
        s3.put_object(Bucket=b, Key="x/a", Body=b"a")
        s3.delete_object(Bucket=b, Key="x/a")
        # The user removes the only version under a marker: the marker is
        # alone, and goes at once.
        vb = s3.put_object(Bucket=b, Key="m/b", Body=b"b")["VersionId"]
        s3.delete_object(Bucket=b, Key="m/b")
        s3.delete_object(Bucket=b, Key="m/b", VersionId=vb)
        self.assertEqual(sorted((x[0], x[1]) for x in versions_of(s3, b)),
                         [("m", "m/a"), ("m", "x/a"), ("v", "m/a"), ("v", "x/a")])
        # A day on the noncurrent versions expire; the pass removes m/a's,
        # which leaves its marker alone: that goes too. x/a's marker is
        # outside the rule's prefix and stays.
        set_clock(next_midnight(t0, 1))
        self.assertEqual(sorted((x[0], x[1]) for x in versions_of(s3, b)),
                         [("m", "m/a"), ("m", "x/a"), ("v", "x/a")])
        r = run_pass()
        self.assertGreaterEqual(r["expired"], 3)
        self.assertEqual(sorted((x[0], x[1]) for x in versions_of(s3, b)), [("m", "x/a"), ("v", "x/a")])
        # x/a's version is noncurrent too but outside the prefix.
        self.assertEqual(bucket_stats(b)["objects"], 1)

    def test_enabling_versioning_under_an_expiration_rule(self):
        s3, t0 = self.s3, self.t0
        b = new_bucket(s3)
        s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
            {"ID": "day", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]})
        wait_evaluated(b)
        s3.put_object(Bucket=b, Key="old", Body=b"o")
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        wait_evaluated(b)
        set_clock(next_midnight(t0, 1))
        with self.assertRaises(ClientError) as cm:
            s3.get_object(Bucket=b, Key="old")
        self.assertEqual(status(cm.exception), 404)
        # Kept as the null version, noncurrent under the marker.
        self.assertEqual(s3.get_object(Bucket=b, Key="old", VersionId="null")["Body"].read(), b"o")
        run_pass()
        got = versions_of(s3, b)
        self.assertEqual([(x[0], x[3]) for x in got], [("m", True), ("v", False)])
        self.assertEqual(got[1][2], "null")
        self.assertEqual(s3.get_object(Bucket=b, Key="old", VersionId="null")["Body"].read(), b"o")


if __name__ == "__main__":
    unittest.main(verbosity=2)
