#!/usr/bin/env bash
# SSE-S3 against plain PUT/GET in the same run (issue 23): one node, two
# buckets, the second with default encryption (PutBucketEncryption AES256,
# so shale-bench needs no header), runs alternating plain / SSE-S3.
#   BIN=target/release bash tools/bench-sse.sh
# CASES picks cases ("op size concurrency" separated by commas), e.g.
#   CASES="get 64MiB 4" ROUNDS=3 bash tools/bench-sse.sh
set -euo pipefail
BIN=${BIN:-target/release}
DUR=${DUR:-5s}
ROUNDS=${ROUNDS:-2}
CASES=${CASES:-put 64MiB 4,get 64MiB 4,put 4KiB 16,get 4KiB 16}
PORT=${PORT:-17481}
dir=$(mktemp -d)
export SHALE_ROOT_ACCESS_KEY=BENCHSSEACCESSKEY001 SHALE_ROOT_SECRET_KEY=bench-sse-secret-key-0123456789abcdefghij
"$BIN/shale" serve --data-dir "$dir/data" --listen 127.0.0.1:$PORT --threads 2 >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/ready >/dev/null && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID=$SHALE_ROOT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SHALE_ROOT_SECRET_KEY AWS_DEFAULT_REGION=us-east-1
aws="aws --endpoint-url http://127.0.0.1:$PORT s3api"
$aws create-bucket --bucket plain >/dev/null
$aws create-bucket --bucket enc >/dev/null
$aws put-bucket-encryption --bucket enc --server-side-encryption-configuration \
  '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
bench() { # op size concurrency bucket
  "$BIN/shale-bench" "$1" --endpoint http://127.0.0.1:$PORT --access-key "$AWS_ACCESS_KEY_ID" \
    --secret-key "$AWS_SECRET_ACCESS_KEY" --bucket "$4" --size "$2" --concurrency "$3" \
    --duration "$DUR" $([ "$1" = get ] && echo --objects 64) --no-progress 2>&1 | grep -E '^(PUT|GET|put|get) ' | head -1
}
for round in $(seq "$ROUNDS"); do
  IFS=, read -ra cases <<<"$CASES"
  for case in "${cases[@]}"; do
    set -- $case
    for b in plain enc; do
      echo "round $round $1 $2 c$3 $b: $(bench "$1" "$2" "$3" "$b")"
    done
  done
done
