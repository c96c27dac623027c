"""A minimal Prometheus HTTP API client (stdlib only): instant queries, and errors that say
whether Prometheus could not be reached or refused the query.

Shared by the cutover analysis (``immutable_infra.kubernetes.analysis``) and
``immutable-ops health``: both must fail closed, so "unreachable" is an error of its own and
never an empty answer.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import rules

ENV_URL = "IMMUTABLE_PROMETHEUS_URL"
"""The environment variable naming a Prometheus (``http(s)://host:port``)."""


class PrometheusError(Exception):
    """Prometheus answered with an error (a bad query, for example)."""


class PrometheusUnreachable(PrometheusError):
    """No answer from Prometheus at all (connection refused, timeout, DNS)."""


def shown(url: str) -> str:
    """``url`` as messages and state may show it: its password masked (rules.mask_url)."""
    return rules.mask_url(url)


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


def query(url: str, promql: str, *, timeout: float = 5.0) -> list[Sample]:
    """An instant query; NaN and infinite values are returned as they are (the caller decides)."""
    where = shown(url)  # the only form of the address any message carries
    parts = urllib.parse.urlsplit(url)
    headers = {}
    if parts.username is not None:
        # Credentials in the address (a team's Prometheus behind basic auth): sent as a header,
        # never part of the URL urllib would put into an error.
        token = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    full = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(urllib.request.Request(full, headers=headers), timeout=timeout) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error", "")
        except ValueError:
            detail = ""
        raise PrometheusError(f"Prometheus at {where} refused the query ({exc.code}): {detail or exc.reason}") from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise PrometheusUnreachable(f"Prometheus at {where} is unreachable: {reason}") from exc
    if body.get("status") != "success":
        raise PrometheusError(f"Prometheus at {where}: {body.get('error', 'query failed')}")
    data = body.get("data", {})
    if data.get("resultType") == "scalar":
        return [Sample({}, float(data["result"][1]))]
    return [Sample({str(k): str(v) for k, v in r.get("metric", {}).items()}, float(r["value"][1]))
            for r in data.get("result", [])]


def scalar(url: str, promql: str, *, timeout: float = 5.0) -> float | None:
    """The single value of a query, or None when it has no data (empty, or NaN: 0/0)."""
    samples = query(url, promql, timeout=timeout)
    if not samples:
        return None
    if len(samples) > 1:
        raise PrometheusError(f"query returned {len(samples)} series, want one (aggregate it with sum(...)): {promql}")
    value = samples[0].value
    return None if math.isnan(value) else value


def local_cluster_url(project_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The address of the local cluster's Prometheus (cluster/local.py prometheus), if it runs."""
    state = os.environ.get("IMMUTABLE_CLUSTER_STATE")
    base = Path(state) if state else Path(project_dir or os.getcwd()) / ".state" / "cluster"
    try:
        return (base / "prometheus" / "address").read_text().strip() or None
    except OSError:
        return None


def resolve_url(given: str | None, project_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The Prometheus to ask: the one given (stack config), else $IMMUTABLE_PROMETHEUS_URL, else
    the local cluster's."""
    return given or os.environ.get(ENV_URL) or local_cluster_url(project_dir)
