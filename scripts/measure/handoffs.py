#!/usr/bin/env python3
"""How long a slot stays empty between tasks: from scheduler events (`perf record
-e sched:sched_process_fork,sched:sched_process_exit`), for each task the tool
forks after another task has exited, the time from that exit to the fork. Also
the share of the run (first fork to last exit) with fewer than SLOTS tasks alive.

usage: scripts/measure/handoffs.py RUNS SLOTS TASK_COMM 'command' ...   (e.g. 5 2 true 'make -s -j2 ...')
"""
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

EVENT = re.compile(r"^\s*\S+\s+(\d+)\s.*?\s(\d+\.\d+):\s+sched:(sched_process_\w+):(.*)")


def events(command, data):
    subprocess.run(["perf", "record", "-q", "-e", "sched:sched_process_fork,sched:sched_process_exit",
                    "-o", data, "--"] + command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = subprocess.run(["perf", "script", "-i", data], capture_output=True, text=True).stdout
    return [(float(m[2]), int(m[1]), m[3], m[4]) for m in map(EVENT.match, text.splitlines()) if m]


def one(command, slots, task_comm, data):
    evs = events(command, data)
    root = evs[0][1]
    tasks = {int(re.search(r" pid=(\d+)", r)[1]) for _, _, e, r in evs
             if e == "sched_process_exit" and f"comm={task_comm} " in r}
    alive, last_event, last_exit, short, gaps, first, end = 0, None, None, 0.0, [], None, None
    for t, pid, e, rest in evs:
        if e == "sched_process_fork":
            child = int(re.search(r"child_pid=(\d+)", rest)[1])
            if pid != root or child not in tasks:
                continue
            first = t if first is None else first
        elif int(re.search(r" pid=(\d+)", rest)[1]) not in tasks:
            continue
        if last_event is not None and alive < slots:
            short += (t - last_event) * (slots - alive)
        if e == "sched_process_fork":
            if last_exit is not None:
                gaps.append(t - last_exit)
                last_exit = None
            alive += 1
        else:
            alive -= 1
            last_exit = end = t
        last_event = t
    span = end - first
    return span * 1e3, short / (span * slots), statistics.median(gaps) * 1e6


def main():
    runs, slots, task_comm, commands = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    data = tempfile.mktemp(suffix=".perf")
    results = [[one(shlex.split(c), slots, task_comm, data) for _ in range(runs)] for c in commands]
    for command, rows in zip(commands, results):
        span, short, gap = (statistics.median(col) for col in zip(*rows))
        print(f"{command[:50]:50s} span {span:7.1f} ms  slots empty {short:5.1%}  exit-to-fork median {gap:6.1f} µs")


if __name__ == "__main__":
    main()
