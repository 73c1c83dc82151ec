#!/usr/bin/env bash
# The 2000-task graph through the shared harness, with each round's walls kept, and
# volley's time over make's and ninja's round by round (geometric mean, 95%
# interval). The harness's own table gives medians of each tool and of each tool's
# ratio to ninja, which on this 2-core VM scatter by ±3% between runs; the paired
# ratio to make is the measure of "no slower than make".
#
# It runs a copy of ../shared/bench whose harness also writes the rounds into its
# JSON (one line changed, with sed; the shared copy is left alone).
#
# usage: scripts/measure/graph_pairs.sh [RUNS]   (default 21; results in $BENCH_OUT)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
cp -r "${BENCH:-$root/../shared/bench}/." "$copy"
sed -i 's/out = {"title": a.title,/out = {"rounds": rounds, "title": a.title,/' "$copy/lib/harness.py"
grep -q '"rounds": rounds' "$copy/lib/harness.py" || { echo "the harness changed: cannot keep its rounds" >&2; exit 1; }
export BENCH_OUT="${BENCH_OUT:-/tmp/volley-graph-pairs}"
BENCH="$copy" RUNS="${1:-21}" bash "$root/scripts/bench.sh" graph
python3 - "$BENCH_OUT/graph.json" <<'PY'
import json, math, statistics, sys

data = json.load(open(sys.argv[1]))
for other in ("make -j2", "ninja -j2"):
    logs = [math.log(r["volley"] / r[other]) for r in data["rounds"] if "volley" in r and other in r]
    mean = statistics.mean(logs)
    half = 1.96 * statistics.stdev(logs) / math.sqrt(len(logs))
    print(f"volley / {other}, {len(logs)} rounds: {math.exp(mean):.3f} "
          f"[{math.exp(mean - half):.3f}-{math.exp(mean + half):.3f}]")
PY
