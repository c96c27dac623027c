"""``immutable-ops health``: per-release rows from Prometheus answers, and exit 9 when it is down
(the real Prometheus and real traffic: tests/cluster/test_monitoring.py)."""

from __future__ import annotations

import socket

import pytest
from immutable_infra import prometheus as prom
from immutable_infra.ops import health as h
from immutable_infra.ops.errors import ExitCode, OpsError


def fake(answers: dict[str, list[prom.Sample]]):  # type: ignore[no-untyped-def]
    asked: list[str] = []

    def ask(_url: str, promql: str) -> list[prom.Sample]:
        asked.append(promql)
        name = "errors" if "http_request_errors_total" in promql else "p95" if "_bucket" in promql else "rate"
        return answers.get(name, [])
    return ask, asked


def s(service: str, release: str, value: float) -> prom.Sample:
    return prom.Sample({"service": service, "release": release}, value)


def test_rows_per_release_with_roles_ratio_and_p95() -> None:
    ask, asked = fake({"rate": [s("web", "aaaa1111", 10.0), s("web", "bbbb2222", 4.0), s("web", "cccc3333", 2.0)],
                       "errors": [s("web", "aaaa1111", 0.0), s("web", "bbbb2222", 2.0), s("web", "cccc3333", 0.0)],
                       "p95": [s("web", "aaaa1111", 0.004), s("web", "bbbb2222", float("nan"))]})
    measured = h.measure("http://p", "dev", "1m", ask)
    assert all('environment="dev"' in q and "[1m]" in q for q in asked) and len(asked) == 3
    found = h.rows({"web": ("aaaa1111", ("dddd4444",)), "api": ("eeee5555", ())}, measured)
    by = {(r.release, r.role): r for r in found}
    assert by[("aaaa1111", "active")].error_ratio == 0.0 and by[("aaaa1111", "active")].p95_seconds == 0.004
    assert by[("bbbb2222", "other")].error_ratio == 0.5 and by[("bbbb2222", "other")].p95_seconds is None
    assert by[("dddd4444", "kept")].requests_per_second is None  # scaled to zero: no traffic, no data
    assert [r.service for r in found][:3] == ["api", "web", "web"]  # the stack's releases first
    assert h.table(found)[1][3:] == ["10.00", "0.0%", "4.0"]


def test_prometheus_down_is_exit_9_not_empty_numbers() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(OpsError) as err:
        h.measure(url, "dev", "1m")
    assert err.value.code == ExitCode.MONITORING_UNAVAILABLE and "unreachable" in err.value.message
