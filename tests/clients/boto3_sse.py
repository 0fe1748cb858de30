"""boto3 against a running shale node: server-side encryption (issue 23
item 2). SSE-C on PUT, GET, HEAD, multipart (with ranged GETs across
chunk and part boundaries), CopyObject and UploadPartCopy between keys;
a missing, wrong or mistyped customer key refused with AWS's codes;
SSE-S3 (x-amz-server-side-encryption: AES256) and bucket default
encryption (Put/Get/DeleteBucketEncryption); aws:kms refused. Run by
tests/s3_sse.rs with S3_ENDPOINT and S3_ACCESS_KEY/S3_SECRET_KEY set;
argv names the test classes to run."""

import base64
import hashlib
import os
import sys
import unittest
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
AK = os.environ["S3_ACCESS_KEY"]
SK = os.environ["S3_SECRET_KEY"]
CFG = dict(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
MIB = 1024 * 1024
# Object bytes in one encrypted chunk record (1 MiB less nonce and tag).
SEALED_CHUNK = MIB - 28


def s3():
    return boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=AK,
                        aws_secret_access_key=SK, region_name="us-east-1",
                        config=Config(**CFG))


def ssec(key):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def copy_ssec(key):
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


def key_md5(key):
    return base64.b64encode(hashlib.md5(key).digest()).decode()


def body(n, seed):
    """n bytes, different at every offset (so a misplaced chunk shows)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


class Base(unittest.TestCase):
    def setUp(self):
        self.s3 = s3()
        self.b = "sse-" + uuid.uuid4().hex[:12]
        self.s3.create_bucket(Bucket=self.b)
        self.k1 = os.urandom(32)
        self.k2 = os.urandom(32)

    def error(self, fn, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        e = cm.exception.response
        return e["ResponseMetadata"]["HTTPStatusCode"], e["Error"].get("Code")


class SseC(Base):
    def test_put_get_head_with_the_key_and_refusals_without_it(self):
        data = body(300_000, "c")
        r = self.s3.put_object(Bucket=self.b, Key="o", Body=data, **ssec(self.k1))
        self.assertEqual(r["SSECustomerAlgorithm"], "AES256")
        self.assertEqual(r["SSECustomerKeyMD5"], key_md5(self.k1))
        etag = r["ETag"].strip('"')
        self.assertNotEqual(etag, hashlib.md5(data).hexdigest(), "SSE-C ETag must not be the MD5")
        g = self.s3.get_object(Bucket=self.b, Key="o", **ssec(self.k1))
        self.assertEqual(g["Body"].read(), data)
        self.assertEqual(g["SSECustomerKeyMD5"], key_md5(self.k1))
        self.assertEqual(g["ETag"].strip('"'), etag)
        h = self.s3.head_object(Bucket=self.b, Key="o", **ssec(self.k1))
        self.assertEqual((h["ContentLength"], h["SSECustomerAlgorithm"]), (len(data), "AES256"))
        # Without the key: 400 InvalidRequest; with another: 403.
        self.assertEqual(self.error(self.s3.get_object, Bucket=self.b, Key="o"),
                         (400, "InvalidRequest"))
        self.assertEqual(self.error(self.s3.head_object, Bucket=self.b, Key="o")[0], 400)
        self.assertEqual(self.error(self.s3.get_object, Bucket=self.b, Key="o", **ssec(self.k2)),
                         (403, "AccessDenied"))
        self.assertEqual(self.error(self.s3.head_object, Bucket=self.b, Key="o", **ssec(self.k2))[0],
                         403)
        # A key-MD5 that is not the key's: InvalidArgument, nothing stored.
        bad = {"SSECustomerAlgorithm": "AES256",
               "SSECustomerKey": base64.b64encode(self.k1).decode(),
               "SSECustomerKeyMD5": key_md5(self.k2)}
        self.assertEqual(self.error(self.s3.put_object, Bucket=self.b, Key="p", Body=b"x", **bad),
                         (400, "InvalidArgument"))
        self.assertEqual(self.error(self.s3.head_object, Bucket=self.b, Key="p")[0], 404)
        self.assertEqual(self.error(self.s3.get_object, Bucket=self.b, Key="o", **bad),
                         (400, "InvalidArgument"))
        # A key given for an object stored without one.
        self.s3.put_object(Bucket=self.b, Key="plain", Body=b"plain")
        self.assertEqual(self.error(self.s3.get_object, Bucket=self.b, Key="plain", **ssec(self.k1)),
                         (400, "InvalidRequest"))
        # Ranges of an SSE-C object.
        g = self.s3.get_object(Bucket=self.b, Key="o", Range="bytes=1000-2000", **ssec(self.k1))
        self.assertEqual(g["Body"].read(), data[1000:2001])

    def test_multipart_with_ranged_gets_across_chunks_and_parts(self):
        p1, p2, p3 = body(5 * MIB, "p1"), body(5 * MIB + 12345, "p2"), body(777_777, "p3")
        data = p1 + p2 + p3
        up = self.s3.create_multipart_upload(Bucket=self.b, Key="mp", **ssec(self.k1))
        self.assertEqual(up["SSECustomerKeyMD5"], key_md5(self.k1))
        uid = up["UploadId"]
        # A part without the upload's key, or with another, is refused.
        self.assertEqual(self.error(self.s3.upload_part, Bucket=self.b, Key="mp", UploadId=uid,
                                    PartNumber=1, Body=p1)[0], 400)
        self.assertEqual(self.error(self.s3.upload_part, Bucket=self.b, Key="mp", UploadId=uid,
                                    PartNumber=1, Body=p1, **ssec(self.k2))[0], 403)
        parts = []
        # Parts 1, 3 and 7: the part numbers are not 1..n.
        for n, p in [(1, p1), (3, p2), (7, p3)]:
            r = self.s3.upload_part(Bucket=self.b, Key="mp", UploadId=uid, PartNumber=n, Body=p,
                                    **ssec(self.k1))
            self.assertEqual(r["SSECustomerKeyMD5"], key_md5(self.k1))
            self.assertNotEqual(r["ETag"].strip('"'), hashlib.md5(p).hexdigest())
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
        self.s3.complete_multipart_upload(Bucket=self.b, Key="mp", UploadId=uid,
                                          MultipartUpload={"Parts": parts})
        g = self.s3.get_object(Bucket=self.b, Key="mp", **ssec(self.k1))
        self.assertEqual(g["Body"].read(), data)
        n = len(data)
        b1 = SEALED_CHUNK
        for first, last in [(0, 0), (b1 - 5, b1 + 5), (b1 - 1, b1), (2 * b1 - 3, 3 * b1 + 3),
                            (5 * MIB - 10, 5 * MIB + 10), (10 * MIB + 12340, 10 * MIB + 12350),
                            (5 * MIB - 1, n - 1), (n - 1, n - 1), (12345, 12345 + 3 * MIB)]:
            g = self.s3.get_object(Bucket=self.b, Key="mp", Range=f"bytes={first}-{last}",
                                   **ssec(self.k1))
            self.assertEqual(g["Body"].read(), data[first:last + 1], (first, last))
        g = self.s3.get_object(Bucket=self.b, Key="mp", Range="bytes=-100", **ssec(self.k1))
        self.assertEqual(g["Body"].read(), data[-100:])
        g = self.s3.get_object(Bucket=self.b, Key="mp", PartNumber=2, **ssec(self.k1))
        self.assertEqual(g["Body"].read(), p2)
        self.assertEqual(self.error(self.s3.get_object, Bucket=self.b, Key="mp",
                                    Range="bytes=0-10")[0], 400)

    def test_copy_between_two_customer_keys(self):
        data = body(2 * MIB + 99, "copy")
        self.s3.put_object(Bucket=self.b, Key="src", Body=data, **ssec(self.k1))
        src = {"Bucket": self.b, "Key": "src"}
        # Without the source's key, the copy is refused.
        self.assertEqual(self.error(self.s3.copy_object, Bucket=self.b, Key="dst", CopySource=src,
                                    **ssec(self.k2))[0], 400)
        r = self.s3.copy_object(Bucket=self.b, Key="dst", CopySource=src, **copy_ssec(self.k1),
                                **ssec(self.k2))
        self.assertEqual(r["SSECustomerKeyMD5"], key_md5(self.k2))
        self.assertEqual(self.s3.get_object(Bucket=self.b, Key="dst", **ssec(self.k2))["Body"].read(),
                         data)
        self.assertEqual(self.error(self.s3.get_object, Bucket=self.b, Key="dst", **ssec(self.k1))[0],
                         403)
        # Re-encrypting in place under a new key is a copy onto itself.
        self.s3.copy_object(Bucket=self.b, Key="src", CopySource=src, **copy_ssec(self.k1),
                            **ssec(self.k2))
        self.assertEqual(self.s3.get_object(Bucket=self.b, Key="src", **ssec(self.k2))["Body"].read(),
                         data)
        # To plain, and from SSE-C into an SSE-S3 multipart part.
        self.s3.copy_object(Bucket=self.b, Key="plain", CopySource={"Bucket": self.b, "Key": "dst"},
                            **copy_ssec(self.k2))
        self.assertEqual(self.s3.get_object(Bucket=self.b, Key="plain")["Body"].read(), data)
        up = self.s3.create_multipart_upload(Bucket=self.b, Key="upc", ServerSideEncryption="AES256")
        self.assertEqual(up["ServerSideEncryption"], "AES256")
        r = self.s3.upload_part_copy(Bucket=self.b, Key="upc", UploadId=up["UploadId"], PartNumber=1,
                                     CopySource={"Bucket": self.b, "Key": "dst"},
                                     CopySourceRange=f"bytes=100-{MIB + 200}", **copy_ssec(self.k2))
        self.s3.complete_multipart_upload(
            Bucket=self.b, Key="upc", UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
        g = self.s3.get_object(Bucket=self.b, Key="upc")
        self.assertEqual(g["ServerSideEncryption"], "AES256")
        self.assertEqual(g["Body"].read(), data[100:MIB + 201])


class SseS3(Base):
    def test_aes256_header_and_bucket_default_encryption(self):
        data = body(1_500_000, "s3")
        r = self.s3.put_object(Bucket=self.b, Key="o", Body=data, ServerSideEncryption="AES256")
        self.assertEqual(r["ServerSideEncryption"], "AES256")
        # SSE-S3's ETag is the MD5 of the data, as AWS documents.
        self.assertEqual(r["ETag"].strip('"'), hashlib.md5(data).hexdigest())
        g = self.s3.get_object(Bucket=self.b, Key="o")
        self.assertEqual((g["ServerSideEncryption"], g["Body"].read()), ("AES256", data))
        g = self.s3.get_object(Bucket=self.b, Key="o", Range=f"bytes={SEALED_CHUNK - 2}-{SEALED_CHUNK + 2}")
        self.assertEqual(g["Body"].read(), data[SEALED_CHUNK - 2:SEALED_CHUNK + 3])
        self.assertEqual(self.error(self.s3.get_object, Bucket=self.b, Key="o", **ssec(self.k1)),
                         (400, "InvalidRequest"))
        self.s3.put_object(Bucket=self.b, Key="plain", Body=b"p")
        self.assertNotIn("ServerSideEncryption", self.s3.head_object(Bucket=self.b, Key="plain"))
        # Default encryption: none yet, then AES256 for writes without a header.
        self.assertEqual(self.error(self.s3.get_bucket_encryption, Bucket=self.b),
                         (404, "ServerSideEncryptionConfigurationNotFoundError"))
        self.s3.put_bucket_encryption(Bucket=self.b, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        rules = self.s3.get_bucket_encryption(Bucket=self.b)["ServerSideEncryptionConfiguration"]["Rules"]
        self.assertEqual(rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256")
        r = self.s3.put_object(Bucket=self.b, Key="d", Body=b"default")
        self.assertEqual(r["ServerSideEncryption"], "AES256")
        self.assertEqual(self.s3.head_object(Bucket=self.b, Key="d")["ServerSideEncryption"], "AES256")
        self.s3.copy_object(Bucket=self.b, Key="pc", CopySource={"Bucket": self.b, "Key": "plain"})
        self.assertEqual(self.s3.head_object(Bucket=self.b, Key="pc")["ServerSideEncryption"], "AES256")
        # SSE-C still wins over the default.
        r = self.s3.put_object(Bucket=self.b, Key="c", Body=b"c", **ssec(self.k1))
        self.assertNotIn("ServerSideEncryption", r)
        self.s3.delete_bucket_encryption(Bucket=self.b)
        self.assertEqual(self.error(self.s3.get_bucket_encryption, Bucket=self.b)[0], 404)
        self.assertNotIn("ServerSideEncryption", self.s3.put_object(Bucket=self.b, Key="e", Body=b"e"))
        self.assertEqual(self.s3.get_object(Bucket=self.b, Key="d")["Body"].read(), b"default")

    def test_multipart_sse_s3(self):
        p1, p2 = body(5 * MIB, "a"), body(2 * MIB + 3, "b")
        up = self.s3.create_multipart_upload(Bucket=self.b, Key="m", ServerSideEncryption="AES256")
        parts = []
        for n, p in [(1, p1), (2, p2)]:
            r = self.s3.upload_part(Bucket=self.b, Key="m", UploadId=up["UploadId"], PartNumber=n,
                                    Body=p)
            self.assertEqual(r["ServerSideEncryption"], "AES256")
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
        r = self.s3.complete_multipart_upload(Bucket=self.b, Key="m", UploadId=up["UploadId"],
                                              MultipartUpload={"Parts": parts})
        self.assertEqual(r["ServerSideEncryption"], "AES256")
        self.assertEqual(self.s3.get_object(Bucket=self.b, Key="m")["Body"].read(), p1 + p2)


class Kms(Base):
    def test_aws_kms_is_refused_clearly(self):
        st, code = self.error(self.s3.put_object, Bucket=self.b, Key="k", Body=b"x",
                              ServerSideEncryption="aws:kms")
        self.assertEqual((st, code), (501, "NotImplemented"))
        self.assertEqual(self.error(self.s3.head_object, Bucket=self.b, Key="k")[0], 404)
        st, code = self.error(self.s3.put_bucket_encryption, Bucket=self.b,
                              ServerSideEncryptionConfiguration={"Rules": [{
                                  "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
        self.assertEqual((st, code), (501, "NotImplemented"))
        self.assertEqual(self.error(self.s3.put_object, Bucket=self.b, Key="k", Body=b"x",
                                    ServerSideEncryption="AES128"), (400, "InvalidArgument"))
        self.assertEqual(self.error(self.s3.create_multipart_upload, Bucket=self.b, Key="k",
                                    ServerSideEncryption="aws:kms")[0], 501)


if __name__ == "__main__":
    names = sys.argv[1:]
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for n in names:
        suite.addTests(loader.loadTestsFromTestCase(globals()[n]))
    r = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if r.wasSuccessful() else 1)
