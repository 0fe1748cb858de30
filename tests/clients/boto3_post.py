"""Browser-style POST Object uploads against a running shale node: forms
built from boto3's `generate_presigned_post` and sent as real
multipart/form-data over http.client (the standard library; no
`requests`). Run by tests/s3_post_object.rs with S3_ENDPOINT,
S3_ACCESS_KEY and S3_SECRET_KEY set; argv names the test class to run."""

import base64
import hashlib
import json
import os
import sys
import time
import unittest
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
import http.client

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
AK = os.environ["S3_ACCESS_KEY"]
SK = os.environ["S3_SECRET_KEY"]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def client(secret=SK):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=AK,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}),
    )


def encode_form(fields, filename, data, after=None, boundary=None):
    """multipart/form-data: `fields` in order, then the file, then
    `after` (fields sent after the file). Returns (content type, body)."""
    boundary = boundary or "----shale" + uuid.uuid4().hex
    out = []
    for name, value in fields:
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n".encode())
        out.append(value.encode() + b"\r\n")
    out.append(
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    out.append(data + b"\r\n")
    for name, value in after or []:
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n".encode())
        out.append(value.encode() + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(out)


def post(url, fields, filename, data, after=None, piece=None):
    """POSTs the form to `url` (as generate_presigned_post gives it).
    With `piece`, the body goes in chunks of that many bytes
    (Transfer-Encoding: chunked), so boundaries are split across reads.
    Returns (status, headers lowercased, body)."""
    ctype, body = encode_form(fields, filename, data, after)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    headers = {"Content-Type": ctype}
    if piece:
        chunks = (body[i:i + piece] for i in range(0, len(body), piece))
        conn.request("POST", u.path, body=chunks, headers=headers, encode_chunked=True)
    else:
        conn.request("POST", u.path, body=body, headers=headers)
    r = conn.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    conn.close()
    return out


def error_code(body):
    return ET.fromstring(body).findtext("Code")


def error_message(body):
    return ET.fromstring(body).findtext("Message") or ""


class Base(unittest.TestCase):
    def setUp(self):
        self.s3 = client()
        self.bucket = "post-" + uuid.uuid4().hex[:12]
        self.s3.create_bucket(Bucket=self.bucket)

    def presigned(self, key, fields=None, conditions=None, expires=300):
        p = self.s3.generate_presigned_post(
            self.bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires
        )
        return p["url"], list(p["fields"].items())

    def keys(self):
        r = self.s3.list_objects_v2(Bucket=self.bucket)
        return [o["Key"] for o in r.get("Contents", [])]

    def assert_absent(self, key):
        with self.assertRaises(ClientError) as e:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        self.assertEqual(e.exception.response["Error"]["Code"], "404")


class Upload(Base):
    def test_a_presigned_post_stores_the_file_byte_identical(self):
        url, fields = self.presigned(
            "uploads/${filename}",
            fields={"success_action_status": "201", "Content-Type": "image/png",
                    "x-amz-meta-who": "browser"},
            conditions=[{"success_action_status": "201"}, ["starts-with", "$Content-Type", "image/"],
                        {"x-amz-meta-who": "browser"}, ["content-length-range", 1, 4 * 1024 * 1024]],
        )
        # Random bytes plus near-boundaries at the end of the file.
        data = os.urandom(3 * 1024 * 1024 + 17) + b"\r\n--\r\n------shale\r\n-"
        status, headers, body = post(url, fields, "pic.png", data)
        self.assertEqual(status, 201, body)
        doc = ET.fromstring(body)
        self.assertEqual(doc.tag, NS + "PostResponse")
        self.assertEqual(doc.findtext(NS + "Bucket"), self.bucket)
        self.assertEqual(doc.findtext(NS + "Key"), "uploads/pic.png")
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        self.assertEqual(doc.findtext(NS + "ETag"), etag)
        self.assertTrue(doc.findtext(NS + "Location").endswith(f"/{self.bucket}/uploads/pic.png"))
        self.assertEqual(headers["etag"], etag)
        got = self.s3.get_object(Bucket=self.bucket, Key="uploads/pic.png")
        self.assertEqual(got["Body"].read(), data)
        self.assertEqual(got["ContentType"], "image/png")
        self.assertEqual(got["Metadata"], {"who": "browser"})

    def test_a_body_in_small_pieces_splits_boundaries_and_still_stores_exactly(self):
        url, fields = self.presigned("pieces/${filename}")
        data = os.urandom(20000) + b"\r\n-"
        for piece in (1, 7, 61):
            status, _, body = post(url, fields, f"p{piece}", data, piece=piece)
            self.assertEqual(status, 204, body)
            got = self.s3.get_object(Bucket=self.bucket, Key=f"pieces/p{piece}")["Body"].read()
            self.assertEqual(got, data, piece)

    def test_default_is_204_and_a_redirect_is_303_with_bucket_key_etag(self):
        url, fields = self.presigned("plain.txt")
        status, headers, body = post(url, fields, "x.txt", b"hello")
        self.assertEqual(status, 204, body)
        self.assertEqual(headers["etag"], '"' + hashlib.md5(b"hello").hexdigest() + '"')
        url, fields = self.presigned(
            "redir.txt",
            fields={"success_action_redirect": "https://example.com/done?x=1"},
            conditions=[["starts-with", "$success_action_redirect", "https://example.com/"]],
        )
        status, headers, body = post(url, fields, "x.txt", b"hi")
        self.assertEqual(status, 303, body)
        loc = urllib.parse.urlsplit(headers["location"])
        self.assertEqual(loc.netloc, "example.com")
        q = urllib.parse.parse_qs(loc.query)
        self.assertEqual(q["x"], ["1"])
        self.assertEqual(q["bucket"], [self.bucket])
        self.assertEqual(q["key"], ["redir.txt"])
        self.assertEqual(q["etag"], ['"' + hashlib.md5(b"hi").hexdigest() + '"'])
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="redir.txt")["Body"].read(), b"hi")

    def test_fields_after_the_file_are_ignored(self):
        url, fields = self.presigned("late.txt")
        status, _, body = post(url, fields, "a", b"data", after=[("x-amz-meta-late", "1")])
        self.assertEqual(status, 204, body)
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="late.txt")["Metadata"], {})


class Refusals(Base):
    def test_a_file_over_the_length_range_is_refused_and_nothing_stored(self):
        url, fields = self.presigned("big/${filename}", conditions=[["content-length-range", 10, 1000]])
        status, _, body = post(url, fields, "f", os.urandom(300 * 1024))
        self.assertEqual(status, 400, body)
        self.assertEqual(error_code(body), "EntityTooLarge")
        status, _, body = post(url, fields, "g", b"tiny")
        self.assertEqual(status, 400, body)
        self.assertEqual(error_code(body), "EntityTooSmall")
        # At the limits exactly: stored.
        status, _, body = post(url, fields, "h", b"x" * 1000)
        self.assertEqual(status, 204, body)
        self.assertEqual(self.keys(), ["big/h"])

    def test_an_expired_policy_is_refused(self):
        url, fields = self.presigned("late/${filename}", expires=1)
        time.sleep(2.5)
        status, _, body = post(url, fields, "f", b"data")
        self.assertEqual(status, 403, body)
        self.assertEqual(error_code(body), "AccessDenied")
        self.assertIn("Policy expired", error_message(body))
        self.assertEqual(self.keys(), [])

    def test_a_tampered_field_is_refused(self):
        url, fields = self.presigned(
            "t/${filename}", fields={"x-amz-meta-who": "browser"},
            conditions=[{"x-amz-meta-who": "browser"}],
        )
        tampered = [(n, "mallory" if n == "x-amz-meta-who" else v) for n, v in fields]
        status, _, body = post(url, tampered, "f", b"data")
        self.assertEqual((status, error_code(body)), (403, "AccessDenied"), body)
        self.assertIn("Policy Condition failed", error_message(body))
        # A field the policy does not cover.
        status, _, body = post(url, fields + [("x-amz-meta-extra", "1")], "f", b"data")
        self.assertEqual((status, error_code(body)), (403, "AccessDenied"), body)
        self.assertIn("Extra input fields: x-amz-meta-extra", error_message(body))
        # The policy itself, loosened without re-signing.
        policy = json.loads(base64.b64decode(dict(fields)["policy"]))
        policy["conditions"] = [c for c in policy["conditions"] if c != {"x-amz-meta-who": "browser"}]
        loosened = base64.b64encode(json.dumps(policy).encode()).decode()
        forged = [(n, loosened if n == "policy" else v) for n, v in tampered if n != "x-amz-meta-who"]
        status, _, body = post(url, forged, "f", b"data")
        self.assertEqual((status, error_code(body)), (403, "SignatureDoesNotMatch"), body)
        # Signed with another secret.
        p = client("wrong-secret").generate_presigned_post(self.bucket, "t/x")
        status, _, body = post(p["url"], list(p["fields"].items()), "f", b"data")
        self.assertEqual((status, error_code(body)), (403, "SignatureDoesNotMatch"), body)
        # No policy at all: an anonymous upload.
        status, _, body = post(url, [("key", "t/anon")], "f", b"data")
        self.assertEqual((status, error_code(body)), (403, "AccessDenied"), body)
        self.assertEqual(self.keys(), [])

    def test_the_key_must_start_with_the_policy_prefix(self):
        url, fields = self.presigned("users/alice/${filename}")
        moved = [(n, "users/bob/f" if n == "key" else v) for n, v in fields]
        status, _, body = post(url, moved, "f", b"data")
        self.assertEqual((status, error_code(body)), (403, "AccessDenied"), body)
        self.assertIn('"starts-with", "$key", "users/alice/"', error_message(body))
        status, _, body = post(url, fields, "f", b"data")
        self.assertEqual(status, 204, body)
        self.assertEqual(self.keys(), ["users/alice/f"])

    def test_malformed_forms_are_refused(self):
        url, fields = self.presigned("m/${filename}")
        u = urllib.parse.urlsplit(url)
        # Not multipart/form-data.
        conn = http.client.HTTPConnection(u.hostname, u.port)
        conn.request("POST", u.path, body=b"key=a", headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        body = r.read()
        self.assertEqual((r.status, error_code(body)), (412, "PreconditionFailed"), body)
        # No file part.
        boundary = "b0undary"
        no_file = b"".join(
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n".encode()
            for n, v in fields
        ) + f"--{boundary}--\r\n".encode()
        conn = http.client.HTTPConnection(u.hostname, u.port)
        conn.request("POST", u.path, body=no_file,
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        r = conn.getresponse()
        body = r.read()
        self.assertEqual((r.status, error_code(body)), (400, "IncorrectNumberOfFilesInPostRequest"), body)
        # Fields before the file over 20 KiB (x-ignore- needs no condition).
        status, _, body = post(url, fields + [("x-ignore-pad", "p" * 25000)], "f", b"data")
        self.assertEqual((status, error_code(body)), (400, "MaxPostPreDataLengthExceeded"), body)
        many = [(f"x-ignore-{i}", "") for i in range(2000)]
        status, _, body = post(url, fields + many, "f", b"data")
        self.assertEqual((status, error_code(body)), (400, "MaxPostPreDataLengthExceeded"), body)
        # The body ends inside the file: nothing stored.
        ctype, full = encode_form(fields, "f", os.urandom(4000))
        conn = http.client.HTTPConnection(u.hostname, u.port)
        conn.request("POST", u.path, body=full[:-1000], headers={"Content-Type": ctype})
        r = conn.getresponse()
        body = r.read()
        self.assertEqual((r.status, error_code(body)), (400, "MalformedPOSTRequest"), body)
        self.assertEqual(self.keys(), [])


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromName(sys.argv[1], sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
