#!/usr/bin/env bash
# The expiry pass and compaction under foreground load (issue 7): N objects
# (default 1,000,000) expiring at the same second, the pass deleting them
# all while a GET load measures p99, then compaction freeing the space.
#   N=1000000 bash tools/bench-expiry.sh
# Needs the test venv (bash tools/test.sh makes it) for botocore.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin shale --bin shale-bench 2>&1 | tail -n 1
py=${SHALE_TEST_PYTHON:-$PWD/target/s3-venv/bin/python}
work=$(mktemp -d /var/tmp/shale-bench-expiry.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
AK=AKBENCHEXPIRY0000000 SK=bench-expiry-secret-000000000000000000
SHALE_TEST_CLOCK=1 SHALE_EXPIRY_INTERVAL_SECS=0 SHALE_COMPACTION_INTERVAL_SECS=0 \
SHALE_COMPACTION_GRACE_SECS=0 SHALE_SCRUB_INTERVAL_SECS=0 \
SHALE_ROOT_ACCESS_KEY=$AK SHALE_ROOT_SECRET_KEY=$SK \
  target/release/shale serve --data-dir "$work/d" --listen 127.0.0.1:0 --segment-size-mib 64 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 400); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.05; done
ep=$(sed -n 's/^shale listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/out")
echo "node at $ep, N=${N:-1000000}"
"$py" tools/bench_expiry.py "$ep" "$AK" "$SK" target/release/shale-bench
du -sh "$work/d/segments"
