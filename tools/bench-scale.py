#!/usr/bin/env python3
"""Scale benchmark: many buckets through S3 on one node.

Starts `shale serve` on a fresh data dir, creates BUCKETS buckets through
S3 and puts OBJECTS 1 KiB objects spread over them (shale-bench put
--buckets, CONCURRENCY connections), then reports: bucket creations/s,
PUTs/s, the process's threads and RSS (idle, before and after), the open
index shards, restart time after `kill -9` (until it listens, and until a
sample of 200 objects reads back through boto3), and the node log's
fdatasyncs per acknowledged write from /metrics.

    target/s3-venv/bin/python tools/bench-scale.py --buckets 10000 --runs 3
    target/s3-venv/bin/python tools/bench-scale.py --buckets 100000 --bulk 900000

Figures go to BENCHMARKS.md ("Scale: many buckets"); quote medians.
"""

import argparse
import concurrent.futures
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config

ACCESS = "SHALEBENCHSCALEKEY01"
SECRET = "shale-bench-scale-secret-0123456789abcdef"


def proc_stats(pid):
    threads = rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return threads, rss


def start(binary, data_dir):
    env = dict(os.environ, SHALE_ROOT_ACCESS_KEY=ACCESS, SHALE_ROOT_SECRET_KEY=SECRET)
    t0 = time.monotonic()
    p = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    for line in p.stdout:
        m = re.match(r"shale listening on (http://\S+)", line)
        if m:
            listening = time.monotonic() - t0
            break
    else:
        raise SystemExit("shale exited before listening")
    # Keep draining stdout so the node never blocks on it.
    import threading

    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return p, m.group(1), listening


def s3(endpoint, concurrency):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(max_pool_connections=concurrency * 2, retries={"max_attempts": 1}),
    )


def run_all(concurrency, fn, items, label):
    done = 0
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as ex:
        for _ in ex.map(fn, items):
            done += 1
            if sys.stderr.isatty() and done % 1000 == 0:
                print(f"\r{label}: {done}/{len(items)}", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return len(items) / (time.monotonic() - t0)


def metric(endpoint, name):
    body = urllib.request.urlopen(endpoint + "/metrics").read().decode()
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "_total "):
            return float(line.split()[-1])
    return 0.0


def bench_put(bench, endpoint, buckets, objects, concurrency):
    """Creates the buckets and puts the objects with shale-bench; its report."""
    out = subprocess.run(
        [
            bench, "put", "--endpoint", endpoint, "--access-key", ACCESS, "--secret-key", SECRET,
            "--bucket", "scale", "--buckets", str(buckets), "--prefix", "obj",
            "--objects", str(objects), "--duration", "0", "--size", "1KiB",
            "--concurrency", str(concurrency), "--payload", "unsigned", "--keep", "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(out.stdout)
    rate = {o["op"]: o["ops_per_sec"] for o in report["operations"]}
    return rate["CREATE-BUCKET"], rate["PUT"]


def bench_bulk(bench, endpoint, objects, concurrency):
    """Puts OBJECTS more 1 KiB objects into the first bucket; PUTs/s."""
    out = subprocess.run(
        [
            bench, "put", "--endpoint", endpoint, "--access-key", ACCESS, "--secret-key", SECRET,
            "--bucket", "scale-000000", "--prefix", "bulk", "--objects", str(objects),
            "--duration", "0", "--size", "1KiB", "--concurrency", str(concurrency),
            "--payload", "unsigned", "--keep", "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)["ops_per_sec"]


def one_run(binary, bench, buckets, objects, concurrency, bulk=0):
    with tempfile.TemporaryDirectory(prefix="shale-scale-") as tmp:
        data = os.path.join(tmp, "data")
        p, endpoint, _ = start(binary, data)
        time.sleep(1)
        threads0, rss0 = proc_stats(p.pid)
        syncs0, completions0 = metric(endpoint, "shale_wal_syncs"), metric(endpoint, "shale_wal_index_completions")
        create_rate, put_rate = bench_put(bench, endpoint, buckets, objects, concurrency)
        syncs1, completions1 = metric(endpoint, "shale_wal_syncs"), metric(endpoint, "shale_wal_index_completions")
        bulk_rate = bench_bulk(bench, endpoint, bulk, concurrency) if bulk else 0.0
        time.sleep(2)
        threads1, rss1 = proc_stats(p.pid)
        open_shards = metric(endpoint, "shale_index_open_shards")
        p.send_signal(signal.SIGKILL)
        p.wait()
        t0 = time.monotonic()
        p, endpoint, listening = start(binary, data)
        client = s3(endpoint, concurrency)
        # Object n is obj/NNNNNNNNNN in bucket scale-(n % buckets), 1 KiB.
        for n in random.sample(range(objects), min(200, objects)):
            head = client.head_object(Bucket=f"scale-{n % buckets:06d}", Key=f"obj/{n:010d}")
            assert head["ContentLength"] == 1024, n
        readable = time.monotonic() - t0
        time.sleep(1)
        threads2, rss2 = proc_stats(p.pid)
        p.send_signal(signal.SIGTERM)
        p.wait()
        return {
            "buckets": buckets,
            "objects": objects + bulk,
            "create_per_sec": create_rate,
            "put_per_sec": put_rate,
            "bulk_put_per_sec": bulk_rate,
            "fsyncs_per_put": (syncs1 - syncs0) / max(1.0, completions1 - completions0),
            "threads_empty": threads0,
            "threads_full": threads1,
            "threads_after_restart": threads2,
            "open_shards_full": open_shards,
            "rss_empty_mib": rss0 / 2**20,
            "rss_full_mib": rss1 / 2**20,
            "rss_after_restart_mib": rss2 / 2**20,
            "restart_listening_secs": listening,
            "restart_readable_secs": readable,
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--buckets", type=int, default=10000)
    ap.add_argument("--objects", type=int, default=None, help="objects spread over the buckets (default: one per bucket)")
    ap.add_argument("--bench", default="target/release/shale-bench")
    ap.add_argument("--bulk", type=int, default=0, help="then this many more objects into the first bucket (a restart with many buckets and many objects)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--binary", default="target/release/shale")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    runs = []
    for i in range(a.runs):
        r = one_run(a.binary, a.bench, a.buckets, a.objects or a.buckets, a.concurrency, a.bulk)
        runs.append(r)
        if not a.json:
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    if a.json:
        print(json.dumps({"runs": runs, "median": med}, indent=2))
    else:
        print(f"median of {len(runs)}:")
        for k, v in med.items():
            print(f"  {k:26} {v:12.2f}")


if __name__ == "__main__":
    main()
