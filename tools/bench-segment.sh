#!/usr/bin/env bash
# Runs the segment store bench (raw ceiling and shale, both backends) and
# prints the Markdown table for BENCHMARKS.md. Takes about 3 minutes and
# writes ~40 GB to target/bench-data (removed per case).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf target/shale-bench
cargo bench --bench segment
python3 tools/bench_segment_report.py
