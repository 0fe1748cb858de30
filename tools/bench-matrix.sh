#!/usr/bin/env bash
# The fixed S3 benchmark matrix of issue 9, in one run, as a Markdown table
# (stdout, and the file OUT names, if any).
#
# - PUT and GET of 4 KiB, 64 KiB, 1 MiB and 64 MiB objects at concurrency
#   1, 16 and 64; the mixed workload (45% GET, 15% PUT, 30% HEAD, 10%
#   DELETE) at 4 KiB and 1 MiB: shale beside nginx (Debian package; static
#   files for GET and HEAD, WebDAV for PUT and DELETE, no fsync) serving
#   the same objects on 127.0.0.1, driven by the same load generator
#   (shale-bench, a second process, unsigned payloads).
# - Listing a bucket of LIST_OBJECTS (1,000,000) empty objects: the full
#   ordered walk of the bucket, and a prefix+delimiter listing of a
#   "directory" holding a tenth of the keys directly and nine
#   subdirectories with the rest (its keys plus 9 common prefixes).
# - The box's ceilings, measured in the same run: nginx for GET (and for
#   PUT without durability); a raw durable sequential write (fio, 1 MiB
#   writes, fdatasync every 64 MiB, once per round) for PUT; single-core
#   MD5 (openssl speed) for large PUTs, whose ETag needs an MD5 pass.
#
# Every case runs ROUNDS times (the order of shale and nginx flips every
# round) and the table shows medians and every shale figure as a ratio to
# its ceiling, with the issue's targets where they apply. Each shale run
# starts on an empty data dir and each nginx run on an empty root, so no
# case inherits another's objects. Any failed operation stops the script.
#
#   bash tools/bench-matrix.sh                   # the full matrix (~1 h)
#   OUT=/tmp/matrix.md ROUNDS=5 bash tools/bench-matrix.sh
#   SMOKE=1 bash tools/bench-matrix.sh           # 1 s runs, 1 round, 2 sizes,
#                                                # 2,000-object listing (~2 min)
#
# Settings (environment): ROUNDS (3), SECS (10: seconds per run), LARGE_SECS
# (15: per 64 MiB run), SIZES ("4KiB 64KiB 1MiB 64MiB"), CONCURRENCIES
# ("1 16 64"), MIXED_SIZES ("4KiB 1MiB"), MIXED_CONCURRENCY (16),
# LIST_OBJECTS (1000000), LIST_CONCURRENCY (1), LIST_SECS (SECS),
# FILL_CONCURRENCY (64), FIO_SIZE (2G), WORK (/var/tmp/shale-bench-matrix,
# removed at the end), OUT (a file for the table).
set -euo pipefail
cd "$(dirname "$0")/.."

# The command as run, for the table's header: the settings given.
settings=()
for v in SMOKE ROUNDS SECS LARGE_SECS SIZES CONCURRENCIES MIXED_SIZES MIXED_CONCURRENCY \
  LIST_OBJECTS LIST_CONCURRENCY LIST_SECS FILL_CONCURRENCY FIO_SIZE; do
  if [ -n "${!v+x}" ]; then
    if [[ ${!v} == *" "* ]]; then settings+=("$v=\"${!v}\""); else settings+=("$v=${!v}"); fi
  fi
done
command_line="${settings[*]:+${settings[*]} }bash tools/bench-matrix.sh"

SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  ROUNDS=${ROUNDS:-1}
  SECS=${SECS:-1}
  LARGE_SECS=${LARGE_SECS:-1}
  SIZES=${SIZES:-4KiB 1MiB}
  LIST_OBJECTS=${LIST_OBJECTS:-2000}
  FIO_SIZE=${FIO_SIZE:-256M}
  MD5_SECS=1
fi
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
LARGE_SECS=${LARGE_SECS:-15}
SIZES=${SIZES:-4KiB 64KiB 1MiB 64MiB}
CONCURRENCIES=${CONCURRENCIES:-1 16 64}
MIXED_SIZES=${MIXED_SIZES:-4KiB 1MiB}
MIXED_CONCURRENCY=${MIXED_CONCURRENCY:-16}
LIST_OBJECTS=${LIST_OBJECTS:-1000000}
LIST_CONCURRENCY=${LIST_CONCURRENCY:-1}
LIST_SECS=${LIST_SECS:-$SECS}
FILL_CONCURRENCY=${FILL_CONCURRENCY:-64}
FIO_SIZE=${FIO_SIZE:-2G}
MD5_SECS=${MD5_SECS:-3}
WORK=${WORK:-/var/tmp/shale-bench-matrix}
OUT=${OUT:-}
AK=BENCHACCESSKEY000001
SK=bench-secret-key-0123456789abcdefghijklmn
# The listing bucket: "dir/" holds LIST_OBJECTS - 9 * per keys directly and
# dir/sub1/ .. dir/sub9/ hold `per` each.
LIST_SUBDIRS=9
((LIST_OBJECTS >= 10)) || { echo "bench-matrix: LIST_OBJECTS must be at least 10" >&2; exit 2; }
list_per=$((LIST_OBJECTS / (LIST_SUBDIRS + 1)))
list_top=$((LIST_OBJECTS - LIST_SUBDIRS * list_per))

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v fio >/dev/null || need+=(fio)
command -v jq >/dev/null || need+=(jq)
command -v openssl >/dev/null || need+=(openssl)
if ((${#need[@]})); then
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --bin shale --bin shale-bench >&2
BENCH=target/release/shale-bench
commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- 2>/dev/null || commit="$commit (with uncommitted changes)"

rm -rf "$WORK"
mkdir -p "$WORK/nginx/root" "$WORK/nginx/tmp" "$WORK/nginx/logs"
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
nginx_up=
stop_shale() {
  if [ -n "$shale_pid" ]; then
    kill "$shale_pid" 2>/dev/null || true
    wait "$shale_pid" 2>/dev/null || true
    shale_pid=
  fi
}
cleanup() {
  stop_shale
  [ -n "$nginx_up" ] && "$NGINX" -c "$WORK/nginx/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$NGINX" -c "$WORK/nginx/nginx.conf"
nginx_up=1
nginx_ep=http://127.0.0.1:18080

# A shale on an empty data dir; sets shale_ep.
fresh_shale() {
  stop_shale
  # No stale "listening on" from the last one.
  rm -rf "$WORK/shale" "$WORK/shale.out"
  SHALE_ROOT_ACCESS_KEY=$AK SHALE_ROOT_SECRET_KEY=$SK \
    target/release/shale serve --listen 127.0.0.1:0 --data-dir "$WORK/shale" \
    >"$WORK/shale.out" 2>"$WORK/shale.err" &
  shale_pid=$!
  for _ in $(seq 200); do
    grep -q "listening on" "$WORK/shale.out" 2>/dev/null && break
    kill -0 "$shale_pid" 2>/dev/null || break
    sleep 0.05
  done
  shale_ep=$(sed -n 's/^shale listening on \(http:\/\/[^ ]*\).*/\1/p' "$WORK/shale.out")
  if [ -z "$shale_ep" ]; then
    echo "bench-matrix: shale did not start:" >&2
    cat "$WORK/shale.err" >&2
    exit 1
  fi
}

# An empty nginx root.
fresh_nginx() {
  rm -rf "$WORK/nginx/root"
  mkdir -p "$WORK/nginx/root"
  chmod a+rwx "$WORK/nginx/root"
}

# bench SERVER OP ARGS... -> one JSON line on stdout; any failure (an
# operation that failed, a server that died) ends the script.
bench() {
  local server=$1 op=$2
  shift 2
  local ep=$shale_ep extra=()
  if [ "$server" = nginx ]; then ep=$nginx_ep; extra+=(--plain-http); fi
  local line
  if ! line=$("$BENCH" "$op" --endpoint "$ep" --access-key "$AK" --secret-key "$SK" \
    --payload unsigned --json --no-progress "${extra[@]}" "$@"); then
    echo "bench-matrix: shale-bench $op against $server failed (arguments: $*)" >&2
    [ -n "$line" ] && jq -c '{errors, first_errors}' <<<"$line" >&2
    if [ "$server" = shale ]; then
      echo "bench-matrix: shale's stderr (last lines):" >&2
      tail -n 20 "$WORK/shale.err" >&2
    fi
    exit 1
  fi
  if [ "$(jq -r .errors <<<"$line")" != 0 ]; then
    echo "bench-matrix: shale-bench $op against $server reported errors: $line" >&2
    exit 1
  fi
  echo "$line"
}

# Objects a GET or mixed run prepares: enough to spread the reads, small
# enough to prepare in a few seconds.
objects_for() {
  case $1 in
  64MiB) echo 16 ;;
  1MiB) echo 256 ;;
  *) echo 1000 ;;
  esac
}
secs_for() {
  case $1 in
  64MiB) echo "$LARGE_SECS" ;;
  *) echo "$SECS" ;;
  esac
}

results="$WORK/results.tsv"
: >"$results"
# record ROUND OP SIZE CONC SERVER JSON: one TSV row (the first operation's
# latencies: GET for mixed, the walk for list).
record() {
  local round=$1 op=$2 size=$3 conc=$4 server=$5 line=$6
  jq -r --arg r "$round" --arg op "$op" --arg size "$size" --arg c "$conc" --arg s "$server" \
    '[$r, $op, $size, $c, $s, .ops_per_sec, .mib_per_sec, .operations[0].objects_per_sec,
      .operations[0].latency_us.p50, .operations[0].latency_us.p99] | @tsv' <<<"$line" >>"$results"
  jq -r --arg r "$round" --arg op "$op" --arg size "$size" --arg c "$conc" --arg s "$server" \
    '"round \($r): \($s) \($op) \($size) c\($c): \(.ops_per_sec | floor) ops/s, \(.mib_per_sec * 10 | floor / 10) MiB/s, \(.operations[0].objects_per_sec | floor) objects/s, p50 \(.operations[0].latency_us.p50) us"' \
    <<<"$line" >&2
}

# One case, on both servers (order flipped on even rounds).
run_case() {
  local round=$1 op=$2 size=$3 conc=$4 servers=(shale nginx) args line
  ((round % 2)) || servers=(nginx shale)
  args=(--bucket bench --concurrency "$conc" --size "$size" --duration "$(secs_for "$size")s")
  [ "$op" = put ] || args+=(--objects "$(objects_for "$size")")
  for server in "${servers[@]}"; do
    if [ "$server" = shale ]; then fresh_shale; else fresh_nginx; fi
    line=$(bench "$server" "$op" "${args[@]}")
    record "$round" "$op" "$size" "$conc" "$server" "$line"
  done
  stop_shale
  fresh_nginx
}

runs=$((ROUNDS * 2 * ($(wc -w <<<"$SIZES") * 2 * $(wc -w <<<"$CONCURRENCIES") + $(wc -w <<<"$MIXED_SIZES"))))
echo "bench-matrix: $runs timed runs of ${SECS}-${LARGE_SECS} s plus a $LIST_OBJECTS-object listing; commit $commit" >&2

for round in $(seq "$ROUNDS"); do
  # The durable sequential-write ceiling: 1 MiB writes, fdatasync each 64 MiB.
  fio_json=$(fio --name=seqwrite --directory="$WORK" --rw=write --bs=1M --size="$FIO_SIZE" \
    --ioengine=psync --fdatasync=64 --end_fsync=1 --output-format=json 2>/dev/null)
  rm -f "$WORK"/seqwrite.*
  raw=$(jq -r '.jobs[0].write.bw_bytes / 1048576' <<<"$fio_json")
  printf '%s\traw\t-\t1\tfio\t0\t%s\t0\t0\t0\n' "$round" "$raw" >>"$results"
  echo "round $round: raw durable sequential write $raw MiB/s" >&2
  for size in $SIZES; do
    for op in put get; do
      for conc in $CONCURRENCIES; do
        run_case "$round" "$op" "$size" "$conc"
      done
    done
  done
  for size in $MIXED_SIZES; do
    run_case "$round" mixed "$size" "$MIXED_CONCURRENCY"
  done
done

# Single-core MD5 (what a large PUT's ETag costs), from openssl.
md5=$(openssl speed -mr -evp md5 -bytes 1048576 -seconds "$MD5_SECS" 2>/dev/null |
  awk -F: '/^\+F:/ { printf "%.1f", $4 / 1048576 }')
[ -n "$md5" ] || { echo "bench-matrix: openssl speed gave no MD5 figure" >&2; exit 1; }
echo "MD5 (openssl, one core): $md5 MiB/s" >&2

# The listing bucket, filled once: empty objects, FILL_CONCURRENCY PUTs at
# a time.
fresh_shale
fill_started=$(date +%s.%N)
fill_ops=0
fill() {
  local prefix=$1 n=$2 line
  line=$(bench shale put --bucket listing --prefix "$prefix" --size 0B --objects "$n" \
    --duration 0 --keep --concurrency "$FILL_CONCURRENCY")
  echo "fill $prefix/: $(jq -r '.ops' <<<"$line") objects at $(jq -r '.ops_per_sec | floor' <<<"$line") PUT/s" >&2
  fill_ops=$((fill_ops + $(jq -r .ops <<<"$line")))
}
fill dir "$list_top"
for i in $(seq "$LIST_SUBDIRS"); do
  fill "dir/sub$i" "$list_per"
done
fill_secs=$(python3 -c "import time; print(f'{time.time() - $fill_started:.1f}')")
fill_rate=$(python3 -c "print(f'{$fill_ops / max($fill_secs, 0.1):.0f}')")
((fill_ops == LIST_OBJECTS)) || { echo "bench-matrix: filled $fill_ops objects, wanted $LIST_OBJECTS" >&2; exit 1; }
for round in $(seq "$ROUNDS"); do
  line=$(bench shale list --bucket listing --existing-prefix "" --objects "$LIST_OBJECTS" \
    --concurrency "$LIST_CONCURRENCY" --duration "${LIST_SECS}s")
  record "$round" list full "$LIST_CONCURRENCY" shale "$line"
  line=$(bench shale list --bucket listing --existing-prefix dir/ --delimiter / \
    --objects $((list_top + LIST_SUBDIRS)) --concurrency "$LIST_CONCURRENCY" --duration "${LIST_SECS}s")
  record "$round" list delim "$LIST_CONCURRENCY" shale "$line"
done
stop_shale

table=$(python3 - "$results" "$md5" "$(nproc)" <<PY
import math, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
md5 = float(sys.argv[2]); cores = int(sys.argv[3])
rounds, sizes, concs = "$ROUNDS", "$SIZES".split(), "$CONCURRENCIES".split()
mixed_sizes, mixed_c = "$MIXED_SIZES".split(), "$MIXED_CONCURRENCY"
list_objects, list_top, list_c = $LIST_OBJECTS, $list_top, "$LIST_CONCURRENCY"
OPS, MIB, OBJS, P50, P99 = 5, 6, 7, 8, 9

def med(op, size, conc, server, col):
    v = [float(r[col]) for r in rows
         if r[1] == op and r[2] == size and r[3] == str(conc) and r[4] == server]
    return statistics.median(v) if v else math.nan

def small(size):
    return size.endswith("KiB")

def fmt(v):
    return "" if math.isnan(v) else f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"

def ratio(a, b):
    return "" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:.2f}"

def target(have, want, what):
    met = "met" if have >= want else "**missed**"
    return f"{what}: {met}"

raw = med("raw", "-", 1, "fio", MIB)
out = []
out.append(f"| case (median of {rounds}) | shale | nginx | shale/nginx | shale/raw write | target | shale p50 / p99 ms |")
out.append("| --- | ---: | ---: | ---: | ---: | --- | ---: |")

def lat(op, size, conc):
    p50, p99 = med(op, size, conc, "shale", P50), med(op, size, conc, "shale", P99)
    return f"{p50 / 1000:.2f} / {p99 / 1000:.2f}"

for size in sizes:
    for op in ("get", "put"):
        for c in concs:
            col, unit = (OPS, "ops/s") if small(size) else (MIB, "MiB/s")
            s, n = med(op, size, c, "shale", col), med(op, size, c, "nginx", col)
            smib = med(op, size, c, "shale", MIB)
            # Bandwidth against bandwidth: for large objects only.
            vs_raw = ratio(smib, raw) if op == "put" and not small(size) else ""
            t = ""
            if op == "get" and size == "4KiB" and c == "64":
                t = target(s / n, 0.60, f">= 0.60 of nginx GET: {s / n:.2f}")
            elif op == "put" and size == "4KiB" and c == "64":
                ng = med("get", size, c, "nginx", OPS)
                if not math.isnan(ng):
                    t = target(s / ng, 0.25, f">= 0.25 of nginx GET ({ng:,.0f}): {s / ng:.2f}")
            elif op == "get" and size == "64MiB":
                t = target(s / n, 0.70, f">= 0.70 of nginx GET: {s / n:.2f}")
            elif op == "put" and size == "64MiB":
                hashing = md5 * min(cores, int(c))
                bound = min(raw, hashing)
                t = target(s / bound, 0.70,
                           f">= 0.70 of min(raw {raw:,.0f}, MD5 {md5:,.0f} x {min(cores, int(c))}) "
                           f"= {bound:,.0f} MiB/s: {s / bound:.2f}")
            out.append(f"| {op.upper()} {size} c{c} {unit} | {fmt(s)} | {fmt(n)} | {ratio(s, n)} "
                       f"| {vs_raw} | {t} | {lat(op, size, c)} |")
for size in mixed_sizes:
    s, n = med("mixed", size, mixed_c, "shale", OPS), med("mixed", size, mixed_c, "nginx", OPS)
    out.append(f"| MIXED {size} c{mixed_c} ops/s (45% GET, 15% PUT, 30% HEAD, 10% DELETE) "
               f"| {fmt(s)} | {fmt(n)} | {ratio(s, n)} | | | {lat('mixed', size, mixed_c)} (GET) |")
for kind, what in (("full", f"LIST full ordered walk of {list_objects:,} keys, c{list_c}, keys/s"),
                   ("delim", f"LIST prefix+delimiter (dir/ with /: {list_top:,} keys + 9 prefixes), "
                             f"c{list_c}, entries/s")):
    s = med("list", kind, list_c, "shale", OBJS)
    t = target(s, 300_000, ">= 300,000 keys/s")
    out.append(f"| {what} | {fmt(s)} | | | | {t} | {lat('list', kind, list_c)} (walk) |")
out.append(f"| raw durable sequential write MiB/s (fio, 1 MiB writes, fdatasync per 64 MiB) | | | | {fmt(raw)} | ceiling for PUT | |")
out.append(f"| MD5 MiB/s, one core (openssl speed), x {cores} cores | {fmt(md5)} | | | | | |")
print("\n".join(out))
PY
)

{
  echo "Date $(date -u +%F), commit $commit, $(nproc) cores. Command: \`$command_line\`"
  echo
  echo "$table"
  echo
  echo "Listing bucket filled with $LIST_OBJECTS empty objects by PUT at c$FILL_CONCURRENCY in $fill_secs s ($fill_rate PUT/s)."
  echo "PUT and GET: unsigned payloads; nginx PUT is WebDAV without fsync (shale's PUT is durable)."
  echo "64 MiB PUT target: MD5 cores counted up to the concurrency (one stream hashes on one core)."
} | if [ -n "$OUT" ]; then tee "$OUT"; else cat; fi
