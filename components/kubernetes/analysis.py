"""The cutover analysis itself (issue #33), plain Python, testable without Pulumi.

After a new release is ready and before its Service moves, :func:`analyse` sends bounded
synthetic requests to the release through its release-scoped Service (by the API server's
service proxy, with the stack's own kubeconfig: it works wherever ``pulumi up`` reaches the
cluster, no route to pod or Service addresses needed) and evaluates the spec's query against
Prometheus every ``interval_seconds`` for ``duration_seconds``:

* the first evaluation that fails the threshold fails the analysis at once;
* it passes only at the end, and only if at least one evaluation had data;
* Prometheus unreachable, a refused query, or no data at all: it fails (fails closed).

Every failure is :class:`AnalysisFailed`, whose message names the query, the measured value
and the threshold.
"""

from __future__ import annotations

import base64
import os
import ssl
import string
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import prometheus


class AnalysisFailed(Exception):
    """The release did not prove itself: the Service must not move."""


@dataclass(frozen=True)
class Settings:
    """What the analysis of one release needs (the spec's ``analysis`` plus where to run it)."""

    query: str
    threshold: float
    compare: str
    duration_seconds: int
    interval_seconds: int
    requests: int
    request_rate: float
    path: str
    namespace: str
    service: str
    release: str
    release_service: str
    port: str

    def promql(self) -> str:
        return string.Template(self.query).safe_substitute(
            service=self.service, release=self.release, namespace=self.namespace, window=f"{self.duration_seconds}s")

    def passes(self, value: float) -> bool:
        return value < self.threshold if self.compare == "below" else value > self.threshold


@dataclass
class Result:
    value: float | None
    evaluations: list[float | None] = field(default_factory=list)
    sent: int = 0
    answered: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# --- the API server, from a kubeconfig -----------------------------------------------------------

class KubeAPI:
    """The cluster a kubeconfig's current context names: its URL and a TLS context with its
    credentials (client certificate or bearer token; exec plugins are not supported)."""

    def __init__(self, path: str | None = None) -> None:
        path = path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
        try:
            config = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise AnalysisFailed(f"cannot read the kubeconfig {path}: {exc}") from exc
        if not isinstance(config, dict):
            raise AnalysisFailed(f"kubeconfig {path} is not a kubeconfig (a YAML mapping)")
        ctx_name = config.get("current-context")
        ctx = next((c.get("context") for c in config.get("contexts") or [] if c.get("name") == ctx_name), None)
        if not ctx:
            raise AnalysisFailed(f"kubeconfig {path}: no current context")
        cluster = next((c.get("cluster") for c in config.get("clusters") or [] if c.get("name") == ctx.get("cluster")),
                       None)
        if not cluster or not cluster.get("server"):
            raise AnalysisFailed(f"kubeconfig {path}: context {ctx_name!r} names no cluster with a server")
        user = next((u.get("user") for u in config.get("users") or [] if u.get("name") == ctx.get("user")), {}) or {}
        # Checked before any credential is written to a temporary file.
        if user.get("exec") or user.get("auth-provider"):
            raise AnalysisFailed(f"kubeconfig {path}: exec and auth-provider credentials are not supported by the "
                                 "analysis's requests; use a client certificate or a token")
        self.server = str(cluster["server"]).rstrip("/")
        self.headers: dict[str, str] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="immutable-analysis-")
        tls = ssl.create_default_context()
        try:
            ca = self._file(cluster, "certificate-authority")
            if ca:
                tls.load_verify_locations(cafile=ca)
            cert, key = self._file(user, "client-certificate"), self._file(user, "client-key")
            if cert and key:
                tls.load_cert_chain(cert, key)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError; bad base64 a ValueError
            self._tmp.cleanup()
            raise AnalysisFailed(f"kubeconfig {path}: its certificates cannot be loaded ({type(exc).__name__})") from None
        if user.get("token"):
            self.headers["Authorization"] = f"Bearer {user['token']}"
        self.tls = tls

    def _file(self, section: dict[str, Any], key: str) -> str | None:
        """A credential given inline (``<key>-data``) is written to a private temporary file."""
        if section.get(f"{key}-data"):
            path = Path(self._tmp.name) / key
            path.write_bytes(base64.b64decode(section[f"{key}-data"]))
            path.chmod(0o600)
            return str(path)
        return str(section[key]) if section.get(key) else None

    def read(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        """GET through the API server: the HTTP status (0 when there was no answer) and the body."""
        req = urllib.request.Request(self.server + path, headers=self.headers)
        try:
            with urllib.request.urlopen(req, context=self.tls, timeout=timeout) as resp:
                return int(resp.status), resp.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace")
        except OSError as exc:
            return 0, str(exc)

    def get(self, path: str, timeout: float = 5.0) -> int:
        """GET through the API server; the HTTP status only (a synthetic request)."""
        return self.read(path, timeout)[0]

    def close(self) -> None:
        self._tmp.cleanup()


def proxy_path(s: Settings) -> str:
    """The API server's service proxy to the release-scoped Service's port."""
    return f"/api/v1/namespaces/{s.namespace}/services/{s.release_service}:{s.port}/proxy{s.path}"


def synthetic(get: Callable[[str], int], s: Settings, result: Result, stop: threading.Event) -> None:
    """``s.requests`` GETs at ``s.request_rate`` per second, at most until ``stop``; bounded both ways."""
    path, interval = proxy_path(s), 1.0 / s.request_rate
    start = time.monotonic()
    for i in range(s.requests):
        delay = start + i * interval - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return
        if stop.is_set():
            return
        code = get(path)
        result.sent += 1
        result.answered[str(code)] = result.answered.get(str(code), 0) + 1


# --- the analysis ----------------------------------------------------------------------------

def describe(s: Settings) -> str:
    return f"query {s.promql()!r} must be {s.compare} {s.threshold:g}"


def analyse(s: Settings, prometheus_url: str | None, get: Callable[[str], int] | None, *,
            log: Callable[[str], None] = lambda _: None, sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic,
            ask: Callable[[str, str], float | None] = prometheus.scalar) -> Result:
    """Run the analysis of one release; raises :class:`AnalysisFailed` unless it passes."""
    subject = f"cutover analysis of {s.service} release {s.release}"
    if not prometheus_url:
        raise AnalysisFailed(f"{subject}: no Prometheus to ask (set immutable:environment.prometheus_url or "
                             f"${prometheus.ENV_URL}); it never passes without one")
    promql = s.promql()
    t0 = clock()
    result = Result(value=None)

    def evaluate() -> float | None:
        try:
            return ask(prometheus_url, promql)
        except prometheus.PrometheusError as exc:
            raise AnalysisFailed(f"{subject} failed closed: {exc}; {describe(s)}; the Service was not moved") from exc

    evaluate()  # reachable before anything is sent: an unreachable Prometheus fails at once
    stop = threading.Event()
    sender = None
    if s.requests and get is not None:
        sender = threading.Thread(target=synthetic, args=(get, s, result, stop), daemon=True)
        sender.start()
    log(f"{subject}: {s.requests} synthetic request(s) at {s.request_rate:g}/s, {describe(s)} "
        f"for {s.duration_seconds}s")
    try:
        elapsed = 0.0
        while elapsed < s.duration_seconds:
            sleep(min(s.interval_seconds, s.duration_seconds - elapsed))
            elapsed = clock() - t0
            value = evaluate()
            result.evaluations.append(value)
            log(f"{subject}: {elapsed:.0f}s: value {'no data' if value is None else f'{value:g}'}")
            if value is not None:
                result.value = value
                if not s.passes(value):
                    raise AnalysisFailed(
                        f"{subject} FAILED: {describe(s)}, measured {value:g} (threshold {s.threshold:g}); "
                        f"synthetic answers {result.answered or 'none'}; the Service was not moved: the old "
                        "release keeps all traffic, the new one is kept for inspection")
    finally:
        stop.set()
        if sender is not None:
            sender.join(timeout=10)
        result.seconds = round(clock() - t0, 1)
    if result.value is None:
        raise AnalysisFailed(f"{subject} failed closed: no data in {s.duration_seconds}s for {describe(s)} "
                             f"(synthetic answers {result.answered or 'none'}: is the release scraped?); "
                             "the Service was not moved")
    log(f"{subject}: passed, measured {result.value:g} ({s.compare} {s.threshold:g})")
    return result
