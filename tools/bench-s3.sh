#!/usr/bin/env bash
# S3 figures beside the box's own ceiling, in one run: shale and nginx
# (Debian package; GET of static files, PUT through its WebDAV module,
# no fsync) serve the same object sizes on 127.0.0.1, driven by the same
# load generator (shale-bench, a second process). Each case runs ROUNDS
# times, alternating servers; the table shows medians and shale/nginx.
# A raw sequential write with fdatasync (fio) is the PUT ceiling for
# large objects (shale acknowledges a PUT only once it is durable).
#
#   bash tools/bench-s3.sh                 # 3 rounds, c16
#   ROUNDS=5 CONCURRENCY=64 bash tools/bench-s3.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-16}
SMALL_SECS=${SMALL_SECS:-10}
LARGE_SECS=${LARGE_SECS:-15}
WORK=${WORK:-/var/tmp/shale-bench-s3}
AK=BENCHACCESSKEY000001
SK=bench-secret-key-0123456789abcdefghijklmn

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v fio >/dev/null || need+=(fio)
command -v jq >/dev/null || need+=(jq)
if ((${#need[@]})); then
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --bin shale --bin shale-bench >&2
BENCH=target/release/shale-bench

rm -rf "$WORK"
mkdir -p "$WORK/nginx/root/bench" "$WORK/nginx/tmp" "$WORK/nginx/logs"
# nginx's workers run as an unprivileged user: they must be able to write.
chmod -R a+rwx "$WORK/nginx/root" "$WORK/nginx/tmp"
chmod a+x "$WORK"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_max_body_size 0;
  client_body_temp_path $WORK/nginx/tmp;
  server {
    listen 127.0.0.1:18080 reuseport;
    root $WORK/nginx/root;
    dav_methods PUT DELETE;
    create_full_put_path on;
  }
}
CONF

shale_pid=
cleanup() {
  [ -n "$shale_pid" ] && kill "$shale_pid" 2>/dev/null || true
  "$NGINX" -c "$WORK/nginx/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$NGINX" -c "$WORK/nginx/nginx.conf"
SHALE_ROOT_ACCESS_KEY=$AK SHALE_ROOT_SECRET_KEY=$SK \
  target/release/shale serve --listen 127.0.0.1:0 --data-dir "$WORK/shale" \
  >"$WORK/shale.out" 2>"$WORK/shale.err" &
shale_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$WORK/shale.out" 2>/dev/null && break
  sleep 0.1
done
shale_ep=$(sed -n 's/^shale listening on \(http:\/\/[^ ]*\).*/\1/p' "$WORK/shale.out")
[ -n "$shale_ep" ] || { cat "$WORK/shale.err" >&2; exit 1; }
nginx_ep=http://127.0.0.1:18080

# run SERVER OP SIZE SECS OBJECTS -> one JSON line
run() {
  local server=$1 op=$2 size=$3 secs=$4 objects=$5 extra=()
  local ep=$shale_ep
  if [ "$server" = nginx ]; then ep=$nginx_ep; extra+=(--plain-http); fi
  [ "$objects" != - ] && extra+=(--objects "$objects")
  "$BENCH" "$op" --endpoint "$ep" --access-key "$AK" --secret-key "$SK" \
    --bucket bench --concurrency "$CONCURRENCY" --size "$size" \
    --duration "${secs}s" --payload unsigned --json --no-progress "${extra[@]}"
}

results="$WORK/results.tsv"
: >"$results"
cases=("put 4KiB $SMALL_SECS -" "get 4KiB $SMALL_SECS 1000" "put 64MiB $LARGE_SECS -" "get 64MiB $LARGE_SECS 16")
for round in $(seq "$ROUNDS"); do
  for c in "${cases[@]}"; do
    read -r op size secs objects <<<"$c"
    for server in shale nginx; do
      line=$(run "$server" "$op" "$size" "$secs" "$objects")
      ops=$(jq -r .ops_per_sec <<<"$line")
      mib=$(jq -r .mib_per_sec <<<"$line")
      p50=$(jq -r '.operations[0].latency_us.p50' <<<"$line")
      p99=$(jq -r '.operations[0].latency_us.p99' <<<"$line")
      errs=$(jq -r .errors <<<"$line")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$op" "$size" "$server" "$ops" "$mib" "$p50" "$p99" "$errs" >>"$results"
      echo "round $round: $server $op $size: $ops ops/s, $mib MiB/s, p50 ${p50}us, errors $errs" >&2
    done
    # Drop what nginx was sent, so its directory stays small.
    rm -rf "$WORK/nginx/root/bench/"*
  done
done

# The durable sequential-write ceiling: 1 MiB writes, fdatasync each 64 MiB.
fio_json=$(fio --name=seqwrite --directory="$WORK" --rw=write --bs=1M --size=2G \
  --ioengine=psync --fdatasync=64 --end_fsync=1 --output-format=json 2>/dev/null)
raw_mib=$(jq -r '.jobs[0].write.bw_bytes / 1048576' <<<"$fio_json")

python3 - "$results" "$raw_mib" "$CONCURRENCY" "$ROUNDS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
raw = float(sys.argv[2]); conc = sys.argv[3]; rounds = sys.argv[4]
def med(op, size, server, col):
    v = [float(r[col]) for r in rows if r[0] == op and r[1] == size and r[2] == server]
    return statistics.median(v) if v else float("nan")
print(f"| case (c{conc}, median of {rounds}) | shale | nginx | shale/nginx | shale p50 / p99 |")
print("| --- | ---: | ---: | ---: | ---: |")
for op, size in [("get", "4KiB"), ("put", "4KiB"), ("get", "64MiB"), ("put", "64MiB")]:
    col, unit = (3, "ops/s") if size == "4KiB" else (4, "MiB/s")
    s, n = med(op, size, "shale", col), med(op, size, "nginx", col)
    p50, p99 = med(op, size, "shale", 5) / 1000, med(op, size, "shale", 6) / 1000
    print(f"| {op.upper()} {size} {unit} | {s:,.0f} | {n:,.0f} | {s/n:.2f} | {p50:.2f} / {p99:.2f} ms |")
s = med("put", "64MiB", "shale", 4)
print(f"| PUT 64MiB vs raw durable sequential write (fio, {raw:,.0f} MiB/s) | {s:,.0f} | | {s/raw:.2f} | |")
errs = sum(int(r[7]) for r in rows)
print(f"\nerrors: {errs}")
PY
