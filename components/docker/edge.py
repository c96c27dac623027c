"""The service's fixed address on the local Docker target, and the probe binary: the checks
``DockerContainerService`` makes before it registers anything.

The edge proxy (docker/edge.py in the project: Caddy plus a route sync, under the project's
supervisor) serves each service's fixed port on 127.0.0.1 and forwards to the healthy
containers of its active release, which it learns from the labels the component puts on
them (``run_options.edge_labels``). A deploy with a fixed address while the proxy is not
running would leave the address dead: it is refused up front, naming how to start it.

HTTP and TCP probes run as the project's static probe binary (docker/probe), mounted
read-only into each container; a missing binary is refused up front too.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

from ..container_spec import ContainerServiceSpec
from ..errors import Problem, SpecError
from . import run_options as ro

EDGE_STATE_ENV = "IMMUTABLE_EDGE_STATE"
PROBE_BINARY_ENV = "IMMUTABLE_PROBE_BINARY"
DEFAULT_EDGE_STATE = Path(".state") / "edge"
"""Relative to the program's directory (the project root for the example stacks)."""
STALE_SECONDS = 10.0
"""The route sync writes its heartbeat at least every second (docker/edge.py)."""
START_HINT = ("start it with `python3 docker/edge.py start` (scripts/deploy.sh starts it for a "
              "local-docker stack)")
BUILD_HINT = ("build it with `python3 cluster/build.py --only probe` (.toolchain/cluster/bin/probe) and pass "
              f"probe_binary=<path> or set {PROBE_BINARY_ENV}")


EDGE_PORT_BASE = 18000
EDGE_PORT_SPAN = 1000


def default_edge_port(service: str) -> int:
    """A fixed port derived from the service's name alone (18000-18999), so it never moves when
    other services come or go; a stack checks that its services' ports differ."""
    return EDGE_PORT_BASE + int(hashlib.sha256(service.encode()).hexdigest()[:8], 16) % EDGE_PORT_SPAN


def edge_state(given: str | None = None) -> Path:
    return Path(given or os.environ.get(EDGE_STATE_ENV) or DEFAULT_EDGE_STATE).resolve()


def edge_running(state: Path) -> str | None:
    """None when the proxy answers (admin socket open, route sync current), else why not."""
    try:
        beat = json.loads((state / "sync.json").read_text())
        age = time.time() - float(beat["time"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"no route sync heartbeat in {state}"
    if age > STALE_SECONDS:
        return f"the route sync's last heartbeat is {age:.0f}s old"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(str(state / "admin.sock"))
        except OSError as exc:
            return f"Caddy's admin socket {state / 'admin.sock'} does not answer ({exc.strerror or exc})"
    return None


def require_edge_proxy(given_state: str | None = None) -> None:
    """Raise ``SpecError`` unless the edge proxy runs: call it before registering anything of a
    stack whose services have fixed addresses (the components check too, but a stack registers
    other resources, its networks, before them)."""
    state = edge_state(given_state)
    why = edge_running(state)
    if why:
        raise SpecError("edge proxy", [Problem("edge proxy", state.as_posix(), f"not running: {why}; nothing was "
                                               "deployed", START_HINT)])


def edge_port_problems(spec: ContainerServiceSpec, edge_port: int | None) -> list[Problem]:
    """What is wrong with ``edge_port`` itself, whatever the proxy does."""
    if edge_port is None:
        return []
    if isinstance(edge_port, bool) or not isinstance(edge_port, int) or not 1024 <= edge_port <= 65535:
        # DockerContainerService validates the value itself with its other args; kept for other callers.
        return [Problem("edge_port", repr(edge_port), "not a port the edge proxy may listen on",
                        "give an int from 1024 to 65535")]
    if not ro.publishes(spec):
        return [Problem("edge_port", str(edge_port), "the service is not published (no expose.ingress reachable "
                        "by the ingress controller), so there is nothing to route to",
                        "remove edge_port, or expose the service (expose.ingress and network.ingress_from: "
                        "[{ingress_controller: true}])")]
    return []


def edge_problems(spec: ContainerServiceSpec, edge_port: int | None, state: Path) -> list[Problem]:
    """The proxy runs, and ``edge_port`` is free or already this service's (ask only about a
    spec with no other problem: ``edge_port_problems`` first)."""
    if edge_port is None:
        return []
    why = edge_running(state)
    if why:
        return [Problem("edge_port", str(edge_port), f"the edge proxy is not running: {why}; nothing was deployed",
                        START_HINT)]
    owner = edge_routes(state).get(str(edge_port), {}).get("service")
    if owner and owner != spec.name:
        # Two services on one fixed port: the proxy would send one service's clients to the other.
        return [Problem("edge_port", str(edge_port), f"the edge proxy already routes this port to service "
                        f"{owner!r}", "give this service another edge_port (or remove the other service first)")]
    return []


def edge_routes(state: Path) -> dict[str, dict[str, object]]:
    """The route sync's current routes (fixed port -> service, release, upstreams), or {}."""
    try:
        routes: object = json.loads((state / "sync.json").read_text()).get("routes", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(routes, dict):
        return {}
    return {str(port): route for port, route in routes.items() if isinstance(route, dict)}


def probe_binary(given: str | None = None) -> str | None:
    return given or os.environ.get(PROBE_BINARY_ENV) or None


def probe_problems(spec: ContainerServiceSpec, binary: str | None) -> list[Problem]:
    if not ro.needs_probe_binary(spec):
        return []
    kind = "http_get" if spec.probes.readiness.http_get is not None else "tcp_port"
    if binary is None:
        return [Problem(f"probes.readiness.{kind}", "set", "Docker runs HTTP and TCP probes with the project's "
                        "probe binary (no shell in the image), and none was given", BUILD_HINT)]
    path = Path(binary)
    if not path.is_absolute() or not path.is_file() or not os.access(path, os.X_OK):
        return [Problem("probe_binary", binary, "not an absolute path to an executable file", BUILD_HINT)]
    return []
