#!/usr/bin/env python3
"""Interleaved rounds, launched as the shared harness launches (bash -c, a new
session, stdin from /dev/null, stdout to /dev/null, stderr to a log), with a 0.5 s
pause per round. The order rotates each round: whichever command runs first after
the pause is measurably slower (2-3% on this VM), so a fixed order favours the
others. Prints each command's median wall time and its geometric-mean ratio to the
first command given, in the same round, with a 95% interval. PATH starts with
/usr/local/bin:/usr/bin:/bin, as in the harness: a tool that searches PATH per job
(make) pays one failed `execve` per directory before the hit, and a long interactive
PATH made make look 3-4% slower than in the harness.

usage: scripts/measure/rounds.py ROUNDS 'command A' 'command B' ...
"""
import math
import os
import statistics
import subprocess
import sys
import time


def timed(command, log):
    start = time.perf_counter()
    child = subprocess.Popen(["bash", "-c", command], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    os.wait4(child.pid, 0)
    return time.perf_counter() - start


def main():
    rounds, commands = int(sys.argv[1]), sys.argv[2:]
    os.environ["PATH"] = "/usr/local/bin:/usr/bin:/bin:" + os.environ.get("PATH", "")
    walls = [[] for _ in commands]
    with open(os.environ.get("ROUNDS_LOG", "/tmp/rounds.log"), "ab") as log:
        for round_number in range(rounds):
            time.sleep(0.5)
            for step in range(len(commands)):
                i = (round_number + step) % len(commands)
                walls[i].append(timed(commands[i], log))
    for i, command in enumerate(commands):
        logs = [math.log(a / b) for a, b in zip(walls[i], walls[0])]
        mean = statistics.mean(logs)
        half = 1.96 * statistics.stdev(logs) / math.sqrt(rounds) if rounds > 1 else 0.0
        print(f"{command[:50]:50s} median {statistics.median(walls[i]) * 1000:7.1f} ms  "
              f"/ first {math.exp(mean):.4f} [{math.exp(mean - half):.4f}, {math.exp(mean + half):.4f}]")


if __name__ == "__main__":
    main()
