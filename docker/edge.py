#!/usr/bin/env python3
"""The edge proxy of the local Docker target: one fixed 127.0.0.1 address per service (python3 stdlib only).

    python3 docker/edge.py start     # idempotent; starts Caddy and the route sync, waits until both answer
    python3 docker/edge.py status    # exit 0 when both run and the sync is current
    python3 docker/edge.py stop [--purge]

Why: Docker has no Service object. Each container of a release publishes its port on a
127.0.0.1 port the engine picks, so a new release answers on new ports and a client that kept
the old one is refused once the old containers go. Here a real proxy (Caddy 2.6, Debian's
package; docs/docker.md says why Caddy and not HAProxy) listens on each service's fixed port
and forwards to the healthy containers of the service's active release.

The routing is declared by the component, never by hand: ``DockerContainerService`` (with
``edge_port``) labels each container of a release with the fixed port, the container port to
reach and the release's replica count. The route sync (``sync``, the second supervised process)
reads those labels and the containers' health from the engine (on every container event, and
at least every second) and loads the resulting configuration into Caddy through its admin API
(a unix socket in the state directory: only root reaches it). Caddy swaps configurations
gracefully: its listeners stay open, requests in flight finish on the old upstreams.

Which containers get the traffic (the Kubernetes Service's selector switch, on Docker):
per fixed port, the newest release whose every replica is running and healthy; when no
release is whole (a replica died), the newest release with a healthy container, and only its
healthy containers. So a new release gets traffic only once all its containers passed the
readiness probe (the Docker health check), before the old containers are stopped; a release
that never becomes healthy never gets any; a rollback is the same move back.

Processes are started and recorded by cluster/supervisor.py (pid + start time; nothing is
killed by name). State: .state/edge (or $IMMUTABLE_EDGE_STATE): caddy.json (the boot config),
Caddy's autosaved last config (so a restarted Caddy serves the last routes before the sync
runs again), admin.sock, sync.json (the sync's heartbeat and current routes), logs, pids.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

DOCKER_DIR = Path(__file__).resolve().parent
ROOT = DOCKER_DIR.parent
sys.path.insert(0, str(ROOT / "cluster"))
sys.path.insert(0, str(DOCKER_DIR))
from engine import _UnixConnection, unix_call  # noqa: E402 (the engine's unix-socket HTTP clients, any socket path)
from supervisor import Supervisor  # noqa: E402

STATE = Path(os.environ.get("IMMUTABLE_EDGE_STATE", ROOT / ".state" / "edge")).resolve()
ADMIN_SOCKET = STATE / "admin.sock"
BOOT_CONFIG = STATE / "caddy.json"
HEARTBEAT = STATE / "sync.json"
ORDER = ("caddy", "sync")
STALE_SECONDS = 10.0
"""The sync writes its heartbeat at least every second; older than this, it is not running."""
RESYNC_SECONDS = 1.0
CADDY = "/usr/bin/caddy"
MAX_SOCKET_PATH = 107

# The labels DockerContainerService puts on a container whose service has a fixed address
# (components/docker/run_options.py defines the same names: this file runs without the venv).
LABEL_NAME = "app.kubernetes.io/name"
LABEL_RELEASE = "immutable.dev/release"
LABEL_ROLE = "immutable.dev/role"
LABEL_EDGE_PORT = "immutable.dev/edge-port"
LABEL_EDGE_TARGET = "immutable.dev/edge-target"
LABEL_REPLICAS = "immutable.dev/replicas"
START_HINT = "python3 docker/edge.py start (scripts/deploy.sh starts it for a local-docker stack)"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class EdgeError(Exception):
    pass


def supervisor() -> Supervisor:
    return Supervisor(STATE, env=_child_env())


def _child_env() -> dict[str, str]:
    # Caddy keeps its autosaved config and data under XDG dirs: ours, never the user's home.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "DOCKER_HOST")}
    env.update({"IMMUTABLE_EDGE_STATE": str(STATE), "HOME": str(STATE),
                "XDG_CONFIG_HOME": str(STATE / "config"), "XDG_DATA_HOME": str(STATE / "data")})
    return env


# --- unix-socket HTTP (Caddy's admin API, the Docker Engine API) -------------------------------

def call(path: Path, method: str, url: str, body: object = None, timeout: float = 10.0) -> tuple[int, Any]:
    return unix_call(path, method, url, body, timeout)


def admin_answers(admin: Path = ADMIN_SOCKET) -> bool:
    try:
        return call(admin, "GET", "/config/", timeout=3)[0] == 200
    except OSError:
        return False


# --- what the routes are --------------------------------------------------------------------

def boot_config(admin: Path = ADMIN_SOCKET) -> dict[str, Any]:
    """Caddy with its admin API on our unix socket only, no automatic HTTPS, nothing listening."""
    # Host "localhost" is what our client sends over the socket; Caddy checks it.
    return {"admin": {"listen": f"unix/{admin}", "origins": ["localhost"], "config": {"persist": True}},
            "logging": {"logs": {"default": {"level": "WARN"}}}}


def choose_upstreams(containers: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Fixed port -> {"service", "release", "upstreams": ["127.0.0.1:<host port>", ...]}.

    ``containers``: rows of the Engine API's container list (running containers carrying the
    edge labels), each with ``Healthy`` added. See the module doc for the rule.
    """
    by_port: dict[int, dict[str, dict[str, Any]]] = {}
    for row in containers:
        labels = row.get("Labels") or {}
        try:
            port, target = int(labels[LABEL_EDGE_PORT]), int(labels[LABEL_EDGE_TARGET])
            replicas = int(labels.get(LABEL_REPLICAS, "1"))
        except (KeyError, ValueError):
            continue
        if labels.get(LABEL_ROLE) != "active":
            continue
        release = labels.get(LABEL_RELEASE, "")
        entry = by_port.setdefault(port, {}).setdefault(release, {
            "service": labels.get(LABEL_NAME, ""), "release": release, "replicas": replicas,
            "created": 0, "healthy": []})
        entry["created"] = max(entry["created"], int(row.get("Created", 0)))
        published = [p for p in row.get("Ports") or [] if p.get("PrivatePort") == target
                     and p.get("IP") == "127.0.0.1" and p.get("PublicPort")]
        if row.get("Healthy") and published:
            entry["healthy"].append(f"127.0.0.1:{int(published[0]['PublicPort'])}")
    routes: dict[int, dict[str, Any]] = {}
    for port, releases in by_port.items():
        newest_first = sorted(releases.values(), key=lambda r: (r["created"], r["release"]), reverse=True)
        whole = [r for r in newest_first if len(r["healthy"]) >= r["replicas"] > 0]
        some = [r for r in newest_first if r["healthy"]]
        chosen = (whole or some or [None])[0]
        routes[port] = {"service": newest_first[0]["service"],
                        "release": chosen["release"] if chosen else None,
                        "upstreams": sorted(chosen["healthy"]) if chosen else []}
    return routes


def caddy_config(routes: dict[int, dict[str, Any]], admin: Path = ADMIN_SOCKET) -> dict[str, Any]:
    servers = {}
    for port, route in sorted(routes.items()):
        if route["upstreams"]:
            handler = {
                "handler": "reverse_proxy",
                "upstreams": [{"dial": u} for u in route["upstreams"]],
                # A container that goes away between two syncs: try another for a moment
                # instead of failing the request (connections that fail are retried only
                # when nothing was sent upstream, so no request runs twice).
                "load_balancing": {"selection_policy": {"policy": "round_robin"},
                                   "try_duration": "3s", "try_interval": "100ms"},
                "health_checks": {"passive": {"fail_duration": "2s"}},
            }
        else:
            handler = {"handler": "static_response", "status_code": 503,
                       "body": f"no healthy container of {route['service']}\n", "close": True}
        servers[f"{route['service']}-{port}"] = {
            "listen": [f"127.0.0.1:{port}"],
            "routes": [{"handle": [handler]}],
            "automatic_https": {"disable": True},
        }
    config = boot_config(admin)
    if servers:
        config["apps"] = {"http": {"servers": servers}}
    return config


# --- the sync loop --------------------------------------------------------------------------

def engine_socket() -> Path:
    host = os.environ.get("DOCKER_HOST", "")
    if not host.startswith("unix://"):
        raise EdgeError("DOCKER_HOST must name the project's engine socket (python3 docker/engine.py env)")
    return Path(host.removeprefix("unix://"))


def edge_containers(engine: Path) -> list[dict[str, Any]]:
    def listing(extra: dict[str, list[str]]) -> list[dict[str, Any]]:
        filters = json.dumps({"label": [LABEL_EDGE_PORT], "status": ["running"], **extra})
        code, rows = call(engine, "GET", "/containers/json?filters=" + urllib.parse.quote(filters))
        if code != 200 or not isinstance(rows, list):
            raise EdgeError(f"engine answered {code} to the container list")
        return rows
    healthy = {r["Id"] for r in listing({"health": ["healthy"]})}
    return [{**r, "Healthy": r["Id"] in healthy} for r in listing({})]


def _watch_events(engine: Path, wake: threading.Event) -> None:
    """Wake the sync on every container event (start, health change, kill, die, destroy)."""
    while True:
        try:
            conn = _UnixConnection(engine, None)  # type: ignore[arg-type]
            filters = json.dumps({"type": ["container"], "label": [LABEL_EDGE_PORT]})
            conn.request("GET", "/events?filters=" + urllib.parse.quote(filters))
            resp = conn.getresponse()
            while resp.readline():
                wake.set()
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(1)


def sync(admin: Path = ADMIN_SOCKET) -> int:
    engine = engine_socket()
    wake = threading.Event()
    threading.Thread(target=_watch_events, args=(engine, wake), daemon=True).start()
    while True:
        wake.clear()
        try:
            routes = choose_upstreams(edge_containers(engine))
            want = caddy_config(routes, admin)
            code, have = call(admin, "GET", "/config/")
            if code == 200 and have != want:
                code, body = call(admin, "POST", "/load", want)
                if code != 200:
                    raise EdgeError(f"Caddy refused the config ({code}): {body}")
                log(f"{time.strftime('%H:%M:%S')} routes: "
                    + "; ".join(f"127.0.0.1:{p} -> {r['service']} {r['release']} {r['upstreams']}"
                                for p, r in sorted(routes.items())))
            if code == 200:
                _write_heartbeat(routes)
        except (OSError, EdgeError, http.client.HTTPException) as exc:
            log(f"{time.strftime('%H:%M:%S')} sync: {type(exc).__name__}: {exc}")
        wake.wait(RESYNC_SECONDS)


def _write_heartbeat(routes: dict[int, dict[str, Any]]) -> None:
    tmp = HEARTBEAT.with_name(".sync.json.tmp")
    tmp.write_text(json.dumps({"time": time.time(), "engine": os.environ.get("DOCKER_HOST", ""),
                               "routes": {str(p): r for p, r in sorted(routes.items())}}, indent=1) + "\n")
    os.replace(tmp, HEARTBEAT)


def heartbeat(state: Path = STATE) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((state / "sync.json").read_text())
    except (OSError, ValueError):
        return None
    return data if time.time() - float(data.get("time", 0)) < STALE_SECONDS else None


# --- commands -------------------------------------------------------------------------------

def running() -> bool:
    sup = supervisor()
    return all(sup.alive(n) for n in ORDER) and admin_answers() and heartbeat() is not None


def start(timeout: float = 30.0) -> int:
    t0 = time.monotonic()
    docker_host = os.environ.get("DOCKER_HOST") or _engine_host()
    os.environ["DOCKER_HOST"] = docker_host
    if running():
        log(f"edge proxy already running (admin {ADMIN_SOCKET})")
        return 0
    if not os.access(CADDY, os.X_OK):
        raise EdgeError(f"{CADDY} not found: install Debian's caddy (bash -c 'source scripts/lib.sh; ensure_edge_proxy')")
    if len(str(ADMIN_SOCKET)) > MAX_SOCKET_PATH:
        raise EdgeError(f"{ADMIN_SOCKET} is over the unix socket limit: set IMMUTABLE_EDGE_STATE to a shorter path")
    sup = supervisor()
    # A Caddy that runs and answers keeps serving (no gap in the listeners): only the sync restarts.
    keep_caddy = sup.alive("caddy") is not None and admin_answers()
    for name in reversed(ORDER):
        if not (name == "caddy" and keep_caddy):
            sup.terminate(name)
    STATE.mkdir(parents=True, exist_ok=True)
    STATE.chmod(0o700)  # the admin socket reconfigures the proxy: root only
    HEARTBEAT.unlink(missing_ok=True)  # "ready" must come from the sync started now
    if not keep_caddy:
        BOOT_CONFIG.write_text(json.dumps(boot_config(), indent=1) + "\n")
        # --resume: a restarted Caddy serves its last routes at once (autosave.json), before any sync.
        sup.spawn("caddy", CADDY, ["run", "--config", str(BOOT_CONFIG), "--resume"], env=_child_env())
        supervisor().wait_for("Caddy's admin API", admin_answers, timeout, ("caddy",), error=EdgeError)
    # The real path: the supervisor compares it with /proc/<pid>/exe.
    sup.spawn("sync", os.path.realpath(sys.executable), [str(Path(__file__).resolve()), "sync"], env=_child_env())
    supervisor().wait_for("the route sync", lambda: heartbeat() is not None, timeout, ORDER, error=EdgeError)
    log(f"edge proxy ready in {time.monotonic() - t0:.1f}s (Caddy {_caddy_version()}, admin {ADMIN_SOCKET}, "
        f"engine {docker_host})")
    return 0


def _engine_host() -> str:
    import engine  # the default engine's socket (IMMUTABLE_DOCKER_STATE honoured)
    return str(engine.host())


def _caddy_version() -> str:
    import subprocess
    out = subprocess.run([CADDY, "version"], capture_output=True, text=True, check=False).stdout.split()
    return out[0] if out else "?"


def stop(purge: bool = False) -> int:
    sup = supervisor()
    stopped = [n for n in reversed(ORDER) if sup.terminate(n)]
    if purge and STATE.exists():
        shutil.rmtree(STATE)
    log(f"edge proxy stopped ({', '.join(stopped) or 'nothing was running'})" + (f"; removed {STATE}" if purge else ""))
    return 0


def status() -> int:
    sup = supervisor()
    for name in ORDER:
        pid = sup.alive(name)
        log(f"{name:<6} {f'running (pid {pid})' if pid else 'not running'}")
    beat = heartbeat()
    for port, route in sorted((beat or {}).get("routes", {}).items()):
        log(f"127.0.0.1:{port} -> {route['service']} release {route['release']}: {', '.join(route['upstreams']) or 'none'}")
    return 0 if running() else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("start")
    sub.add_parser("status")
    sub.add_parser("sync", help="the route sync loop (started by `start`, under the supervisor)")
    p_stop = sub.add_parser("stop")
    p_stop.add_argument("--purge", action="store_true", help="also remove the state directory")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "start":
            return start()
        if args.cmd == "stop":
            return stop(purge=args.purge)
        if args.cmd == "sync":
            return sync()
        return status()
    except EdgeError as exc:
        log(f"docker/edge.py {args.cmd}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
