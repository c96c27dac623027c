#!/usr/bin/env python3
"""A stable loopback address for one service on the local Docker engine (python3 stdlib only).

    python3 docker/edge_proxy.py --service web [--namespace apps] [--listen 127.0.0.1:8080]

Why: Docker has no Service object. Every container of a release publishes its port on a
127.0.0.1 port the engine picks, so a new release answers on new ports, and a client that
keeps the old one is refused once the old containers are removed (see the README, "Docker:
the cutover"). This proxy plays the Kubernetes Service's part for the loopback publication:
it listens on one fixed 127.0.0.1 port and sends each new connection to a container of the
service that is running and *healthy* (Docker's health check is the readiness probe), of the
newest release that has one. So the traffic moves to the new release as soon as its first
container is healthy, before the old ones are stopped, and a stopped container is never
chosen again. Connections already open finish on the container they started on (the test
app keeps serving while it drains).

Containers are found through the Engine API on DOCKER_HOST (a unix socket) by the labels
DockerContainerService puts on them (app.kubernetes.io/name, immutable.dev/role=active); the
list is re-read at most every --refresh seconds. It only ever connects to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import _UnixConnection

LABEL_NAME = "app.kubernetes.io/name"
LABEL_ROLE = "immutable.dev/role"
LABEL_RELEASE = "immutable.dev/release"


def healthy_backends(socket_path: Path, service: str, port: int) -> list[tuple[str, int, str]]:
    """(127.0.0.1, host port, release) of the healthy containers of ``service``, newest release first."""
    filters = json.dumps({"label": [f"{LABEL_NAME}={service}", f"{LABEL_ROLE}=active"],
                          "health": ["healthy"], "status": ["running"]})
    conn = _UnixConnection(socket_path, 5.0)
    try:
        conn.request("GET", "/containers/json?filters=" + urllib.parse.quote(filters))
        resp = conn.getresponse()
        rows = json.loads(resp.read()) if resp.status == 200 else []
    except (OSError, ValueError, http.client.HTTPException):
        rows = []
    finally:
        conn.close()
    newest_first = sorted(rows, key=lambda r: r.get("Created", 0), reverse=True)
    out = []
    for row in newest_first:
        for p in row.get("Ports", []):
            if p.get("PrivatePort") == port and p.get("IP") == "127.0.0.1" and p.get("PublicPort"):
                out.append(("127.0.0.1", int(p["PublicPort"]), row["Labels"].get(LABEL_RELEASE, "")))
    if out:
        newest = out[0][2]
        out = [b for b in out if b[2] == newest]
    return out


class Proxy:
    def __init__(self, socket_path: Path, service: str, port: int, refresh: float) -> None:
        self.socket_path, self.service, self.port, self.refresh = socket_path, service, port, refresh
        self._lock = threading.Lock()
        self._backends: list[tuple[str, int, str]] = []
        self._read_at = 0.0
        self._next = 0

    def pick(self, force: bool = False) -> tuple[str, int, str] | None:
        with self._lock:
            if force or time.monotonic() - self._read_at > self.refresh:
                self._backends = healthy_backends(self.socket_path, self.service, self.port)
                self._read_at = time.monotonic()
            if not self._backends:
                return None
            self._next = (self._next + 1) % len(self._backends)
            return self._backends[self._next]

    def handle(self, client: socket.socket) -> None:
        upstream = None
        for attempt in range(2):  # a container that just went away: re-read the list once
            backend = self.pick(force=attempt > 0)
            if backend is None:
                break
            try:
                upstream = socket.create_connection(backend[:2], timeout=2)
                break
            except OSError:
                upstream = None
        if upstream is None:
            client.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def serve(self, listen: tuple[str, int]) -> None:
        with socket.create_server(listen) as server:
            print(f"edge proxy for {self.service}: http://{listen[0]}:{server.getsockname()[1]}", flush=True)
            while True:
                client, _ = server.accept()
                threading.Thread(target=self.handle, args=(client,), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--service", required=True)
    ap.add_argument("--port", type=int, default=8080, help="the container port the service publishes")
    ap.add_argument("--listen", default="127.0.0.1:0", help="loopback address to listen on (port 0: any)")
    ap.add_argument("--refresh", type=float, default=0.5, help="seconds between reads of the container list")
    args = ap.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if host != "127.0.0.1":
        ap.error("--listen must be on 127.0.0.1")
    docker_host = os.environ.get("DOCKER_HOST", "")
    if not docker_host.startswith("unix://"):
        ap.error("DOCKER_HOST must be a unix:// socket (python3 docker/engine.py env)")
    Proxy(Path(docker_host.removeprefix("unix://")), args.service, args.port, args.refresh).serve((host, int(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
