"""The expiry-pass and compaction benchmark (tools/bench-expiry.sh runs it
with the release binaries): N small objects under a lifecycle rule that
expires them all at the same second, foreground GET p99 unloaded and
while the expiry pass deletes them all, then the same while compaction
gives the space back. Prints a Markdown table for BENCHMARKS.md and a JSON
line. Needs boto3/botocore (the test venv)."""

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import botocore.credentials
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

EP, AK, SK, BENCH = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
N = int(os.environ.get("N", "1000000"))
DAY = 86400


def signed(method, path, body=b"", query=""):
    url = f"{EP}{path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url, data=body,
                     headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    SigV4Auth(botocore.credentials.Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    r = urllib.request.Request(url, data=body or None, method=method, headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=7200) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path}?{query}: {e.code} {e.read().decode(errors='replace')}")


def admin(method, path, obj=None, query=""):
    out = signed(method, f"/admin/{path}", json.dumps(obj).encode() if obj is not None else b"", query)
    return json.loads(out) if out else None


def bench(*args):
    out = subprocess.run([BENCH, *args, "--endpoint", EP, "--access-key", AK, "--secret-key", SK,
                          "--json", "--no-progress"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"shale-bench {args}: {out.stderr}")
    return json.loads(out.stdout)


def op(r):
    o = r["operations"][0]
    return o["ops_per_sec"], o["latency_us"]["p50"], o["latency_us"]["p99"]


def fg_get(seconds):
    return bench("get", "--bucket", "fground", "--size", "4KiB", "--objects", "2000", "--concurrency", "8",
                 "--duration", f"{seconds}s")


def during(work):
    """Runs foreground GETs until `work` returns; (work result, seconds, get report)."""
    box = {}

    def run():
        t = time.time()
        box["r"] = work()
        box["t"] = time.time() - t

    th = threading.Thread(target=run)
    th.start()
    reports = []
    while th.is_alive():
        reports.append(fg_get(5))
    th.join()
    return box["r"], box["t"], reports


def worst(reports):
    """(mean ops/s, worst p50, worst p99) over the 5 s windows."""
    if not reports:
        return (0, 0, 0)
    vals = [op(r) for r in reports]
    return (sum(v[0] for v in vals) / len(vals), max(v[1] for v in vals), max(v[2] for v in vals))


def median_p99(reports):
    """The median of the windows' p99s (the box is noisy: one window with
    a hiccup should not stand for the whole run)."""
    vals = sorted(op(r)[2] for r in reports)
    return vals[len(vals) // 2] if vals else 0


t0 = int(time.time())
admin("POST", "test/clock", {"now_secs": t0})
signed("PUT", "/exp")
signed("PUT", "/fground")
rule = (b"<LifecycleConfiguration><Rule><ID>all</ID><Filter><Prefix></Prefix></Filter>"
        b"<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>")
signed("PUT", "/exp", rule, "lifecycle")
t = time.time()
loaded = None
load = bench("put", "--bucket", "exp", "--keep", "--size", "1KiB", "--objects", str(N), "--concurrency", "32",
             "--duration", "3600s")
load_s = time.time() - t
loaded = admin("GET", "buckets/exp")
assert loaded["objects"] == N, loaded
# The load's write-back settles first; then 4 windows of 5 s.
time.sleep(15)
base = [fg_get(5) for _ in range(4)]
base_ops, base_p50, base_p99 = worst(base)
admin("POST", "test/clock", {"now_secs": ((t0 + DAY) // DAY + 1) * DAY})
before = admin("GET", "buckets/exp")
stats = admin("GET", "buckets/exp")
assert stats["objects"] == 0, stats
exp, exp_s, exp_reports = during(lambda: admin("POST", "expiry/run"))
exp_ops, exp_p50, exp_p99 = worst(exp_reports)
comp, comp_s, comp_reports = during(lambda: admin("POST", "compact/run"))
comp_ops, comp_p50, comp_p99 = worst(comp_reports)

print(f"| step | work | time | rate | foreground GET 4KiB c8: ops/s, p50, p99 (max over 5 s windows) | p99 vs unloaded | median window p99 vs unloaded |")
print(f"|---|---|---|---|---|---|---|")
print(f"| load | {N} PUT 1 KiB under a 1-day rule | {load_s:.0f} s | {N/load_s:,.0f} obj/s | | |")
print(f"| unloaded | | 4 x 5 s | | {base_ops:,.0f}, {base_p50/1000:.2f} ms, {base_p99/1000:.2f} ms | 1.00 | 1.00 |")
print(f"| expiry pass | {exp['expired']} deleted at the same second | {exp_s:.1f} s | {exp['expired']/max(exp_s,1e-9):,.0f} obj/s | "
      f"{exp_ops:,.0f}, {exp_p50/1000:.2f} ms, {exp_p99/1000:.2f} ms | {exp_p99/max(base_p99,1):.2f} | {median_p99(exp_reports)/max(median_p99(base),1):.2f} |")
print(f"| compaction | {comp['compacted']} segments, {comp['moved_bytes']/2**20:.1f} MiB moved, {comp['freed_bytes']/2**20:.0f} MiB freed | {comp_s:.1f} s | "
      f"{comp['freed_bytes']/2**20/max(comp_s,1e-9):.0f} MiB/s freed | {comp_ops:,.0f}, {comp_p50/1000:.2f} ms, {comp_p99/1000:.2f} ms | {comp_p99/max(base_p99,1):.2f} | {median_p99(comp_reports)/max(median_p99(base),1):.2f} |")
print(json.dumps({"n": N, "load_s": load_s, "base_p99_us": base_p99, "expiry": exp, "expiry_s": exp_s,
                  "expiry_p99_us": exp_p99, "compaction": comp, "compaction_s": comp_s, "compaction_p99_us": comp_p99}))
