"""``health <stack>``: how each release of each service behaves, from Prometheus; and
``logs <stack> --service S --release R``: the logs of that release's pods only.

Health reads three series every ContainerService's pods are labelled with (``service``,
``release``, ``environment``: cluster/monitoring.py's relabelling, or a team's own):
``http_requests_total``, ``http_request_errors_total`` and the
``http_request_duration_seconds`` histogram, over a window, per service and release; and
which releases are active and kept from the stack's state. A release Prometheus knows and the
stack does not (one that failed its cutover analysis, or was removed inside the window) is
listed as ``other``.

The Prometheus asked: ``--prometheus``, else the stack's ``immutable:environment.prometheus_url``,
else ``$IMMUTABLE_PROMETHEUS_URL``, else the local cluster's. Unreachable: exit 9, no numbers.
"""

from __future__ import annotations

import json
import math
import string
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import prometheus
from .errors import ExitCode, OpsError

QUERIES = {
    "rate": 'sum by (service, release) (rate(http_requests_total{environment="$env"}[$window]))',
    "errors": 'sum by (service, release) (rate(http_request_errors_total{environment="$env"}[$window]))',
    "p95": 'histogram_quantile(0.95, sum by (service, release, le) '
           '(rate(http_request_duration_seconds_bucket{environment="$env"}[$window])))',
}
"""The per-release series, by name; ``$env`` and ``$window`` are filled in."""


@dataclass(frozen=True)
class ReleaseHealth:
    service: str
    release: str
    role: str
    """``active``, ``kept`` or ``other`` (known to Prometheus, not to the stack)."""
    requests_per_second: float | None
    error_ratio: float | None
    p95_seconds: float | None


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value


def measure(url: str, environment: str, window: str,
            ask: Callable[[str, str], list[prometheus.Sample]] | None = None
            ) -> dict[tuple[str, str], dict[str, float | None]]:
    """(service, release) -> rate, errors and p95, as Prometheus has them."""
    ask = ask or prometheus.query
    out: dict[tuple[str, str], dict[str, float | None]] = {}
    for name, template in QUERIES.items():
        promql = string.Template(template).substitute(env=environment, window=window)
        try:
            samples = ask(url, promql)
        except prometheus.PrometheusError as exc:
            raise OpsError(str(exc), ExitCode.MONITORING_UNAVAILABLE,
                           hint="start the local one with `python3 cluster/local.py prometheus`, or give --prometheus "
                                "or immutable:environment.prometheus_url") from None
        for s in samples:
            key = (s.labels.get("service", ""), s.labels.get("release", ""))
            out.setdefault(key, {})[name] = _num(s.value)
    return out


def rows(releases: Mapping[str, tuple[str, tuple[str, ...]]],
         measured: Mapping[tuple[str, str], Mapping[str, float | None]]) -> list[ReleaseHealth]:
    """One row per release: the stack's (``service -> (active, kept)``) first, then others."""
    out = []
    seen = set()
    for service, (active, kept) in sorted(releases.items()):
        for release, role in [(active, "active"), *((k, "kept") for k in kept)]:
            seen.add((service, release))
            out.append(_row(service, release, role, measured.get((service, release), {})))
    for (service, release), values in sorted(measured.items()):
        if (service, release) not in seen and (not releases or service in releases):
            out.append(_row(service, release, "other", values))
    return out


def _row(service: str, release: str, role: str, values: Mapping[str, float | None]) -> ReleaseHealth:
    rate, errors = values.get("rate"), values.get("errors")
    ratio = errors / rate if rate and errors is not None else (0.0 if rate else None)
    return ReleaseHealth(service, release, role, rate, ratio, values.get("p95"))


def table(found: list[ReleaseHealth]) -> list[list[str]]:
    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)
    return [[r.service, r.release, r.role, fmt(r.requests_per_second, ".2f"),
             fmt(None if r.error_ratio is None else r.error_ratio * 100, ".1f") + ("%" if r.error_ratio is not None else ""),
             fmt(None if r.p95_seconds is None else r.p95_seconds * 1000, ".1f")] for r in found]


HEADER = ["service", "release", "role", "req/s", "errors", "p95 ms"]


# --- logs of one release -----------------------------------------------------------------------

def release_logs(kubeconfig: str | None, service: str, release: str, tail: int) -> list[tuple[str, str]]:
    """(pod, its log) for every pod of ``service``'s release ``release`` (any namespace)."""
    from ..kubernetes.analysis import AnalysisFailed, KubeAPI

    try:
        api = KubeAPI(kubeconfig)
    except AnalysisFailed as exc:
        raise OpsError(str(exc), ExitCode.MONITORING_UNAVAILABLE) from None
    try:
        selector = urllib.parse.urlencode({"labelSelector": f"app.kubernetes.io/name={service},"
                                                            f"immutable.dev/release={release}"})
        code, body = api.read(f"/api/v1/pods?{selector}")
        if code != 200:
            raise OpsError(f"listing the pods of {service} release {release} failed (HTTP {code or 'no answer'})",
                           ExitCode.MONITORING_UNAVAILABLE, details=body[-2000:])
        pods = json.loads(body).get("items", [])
        if not pods:
            raise OpsError(f"no pod of {service} release {release} runs",
                           hint="a kept release scaled to zero has none; see `immutable-ops health <stack>`")
        out = []
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            meta = pod["metadata"]
            code, text = api.read(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/log?tailLines={tail}")
            out.append((meta["name"], text if code == 200 else f"(no log: HTTP {code or 'no answer'})"))
        return out
    finally:
        api.close()


# --- where the numbers come from -----------------------------------------------------------------

def prometheus_url(project: Any, stack: str, given: str | None) -> str:
    configured = (project.immutable_config(stack).get("environment") or {}).get("prometheus_url")
    url = prometheus.resolve_url(given or configured, project.dir)
    if not url:
        raise OpsError("no Prometheus to ask", ExitCode.MONITORING_UNAVAILABLE,
                       hint="give --prometheus, set immutable:environment.prometheus_url or $IMMUTABLE_PROMETHEUS_URL, "
                            "or start the local one: python3 cluster/local.py prometheus")
    return url
