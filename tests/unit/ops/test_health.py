"""``immutable-ops health``: per-release rows from Prometheus answers, and exit 9 when it is down
(the real Prometheus and real traffic: tests/cluster/test_monitoring.py)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

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


# --- the command line ---------------------------------------------------------------------------

def test_health_command_table_json_and_exit_9(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    import warnings

    from immutable_infra.ops.records import WorkloadState
    from immutable_infra.ops.workspace import Project

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from immutable_infra.ops.cli import app
        from typer.testing import CliRunner
    root = Path(__file__).resolve().parents[3]
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(root / name, tmp_path / name)
    monkeypatch.setattr(Project, "workloads", lambda self, stack: {
        "web": WorkloadState("web", "aaaa1111", None, ("dddd4444",))})
    asked: list[str] = []

    def query(url: str, promql: str, **_: object) -> list[prom.Sample]:
        asked.append(url)
        if "bucket" in promql:
            return [s("web", "aaaa1111", 0.0031)]
        return [s("web", "aaaa1111", 0.5 if "errors" in promql else 10.0)]

    monkeypatch.setattr(prom, "query", query)
    runner = CliRunner()
    result = runner.invoke(app, ["-C", str(tmp_path), "health", "dev", "--prometheus", "http://p:9090", "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["prometheus"] == "http://p:9090" and set(asked) == {"http://p:9090"}
    assert [(r["release"], r["role"], r["error_ratio"]) for r in data["releases"]] == [
        ("aaaa1111", "active", 0.05), ("dddd4444", "kept", None)]
    table = runner.invoke(app, ["-C", str(tmp_path), "health", "dev", "--prometheus", "http://p:9090"])
    assert "aaaa1111" in table.output and "5.0%" in table.output and "3.1" in table.output, table.output

    def down(url: str, promql: str, **_: object) -> list[prom.Sample]:
        raise prom.PrometheusUnreachable(f"Prometheus at {url} is unreachable: refused")

    monkeypatch.setattr(prom, "query", down)
    result = runner.invoke(app, ["-C", str(tmp_path), "health", "dev", "--prometheus", "http://p:9090"])
    assert result.exit_code == 9 and "unreachable" in result.output, result.output
