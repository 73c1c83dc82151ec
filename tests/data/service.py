#!/usr/bin/env python3
"""A stand-in service for volley's tests and the dev-env example.

Listens on --port (HTTP: GET /health answers 200) after --delay seconds, then prints
--ready-line. --ignore-term makes SIGTERM do nothing (a stubborn service);
--crash-after N exits with status 3 N seconds after starting; --stop-delay N takes
N seconds to shut down after SIGTERM. --pid-file appends the pid (for orphan tests);
--started-file appends the start time (time.time()) for ordering tests.
"""
import argparse
import http.server
import os
import signal
import sys
import threading
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", default="service")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--ready-line", default="ready")
    p.add_argument("--ignore-term", action="store_true")
    p.add_argument("--crash-after", type=float, default=None)
    p.add_argument("--stop-delay", type=float, default=0.0)
    p.add_argument("--pid-file", default=None)
    p.add_argument("--events-file", default=None)
    a = p.parse_args()

    def note(what):
        if a.events_file:
            with open(a.events_file, "a") as f:
                f.write(f"{time.time():.6f} {a.name} {what}\n")

    note("started")
    print(f"{a.name} warming", file=sys.stderr, flush=True)
    if a.pid_file:
        with open(a.pid_file, "a") as f:
            f.write(f"{os.getpid()}\n")

    # A plain flag: a handler that called Event.set() could deadlock on the lock
    # that Event.wait() holds in the main thread when the signal arrives.
    stopping = []

    def on_term(signum, frame):
        if a.ignore_term:
            print(f"{a.name}: ignoring SIGTERM", flush=True)
            return
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    time.sleep(a.delay)
    if a.port:
        class Health(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/health" else 404)
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Health)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(a.ready_line, flush=True)
    note("ready")

    started = time.time()
    while not stopping:
        if a.crash_after is not None and time.time() - started >= a.crash_after:
            print(f"{a.name}: crashing", file=sys.stderr, flush=True)
            note("crashed")
            sys.exit(3)
        time.sleep(0.02)
    time.sleep(a.stop_delay)
    print(f"{a.name}: stopped", flush=True)
    note("stopped")


if __name__ == "__main__":
    main()
