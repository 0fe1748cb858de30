"""The purge benchmark (tools/bench-purge.sh runs it with the release
binaries): a user "tenant" fills BUCKETS buckets with OBJECTS objects of
64 KiB each (shale-bench put with the tenant's key), then its removal
with --purge-data is scheduled and made due on the test clock while
foreground GETs (4 KiB, c8, 5 s windows, another user's bucket) run until
the job is done. Prints the job's time, objects/s removed, MiB/s
reclaimed, disk before/after, and foreground p99 (median and worst
window) against unloaded; a Markdown table and a JSON line."""

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

EP, AK, SK, BENCH, SEGDIR = sys.argv[1:6]
BUCKETS = int(os.environ.get("BUCKETS", "100"))
OBJECTS = int(os.environ.get("OBJECTS", "500"))


def admin(method, path, obj=None, query=""):
    body = json.dumps(obj).encode() if obj is not None else b""
    url = f"{EP}/admin/{path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url, data=body,
                     headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    SigV4Auth(botocore.credentials.Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    r = urllib.request.Request(url, data=body or None, method=method, headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=7200) as resp:
            out = resp.read()
            return json.loads(out) if out else None
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path}?{query}: {e.code} {e.read().decode(errors='replace')}")


def bench(ak, sk, *args):
    out = subprocess.run([BENCH, *args, "--endpoint", EP, "--access-key", ak, "--secret-key", sk,
                          "--json", "--no-progress"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"shale-bench {args}: {out.stderr}")
    return json.loads(out.stdout)


def du(path):
    return sum(os.stat(os.path.join(path, f)).st_blocks * 512 for f in os.listdir(path))


def fg(seconds):
    r = bench(AK, SK, "get", "--bucket", "fground", "--size", "4KiB", "--objects", "2000", "--concurrency", "8",
              "--duration", f"{seconds}s")
    return r["operations"][0]["latency_us"]["p99"], r["operations"][0]["ops_per_sec"]


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0


t0 = int(time.time())
admin("POST", "test/clock", {"now_secs": t0})
tenant = admin("POST", "users", {"uid": "tenant"})
tak, tsk = tenant["key"]["access_key"], tenant["key"]["secret_key"]
t = time.time()
for b in range(BUCKETS):
    bench(tak, tsk, "put", "--bucket", f"tenant-{b:03}", "--prefix", "o", "--keep", "--size", "64KiB",
          "--objects", str(OBJECTS), "--concurrency", "8", "--duration", "0s")
load_s = time.time() - t
full = du(SEGDIR)
time.sleep(10)
base = [fg(5) for _ in range(3)]

job = admin("DELETE", "users/tenant", query="purge-data&after-secs=60")
admin("POST", "test/clock", {"now_secs": t0 + 60})
box = {}


def wait():
    t = time.time()
    while True:
        j = admin("GET", f"jobs/{job['id']}")
        if j["state"] in ("done", "failed"):
            box["job"], box["s"] = j, time.time() - t
            return
        time.sleep(0.05)


th = threading.Thread(target=wait)
th.start()
loaded = []
while th.is_alive():
    loaded.append(fg(5))
th.join()
j = box["job"]
assert j["state"] == "done", j
after = du(SEGDIR)
n = BUCKETS * OBJECTS
secs = (j["finished_nanos"] - j["started_nanos"]) / 1e9
base_p99 = median([p for p, _ in base])
print("| purge | objects | time (job) | objects/s | reclaimed | MiB/s reclaimed | disk before -> after |")
print("|---|---|---|---|---|---|---|")
print(f"| {BUCKETS} buckets x {OBJECTS} x 64 KiB | {n} | {secs:.1f} s | {n/max(secs,1e-9):,.0f} | "
      f"{j['bytes_reclaimed']/2**30:.2f} GiB | {j['bytes_reclaimed']/2**20/max(secs,1e-9):,.0f} | "
      f"{full/2**30:.2f} GiB -> {after/2**30:.2f} GiB |")
print()
print("| foreground GET 4 KiB c8 | ops/s | p99 (median of windows) | p99 (worst window) | vs unloaded (median / worst) |")
print("|---|---|---|---|---|")
print(f"| unloaded (3 x 5 s) | {median([o for _, o in base]):,.0f} | {base_p99/1000:.2f} ms | {max(p for p, _ in base)/1000:.2f} ms | 1.00 |")
if loaded:
    lp = median([p for p, _ in loaded])
    wp = max(p for p, _ in loaded)
    print(f"| during the purge ({len(loaded)} x 5 s) | {median([o for _, o in loaded]):,.0f} | {lp/1000:.2f} ms | {wp/1000:.2f} ms | "
          f"{lp/max(base_p99,1):.2f} / {wp/max(base_p99,1):.2f} |")
print(json.dumps({"buckets": BUCKETS, "objects": OBJECTS, "load_s": load_s, "job": j, "full": full, "after": after,
                  "base": base, "loaded": loaded}))
