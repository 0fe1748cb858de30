#!/usr/bin/env bash
# Space reclamation at scale (issue 7): SIZE_GIB (default 10) GiB of 1 MiB
# objects, 90% of them deleted, then compaction passes until nothing is
# left to do, with foreground PUT+GET running; prints disk usage against
# the live data and the foreground p99 against unloaded.
#   SIZE_GIB=10 bash tools/bench-reclaim.sh
# Needs the test venv (bash tools/test.sh makes it) for boto3.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin shale --bin shale-bench 2>&1 | tail -n 1
py=${SHALE_TEST_PYTHON:-$PWD/target/s3-venv/bin/python}
work=$(mktemp -d /var/tmp/shale-bench-reclaim.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
AK=AKBENCHRECLAIM000000 SK=bench-reclaim-secret-0000000000000000000
SHALE_EXPIRY_INTERVAL_SECS=0 SHALE_COMPACTION_INTERVAL_SECS=0 \
SHALE_COMPACTION_GRACE_SECS=0 SHALE_SCRUB_INTERVAL_SECS=0 \
SHALE_ROOT_ACCESS_KEY=$AK SHALE_ROOT_SECRET_KEY=$SK \
  target/release/shale serve --data-dir "$work/d" --listen 127.0.0.1:0 --segment-size-mib 64 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 400); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.05; done
ep=$(sed -n 's/^shale listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/out")
echo "node at $ep, SIZE_GIB=${SIZE_GIB:-10}"
"$py" tools/bench_reclaim.py "$ep" "$AK" "$SK" target/release/shale-bench "$work/d/segments"
