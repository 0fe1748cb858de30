"""The space-reclamation benchmark (tools/bench-reclaim.sh runs it with the
release binaries): SIZE_GIB GiB of 1 MiB objects, 90% deleted (every key
but each tenth), then compaction passes (POST /admin/compact/run) until
one finds nothing to do, while foreground PUT+GET (shale-bench mixed, 4
KiB, c8) runs in 5 s windows. Prints disk usage of the segment directory
against the live data, MiB/s rewritten, and the foreground p99 against an
unloaded run; a Markdown table for BENCHMARKS.md and a JSON line."""

import json
import os
import subprocess
import sys
import threading
import time

import boto3
from botocore.config import Config

EP, AK, SK, BENCH, SEGDIR = sys.argv[1:6]
GIB = int(os.environ.get("SIZE_GIB", "10"))
N = GIB * 1024
s3 = boto3.client("s3", endpoint_url=EP, aws_access_key_id=AK, aws_secret_access_key=SK,
                  region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))


def admin(method, path):
    import hashlib
    import urllib.request

    import botocore.credentials
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = f"{EP}/admin/{path}"
    req = AWSRequest(method=method, url=url, data=b"",
                     headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
    SigV4Auth(botocore.credentials.Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    r = urllib.request.Request(url, method=method, headers=dict(req.headers.items()))
    with urllib.request.urlopen(r, timeout=7200) as resp:
        return json.loads(resp.read())


def bench(*args):
    out = subprocess.run([BENCH, *args, "--endpoint", EP, "--access-key", AK, "--secret-key", SK,
                          "--json", "--no-progress"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"shale-bench {args}: {out.stderr}")
    return json.loads(out.stdout)


def du(path):
    return sum(os.stat(os.path.join(path, f)).st_blocks * 512 for f in os.listdir(path))


def fg(seconds):
    return bench("mixed", "--bucket", "fground", "--size", "4KiB", "--objects", "500", "--concurrency", "8",
                 "--duration", f"{seconds}s")


def p99s(report):
    """p99 (us) of each operation kind in a mixed report."""
    return {o["op"]: o["latency_us"]["p99"] for o in report["operations"]}


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0


t = time.time()
bench("put", "--bucket", "big", "--prefix", "obj", "--keep", "--size", "1MiB", "--objects", str(N),
      "--concurrency", "8", "--duration", "0s")
load_s = time.time() - t
full = du(SEGDIR)

t = time.time()
for start in range(0, N, 1000):
    keys = [{"Key": f"obj/{n:010}"} for n in range(start, min(start + 1000, N)) if n % 10 != 0]
    r = s3.delete_objects(Bucket="big", Delete={"Objects": keys, "Quiet": True})
    assert not r.get("Errors"), r["Errors"][:3]
delete_s = time.time() - t
live = int(admin("GET", "buckets/big")["bytes"])
after_delete = du(SEGDIR)

time.sleep(10)
base = [fg(5) for _ in range(3)]

box = {"passes": []}


def compact():
    t = time.time()
    while True:
        r = admin("POST", "compact/run")
        box["passes"].append(r)
        if r["compacted"] == 0 and r["removed"] == 0 and r.get("waiting", 0) == 0:
            break
    box["s"] = time.time() - t


th = threading.Thread(target=compact)
th.start()
loaded = []
while th.is_alive():
    loaded.append(fg(5))
th.join()
final = du(SEGDIR)
moved = sum(p["moved_bytes"] for p in box["passes"])
freed = sum(p["freed_bytes"] for p in box["passes"])

# Every kept object is still whole (sizes; the data is checked by the tests).
kept = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="big"):
    for o in page.get("Contents", []):
        assert o["Size"] == 1 << 20, o
        kept += 1
assert kept == N // 10 + (1 if N % 10 else 0), kept

ops = sorted(p99s(base[0]))
base_p99 = {o: median([p99s(r)[o] for r in base]) for o in ops}
load_p99 = {o: median([p99s(r)[o] for r in loaded]) for o in ops}
worst_p99 = {o: max(p99s(r)[o] for r in loaded) for o in ops}
G = 2 ** 30
print("| step | time | disk (segments) | live data | disk / live |")
print("|---|---|---|---|---|")
print(f"| write {N} x 1 MiB | {load_s:.0f} s | {full/G:.2f} GiB | {N/1024:.2f} GiB | {full/max(N << 20, 1):.2f} |")
print(f"| delete 90% | {delete_s:.0f} s | {after_delete/G:.2f} GiB | {live/G:.2f} GiB | {after_delete/max(live,1):.2f} |")
print(f"| compaction, {len(box['passes'])} passes | {box['s']:.0f} s | {final/G:.2f} GiB | {live/G:.2f} GiB | {final/max(live,1):.2f} |")
print()
print(f"moved {moved/2**20:.0f} MiB ({moved/2**20/max(box['s'],1e-9):.0f} MiB/s rewritten), freed {freed/G:.2f} GiB")
print("| foreground mixed 4 KiB c8 | " + " | ".join(ops) + " |")
print("|---|" + "---|" * len(ops))
print("| unloaded p99 (median of 3 windows) | " + " | ".join(f"{base_p99[o]/1000:.2f} ms" for o in ops) + " |")
print(f"| during compaction p99 (median of {len(loaded)} windows) | " + " | ".join(
    f"{load_p99[o]/1000:.2f} ms ({load_p99[o]/max(base_p99[o],1):.2f}x)" for o in ops) + " |")
print("| during compaction p99 (worst window) | " + " | ".join(
    f"{worst_p99[o]/1000:.2f} ms ({worst_p99[o]/max(base_p99[o],1):.2f}x)" for o in ops) + " |")
print(json.dumps({"gib": GIB, "full": full, "after_delete": after_delete, "final": final, "live": live,
                  "moved": moved, "freed": freed, "compact_s": box["s"], "passes": box["passes"],
                  "base_p99": base_p99, "load_p99": load_p99, "worst_p99": worst_p99}))
