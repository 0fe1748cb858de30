"""boto3 against a running shale node: every S3 operation shale serves,
with default client settings (checksums, aws-chunked, path style), and the
error cases. Run by tests/s3_clients.rs with S3_ENDPOINT, S3_ACCESS_KEY and
S3_SECRET_KEY set."""

import hashlib
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
MIB = 1024 * 1024


def client(secret=SK, access=AK, **cfg):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **cfg),
    )


def code(e):
    return e.response["Error"]["Code"]


def status(e):
    return e.response["ResponseMetadata"]["HTTPStatusCode"]


class S3(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = client()
        cls.bucket = "b-" + uuid.uuid4().hex[:12]
        cls.s3.create_bucket(Bucket=cls.bucket)

    def err(self, fn, want_code, want_status=None, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        self.assertEqual(code(cm.exception), want_code, cm.exception.response)
        if want_status is not None:
            self.assertEqual(status(cm.exception), want_status)
        self.assertTrue(cm.exception.response["ResponseMetadata"]["RequestId"])
        return cm.exception

    def test_buckets(self):
        name = "c-" + uuid.uuid4().hex[:12]
        self.s3.create_bucket(Bucket=name)
        self.s3.head_bucket(Bucket=name)
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        self.assertIn(name, names)
        self.assertIn(self.bucket, names)
        loc = self.s3.get_bucket_location(Bucket=name)
        self.assertIn(loc.get("LocationConstraint"), (None, ""))
        # The node's region is us-east-1, where AWS answers 200 again.
        self.s3.create_bucket(Bucket=name)
        self.err(self.s3.create_bucket, "InvalidBucketName", 400, Bucket="Bad_Name")
        self.s3.put_object(Bucket=name, Key="k", Body=b"x")
        self.err(self.s3.delete_bucket, "BucketNotEmpty", 409, Bucket=name)
        self.s3.delete_object(Bucket=name, Key="k")
        self.s3.delete_bucket(Bucket=name)
        with self.assertRaises(ClientError) as cm:
            self.s3.head_bucket(Bucket=name)
        self.assertEqual(status(cm.exception), 404)
        self.err(self.s3.list_objects_v2, "NoSuchBucket", 404, Bucket=name)
        loc_name = "l-" + uuid.uuid4().hex[:12]
        self.s3.create_bucket(Bucket=loc_name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        self.assertEqual(self.s3.get_bucket_location(Bucket=loc_name)["LocationConstraint"], "eu-west-1")
        self.s3.delete_bucket(Bucket=loc_name)

    def test_put_get_head_with_metadata(self):
        body = os.urandom(3 * MIB + 17)
        r = self.s3.put_object(
            Bucket=self.bucket, Key="dir/obj.bin", Body=body, ContentType="application/x-test",
            Metadata={"color": "blue", "n": "1"}, CacheControl="max-age=60", ContentDisposition="attachment",
        )
        self.assertEqual(r["ETag"], '"%s"' % hashlib.md5(body).hexdigest())
        g = self.s3.get_object(Bucket=self.bucket, Key="dir/obj.bin")
        self.assertEqual(g["Body"].read(), body)
        self.assertEqual(g["ContentType"], "application/x-test")
        self.assertEqual(g["Metadata"], {"color": "blue", "n": "1"})
        self.assertEqual(g["CacheControl"], "max-age=60")
        self.assertEqual(g["ContentDisposition"], "attachment")
        h = self.s3.head_object(Bucket=self.bucket, Key="dir/obj.bin")
        self.assertEqual(h["ContentLength"], len(body))
        self.assertEqual(h["ETag"], r["ETag"])
        o = self.s3.get_object(Bucket=self.bucket, Key="dir/obj.bin", ResponseContentType="text/plain")
        self.assertEqual(o["ContentType"], "text/plain")
        o["Body"].read()
        p = self.s3.get_object(Bucket=self.bucket, Key="dir/obj.bin", PartNumber=1)
        self.assertEqual(p["Body"].read(), body)
        empty = self.s3.put_object(Bucket=self.bucket, Key="empty", Body=b"")
        self.assertEqual(empty["ETag"], '"d41d8cd98f00b204e9800998ecf8427e"')
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="empty")["Body"].read(), b"")

    def test_ranges(self):
        body = bytes(range(256)) * 4096  # 1 MiB
        self.s3.put_object(Bucket=self.bucket, Key="ranged", Body=body)
        for rng, want in [
            ("bytes=0-9", body[0:10]),
            ("bytes=1000-1048575", body[1000:]),
            ("bytes=1048000-", body[1048000:]),
            ("bytes=-100", body[-100:]),
            ("bytes=5-99999999", body[5:]),
            ("bytes=-99999999", body),
        ]:
            g = self.s3.get_object(Bucket=self.bucket, Key="ranged", Range=rng)
            self.assertEqual(g["Body"].read(), want, rng)
            self.assertEqual(g["ResponseMetadata"]["HTTPStatusCode"], 206, rng)
        self.err(self.s3.get_object, "InvalidRange", 416, Bucket=self.bucket, Key="ranged", Range="bytes=1048576-")

    def test_awkward_keys_round_trip(self):
        keys = [
            "with space", "plus+sign", "percent%20literal", "a//double", "../dotdot", "uni\u00e9\u4e2d\U0001f600",
            "ctrl\x01\x1f", "amp&lt<gt>", "trailing/", "q?x=1#frag", "~tilde*star'quote", "a" * 1024,
        ]
        for k in keys:
            self.s3.put_object(Bucket=self.bucket, Key="awk/" + k if len(k) < 1000 else k[:1020], Body=k.encode())
        listed = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="awk/", PaginationConfig={"PageSize": 3}):
            for o in page.get("Contents", []):
                listed.add(o["Key"])
        self.assertEqual(listed, {"awk/" + k for k in keys if len(k) < 1000})
        for k in keys:
            if len(k) < 1000:
                self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="awk/" + k)["Body"].read(), k.encode(), repr(k))
        self.err(self.s3.put_object, "KeyTooLongError", 400, Bucket=self.bucket, Key="k" * 1025, Body=b"x")

    def test_listing(self):
        b = "list-" + uuid.uuid4().hex[:10]
        self.s3.create_bucket(Bucket=b)
        keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "d/5", "d/6"]
        for k in keys:
            self.s3.put_object(Bucket=b, Key=k, Body=b"x")
        r = self.s3.list_objects_v2(Bucket=b, Delimiter="/")
        self.assertEqual([o["Key"] for o in r.get("Contents", [])], ["c"])
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["a/", "b/", "d/"])
        r = self.s3.list_objects_v2(Bucket=b, Prefix="a/", Delimiter="/")
        self.assertEqual([o["Key"] for o in r["Contents"]], ["a/1", "a/2"])
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["a/b/"])
        r = self.s3.list_objects_v2(Bucket=b, StartAfter="b/4")
        self.assertEqual([o["Key"] for o in r["Contents"]], ["c", "d/5", "d/6"])
        seen = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=b, PaginationConfig={"PageSize": 2}):
            seen += [o["Key"] for o in page.get("Contents", [])]
        self.assertEqual(seen, sorted(keys))
        seen = []
        for page in self.s3.get_paginator("list_objects").paginate(Bucket=b, PaginationConfig={"PageSize": 2}):
            seen += [o["Key"] for o in page.get("Contents", [])]
        self.assertEqual(seen, sorted(keys))
        r = self.s3.list_objects(Bucket=b, Marker="a/b/3", MaxKeys=2)
        self.assertEqual([o["Key"] for o in r["Contents"]], ["b/4", "c"])
        self.assertTrue(r["IsTruncated"])
        r = self.s3.list_objects_v2(Bucket=b, FetchOwner=True, MaxKeys=1)
        self.assertIn("Owner", r["Contents"][0])
        self.assertEqual(r["KeyCount"], 1)
        r = self.s3.list_objects_v2(Bucket=b, MaxKeys=0)
        self.assertEqual(r.get("Contents", []), [])
        o = r = self.s3.list_objects_v2(Bucket=b, Prefix="c")["Contents"][0]
        self.assertEqual(o["Size"], 1)
        self.assertEqual(o["ETag"], '"%s"' % hashlib.md5(b"x").hexdigest())

    def test_delete_and_delete_objects(self):
        for i in range(5):
            self.s3.put_object(Bucket=self.bucket, Key=f"del/{i}", Body=b"x")
        self.s3.delete_object(Bucket=self.bucket, Key="del/0")
        self.err(self.s3.get_object, "NoSuchKey", 404, Bucket=self.bucket, Key="del/0")
        self.s3.delete_object(Bucket=self.bucket, Key="del/never-existed")
        r = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": "del/1"}, {"Key": "del/2"}]})
        self.assertEqual(sorted(d["Key"] for d in r["Deleted"]), ["del/1", "del/2"])
        r = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": "del/3"}, {"Key": "del/4"}], "Quiet": True})
        self.assertEqual(r.get("Deleted", []), [])
        left = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="del/").get("Contents", [])
        self.assertEqual(left, [])

    def test_multipart(self):
        key = "mp/big"
        up = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType="video/x-test")
        uid = up["UploadId"]
        p1 = os.urandom(5 * MIB)
        p2 = os.urandom(1234)
        e1 = self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]
        e2 = self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=uid, PartNumber=2, Body=p2)["ETag"]
        parts = self.s3.list_parts(Bucket=self.bucket, Key=key, UploadId=uid)["Parts"]
        self.assertEqual([(p["PartNumber"], p["Size"]) for p in parts], [(1, len(p1)), (2, len(p2))])
        ups = self.s3.list_multipart_uploads(Bucket=self.bucket)["Uploads"]
        self.assertIn(uid, [u["UploadId"] for u in ups])
        r = self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
        )
        md5s = hashlib.md5(hashlib.md5(p1).digest() + hashlib.md5(p2).digest()).hexdigest()
        self.assertEqual(r["ETag"], '"%s-2"' % md5s)
        g = self.s3.get_object(Bucket=self.bucket, Key=key)
        self.assertEqual(g["Body"].read(), p1 + p2)
        self.assertEqual(g["ContentType"], "video/x-test")
        part2 = self.s3.get_object(Bucket=self.bucket, Key=key, PartNumber=2)
        self.assertEqual(part2["Body"].read(), p2)
        self.err(self.s3.list_parts, "NoSuchUpload", 404, Bucket=self.bucket, Key=key, UploadId=uid)
        # Too small, wrong order, unknown part, abort.
        up = self.s3.create_multipart_upload(Bucket=self.bucket, Key="mp/small")["UploadId"]
        s1 = self.s3.upload_part(Bucket=self.bucket, Key="mp/small", UploadId=up, PartNumber=1, Body=b"a" * 100)["ETag"]
        s2 = self.s3.upload_part(Bucket=self.bucket, Key="mp/small", UploadId=up, PartNumber=2, Body=b"b" * 100)["ETag"]
        self.err(self.s3.complete_multipart_upload, "EntityTooSmall", 400, Bucket=self.bucket, Key="mp/small", UploadId=up,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": s1}, {"PartNumber": 2, "ETag": s2}]})
        self.err(self.s3.complete_multipart_upload, "InvalidPartOrder", 400, Bucket=self.bucket, Key="mp/small", UploadId=up,
                 MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": s2}, {"PartNumber": 1, "ETag": s1}]})
        self.err(self.s3.complete_multipart_upload, "InvalidPart", 400, Bucket=self.bucket, Key="mp/small", UploadId=up,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]})
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key="mp/small", UploadId=up)
        self.err(self.s3.upload_part, "NoSuchUpload", 404, Bucket=self.bucket, Key="mp/small", UploadId=up, PartNumber=3, Body=b"x")
        self.err(self.s3.abort_multipart_upload, "NoSuchUpload", 404, Bucket=self.bucket, Key="mp/small", UploadId="nope")

    def test_bad_digest_and_bad_auth_change_nothing(self):
        import base64
        wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        self.err(self.s3.put_object, "BadDigest", 400, Bucket=self.bucket, Key="digest", Body=b"data", ContentMD5=wrong)
        self.err(self.s3.head_object, "404", 404, Bucket=self.bucket, Key="digest")
        bad = client(secret="x" * 40)
        self.err(bad.put_object, "SignatureDoesNotMatch", 403, Bucket=self.bucket, Key="sig", Body=b"x")
        self.err(self.s3.head_object, "404", 404, Bucket=self.bucket, Key="sig")
        unknown = client(access="AKIDUNKNOWN000000000")
        self.err(unknown.list_buckets, "InvalidAccessKeyId", 403)
        self.err(self.s3.get_object, "NoSuchKey", 404, Bucket=self.bucket, Key="missing")
        self.err(self.s3.get_object, "NoSuchBucket", 404, Bucket="no-such-bucket-here", Key="k")

    def test_presigned_urls(self):
        # boto3 presigns with SigV2 unless told s3v4; shale speaks SigV4
        # only (a v2 URL gets a clear InvalidRequest).
        v2 = client().generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": "x"}, ExpiresIn=60)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(v2)
        self.assertEqual(cm.exception.code, 400)
        self.assertIn(b"AWS4-HMAC-SHA256", cm.exception.read())
        presigner = client(signature_version="s3v4")
        self.s3.put_object(Bucket=self.bucket, Key="pre/signed key+1", Body=b"presigned body")
        url = presigner.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": "pre/signed key+1"}, ExpiresIn=60)
        self.assertEqual(urllib.request.urlopen(url).read(), b"presigned body")
        # A presigned PUT covers the Content-Type the uploader will send
        # (urllib always sends one with a body); an unsigned one is refused.
        put = presigner.generate_presigned_url("put_object", Params={"Bucket": self.bucket, "Key": "pre/put", "ContentType": "text/plain"}, ExpiresIn=60)
        req = urllib.request.Request(put, data=b"via presigned put", method="PUT", headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req).read()
        got = self.s3.get_object(Bucket=self.bucket, Key="pre/put")
        self.assertEqual((got["Body"].read(), got["ContentType"]), (b"via presigned put", "text/plain"))
        bare = presigner.generate_presigned_url("put_object", Params={"Bucket": self.bucket, "Key": "pre/bare"}, ExpiresIn=60)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(urllib.request.Request(bare, data=b"x", method="PUT"))
        self.assertEqual(cm.exception.code, 403)
        self.assertIn(b"content-type", cm.exception.read())
        self.err(self.s3.head_object, "404", 404, Bucket=self.bucket, Key="pre/bare")
        expired = presigner.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": "pre/signed key+1"}, ExpiresIn=1)
        time.sleep(2.5)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(expired)
        self.assertEqual(cm.exception.code, 403)
        self.assertIn(b"AccessDenied", cm.exception.read())
        tampered = url.replace("pre/signed", "pre/Signed")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(tampered)
        self.assertEqual(cm.exception.code, 403)

    def _raw(self, method, path, body, query=""):
        url = f"{ENDPOINT}/{self.bucket}{path}" + (f"?{query}" if query else "")
        # urllib adds a Content-Type to a request with a body: set (and so
        # sign) one, as shale refuses unsigned content-type on writes.
        headers = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest(), "content-type": "application/xml"}
        req = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(botocore.credentials.Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
        r = urllib.request.Request(url, data=body, method=method, headers=dict(req.headers.items()))
        try:
            return urllib.request.urlopen(r).status, b""
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def test_malformed_xml(self):
        st, body = self._raw("POST", "", b"<Delete><Object><Key>k</Key></Obj", "delete")
        self.assertEqual(st, 400)
        self.assertIn(b"<Code>MalformedXML</Code>", body)
        st, body = self._raw("PUT", "", b"<CreateBucketConfiguration><LocationConstraint>", "")
        self.assertIn(st, (400, 409))

    def test_checksums_default_and_unsigned(self):
        # The SDK's default flexible checksums, and an unsigned payload.
        s3 = client(request_checksum_calculation="when_supported")
        s3.put_object(Bucket=self.bucket, Key="ck/crc", Body=b"z" * 100000, ChecksumAlgorithm="CRC32")
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="ck/crc")["Body"].read(), b"z" * 100000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
