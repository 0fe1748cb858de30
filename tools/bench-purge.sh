#!/usr/bin/env bash
# The purge job (issue 8): a user with BUCKETS (100) buckets of OBJECTS
# (500) objects of 64 KiB is removed with its data (shale admin user rm
# --purge-data, run when due on the test clock) while foreground GETs run;
# prints the purge rate (objects/s, MiB/s reclaimed) and the foreground
# p99 against unloaded.
#   BUCKETS=100 OBJECTS=500 bash tools/bench-purge.sh
# Needs the test venv (bash tools/test.sh makes it) for boto3.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin shale --bin shale-bench 2>&1 | tail -n 1
py=${SHALE_TEST_PYTHON:-$PWD/target/s3-venv/bin/python}
work=$(mktemp -d /var/tmp/shale-bench-purge.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
AK=AKBENCHPURGE00000000 SK=bench-purge-secret-0000000000000000000
SHALE_TEST_CLOCK=1 SHALE_EXPIRY_INTERVAL_SECS=0 SHALE_COMPACTION_INTERVAL_SECS=0 \
SHALE_COMPACTION_GRACE_SECS=0 SHALE_SCRUB_INTERVAL_SECS=0 \
SHALE_ROOT_ACCESS_KEY=$AK SHALE_ROOT_SECRET_KEY=$SK \
  target/release/shale serve --data-dir "$work/d" --listen 127.0.0.1:0 --segment-size-mib 64 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 400); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.05; done
ep=$(sed -n 's/^shale listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/out")
echo "node at $ep, BUCKETS=${BUCKETS:-100} OBJECTS=${OBJECTS:-500}"
"$py" tools/bench_purge.py "$ep" "$AK" "$SK" target/release/shale-bench "$work/d/segments"
