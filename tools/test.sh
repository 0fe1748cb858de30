#!/usr/bin/env bash
# Runs every test of shale: formatting, lints, the whole suite (unit,
# property, model, simulator, kill -9 crash, CLI and real S3 client tests)
# on the real io_uring and portable backends and the simulator, and a
# short smoke run of every cargo-fuzz target. Installs what it needs
# (pinned) itself: boto3 in a venv, the aws cli and rclone from Debian,
# cargo-fuzz.
#
#   bash tools/test.sh            # everything
#   FUZZ_SECONDS=60 bash tools/test.sh   # longer fuzz runs
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS=${FUZZ_SECONDS:-10}

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "S3 clients for the integration tests (pinned)"
BOTO3_VERSION=1.44.5
# The reference Prometheus text-format parser, for the /metrics test.
PROMETHEUS_CLIENT_VERSION=0.26.0
venv="$PWD/target/s3-venv"
if ! "$venv/bin/python" -c "import boto3, prometheus_client, sys; from importlib.metadata import version; sys.exit(boto3.__version__ != '$BOTO3_VERSION' or version('prometheus-client') != '$PROMETHEUS_CLIENT_VERSION')" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "boto3==$BOTO3_VERSION" "prometheus-client==$PROMETHEUS_CLIENT_VERSION"
fi
export SHALE_TEST_PYTHON="$venv/bin/python"
# The aws cli and rclone from Debian (a pyenv shim named aws is not one).
missing=()
/usr/bin/aws --version >/dev/null 2>&1 || missing+=(awscli)
/usr/bin/rclone version >/dev/null 2>&1 || missing+=(rclone)
if ((${#missing[@]})); then
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export SHALE_TEST_AWS=/usr/bin/aws SHALE_TEST_RCLONE=/usr/bin/rclone
"$SHALE_TEST_PYTHON" -c "import boto3; print('boto3', boto3.__version__)"
/usr/bin/aws --version
# No `| head`: under pipefail, rclone killed by SIGPIPE would fail the run.
rclone_version=$(/usr/bin/rclone version)
echo "${rclone_version%%$'\n'*}"

step "test suite"
suite_log=$(mktemp)
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --cargo-profile ci --no-fail-fast 2>&1 | tee "$suite_log"
else
  echo "cargo-nextest not found; using cargo test"
  cargo test --locked --profile ci --no-fail-fast 2>&1 | tee "$suite_log"
fi
# The plain closing line: from nextest's "N tests run: P passed, F failed"
# or the sum of cargo test's "test result: ok. P passed; F failed" lines.
counts=$(awk '
  /tests run:/ { np = 0; nf = 0
    for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) np = $i; if ($(i+1) ~ /^failed/) nf = $i }
    nextest = 1 }
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) cp += $i; if ($(i+1) ~ /^failed/) cf += $i } }
  END { if (nextest) print np + 0, nf + 0; else print cp + 0, cf + 0 }' "$suite_log")
passed=${counts% *}
failed=${counts#* }
rm -f "$suite_log"

step "fuzz smoke runs (${FUZZ_SECONDS}s per target)"
fuzz_version=$(cargo fuzz --version 2>/dev/null || true)
if [[ "$fuzz_version" != *"$CARGO_FUZZ_VERSION"* ]]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
# cargo-fuzz needs nightly flags (-Z sanitizer); the stable toolchain
# accepts them with RUSTC_BOOTSTRAP=1, which is the only toolchain here.
export RUSTC_BOOTSTRAP=1
corpus_root=$(mktemp -d)
trap 'rm -rf "$corpus_root"' EXIT
for target in $(cd fuzz && cargo fuzz list); do
  mkdir -p "$corpus_root/$target"
  (cd fuzz && cargo fuzz run "$target" "$corpus_root/$target" -- \
      -max_total_time="$FUZZ_SECONDS" -seed=1 -print_final_stats=1 2>&1 | tail -n 4)
done

echo
echo "all tests passed; fuzz targets ran ${FUZZ_SECONDS}s each without a crash"
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
