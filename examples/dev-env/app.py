#!/usr/bin/env python3
"""Stand-ins for the dev-env example's application services (only the standard
library, so the example runs anywhere python3 and redis-server are installed).

  app.py backend  --port P --redis R      pings redis, then serves GET /health
  app.py worker   --redis R --backend B   pings both, then prints its ready line
  app.py frontend --port P                serves GET /health
  app.py monitor  --urls U1,U2            polls the URLs, prints what it sees
  app.py smoke    --backend B             one request to the backend (a task)

--startup SECONDS stands for the start-up work a real service does (loading code,
migrations, warming caches); --stop SECONDS for its shutdown work.
"""
import argparse
import http.server
import signal
import socket
import sys
import threading
import time
import urllib.request


def redis_ping(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = s.recv(64)
    if not reply.startswith(b"+PONG"):
        sys.exit(f"redis on {port} answered {reply!r}")


def serve(port):
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["backend", "worker", "frontend", "monitor", "smoke"])
    p.add_argument("--port", type=int)
    p.add_argument("--redis", type=int)
    p.add_argument("--backend", type=int)
    p.add_argument("--urls", default="")
    p.add_argument("--startup", type=float, default=0.0)
    p.add_argument("--stop", type=float, default=0.0)
    a = p.parse_args()

    if a.role == "smoke":
        with urllib.request.urlopen(f"http://127.0.0.1:{a.backend}/health", timeout=5) as r:
            print(f"backend answered {r.status}")
        return

    # A plain flag: a handler that called Event.set() could deadlock on the lock
    # that Event.wait() holds in the main thread when the signal arrives.
    done = []
    signal.signal(signal.SIGTERM, lambda *_: done.append(1))
    signal.signal(signal.SIGINT, lambda *_: done.append(1))

    time.sleep(a.startup)
    if a.role == "backend":
        redis_ping(a.redis)
        serve(a.port)
        print(f"backend listening on {a.port}", flush=True)
    elif a.role == "worker":
        redis_ping(a.redis)
        urllib.request.urlopen(f"http://127.0.0.1:{a.backend}/health", timeout=5).close()
        print("Worker process is ready", flush=True)
    elif a.role == "frontend":
        serve(a.port)
        print(f"frontend listening on {a.port}", flush=True)
    elif a.role == "monitor":
        urls = [u for u in a.urls.split(",") if u]
        print("monitoring " + " ".join(urls), flush=True)
        last = 0.0
        while not done:
            time.sleep(0.02)
            if time.monotonic() - last < 1.0:
                continue
            last = time.monotonic()
            for url in urls:
                try:
                    urllib.request.urlopen(url, timeout=1).close()
                except OSError as e:
                    print(f"{url} is down: {e}", flush=True)
    while not done:
        time.sleep(0.02)
    time.sleep(a.stop)
    print(f"{a.role} stopped", flush=True)


if __name__ == "__main__":
    main()
