#!/usr/bin/env python3
"""Turns the criterion medians of `cargo bench --bench segment` into the
Markdown table of BENCHMARKS.md: per case the median time per append, the
bandwidth, and the ratios the segment store issue asks for, all against the
raw pwrite+fdatasync ceiling measured in the same run."""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target"
crit = root / "criterion" / "segment_append"
stats = root / "shale-bench"
SIZES = {"4KiB": 4096, "1MiB": 1 << 20}


def median_ns(func, param):
    p = crit / func / param / "new" / "estimates.json"
    if not p.exists():
        return None
    return json.loads(p.read_text())["median"]["point_estimate"]


def mib_s(size, ns):
    return size / (1 << 20) / (ns / 1e9)


def fmt_t(ns):
    return f"{ns / 1000:.1f} µs" if ns < 1e6 else f"{ns / 1e6:.2f} ms"


rows = ["| case | median per append | MiB/s | fdatasync per append | ratio |",
        "| --- | ---: | ---: | ---: | --- |"]
raw = {}
for label, size in SIZES.items():
    ns = median_ns("raw_pwrite_fdatasync", f"{label}_c1")
    if ns is None:
        sys.exit("no raw baseline found: run `cargo bench --bench segment` first")
    raw[label] = ns
    rows.append(f"| raw pwrite+fdatasync {label}, 1 writer | {fmt_t(ns)} | {mib_s(size, ns):.0f} | 1 | ceiling |")

for backend in ["io_uring", "portable"]:
    func = f"shale_durable_{backend}"
    for label, size in SIZES.items():
        c1 = median_ns(func, f"{label}_c1")
        for conc in [1, 64]:
            ns = median_ns(func, f"{label}_c{conc}")
            if ns is None:
                continue
            s = stats / f"segment-{backend}-{label}-c{conc}.json"
            per = "?"
            if s.exists():
                d = json.loads(s.read_text())
                per = f"{d['syncs'] / max(d['appends'], 1):.3f}"
            bw = mib_s(size, ns)
            ratios = [f"{bw / mib_s(SIZES['1MiB'], raw['1MiB']):.0%} of raw 1 MiB bandwidth"]
            if label == "1MiB" and conc == 1:
                ratios = [f"{raw['1MiB'] / ns:.0%} of raw 1 MiB bandwidth"]
            if conc == 64 and c1:
                ratios.append(f"{c1 / ns:.1f}x the 1-appender rate")
            if label == "4KiB" and conc == 1:
                ratios = [f"{raw['4KiB'] / ns:.0%} of the raw 4 KiB rate"]
            rows.append(f"| shale durable append ({backend}) {label}, {conc} appender(s) | {fmt_t(ns)} | {bw:.0f} | {per} | {'; '.join(ratios)} |")

print("\n".join(rows))
