"""boto3 against a running shale node: conditional deletes, multipart
checksums and retried completions, bucket tagging, CORS (with a real
OPTIONS preflight) and the smaller S3 answers of issue 22 part A. Run by
tests/s3_surface.rs with S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY set;
argv names the test class to run."""

import base64
import datetime
import hashlib
import hmac
import http.client
import os
import sys
import unittest
import urllib.parse
import uuid
import zlib

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
AK = os.environ["S3_ACCESS_KEY"]
SK = os.environ["S3_SECRET_KEY"]
MIB = 1024 * 1024


def client():
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def code(e):
    return e.response["Error"]["Code"]


def status(e):
    return e.response["ResponseMetadata"]["HTTPStatusCode"]


def raw(method, path, headers=None, body=b"", sign=True):
    """One request over http.client; signed with SigV4 unless `sign` is
    false. Returns (status, headers dict lowercased, body)."""
    url = ENDPOINT + path
    headers = dict(headers or {})
    if sign:
        req = AWSRequest(method=method, url=url, data=body, headers=headers)
        req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
        headers = dict(req.headers.items())
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    target = u.path + ("?" + u.query if u.query else "")
    conn.request(method, target, body=body, headers=headers)
    r = conn.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    conn.close()
    return out


def put_with_raw_header(path, name, value_bytes, body=b"x"):
    """A PUT with one header sent as raw bytes (non-ASCII), signed over
    those bytes (botocore would sign their text, not the bytes sent)."""
    amz = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    day = amz[:8]
    u = urllib.parse.urlsplit(ENDPOINT)
    hs = {"host": u.netloc.encode(), "x-amz-content-sha256": b"UNSIGNED-PAYLOAD",
          "x-amz-date": amz.encode(), name: value_bytes}
    names = sorted(hs)
    canonical = b"\n".join([b"PUT", path.encode(), b"",
                            b"".join(n.encode() + b":" + hs[n].strip() + b"\n" for n in names),
                            ";".join(names).encode(), b"UNSIGNED-PAYLOAD"])
    scope = f"{day}/us-east-1/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical).hexdigest()])
    key = ("AWS4" + SK).encode()
    for part in [day, "us-east-1", "s3", "aws4_request"]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {n: v.decode("latin-1") for n, v in hs.items() if n != "host"}
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={AK}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={sig}")
    conn = http.client.HTTPConnection(u.hostname, u.port)
    conn.request("PUT", path, body=body, headers=headers)
    r = conn.getresponse()
    out = (r.status, r.read())
    conn.close()
    return out


class Base(unittest.TestCase):
    def setUp(self):
        self.s3 = client()
        self.bucket = "s-" + uuid.uuid4().hex[:12]
        self.s3.create_bucket(Bucket=self.bucket)

    def err(self, fn, want_code, want_status, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        self.assertEqual((code(cm.exception), status(cm.exception)), (want_code, want_status))
        return cm.exception


class ConditionalDeletes(Base):
    def test_delete_object_if_match_etag_star_time_and_size(self):
        s3, b = self.s3, self.bucket
        put = s3.put_object(Bucket=b, Key="k", Body=b"hello")
        etag = put["ETag"]
        head = s3.head_object(Bucket=b, Key="k")
        mtime = head["LastModified"]
        self.err(s3.delete_object, "PreconditionFailed", 412, Bucket=b, Key="k", IfMatch='"0000"')
        self.err(s3.delete_object, "PreconditionFailed", 412, Bucket=b, Key="k", IfMatchSize=6)
        self.err(s3.delete_object, "PreconditionFailed", 412, Bucket=b, Key="k",
                 IfMatchLastModifiedTime=mtime - datetime.timedelta(seconds=5))
        # Nothing was deleted by the refusals.
        self.assertEqual(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"hello")
        s3.delete_object(Bucket=b, Key="k", IfMatch=etag, IfMatchSize=5, IfMatchLastModifiedTime=mtime)
        self.err(s3.head_object, "404", 404, Bucket=b, Key="k")
        # If-Match needs a current object.
        self.err(s3.delete_object, "NoSuchKey", 404, Bucket=b, Key="k", IfMatch="*")
        s3.put_object(Bucket=b, Key="k", Body=b"again")
        s3.delete_object(Bucket=b, Key="k", IfMatch="*")
        self.err(s3.head_object, "404", 404, Bucket=b, Key="k")

    def test_delete_objects_with_a_mismatched_etag_deletes_nothing_of_that_key(self):
        s3, b = self.s3, self.bucket
        e1 = s3.put_object(Bucket=b, Key="a", Body=b"1")["ETag"]
        s3.put_object(Bucket=b, Key="b", Body=b"2")
        s3.put_object(Bucket=b, Key="c", Body=b"333")
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [
            {"Key": "a", "ETag": e1},
            {"Key": "b", "ETag": '"ffffffffffffffffffffffffffffffff"'},
            {"Key": "c", "Size": 4},
        ]})
        self.assertEqual([d["Key"] for d in r.get("Deleted", [])], ["a"])
        errors = {e["Key"]: e["Code"] for e in r.get("Errors", [])}
        self.assertEqual(errors, {"b": "PreconditionFailed", "c": "PreconditionFailed"})
        self.assertEqual(s3.get_object(Bucket=b, Key="b")["Body"].read(), b"2")
        self.assertEqual(s3.get_object(Bucket=b, Key="c")["Body"].read(), b"333")
        self.err(s3.head_object, "404", 404, Bucket=b, Key="a")

    def test_versioned_conditional_delete_makes_a_marker_only_when_it_holds(self):
        s3, b = self.s3, self.bucket
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        etag = s3.put_object(Bucket=b, Key="v", Body=b"x")["ETag"]
        self.err(s3.delete_object, "PreconditionFailed", 412, Bucket=b, Key="v", IfMatch='"bad"')
        versions = s3.list_object_versions(Bucket=b).get("DeleteMarkers", [])
        self.assertEqual(versions, [])
        d = s3.delete_object(Bucket=b, Key="v", IfMatch=etag)
        self.assertTrue(d["DeleteMarker"])


class MultipartChecksums(Base):
    def upload(self, key):
        s3, b = self.s3, self.bucket
        up = s3.create_multipart_upload(Bucket=b, Key=key, ChecksumAlgorithm="CRC32")
        uid = up["UploadId"]
        parts = []
        for n, data in [(1, b"a" * (5 * MIB)), (2, b"tail")]:
            r = s3.upload_part(Bucket=b, Key=key, UploadId=uid, PartNumber=n, Body=data,
                               ChecksumAlgorithm="CRC32")
            crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
            self.assertEqual(r["ChecksumCRC32"], crc)
            parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": crc})
        return uid, parts

    def test_complete_shows_the_checksum_and_compares_part_checksums(self):
        s3, b = self.s3, self.bucket
        uid, parts = self.upload("m")
        bad = [dict(parts[0]), dict(parts[1])]
        bad[1]["ChecksumCRC32"] = base64.b64encode(b"\0\0\0\0").decode()
        self.err(s3.complete_multipart_upload, "InvalidPart", 400, Bucket=b, Key="m", UploadId=uid,
                 MultipartUpload={"Parts": bad})
        r = s3.complete_multipart_upload(Bucket=b, Key="m", UploadId=uid, MultipartUpload={"Parts": parts})
        self.assertTrue(r["ChecksumCRC32"].endswith("-2"), r)
        self.assertEqual(r.get("ChecksumType"), "COMPOSITE")
        headers = r["ResponseMetadata"]["HTTPHeaders"]
        self.assertEqual(headers.get("x-amz-checksum-crc32"), r["ChecksumCRC32"])
        self.assertEqual(headers.get("x-amz-checksum-type"), "COMPOSITE")

    def test_a_retried_complete_answers_success_again(self):
        s3, b = self.s3, self.bucket
        uid, parts = self.upload("r")
        first = s3.complete_multipart_upload(Bucket=b, Key="r", UploadId=uid, MultipartUpload={"Parts": parts})
        again = s3.complete_multipart_upload(Bucket=b, Key="r", UploadId=uid, MultipartUpload={"Parts": parts})
        self.assertEqual(first["ETag"], again["ETag"])
        # A different part list is no retry.
        self.err(s3.complete_multipart_upload, "NoSuchUpload", 404, Bucket=b, Key="r", UploadId=uid,
                 MultipartUpload={"Parts": parts[:1]})
        # Once the object is replaced, the upload is gone for good.
        s3.put_object(Bucket=b, Key="r", Body=b"new")
        self.err(s3.complete_multipart_upload, "NoSuchUpload", 404, Bucket=b, Key="r", UploadId=uid,
                 MultipartUpload={"Parts": parts})


class BucketTagging(Base):
    def test_put_get_delete_bucket_tagging(self):
        s3, b = self.s3, self.bucket
        self.err(s3.get_bucket_tagging, "NoSuchTagSet", 404, Bucket=b)
        tags = [{"Key": "team", "Value": "storage"}, {"Key": "env", "Value": ""}]
        s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": tags})
        self.assertEqual(s3.get_bucket_tagging(Bucket=b)["TagSet"], tags)
        self.err(s3.put_bucket_tagging, "InvalidTag", 400, Bucket=b,
                 Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})
        self.err(s3.put_bucket_tagging, "InvalidTag", 400, Bucket=b,
                 Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]})
        self.err(s3.put_bucket_tagging, "InvalidTag", 400, Bucket=b,
                 Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]})
        # The refused ones changed nothing.
        self.assertEqual(s3.get_bucket_tagging(Bucket=b)["TagSet"], tags)
        s3.delete_bucket_tagging(Bucket=b)
        self.err(s3.get_bucket_tagging, "NoSuchTagSet", 404, Bucket=b)


class Cors(Base):
    RULES = [
        {
            "AllowedOrigins": ["https://*.example.com"],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["content-type", "x-amz-*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        },
        {"ID": "open-read", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    ]

    def test_cors_configuration_round_trips_and_is_validated(self):
        s3, b = self.s3, self.bucket
        self.err(s3.get_bucket_cors, "NoSuchCORSConfiguration", 404, Bucket=b)
        s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": self.RULES})
        self.assertEqual(s3.get_bucket_cors(Bucket=b)["CORSRules"], self.RULES)
        self.err(s3.put_bucket_cors, "InvalidRequest", 400, Bucket=b, CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
        self.err(s3.put_bucket_cors, "InvalidRequest", 400, Bucket=b, CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101})
        self.assertEqual(s3.get_bucket_cors(Bucket=b)["CORSRules"], self.RULES)
        s3.delete_bucket_cors(Bucket=b)
        self.err(s3.get_bucket_cors, "NoSuchCORSConfiguration", 404, Bucket=b)

    def test_preflight_is_answered_from_the_rules_unsigned(self):
        s3, b = self.s3, self.bucket
        pre = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
               "Access-Control-Request-Headers": "Content-Type, X-Amz-Date"}
        st, h, body = raw("OPTIONS", f"/{b}/obj", pre, sign=False)
        self.assertEqual(st, 403)
        self.assertIn(b"CORS is not enabled for this bucket", body)
        s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": self.RULES})
        st, h, _ = raw("OPTIONS", f"/{b}/obj", pre, sign=False)
        self.assertEqual(st, 200)
        self.assertEqual(h.get("access-control-allow-origin"), "https://app.example.com")
        self.assertEqual(h.get("access-control-allow-methods"), "GET, PUT")
        self.assertEqual(h.get("access-control-allow-headers"), "content-type, x-amz-date")
        self.assertEqual(h.get("access-control-max-age"), "600")
        self.assertEqual(h.get("access-control-expose-headers"), "ETag")
        self.assertIn("Origin", h.get("vary", ""))
        # A method, origin or header no rule allows.
        for bad in [dict(pre, **{"Access-Control-Request-Method": "DELETE"}),
                    dict(pre, Origin="https://evil.test"),
                    dict(pre, **{"Access-Control-Request-Headers": "authorization-x"})]:
            st, _, body = raw("OPTIONS", f"/{b}/obj", bad, sign=False)
            self.assertEqual(st, 403, bad)
            self.assertIn(b"This CORS request is not allowed", body)
        # The open rule answers any origin's GET with "*".
        st, h, _ = raw("OPTIONS", f"/{b}/obj", {"Origin": "http://x", "Access-Control-Request-Method": "GET"},
                       sign=False)
        self.assertEqual((st, h.get("access-control-allow-origin")), (200, "*"))
        st, _, _ = raw("OPTIONS", f"/{b}/obj", {"Origin": "http://x"}, sign=False)
        self.assertEqual(st, 400)

    def test_actual_responses_carry_cors_headers_when_a_rule_matches(self):
        s3, b = self.s3, self.bucket
        s3.put_object(Bucket=b, Key="obj", Body=b"x")
        s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": self.RULES})
        st, h, body = raw("GET", f"/{b}/obj", {"Origin": "https://app.example.com"})
        self.assertEqual((st, body), (200, b"x"))
        self.assertEqual(h.get("access-control-allow-origin"), "https://app.example.com")
        self.assertEqual(h.get("access-control-expose-headers"), "ETag")
        self.assertEqual(h.get("vary"), "Origin")
        st, h, _ = raw("DELETE", f"/{b}/nothing", {"Origin": "https://app.example.com"})
        self.assertEqual(st, 204)
        self.assertNotIn("access-control-allow-origin", h)
        st, h, _ = raw("GET", f"/{b}/obj")
        self.assertNotIn("access-control-allow-origin", h)


class SmallAnswers(Base):
    def test_create_owned_bucket_in_us_east_1_is_200(self):
        self.s3.create_bucket(Bucket=self.bucket)

    def test_bucket_names_with_period_next_to_hyphen_are_refused(self):
        for name in ["ab.-cd", "ab-.cd"]:
            self.err(self.s3.create_bucket, "InvalidBucketName", 400, Bucket=name)

    def test_suspended_bucket_writes_name_no_version(self):
        s3, b = self.s3, self.bucket
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
        r = s3.put_object(Bucket=b, Key="k", Body=b"x")
        self.assertNotIn("x-amz-version-id", r["ResponseMetadata"]["HTTPHeaders"])
        up = s3.create_multipart_upload(Bucket=b, Key="m")
        p = s3.upload_part(Bucket=b, Key="m", UploadId=up["UploadId"], PartNumber=1, Body=b"y")
        r = s3.complete_multipart_upload(Bucket=b, Key="m", UploadId=up["UploadId"],
                                         MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
        self.assertNotIn("x-amz-version-id", r["ResponseMetadata"]["HTTPHeaders"])

    def test_get_object_attributes_shows_the_version_id(self):
        s3, b = self.s3, self.bucket
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        v = s3.put_object(Bucket=b, Key="k", Body=b"x")["VersionId"]
        r = s3.get_object_attributes(Bucket=b, Key="k", ObjectAttributes=["ETag"])
        self.assertEqual(r["VersionId"], v)

    def test_lifecycle_rule_without_id_gets_one(self):
        s3, b = self.s3, self.bucket
        s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
            {"Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 3}}]})
        rules = s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
        self.assertTrue(rules[0].get("ID"), rules)

    def test_content_encoding_is_returned_verbatim(self):
        s3, b = self.s3, self.bucket
        s3.put_object(Bucket=b, Key="k", Body=b"x", ContentEncoding="deflate, gzip")
        self.assertEqual(s3.head_object(Bucket=b, Key="k")["ContentEncoding"], "deflate, gzip")

    def test_presigned_url_with_zero_expiry_is_refused(self):
        s3, b = self.s3, self.bucket
        s3.put_object(Bucket=b, Key="k", Body=b"x")
        v4 = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=AK, aws_secret_access_key=SK,
                          region_name="us-east-1",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        url = v4.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=0)
        self.assertIn("X-Amz-Expires=0", url)
        path = url[len(ENDPOINT):]
        st, _, body = raw("GET", path, sign=False)
        self.assertEqual(st, 400, body)
        self.assertIn(b"AuthorizationQueryParametersError", body)

    def test_list_buckets_pages_with_max_buckets_token_and_prefix(self):
        s3 = self.s3
        stem = "lb-" + uuid.uuid4().hex[:8]
        names = [f"{stem}-{i}" for i in range(3)]
        for n in names:
            s3.create_bucket(Bucket=n)
        first = s3.list_buckets(Prefix=stem, MaxBuckets=2)
        self.assertEqual([x["Name"] for x in first["Buckets"]], names[:2])
        self.assertEqual(first.get("Prefix"), stem)
        token = first["ContinuationToken"]
        second = s3.list_buckets(Prefix=stem, MaxBuckets=2, ContinuationToken=token)
        self.assertEqual([x["Name"] for x in second["Buckets"]], names[2:])
        self.assertNotIn("ContinuationToken", second)
        # boto3 refuses 0 itself: sent raw.
        st, _, body = raw("GET", "/?max-buckets=0")
        self.assertEqual(st, 400, body)
        self.assertIn(b"InvalidArgument", body)

    def test_non_ascii_metadata_is_kept_rfc_2047_encoded(self):
        b = self.bucket
        value = "caf\u00e9 \u2603"
        st, body = put_with_raw_header(f"/{b}/meta", "x-amz-meta-note", value.encode("utf-8"))
        self.assertEqual(st, 200, body)
        got = self.s3.head_object(Bucket=b, Key="meta")["ResponseMetadata"]["HTTPHeaders"]["x-amz-meta-note"]
        want = "=?UTF-8?B?" + base64.b64encode(value.encode("utf-8")).decode() + "?="
        self.assertEqual(got, want)
        # Bytes that are not UTF-8 are refused, not stored.
        st, body = put_with_raw_header(f"/{b}/bad", "x-amz-meta-note", b"caf\xe9")
        self.assertEqual(st, 400, body)
        self.assertIn(b"InvalidArgument", body)

if __name__ == "__main__":
    names = sys.argv[1:]
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for n in names or ["ConditionalDeletes", "MultipartChecksums", "BucketTagging", "Cors", "SmallAnswers"]:
        suite.addTests(loader.loadTestsFromTestCase(globals()[n]))
    ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    sys.exit(0 if ok else 1)
