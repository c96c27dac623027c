#!/usr/bin/env python3
"""A bounded load generator of our own (issue #21), stdlib only.

    python3 tests/cluster/load.py --url http://10.96.12.34/ --out load.jsonl \
        [--rate 40] [--workers 4] [--max-seconds 300] [--max-requests 20000] [--stop-file F]

Sends GET requests at a fixed rate, each on a new TCP connection (a kept-alive connection
would hide the moment kube-proxy moves new connections to other pods), and writes one JSON
line per request: start time (Unix seconds), duration, HTTP status or error, and the
release that answered (the test app's X-Version / X-Release headers, its pod from the body).
Stops at whichever comes first: --max-seconds, --max-requests, or the stop file appearing.
Bounded on purpose: it never runs unattended, never exceeds its count or time.

Targets only what the tests allow: 127.0.0.1, or (run through `ip netns exec` in a network
namespace the tests created) a Service address of the project's own cluster.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

HARD_MAX_SECONDS = 900
HARD_MAX_REQUESTS = 100_000


def one(host: str, port: int, path: str, timeout: float) -> dict[str, object]:
    t0 = time.time()
    rec: dict[str, object] = {"t": t0}
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read()
        rec["status"] = resp.status
        rec["version"] = resp.getheader("X-Version")
        rec["release"] = resp.getheader("X-Release")
        try:
            rec["pod"] = json.loads(body).get("pod")
        except ValueError:
            rec["pod"] = None
    except (OSError, http.client.HTTPException) as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    rec["ms"] = round((time.time() - t0) * 1000, 1)
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rate", type=float, default=40.0, help="requests per second, all workers together")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds per request")
    ap.add_argument("--max-seconds", type=float, default=300.0)
    ap.add_argument("--max-requests", type=int, default=20_000)
    ap.add_argument("--stop-file", default=None)
    args = ap.parse_args(argv)
    url = urllib.parse.urlsplit(args.url)
    host, port, path = url.hostname or "127.0.0.1", url.port or 80, url.path or "/"
    max_seconds = min(args.max_seconds, HARD_MAX_SECONDS)
    max_requests = min(args.max_requests, HARD_MAX_REQUESTS)
    interval = 1.0 / max(args.rate, 0.1)
    lock = threading.Lock()
    state = {"next": time.monotonic(), "sent": 0}
    stop = threading.Event()
    deadline = time.monotonic() + max_seconds
    out = open(args.out, "a", buffering=1)  # noqa: SIM115 - shared by the workers, closed after join

    def worker() -> None:
        while not stop.is_set():
            with lock:
                if state["sent"] >= max_requests:
                    stop.set()
                    return
                slot = state["next"]
                state["next"] = slot + interval
                state["sent"] += 1
            delay = slot - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if time.monotonic() > deadline or (args.stop_file and os.path.exists(args.stop_file)):
                stop.set()
                return
            rec = one(host, port, path, args.timeout)
            with lock:
                out.write(json.dumps(rec) + "\n")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, args.workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
