"""Helpers for the Docker engine tests: the project's own engine, registry and Pulumi program.

Each test session starts its own Docker engine (docker/engine.py in a temp state dir: own data
root, socket and containerd) and its own registry on a free 127.0.0.1 port with the test app's
images pushed (registry/local.py), and stops and purges both at the end, so a developer's
.state/ is never touched. The program in tests/docker/program deploys plan.json with the real
Pulumi CLI and the bridged Docker provider built by toolchain/build.py.

In CI (CI=true) a missing piece fails the session instead of skipping it: the tests must run.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "toolchain"))
from pulumi_env import pulumi_env  # noqa: E402

PULUMI = ROOT / ".toolchain" / "bin" / "pulumi"
DOCKER_PLUGIN = ROOT / ".toolchain" / "bin" / "pulumi-resource-docker"
CLUSTER_BIN = ROOT / ".toolchain" / "cluster" / "bin"
ENGINE = ROOT / "docker" / "engine.py"
EDGE = ROOT / "docker" / "edge.py"
CADDY = "/usr/bin/caddy"
PROBE = CLUSTER_BIN / "probe"
REGISTRY = ROOT / "registry" / "local.py"
PROGRAM = pathlib.Path(__file__).resolve().parent / "program"
DOCKER_CLI = "/usr/bin/docker"
"""Debian's client, the same version as the engine (another `docker` may be first on PATH)."""
PASSPHRASE = "docker-engine-tests-only"


def missing() -> str | None:
    """Why the Docker engine tests cannot run here, or None."""
    why = []
    for binary in ("dockerd", "containerd", "runc"):
        if shutil.which(binary, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            why.append(f"{binary} (bash -c 'source scripts/lib.sh; ensure_docker_packages')")
    if not os.path.exists(DOCKER_CLI):
        why.append(f"{DOCKER_CLI} (Debian docker.io)")
    if not os.path.exists(CADDY):
        why.append(f"{CADDY} (bash -c 'source scripts/lib.sh; ensure_edge_proxy')")
    if not PULUMI.exists() or not DOCKER_PLUGIN.exists():
        why.append(f"{PULUMI.name} / {DOCKER_PLUGIN.name} (python3 toolchain/build.py)")
    for binary in ("registry", "imagetool", "testapp", "pause", "probe"):  # push-images packs pause too
        if not (CLUSTER_BIN / binary).exists():
            why.append(f"{binary} (python3 cluster/build.py --only {binary})")
    return "missing: " + ", ".join(why) if why else None


@dataclass
class Engine:
    state: pathlib.Path
    host: str = ""
    start_seconds: float = 0.0

    def env(self) -> dict[str, str]:
        return {**os.environ, "IMMUTABLE_DOCKER_STATE": str(self.state)}

    def ctl(self, *args: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(ENGINE), *args], env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def docker_env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", ""), "DOCKER_HOST": self.host,
                "DOCKER_CONFIG": str(self.state / "cli"), "HOME": str(self.state)}

    def docker(self, *args: str, check: bool = True, timeout: int = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([DOCKER_CLI, *args], capture_output=True, text=True, timeout=timeout,
                              env=self.docker_env())
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def inspect(self, name: str) -> dict[str, Any]:
        data: list[dict[str, Any]] = json.loads(self.docker("inspect", name).stdout)
        return data[0]

    def containers(self, **labels: str) -> list[dict[str, Any]]:
        """``docker ps -a`` rows (JSON) filtered by labels, sorted by name."""
        filters = [a for k, v in labels.items() for a in ("--filter", f"label={k}={v}")]
        out = self.docker("ps", "-a", "--no-trunc", "--format", "{{json .}}", *filters).stdout
        return sorted((json.loads(line) for line in out.splitlines() if line.strip()), key=lambda c: c["Names"])

    def names(self, **labels: str) -> list[str]:
        return [c["Names"] for c in self.containers(**labels)]


@dataclass
class Registry:
    state: pathlib.Path
    address: str = ""
    images: dict[str, dict[str, str]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**os.environ, "IMMUTABLE_REGISTRY_STATE": str(self.state), "IMMUTABLE_REGISTRY_PORT": "0"}

    def ctl(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(REGISTRY), *args], env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def ref(self, version: str) -> str:
        """``127.0.0.1:<port>/testapp@sha256:...`` of a test-app version."""
        return self.images[f"testapp:{version}"]["ref"]


@dataclass
class Stack:
    """The test program in a temp dir, with its own file backend, deploying to ``engine``."""

    dir: pathlib.Path
    env: dict[str, str]

    @classmethod
    def create(cls, tmp: pathlib.Path, engine: Engine, name: str = "story", edge: Edge | None = None) -> Stack:
        project = tmp / "project"
        shutil.copytree(PROGRAM, project, ignore=shutil.ignore_patterns("__pycache__", "plan.json"))
        meta = (project / "Pulumi.yaml").read_text().replace("virtualenv: .venv", f"virtualenv: {sys.prefix}")
        (project / "Pulumi.yaml").write_text(meta)
        backend = tmp / "backend"
        backend.mkdir()
        env = pulumi_env(ROOT, backend_url=backend.as_uri())
        env["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        env["DOCKER_HOST"] = engine.host
        env["IMMUTABLE_PROBE_BINARY"] = str(PROBE)
        env["IMMUTABLE_EDGE_STATE"] = str(edge.state if edge else tmp / "no-edge-proxy")
        stack = cls(project, env)
        stack.pulumi("stack", "init", name, "--secrets-provider", "passphrase")
        return stack

    def pulumi(self, *args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(PULUMI), *args, "--non-interactive"], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def plan(self, *services: dict[str, Any]) -> None:
        """``services``: ``{"spec": ..., "kept": [...]}`` entries."""
        (self.dir / "plan.json").write_text(json.dumps({"services": list(services)}, indent=1))

    def up(self, *services: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        self.plan(*services)
        return self.pulumi("up", "--yes", "--skip-preview", check=check)

    def outputs(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.pulumi("stack", "output", "--json").stdout)
        return out

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.pulumi("stack", "export").stdout)
        return out


# --- traffic --------------------------------------------------------------------------------

@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    versions: list[tuple[float, str]] = field(default_factory=list)
    """(seconds since start, version that answered) of every successful request, in order."""
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"sent": self.sent, "ok": self.ok, "failed": self.failed, "errors": dict(self.errors),
                "answered": self.answered(), "seconds": round(self.seconds, 1)}

    def answered(self) -> list[str]:
        """The versions that answered, in order of first answer."""
        seen: list[str] = []
        for _, v in self.versions:
            if v not in seen:
                seen.append(v)
        return seen


def moved_at(result: LoadResult, version: str) -> dict[str, float]:
    """Seconds from the start of the load (which starts with the update) to the first answer of ``version``."""
    first = next((t for t, v in result.versions if v == version), None)
    return {"first_answer_of_new_release_s": round(first, 2)} if first is not None else {}


def json_version(body: bytes) -> str:
    """The test app's answer: JSON with its ``version``."""
    return str(json.loads(body).get("version"))


class LoadGenerator:
    """Sends GET / to a URL on 127.0.0.1 in a thread until stopped, bounded in count and time.

    Every request is counted: a refused connection, a reset, a timeout or a non-200 answer is a
    failure, with its kind in ``errors``. ``url_source`` is called before every request so the
    generator follows a published port that changes (Docker picks a new host port for each
    new container: there is no Service address that stays). ``answered_by`` names what answered
    from the body (default: the test app's JSON ``version``); a body it cannot read is a failure.
    """

    def __init__(self, url_source: Any, *, interval: float = 0.02, max_requests: int = 20000,
                 max_seconds: float = 600.0, timeout: float = 2.0,
                 answered_by: Callable[[bytes], str] = json_version) -> None:
        self.url_source = url_source
        self.answered_by = answered_by
        self.interval, self.max_requests, self.max_seconds, self.timeout = interval, max_requests, max_seconds, timeout
        self.result = LoadResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LoadGenerator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        self._thread.join(timeout=self.max_seconds + 10)
        return self.result

    def _run(self) -> None:
        start = time.monotonic()
        r = self.result
        while not self._stop.is_set() and r.sent < self.max_requests and time.monotonic() - start < self.max_seconds:
            url = self.url_source()
            r.sent += 1
            try:
                if not url.startswith("http://127.0.0.1:"):
                    raise ValueError(f"refusing a non-loopback URL {url!r}")
                with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                    who = self.answered_by(resp.read())
                r.ok += 1
                r.versions.append((time.monotonic() - start, who))
            except urllib.error.HTTPError as exc:
                r.failed += 1
                r.errors[f"HTTP {exc.code}"] += 1
            except (OSError, ValueError, http.client.HTTPException) as exc:
                r.failed += 1
                reason = getattr(exc, "reason", exc)
                r.errors[type(reason).__name__] += 1
            time.sleep(self.interval)
        r.seconds = time.monotonic() - start


@dataclass
class Edge:
    """The project's edge proxy (docker/edge.py: Caddy + the route sync) for one engine, with its
    own state directory."""

    state: pathlib.Path
    engine: Engine

    def env(self) -> dict[str, str]:
        return {**os.environ, "IMMUTABLE_EDGE_STATE": str(self.state), "DOCKER_HOST": self.engine.host}

    def ctl(self, *args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(EDGE), *args], env=self.env(), capture_output=True, text=True,
                              timeout=timeout)

    def routes(self) -> dict[str, Any]:
        """The route sync's current routes: fixed port -> {service, release, upstreams}."""
        out: dict[str, Any] = json.loads((self.state / "sync.json").read_text())["routes"]
        return out

    def routed(self, port: int, release: str, timeout: float = 15.0) -> dict[str, Any]:
        """The route of fixed ``port`` once the proxy sends it to ``release`` (the sync follows the engine's events)."""
        deadline = time.monotonic() + timeout
        route: dict[str, Any] = {}
        while time.monotonic() < deadline:
            route = self.routes().get(str(port), {})
            if route.get("release") == release:
                return route
            time.sleep(0.1)
        raise AssertionError(f"the edge proxy did not route {port} to {release} within {timeout:.0f}s: {route}")


def get(url: str, timeout: float = 3.0) -> dict[str, Any]:
    assert url.startswith("http://127.0.0.1:"), url
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        out: dict[str, Any] = json.loads(resp.read())
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
