#!/usr/bin/env python3
"""Start-up and shutdown of the dev-env topology, measured (SPEC §4).

  python3 examples/dev-env/bench.py [--volley PATH] [--rounds N]

For each round, on a copy of this example with free ports:
  parallel   `volley up -d` wall time until all ready, against the critical path of
             the services' own start-up times (spawn → ready, as volley measured
             them): the overhead is what volley adds on top of the slowest chain;
  down       `volley down` wall time, against the slowest single stop and the
             critical path of stops (a service stops after its dependents);
  sequential the same services started one at a time in dependency order
             (`volley up -d redis`, then `backend`, …), as a hand-made script would.
Prints medians.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["redis", "backend", "worker", "frontend", "monitor"]
DEPS = {"redis": [], "backend": ["redis"], "worker": ["redis", "backend"], "frontend": [], "monitor": ["frontend", "backend"]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def project():
    d = tempfile.mkdtemp(prefix="volley-dev-env-")
    for f in ("volley.toml", "app.py"):
        shutil.copy(os.path.join(HERE, f), d)
    text = open(os.path.join(d, "volley.toml")).read()
    for port in ("6380", "8000", "8001"):
        text = text.replace(port, str(free_port()))
    open(os.path.join(d, "volley.toml"), "w").write(text)
    return d


def volley(exe, d, *args):
    started = time.monotonic()
    out = subprocess.run([exe, *args], cwd=d, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"volley {' '.join(args)} failed: {out.stdout}{out.stderr}")
    return time.monotonic() - started, out.stdout


def longest(weights, edges):
    memo = {}

    def path(name):
        if name not in memo:
            memo[name] = weights[name] + max((path(d) for d in edges[name]), default=0.0)
        return memo[name]

    return max(path(n) for n in weights)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--volley", default=os.path.join(HERE, "..", "..", "target", "release", "volley"))
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    exe = os.path.abspath(a.volley)
    rows = {k: [] for k in ("up", "cp", "down", "slowest", "stop_cp", "sequential")}
    for _ in range(a.rounds):
        d = project()
        try:
            wall, _ = volley(exe, d, "up", "-d")
            _, status = volley(exe, d, "status", "--json")
            services = {s["name"]: s for s in json.loads(status)["services"]["services"]}
            ready = {n: services[n]["time_to_ready_us"] / 1e6 for n in ORDER}
            rows["up"].append(wall)
            rows["cp"].append(longest(ready, DEPS))
            down_wall, down_out = volley(exe, d, "down")
            stops = {}
            for line in down_out.splitlines():
                parts = line.split()
                if line.startswith("■") and "stopped in" in line:
                    stops[parts[1]] = parse_duration(parts[4])
            dependents = {n: [m for m in ORDER if n in DEPS[m]] for n in ORDER}
            rows["down"].append(down_wall)
            rows["slowest"].append(max(stops.values()))
            rows["stop_cp"].append(longest(stops, dependents))
            started = time.monotonic()
            for name in ORDER:
                volley(exe, d, "up", "-d", name)
            rows["sequential"].append(time.monotonic() - started)
            volley(exe, d, "down")
        finally:
            subprocess.run([exe, "down"], cwd=d, capture_output=True, check=False)
            shutil.rmtree(d, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"rounds: {a.rounds} (medians)")
    print(f"up -d, all ready:        {med['up'] * 1000:7.0f} ms")
    print(f"critical path of ready:  {med['cp'] * 1000:7.0f} ms   overhead {(med['up'] - med['cp']) * 1000:.0f} ms")
    print(f"one at a time:           {med['sequential'] * 1000:7.0f} ms   ({med['sequential'] / med['up']:.2f}x the parallel start)")
    print(f"down:                    {med['down'] * 1000:7.0f} ms")
    print(f"slowest single stop:     {med['slowest'] * 1000:7.0f} ms")
    print(f"critical path of stops:  {med['stop_cp'] * 1000:7.0f} ms   overhead {(med['down'] - med['stop_cp']) * 1000:.0f} ms")


def parse_duration(text):
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1])
    raise ValueError(text)


if __name__ == "__main__":
    main()
