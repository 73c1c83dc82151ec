#!/usr/bin/env python3
"""A tool's own CPU time (all its threads, not its children), interleaved rounds.

`perf record -e task-clock` misleads on fork-heavy tools in a VM (the sampling
interrupts cost most in the process that forks), so this reads getrusage(RUSAGE_SELF)
at the tool's exit through a preloaded library (own_cpu.c, built here with cc).
Each command is `NAME:command`, NAME being how the tool's process names itself
(`make`, `volley`).

usage: scripts/measure/own_cpu.py ROUNDS 'make:make -s -j2 -f g/Makefile' 'volley:volley run -j2 ...'
"""
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    rounds, specs = int(sys.argv[1]), [s.split(":", 1) for s in sys.argv[2:]]
    work = tempfile.mkdtemp(prefix="own-cpu.")
    library = os.path.join(work, "own_cpu.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", library, os.path.join(HERE, "own_cpu.c")], check=True)
    log = os.path.join(work, "log")
    own = [[] for _ in specs]
    for _ in range(rounds):
        for i, (comm, command) in enumerate(specs):
            if os.path.exists(log):
                os.remove(log)
            env = dict(os.environ, LD_PRELOAD=library, OWN_CPU_COMM=comm, OWN_CPU_LOG=log)
            subprocess.run(["bash", "-c", command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(log) as lines:
                own[i].append(max(float(user) + float(system) for _, user, system in map(str.split, lines)))
    for i, (_, command) in enumerate(specs):
        print(f"{command[:60]:60s} own CPU median {statistics.median(own[i]):6.1f} ms  "
              f"mean {statistics.mean(own[i]):6.1f}  sd {statistics.stdev(own[i]) if rounds > 1 else 0:5.1f}")


if __name__ == "__main__":
    main()
