#!/usr/bin/env bash
# Benchmarks volley against its peers with the shared harness (../shared/bench) and
# measures volley's own figures; docs/benchmarks.md records the results.
#
# usage: scripts/bench.sh [spawn|graph|dag|output|own|record|all]...   (default: all)
# Results: the harness's tables in $BENCH_OUT (default /tmp/volley-bench-results),
# volley's own figures on stdout. Run it on a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bench="${BENCH:-$root/../shared/bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/volley-bench-target}"
export BENCH_OUT="${BENCH_OUT:-/tmp/volley-bench-results}"
mkdir -p "$BENCH_OUT"

cargo build --quiet --release --manifest-path "$root/Cargo.toml"
volley="$CARGO_TARGET_DIR/release/volley"
export CANDIDATE_NAME=volley

spawn() {
    CANDIDATE="$volley exec -j \"\$J\" --output quiet true < \"\$ITEMS\"" CANDIDATE_NAME="volley exec" \
        bash "$bench/spawn.sh"
    CANDIDATE="$volley run -j \"\$J\" --output quiet -f \"\$FLATDIR/volley.toml\"" CANDIDATE_NAME="volley run" \
        bash "$bench/spawn.sh"
}

graph() {
    CANDIDATE="$volley run -j \"\$J\" --output quiet -f \"\$DAGDIR/volley.toml\"" \
        CANDIDATE_DRY="$volley run --dry-run -f \"\$DAGDIR/volley.toml\"" \
        bash "$bench/graph.sh"
}

dag() {
    # The harness runs the candidate once untimed first, so that history exists.
    CANDIDATE="$volley run -j \"\$J\" --output quiet -f \"\$DAGDIR/volley.toml\"" \
        CANDIDATE_NAME="volley (history)" bash "$bench/dag.sh" all
    # Without history: every task counts 1 s, so priorities follow the graph's shape.
    CANDIDATE="rm -rf \"\$DAGDIR/.volley\"; $volley run -j \"\$J\" --output quiet -f \"\$DAGDIR/volley.toml\"" \
        CANDIDATE_NAME="volley (no history)" RUNS="${RUNS:-3}" bash "$bench/dag.sh" all
}

output() {
    # Run from a scratch directory: volley exec keeps its logs in ./.volley there.
    local dir
    dir="$(mktemp -d)"
    (cd "$dir" && CANDIDATE="$volley exec -j4 --output prefixed cat ::: \$FILES" bash "$bench/output.sh")
    rm -rf "$dir"
}

# volley's own figures: start-up, validation, planning, memory.
own() {
    local dir
    dir="$(mktemp -d)"
    printf '[tasks.one]\nrun = "true"\n' >"$dir/volley.toml"
    "$volley" run -f "$dir/volley.toml" >/dev/null # history exists from here on
    echo "## one-task run (volley run of \`true\`), history on"
    hyperfine -N -w 5 -r 50 "$volley run --output quiet -f $dir/volley.toml" 2>/dev/null | grep -E "Time|Range"

    echo "## one-task run, time until its task starts (history on)"
    first_task_latency "$dir"

    python3 "$bench/lib/gen_dag.py" large "$dir/g5000" --tasks 5000 --deps 3 --seed 7 --cmd true >/dev/null
    echo "## volley check of a 5000-task file"
    hyperfine -N -w 3 -r 20 "$volley check -f $dir/g5000/volley.toml" 2>/dev/null | grep -E "Time|Range"

    python3 "$bench/lib/gen_dag.py" large "$dir/g2000" --tasks 2000 --deps 3 --seed 7 --cmd true >/dev/null
    "$volley" run -j 2 --output quiet -f "$dir/g2000/volley.toml" >/dev/null
    echo "## load + plan of the 2000-task graph (volley run --dry-run, history on)"
    hyperfine -N -w 3 -r 20 "$volley run --dry-run -f $dir/g2000/volley.toml" 2>/dev/null | grep -E "Time|Range"
    echo "## peak RSS of volley running the 2000-task graph (-j 2)"
    /usr/bin/time -f "%M KiB" "$volley" run -j 2 --output quiet -f "$dir/g2000/volley.toml" 2>&1 >/dev/null | tail -1

    echo "## 100 000 items from stdin (volley exec -j 2 --output quiet true): wall, peak RSS"
    seq 100000 >"$dir/items"
    (cd "$dir" && /usr/bin/time -f "%e s, %M KiB" "$volley" exec -j 2 --output quiet true <"$dir/items" 2>&1 >/dev/null | tail -1)
    rm -rf "$dir"
}

# From volley's exec to its only task's exec: the task prints the time it started
# (`date +%s%N`), less how long `date` itself takes to get there when started
# directly. Medians of 50 runs each.
first_task_latency() {
    local dir="$1/latency"
    mkdir -p "$dir"
    printf '[tasks.clock]\nrun = "date +%%s%%N"\n' >"$dir/volley.toml"
    "$volley" run -f "$dir/volley.toml" >/dev/null # history exists from here on
    VOLLEY="$volley" TOML="$dir/volley.toml" python3 - <<'PY'
import os, statistics, subprocess, time

def started_after(argv):
    t0 = time.time_ns()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    stamp = next(int(w) for line in out.splitlines() for w in line.split() if w.isdigit() and len(w) > 15)
    return (stamp - t0) / 1e6

volley = [os.environ["VOLLEY"], "run", "--output", "prefixed", "-f", os.environ["TOML"]]
through = statistics.median(started_after(volley) for _ in range(50))
direct = statistics.median(started_after(["date", "+%s%N"]) for _ in range(50))
print(f"  task started {through:.2f} ms after volley's exec; date alone {direct:.2f} ms; volley's share {through - direct:.2f} ms")
PY
}

# Recording: a 2000-task run with and without history, report generation, history size.
record() {
    local dir
    dir="$(mktemp -d)"
    python3 "$bench/lib/gen_dag.py" large "$dir/on" --tasks 2000 --deps 3 --seed 7 --cmd true >/dev/null
    cp -r "$dir/on" "$dir/off"
    # A directory where the database file should be: volley warns once and records nothing.
    mkdir -p "$dir/off/.volley/history.db"
    echo "## 2000 true tasks, -j 2: recorded vs not recorded"
    hyperfine -N -w 1 -r 10 \
        "$volley run -j 2 --output quiet -f $dir/on/volley.toml" \
        "$volley run -j 2 --output quiet -f $dir/off/volley.toml" 2>/dev/null | grep -E "Time|Range|±|faster"
    echo "## volley report of that 2000-task run"
    for format in text json html trace junit; do
        hyperfine -N -w 2 -r 10 -n "$format" \
            "$volley report --format $format -f $dir/on/volley.toml -o $dir/report.out" 2>/dev/null | grep -E "Time"
    done
    echo "## history size after 1000 runs of a 10-task project"
    mkdir -p "$dir/small"
    for i in $(seq 10); do printf '[tasks.t%d]\nrun = "true"\n' "$i"; done >"$dir/small/volley.toml"
    for _ in $(seq 1000); do "$volley" run -j 2 --output quiet -f "$dir/small/volley.toml" >/dev/null; done
    du -h "$dir/small/.volley/history.db" "$dir/on/.volley/history.db"
    rm -rf "$dir"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] || [ "${targets[0]}" = all ] && targets=(own spawn graph dag output record)
for target in "${targets[@]}"; do
    case "$target" in
        spawn | graph | dag | output | own | record) "$target" ;;
        *) echo "unknown benchmark: $target (spawn|graph|dag|output|own|record|all)" >&2; exit 2 ;;
    esac
done
