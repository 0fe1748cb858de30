"""boto3 against a running shale node: versioning, conditional reads and
writes, copies, and additional checksums. Run by tests/s3_clients.rs with S3_ENDPOINT, S3_ACCESS_KEY,
S3_SECRET_KEY and S3_SERVER_PID set."""

import base64
import datetime
import hashlib
import io
import os
import sys
import threading
import unittest
import urllib.error
import urllib.request
import uuid
import zlib

import boto3
import boto3.s3.transfer
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
AK = os.environ["S3_ACCESS_KEY"]
SK = os.environ["S3_SECRET_KEY"]
MIB = 1024 * 1024
# Concurrent conditional writers per trial, and trials.
WRITERS = int(os.environ.get("COND_WRITERS", "8"))
TRIALS = int(os.environ.get("COND_TRIALS", "25"))


def client():
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            max_pool_connections=WRITERS * 2,
        ),
    )


def code(e):
    return e.response["Error"]["Code"]


def status(e):
    return e.response["ResponseMetadata"]["HTTPStatusCode"]


class Conditional(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = client()
        cls.bucket = "cond-" + uuid.uuid4().hex[:12]
        cls.s3.create_bucket(Bucket=cls.bucket)

    def status_of(self, fn, **kw):
        """HTTP status of a call (200 if it succeeds)."""
        try:
            fn(Bucket=self.bucket, **kw)
            return 200
        except ClientError as e:
            return status(e)

    def test_reads(self):
        r = self.s3.put_object(Bucket=self.bucket, Key="r", Body=b"hello")
        etag = r["ETag"]
        mtime = self.s3.head_object(Bucket=self.bucket, Key="r")["LastModified"]
        before = mtime - datetime.timedelta(seconds=10)
        after = mtime + datetime.timedelta(seconds=10)
        for fn in (self.s3.get_object, self.s3.head_object):
            cases = [
                ({"IfMatch": etag}, 200),
                ({"IfMatch": etag.strip('"')}, 200),
                ({"IfMatch": '"0000"'}, 412),
                ({"IfMatch": "*"}, 200),
                ({"IfNoneMatch": etag}, 304),
                ({"IfNoneMatch": "*"}, 304),
                ({"IfNoneMatch": '"0000"'}, 200),
                ({"IfModifiedSince": before}, 200),
                ({"IfModifiedSince": mtime}, 304),
                ({"IfModifiedSince": after}, 304),
                ({"IfUnmodifiedSince": before}, 412),
                ({"IfUnmodifiedSince": mtime}, 200),
                # If-Match true: If-Unmodified-Since is not looked at.
                ({"IfMatch": etag, "IfUnmodifiedSince": before}, 200),
                # If-None-Match false: 304 whatever If-Modified-Since says.
                ({"IfNoneMatch": etag, "IfModifiedSince": before}, 304),
                # If-None-Match true: If-Modified-Since is not looked at.
                ({"IfNoneMatch": '"0000"', "IfModifiedSince": after}, 200),
                # 412 before 304.
                ({"IfMatch": '"0000"', "IfNoneMatch": etag}, 412),
            ]
            for kw, want in cases:
                with self.subTest(fn=fn.__name__, **{k: str(v) for k, v in kw.items()}):
                    self.assertEqual(self.status_of(fn, Key="r", **kw), want)
        # 412 is an S3 error document; a missing key is 404 whatever the condition.
        with self.assertRaises(ClientError) as cm:
            self.s3.get_object(Bucket=self.bucket, Key="r", IfMatch='"0000"')
        self.assertEqual(code(cm.exception), "PreconditionFailed")
        self.assertEqual(self.status_of(self.s3.get_object, Key="missing", IfMatch=etag), 404)
        # A 304 carries the ETag.
        with self.assertRaises(ClientError) as cm:
            self.s3.get_object(Bucket=self.bucket, Key="r", IfNoneMatch=etag)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPHeaders"].get("etag"), etag)

    def test_put_if_none_match(self):
        self.s3.put_object(Bucket=self.bucket, Key="new", Body=b"1", IfNoneMatch="*")
        with self.assertRaises(ClientError) as cm:
            self.s3.put_object(Bucket=self.bucket, Key="new", Body=b"2", IfNoneMatch="*")
        self.assertEqual((code(cm.exception), status(cm.exception)), ("PreconditionFailed", 412))
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="new")["Body"].read(), b"1")
        # After a delete the key is free again.
        self.s3.delete_object(Bucket=self.bucket, Key="new")
        self.s3.put_object(Bucket=self.bucket, Key="new", Body=b"3", IfNoneMatch="*")
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="new")["Body"].read(), b"3")

    def test_put_if_match(self):
        with self.assertRaises(ClientError) as cm:
            self.s3.put_object(Bucket=self.bucket, Key="m", Body=b"x", IfMatch='"00"')
        self.assertEqual(status(cm.exception), 404)
        e1 = self.s3.put_object(Bucket=self.bucket, Key="m", Body=b"one")["ETag"]
        e2 = self.s3.put_object(Bucket=self.bucket, Key="m", Body=b"two", IfMatch=e1)["ETag"]
        with self.assertRaises(ClientError) as cm:
            self.s3.put_object(Bucket=self.bucket, Key="m", Body=b"three", IfMatch=e1)
        self.assertEqual((code(cm.exception), status(cm.exception)), ("PreconditionFailed", 412))
        got = self.s3.get_object(Bucket=self.bucket, Key="m")
        self.assertEqual((got["Body"].read(), got["ETag"]), (b"two", e2))

    def test_multipart_complete_is_conditional(self):
        key = "mp"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"there")
        up = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        p = self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=up, PartNumber=1, Body=b"a" * (5 * MIB))
        parts = {"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]}
        with self.assertRaises(ClientError) as cm:
            self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=up, MultipartUpload=parts, IfNoneMatch="*"
            )
        self.assertEqual(status(cm.exception), 412)
        # The upload is still there; it completes once the key is free.
        self.s3.delete_object(Bucket=self.bucket, Key=key)
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=up, MultipartUpload=parts, IfNoneMatch="*"
        )
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"], 5 * MIB)

    def test_concurrent_conditional_writers_have_exactly_one_winner(self):
        for trial in range(TRIALS):
            key = f"race/{trial}"
            results = [None] * WRITERS
            barrier = threading.Barrier(WRITERS)
            clients = [client() for _ in range(WRITERS)]

            def writer(i):
                barrier.wait()
                try:
                    clients[i].put_object(
                        Bucket=self.bucket, Key=key, Body=f"writer {i}".encode(), IfNoneMatch="*"
                    )
                    results[i] = 200
                except ClientError as e:
                    results[i] = status(e)

            threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            winners = [i for i, r in enumerate(results) if r == 200]
            self.assertEqual(len(winners), 1, f"trial {trial}: {results}")
            self.assertTrue(all(r in (200, 409, 412) for r in results), results)
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            self.assertEqual(body, f"writer {winners[0]}".encode())

    def test_concurrent_if_match_updates_are_serial(self):
        # Writers each read the ETag and update only if it is unchanged: a
        # compare-and-swap counter. Every success must be one increment.
        key = "cas"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"0")
        wins = [0] * WRITERS
        clients = [client() for _ in range(WRITERS)]

        def writer(i):
            c = clients[i]
            for _ in range(6):
                got = c.get_object(Bucket=self.bucket, Key=key)
                n = int(got["Body"].read())
                try:
                    c.put_object(Bucket=self.bucket, Key=key, Body=str(n + 1).encode(), IfMatch=got["ETag"])
                    wins[i] += 1
                except ClientError as e:
                    if status(e) not in (409, 412):
                        raise

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        final = int(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        self.assertEqual(final, sum(wins))
        self.assertGreater(final, 0)

    def test_if_none_match_takes_only_a_star(self):
        with self.assertRaises(ClientError) as cm:
            self.s3.put_object(Bucket=self.bucket, Key="star", Body=b"x", IfNoneMatch='"abc"')
        self.assertEqual(status(cm.exception), 501)


def peak_rss_mib():
    """The server's peak RSS so far (VmHWM), in MiB."""
    with open(f"/proc/{os.environ['S3_SERVER_PID']}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


class Copy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = client()
        cls.bucket = "copy-" + uuid.uuid4().hex[:12]
        cls.other = "copy2-" + uuid.uuid4().hex[:12]
        cls.s3.create_bucket(Bucket=cls.bucket)
        cls.s3.create_bucket(Bucket=cls.other)

    def err(self, want_code, want_status, fn, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        got = (code(cm.exception), status(cm.exception))
        self.assertEqual(got, (want_code, want_status), cm.exception.response)

    def test_copy_keeps_or_replaces_metadata(self):
        src = self.s3.put_object(
            Bucket=self.bucket, Key="src", Body=b"data" * 1000, ContentType="text/plain", Metadata={"a": "1"}
        )
        r = self.s3.copy_object(Bucket=self.bucket, Key="dst", CopySource={"Bucket": self.bucket, "Key": "src"})
        self.assertEqual(r["CopyObjectResult"]["ETag"], src["ETag"])
        h = self.s3.head_object(Bucket=self.bucket, Key="dst")
        self.assertEqual((h["ContentType"], h["Metadata"], h["ContentLength"]), ("text/plain", {"a": "1"}, 4000))
        self.s3.copy_object(
            Bucket=self.other,
            Key="dir/dst",
            CopySource={"Bucket": self.bucket, "Key": "src"},
            MetadataDirective="REPLACE",
            ContentType="application/x-new",
            Metadata={"b": "2"},
        )
        h = self.s3.head_object(Bucket=self.other, Key="dir/dst")
        self.assertEqual((h["ContentType"], h["Metadata"]), ("application/x-new", {"b": "2"}))
        got = self.s3.get_object(Bucket=self.other, Key="dir/dst")["Body"].read()
        self.assertEqual(got, b"data" * 1000)
        # Keys that need encoding survive the copy-source header.
        odd = "sp ace/q?u=e&r+y/\u00e9"
        self.s3.put_object(Bucket=self.bucket, Key=odd, Body=b"odd")
        self.s3.copy_object(Bucket=self.bucket, Key="odd-copy", CopySource={"Bucket": self.bucket, "Key": odd})
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="odd-copy")["Body"].read(), b"odd")

    def test_copy_onto_itself_must_replace(self):
        self.s3.put_object(Bucket=self.bucket, Key="self", Body=b"same", Metadata={"v": "1"})
        src = {"Bucket": self.bucket, "Key": "self"}
        self.err("InvalidRequest", 400, self.s3.copy_object, Bucket=self.bucket, Key="self", CopySource=src)
        self.s3.copy_object(
            Bucket=self.bucket, Key="self", CopySource=src, MetadataDirective="REPLACE", Metadata={"v": "2"}
        )
        r = self.s3.get_object(Bucket=self.bucket, Key="self")
        self.assertEqual((r["Body"].read(), r["Metadata"]), (b"same", {"v": "2"}))

    def test_copy_errors_and_source_conditions(self):
        src = self.s3.put_object(Bucket=self.bucket, Key="c", Body=b"cond")
        mtime = self.s3.head_object(Bucket=self.bucket, Key="c")["LastModified"]
        cs = {"Bucket": self.bucket, "Key": "c"}
        copy = self.s3.copy_object
        later = mtime + datetime.timedelta(seconds=5)
        earlier = mtime - datetime.timedelta(seconds=5)
        missing = {"Bucket": self.bucket, "Key": "nope"}
        self.err("NoSuchKey", 404, copy, Bucket=self.bucket, Key="x", CopySource=missing)
        nobucket = {"Bucket": "no-such-bucket-zz", "Key": "c"}
        self.err("NoSuchBucket", 404, copy, Bucket=self.bucket, Key="x", CopySource=nobucket)
        for cond in (
            {"CopySourceIfMatch": '"00"'},
            {"CopySourceIfNoneMatch": src["ETag"]},
            {"CopySourceIfModifiedSince": later},
            {"CopySourceIfUnmodifiedSince": earlier},
        ):
            with self.subTest(**{k: str(v) for k, v in cond.items()}):
                self.err("PreconditionFailed", 412, copy, Bucket=self.bucket, Key="x", CopySource=cs, **cond)
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="x").get("KeyCount")
        self.assertEqual(listed, 0, "a refused copy wrote nothing")
        # If-Match true: If-Unmodified-Since is not looked at.
        copy(Bucket=self.bucket, Key="x", CopySource=cs, CopySourceIfMatch=src["ETag"],
             CopySourceIfUnmodifiedSince=earlier)
        self.err("InvalidArgument", 400, copy, Bucket=self.bucket, Key="y", CopySource=cs, MetadataDirective="MOVE")

    def test_upload_part_copy_with_ranges(self):
        body = bytes(range(256)) * (12 * MIB // 256)
        self.s3.put_object(Bucket=self.bucket, Key="big", Body=body)
        up = self.s3.create_multipart_upload(Bucket=self.other, Key="assembled")["UploadId"]
        cs = {"Bucket": self.bucket, "Key": "big"}
        ranges = [(0, 5 * MIB - 1), (5 * MIB, 10 * MIB - 1), (10 * MIB, len(body) - 1)]
        parts = []
        for i, (a, b) in enumerate(ranges, start=1):
            r = self.s3.upload_part_copy(
                Bucket=self.other, Key="assembled", UploadId=up, PartNumber=i, CopySource=cs,
                CopySourceRange=f"bytes={a}-{b}",
            )
            parts.append({"PartNumber": i, "ETag": r["CopyPartResult"]["ETag"]})
        # A range past the end of the source.
        with self.assertRaises(ClientError) as cm:
            self.s3.upload_part_copy(
                Bucket=self.other, Key="assembled", UploadId=up, PartNumber=9, CopySource=cs,
                CopySourceRange=f"bytes=0-{len(body)}",
            )
        self.assertEqual(status(cm.exception), 416)
        self.s3.complete_multipart_upload(
            Bucket=self.other, Key="assembled", UploadId=up, MultipartUpload={"Parts": parts}
        )
        self.assertEqual(self.s3.get_object(Bucket=self.other, Key="assembled")["Body"].read(), body)
        # The whole source as one part.
        up = self.s3.create_multipart_upload(Bucket=self.other, Key="whole")["UploadId"]
        r = self.s3.upload_part_copy(Bucket=self.other, Key="whole", UploadId=up, PartNumber=1, CopySource=cs)
        self.s3.complete_multipart_upload(
            Bucket=self.other, Key="whole", UploadId=up,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]},
        )
        self.assertEqual(self.s3.get_object(Bucket=self.other, Key="whole")["Body"].read(), body)

    def test_a_1_gib_copy_streams(self):
        size = 1024 * MIB
        block = bytes(range(256)) * (4 * MIB // 256)

        class Stream(io.RawIOBase):
            def __init__(self):
                self.left = size

            def readable(self):
                return True

            def readinto(self, b):
                n = min(len(b), self.left, len(block))
                b[:n] = block[:n]
                self.left -= n
                return n

        self.s3.upload_fileobj(
            io.BufferedReader(Stream(), 8 * MIB), self.bucket, "gib",
            Config=boto3.s3.transfer.TransferConfig(multipart_threshold=8 * 1024 * MIB),
        )
        before = peak_rss_mib()
        r = self.s3.copy_object(Bucket=self.other, Key="gib-copy", CopySource={"Bucket": self.bucket, "Key": "gib"})
        after = peak_rss_mib()
        h = self.s3.head_object(Bucket=self.other, Key="gib-copy")
        self.assertEqual(h["ContentLength"], size)
        self.assertEqual(r["CopyObjectResult"]["ETag"], self.s3.head_object(Bucket=self.bucket, Key="gib")["ETag"])
        # Flat: the copy adds at most a few chunk buffers to the peak.
        self.assertLess(after - before, 64, f"peak RSS {before:.0f} -> {after:.0f} MiB")
        print(f"1 GiB copy: server peak RSS {before:.0f} -> {after:.0f} MiB", file=sys.stderr)


def crc64nvme(data):
    """CRC-64/NVME, bit by bit (reflected, poly 0xad93d23594c93659)."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x9A6C9329AC4BC9B5 if crc & 1 else crc >> 1
    return (crc ^ 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")


def crc32c(data):
    """CRC-32C (Castagnoli), bit by bit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def b64(b):
    return base64.b64encode(b).decode()


DIGESTS = {
    "CRC32": lambda d: zlib.crc32(d).to_bytes(4, "big"),
    "CRC32C": lambda d: crc32c(d).to_bytes(4, "big"),
    "SHA1": lambda d: hashlib.sha1(d).digest(),
    "SHA256": lambda d: hashlib.sha256(d).digest(),
    "CRC64NVME": crc64nvme,
}


class Checksums(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = client()
        cls.bucket = "ck-" + uuid.uuid4().hex[:12]
        cls.s3.create_bucket(Bucket=cls.bucket)

    def test_crc64nvme_reference(self):
        self.assertEqual(crc64nvme(b"123456789").hex(), "ae8b14860a799888")

    def test_header_checksums_are_verified_stored_and_returned(self):
        body = b"checksummed " * 5000
        for alg, fn in DIGESTS.items():
            with self.subTest(alg=alg):
                key = f"h/{alg}"
                value = b64(fn(body))
                r = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **{f"Checksum{alg}": value})
                self.assertEqual(r.get(f"Checksum{alg}"), value)
                g = self.s3.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
                self.assertEqual(g["Body"].read(), body)
                self.assertEqual(g.get(f"Checksum{alg}"), value)
                h = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
                self.assertEqual(h.get(f"Checksum{alg}"), value)
                self.assertEqual(h.get("ChecksumType"), "FULL_OBJECT")
                # Without checksum mode, none is shown.
                plain = self.s3.head_object(Bucket=self.bucket, Key=key)
                self.assertNotIn(f"Checksum{alg}", plain)

    def test_the_sdk_default_checksum_is_kept(self):
        # boto3 computes a CRC32 by default and sends it (as a trailer of
        # an aws-chunked body, or as a header).
        body = b"d" * 300_000
        r = self.s3.put_object(Bucket=self.bucket, Key="default", Body=body)
        want = b64(zlib.crc32(body).to_bytes(4, "big"))
        self.assertEqual(r.get("ChecksumCRC32"), want)
        h = self.s3.head_object(Bucket=self.bucket, Key="default", ChecksumMode="ENABLED")
        self.assertEqual(h.get("ChecksumCRC32"), want)
        g = self.s3.get_object(Bucket=self.bucket, Key="default", ChecksumMode="ENABLED")
        self.assertEqual(g["Body"].read(), body)  # boto3 validates the CRC32 as it reads

    def test_a_wrong_checksum_stores_nothing(self):
        body = b"payload"
        wrong = b64(zlib.crc32(b"other").to_bytes(4, "big"))
        with self.assertRaises(ClientError) as cm:
            self.s3.put_object(Bucket=self.bucket, Key="bad", Body=body, ChecksumCRC32=wrong)
        self.assertEqual((code(cm.exception), status(cm.exception)), ("BadDigest", 400))
        with self.assertRaises(ClientError) as cm:
            self.s3.head_object(Bucket=self.bucket, Key="bad")
        self.assertEqual(status(cm.exception), 404)
        # An older object under the key stays as it was.
        self.s3.put_object(Bucket=self.bucket, Key="bad", Body=b"kept")
        with self.assertRaises(ClientError):
            self.s3.put_object(Bucket=self.bucket, Key="bad", Body=body, ChecksumSHA256=b64(hashlib.sha256(b"x").digest()))
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="bad")["Body"].read(), b"kept")
        # A value of the wrong length is not a checksum at all.
        with self.assertRaises(ClientError) as cm:
            self.s3.put_object(Bucket=self.bucket, Key="bad2", Body=body, ChecksumCRC32="AAAA")
        self.assertEqual(status(cm.exception), 400)

    def _trailer_put(self, key, body, trailer_value):
        """A raw STREAMING-UNSIGNED-PAYLOAD-TRAILER PUT with a crc32 trailer."""
        url = f"{ENDPOINT}/{self.bucket}/{key}"
        wire = b"%x\r\n" % len(body) + body + b"\r\n0\r\n" + b"x-amz-checksum-crc32:" + trailer_value.encode() + b"\r\n\r\n"
        headers = {
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(body)),
            "x-amz-trailer": "x-amz-checksum-crc32",
            "content-length": str(len(wire)),
            # urllib would add an unsigned form Content-Type otherwise.
            "content-type": "application/octet-stream",
        }
        req = AWSRequest(method="PUT", url=url, data=wire, headers=headers)
        SigV4Auth(botocore.credentials.Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
        r = urllib.request.Request(url, data=wire, method="PUT", headers=dict(req.headers.items()))
        try:
            return urllib.request.urlopen(r).status, b""
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def test_trailing_checksums_are_verified(self):
        body = b"t" * 10_000
        good = b64(zlib.crc32(body).to_bytes(4, "big"))
        self.assertEqual(self._trailer_put("tr/good", body, good)[0], 200)
        h = self.s3.head_object(Bucket=self.bucket, Key="tr/good", ChecksumMode="ENABLED")
        self.assertEqual(h.get("ChecksumCRC32"), good)
        bad = b64(zlib.crc32(b"else").to_bytes(4, "big"))
        st, doc = self._trailer_put("tr/bad", body, bad)
        self.assertEqual(st, 400)
        self.assertIn(b"<Code>BadDigest</Code>", doc)
        with self.assertRaises(ClientError) as cm:
            self.s3.head_object(Bucket=self.bucket, Key="tr/bad")
        self.assertEqual(status(cm.exception), 404)

    def test_multipart_composite_checksum(self):
        key = "mp/composite"
        up = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256")["UploadId"]
        bodies = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"c" * 1000]
        parts = []
        for i, body in enumerate(bodies, start=1):
            r = self.s3.upload_part(
                Bucket=self.bucket, Key=key, UploadId=up, PartNumber=i, Body=body, ChecksumAlgorithm="SHA256"
            )
            self.assertEqual(r.get("ChecksumSHA256"), b64(hashlib.sha256(body).digest()))
            parts.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=up, MultipartUpload={"Parts": parts})
        composite = hashlib.sha256(b"".join(hashlib.sha256(b).digest() for b in bodies)).digest()
        h = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        self.assertEqual(h.get("ChecksumSHA256"), f"{b64(composite)}-3")
        self.assertEqual(h.get("ChecksumType"), "COMPOSITE")
        p2 = self.s3.head_object(Bucket=self.bucket, Key=key, PartNumber=2, ChecksumMode="ENABLED")
        self.assertEqual(p2.get("ChecksumSHA256"), b64(hashlib.sha256(bodies[1]).digest()))
        # GetObjectAttributes: everything, then the parts a page at a time.
        attrs = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
        a = self.s3.get_object_attributes(Bucket=self.bucket, Key=key, ObjectAttributes=attrs)
        self.assertEqual(a["ETag"], h["ETag"].strip('"'))
        self.assertEqual(a["ObjectSize"], sum(map(len, bodies)))
        self.assertEqual(a["StorageClass"], "STANDARD")
        self.assertEqual(a["Checksum"], {"ChecksumSHA256": f"{b64(composite)}-3", "ChecksumType": "COMPOSITE"})
        op = a["ObjectParts"]
        self.assertEqual((op["TotalPartsCount"], op["IsTruncated"]), (3, False))
        self.assertEqual(
            [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in op["Parts"]],
            [(i, len(b), b64(hashlib.sha256(b).digest())) for i, b in enumerate(bodies, start=1)],
        )
        page = self.s3.get_object_attributes(Bucket=self.bucket, Key=key, ObjectAttributes=["ObjectParts"], MaxParts=2)
        op = page["ObjectParts"]
        self.assertEqual((op["IsTruncated"], op["NextPartNumberMarker"], len(op["Parts"])), (True, 2, 2))
        rest = self.s3.get_object_attributes(
            Bucket=self.bucket, Key=key, ObjectAttributes=["ObjectParts"], MaxParts=2, PartNumberMarker=2
        )["ObjectParts"]
        self.assertEqual(([p["PartNumber"] for p in rest["Parts"]], rest["IsTruncated"]), ([3], False))
        self.assertNotIn("ETag", page)
        # A single-part object has a whole-object checksum and no parts.
        one = self.s3.put_object(Bucket=self.bucket, Key="attr/one", Body=b"one", ChecksumAlgorithm="SHA1")
        a = self.s3.get_object_attributes(Bucket=self.bucket, Key="attr/one", ObjectAttributes=attrs)
        self.assertEqual(a["Checksum"], {"ChecksumSHA1": one["ChecksumSHA1"], "ChecksumType": "FULL_OBJECT"})
        self.assertNotIn("ObjectParts", a)
        with self.assertRaises(ClientError) as cm:
            self.s3.get_object_attributes(Bucket=self.bucket, Key="attr/one", ObjectAttributes=["Colour"])
        self.assertEqual(status(cm.exception), 400)
        # A part with another algorithm than the upload's is refused.
        up = self.s3.create_multipart_upload(Bucket=self.bucket, Key="mp/x", ChecksumAlgorithm="CRC32")["UploadId"]
        with self.assertRaises(ClientError) as cm:
            self.s3.upload_part(
                Bucket=self.bucket, Key="mp/x", UploadId=up, PartNumber=1, Body=b"z", ChecksumAlgorithm="SHA1"
            )
        self.assertEqual(status(cm.exception), 400)


class Versioning(unittest.TestCase):
    def setUp(self):
        self.s3 = client()
        self.bucket = "ver-" + uuid.uuid4().hex[:12]
        self.s3.create_bucket(Bucket=self.bucket)

    def versions(self, **kw):
        """Every (key, version id, is latest, is delete marker), in listing order."""
        out, km, vm = [], None, None
        while True:
            args = dict(Bucket=self.bucket, **kw)
            if km is not None:
                args.update(KeyMarker=km, VersionIdMarker=vm or "")
            r = self.s3.list_object_versions(**args)
            items = [(v["Key"], v["VersionId"], v["IsLatest"], False, v["LastModified"]) for v in r.get("Versions", [])]
            items += [(d["Key"], d["VersionId"], d["IsLatest"], True, d["LastModified"]) for d in r.get("DeleteMarkers", [])]
            # boto3 splits versions and markers; the page's order is by key,
            # then newest first.
            items.sort(key=lambda x: (x[0], -x[4].timestamp()))
            out += [i[:4] for i in items]
            if not r["IsTruncated"]:
                return out
            km, vm = r["NextKeyMarker"], r.get("NextVersionIdMarker")

    def test_state_round_trips(self):
        self.assertNotIn("Status", self.s3.get_bucket_versioning(Bucket=self.bucket))
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=self.bucket)["Status"], "Enabled")
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Suspended"})
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=self.bucket)["Status"], "Suspended")
        with self.assertRaises(ClientError) as cm:
            self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Sometimes"})
        self.assertEqual(code(cm.exception), "MalformedXML")

    def test_overwrite_delete_and_restore(self):
        s3, b = self.s3, self.bucket
        s3.put_object(Bucket=b, Key="k", Body=b"before")  # the null version
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        v1 = s3.put_object(Bucket=b, Key="k", Body=b"one")["VersionId"]
        v2 = s3.put_object(Bucket=b, Key="k", Body=b"two")["VersionId"]
        self.assertNotIn(v1, ("null", v2))
        got = s3.get_object(Bucket=b, Key="k")
        self.assertEqual((got["Body"].read(), got["VersionId"]), (b"two", v2))
        self.assertEqual(s3.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read(), b"one")
        self.assertEqual(s3.get_object(Bucket=b, Key="k", VersionId="null")["Body"].read(), b"before")
        self.assertEqual(
            self.versions(), [("k", v2, True, False), ("k", v1, False, False), ("k", "null", False, False)]
        )
        # A delete makes a marker: 404 with the marker's headers.
        d = s3.delete_object(Bucket=b, Key="k")
        self.assertTrue(d["DeleteMarker"])
        marker = d["VersionId"]
        with self.assertRaises(ClientError) as cm:
            s3.get_object(Bucket=b, Key="k")
        self.assertEqual(status(cm.exception), 404)
        hdrs = cm.exception.response["ResponseMetadata"]["HTTPHeaders"]
        self.assertEqual((hdrs.get("x-amz-delete-marker"), hdrs.get("x-amz-version-id")), ("true", marker))
        self.assertNotIn("Contents", s3.list_objects_v2(Bucket=b))
        # The marker by version id: 405.
        with self.assertRaises(ClientError) as cm:
            s3.head_object(Bucket=b, Key="k", VersionId=marker)
        self.assertEqual(status(cm.exception), 405)
        self.assertEqual(self.versions()[0], ("k", marker, True, True))
        # Deleting the marker restores v2.
        d = s3.delete_object(Bucket=b, Key="k", VersionId=marker)
        self.assertTrue(d.get("DeleteMarker"))
        self.assertEqual(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"two")
        # Deleting the current version makes the next newest current.
        s3.delete_object(Bucket=b, Key="k", VersionId=v2)
        got = s3.get_object(Bucket=b, Key="k")
        self.assertEqual((got["Body"].read(), got["VersionId"]), (b"one", v1))
        with self.assertRaises(ClientError) as cm:
            s3.get_object(Bucket=b, Key="k", VersionId=v2)
        self.assertEqual(code(cm.exception), "NoSuchVersion")
        with self.assertRaises(ClientError) as cm:
            s3.get_object(Bucket=b, Key="k", VersionId="not-a-version")
        self.assertEqual(status(cm.exception), 400)
        self.assertEqual(self.versions(), [("k", v1, True, False), ("k", "null", False, False)])

    def test_suspended_writes_replace_the_null_version(self):
        s3, b = self.s3, self.bucket
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        v1 = s3.put_object(Bucket=b, Key="s", Body=b"v1")["VersionId"]
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
        r = s3.put_object(Bucket=b, Key="s", Body=b"n1")
        # AWS names no version for a suspended bucket's (null version) PUT.
        self.assertNotIn("VersionId", r)
        s3.put_object(Bucket=b, Key="s", Body=b"n2")
        self.assertEqual(s3.get_object(Bucket=b, Key="s")["Body"].read(), b"n2")
        vs = self.versions()
        self.assertEqual(sorted((v[1], v[2]) for v in vs), sorted([("null", True), (v1, False)]))
        # A suspended delete is a null delete marker, replacing the null version.
        d = s3.delete_object(Bucket=b, Key="s")
        self.assertEqual((d.get("DeleteMarker"), d.get("VersionId")), (True, "null"))
        vs = self.versions()
        self.assertEqual(sorted((v[1], v[3]) for v in vs), sorted([("null", True), (v1, False)]))
        self.assertEqual(s3.get_object(Bucket=b, Key="s", VersionId=v1)["Body"].read(), b"v1")

    def test_listing_pages_by_key_and_version_marker(self):
        s3, b = self.s3, self.bucket
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        want = []
        for k in ["a", "b/1", "b/2", "c"]:
            ids = [s3.put_object(Bucket=b, Key=k, Body=k.encode() * i)["VersionId"] for i in range(3)]
            want += [(k, v, v == ids[-1], False) for v in reversed(ids)]
        for page in (1, 2, 5, 1000):
            with self.subTest(page=page):
                self.assertEqual(self.versions(MaxKeys=page), want)
        r = s3.list_object_versions(Bucket=b, Delimiter="/")
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["b/"])
        self.assertEqual(sorted({v["Key"] for v in r["Versions"]}), ["a", "c"])
        r = s3.list_object_versions(Bucket=b, Prefix="b/")
        self.assertEqual(len(r["Versions"]), 6)
        # A version id marker without a key marker is refused.
        with self.assertRaises(ClientError) as cm:
            s3.list_object_versions(Bucket=b, VersionIdMarker=want[0][1])
        self.assertEqual(status(cm.exception), 400)

    def test_delete_objects_with_version_ids(self):
        s3, b = self.s3, self.bucket
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        v1 = s3.put_object(Bucket=b, Key="d1", Body=b"1")["VersionId"]
        v2 = s3.put_object(Bucket=b, Key="d1", Body=b"2")["VersionId"]
        s3.put_object(Bucket=b, Key="d2", Body=b"x")
        r = s3.delete_objects(
            Bucket=b,
            Delete={"Objects": [{"Key": "d1", "VersionId": v2}, {"Key": "d2"}, {"Key": "d1", "VersionId": "bogus"}]},
        )
        deleted = {(d["Key"], d.get("VersionId")): d for d in r["Deleted"]}
        self.assertIn(("d1", v2), deleted)
        self.assertTrue(deleted[("d2", None)]["DeleteMarker"])
        self.assertTrue(deleted[("d2", None)]["DeleteMarkerVersionId"])
        self.assertEqual([e["Key"] for e in r.get("Errors", [])], ["d1"])
        self.assertEqual(s3.get_object(Bucket=b, Key="d1")["VersionId"], v1)
        with self.assertRaises(ClientError):
            s3.get_object(Bucket=b, Key="d2")

    def test_concurrent_puts_leave_one_current_version(self):
        s3, b = self.s3, self.bucket
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        clients = [client() for _ in range(WRITERS)]
        done = [None] * WRITERS

        def writer(i):
            done[i] = clients[i].put_object(Bucket=b, Key="race", Body=f"w{i}".encode())["VersionId"]

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        vs = self.versions()
        self.assertEqual(sorted(v[1] for v in vs), sorted(done))
        latest = [v for v in vs if v[2]]
        self.assertEqual(len(latest), 1)
        self.assertEqual(s3.get_object(Bucket=b, Key="race")["VersionId"], latest[0][1])

    def test_copy_a_specific_version(self):
        s3, b = self.s3, self.bucket
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        v1 = s3.put_object(Bucket=b, Key="src", Body=b"old")["VersionId"]
        s3.put_object(Bucket=b, Key="src", Body=b"new")
        r = s3.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src", "VersionId": v1})
        self.assertEqual(r.get("CopySourceVersionId"), v1)
        self.assertEqual(s3.get_object(Bucket=b, Key="dst")["Body"].read(), b"old")
        marker = s3.delete_object(Bucket=b, Key="src")["VersionId"]
        with self.assertRaises(ClientError) as cm:
            s3.copy_object(Bucket=b, Key="x", CopySource={"Bucket": b, "Key": "src", "VersionId": marker})
        self.assertEqual(status(cm.exception), 400)


if __name__ == "__main__":
    unittest.main(verbosity=2)
