"""Per-release monitoring and the cutover analysis on the REAL node (issue #33).

The cluster's Prometheus (cluster/local.py prometheus; Debian's 2.42) scrapes the real pods of
one workspace; the bounded load generator (tests/cluster/load.py, in its network namespace)
sends traffic to web's Service through every change. In file order, on the state the previous
test left:

1. first deploy (no analysis); every web series carries service, release and environment;
2. a plain blue-green swap (1.0.0 -> 1.1.0), timed;
3. analysis on: a healthy release (2.0.0) passes and the traffic moves, timed (the ratio to 2.);
4. a release answering 50% errors fails its analysis, never gets traffic, 0 failed requests
   seen; the error names the query, value and threshold; the ledger pointed back at the
   serving release restores, and ``immutable-ops report`` gives the time to restore from that
   real event;
5. ``immutable-ops health`` matches what the load generator sent; ``logs`` shows one release;
6. Prometheus down: the analysis refuses to pass, ``health`` exits 9.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.kube import Cluster
from tests.cluster.realnode import NS, M, traffic
from tests.cluster.test_real_node import ops, outputs, releases_of, set_web, up
from tests.engine.harness import Workspace, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]

ANALYSIS = {"threshold": 0.05, "duration_seconds": 20, "interval_seconds": 5, "requests": 60, "request_rate": 5}
SCRAPE = 5  # cluster/monitoring.py SCRAPE_INTERVAL_SECONDS


def prom_query(url: str, promql: str) -> list[dict[str, Any]]:
    import urllib.parse
    import urllib.request
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}", timeout=5) as r:
        return list(json.loads(r.read())["data"]["result"])


def set_analysis(ws: Workspace, on: bool) -> None:
    topology = ws.dir / "stacks" / "topology.py"
    text = topology.read_text()
    marker = '"keep_mode": "scaled-to-zero",'
    gated = f'{marker} "analysis": {json.dumps(ANALYSIS)},'
    text = text.replace(gated, marker, 1)
    if on:
        text = text.replace(marker, gated, 1)
    topology.write_text(text)


@pytest.fixture(scope="module")
def prometheus(real: Cluster) -> str:
    t0 = time.monotonic()
    proc = real.local("prometheus")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    M["prometheus_start_seconds"] = round(time.monotonic() - t0, 1)
    return (real.state / "prometheus" / "address").read_text().strip()


@pytest.fixture(scope="module")
def ws(real: Cluster, netns: str, prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w = Workspace.create(tmp_path_factory.mktemp("monitoring"), target="local-cluster")
    data = w.config()
    env = data["config"]["immutable:environment"]
    env["kubeconfig"] = str(real.kubeconfig)
    env["prometheus_url"] = prometheus
    env["services"]["web"].update({"replicas": 2, "rollout_timeout_seconds": 60})
    env["services"]["api"] = {"replicas": 1}
    ledger = data["config"]["immutable:ledger"]
    for svc in ("web", "api", "worker"):
        ledger[svc] = {"releases": [{"artifact": real.testapp_ref("1.0.0"), "note": f"{svc} testapp 1.0.0"}]}
    w.write_config(data)
    w.init_stack("dev")
    try:
        yield w
    finally:
        w.pulumi("destroy", "--yes", "-s", "dev", check=False, timeout=600)
        print(f"\nmonitoring measurements:\n{json.dumps({k: v for k, v in M.items() if 'traffic_' not in k}, indent=2)}")


def test_1_every_series_of_a_release_carries_service_release_and_environment(
        real: Cluster, ws: Workspace, prometheus: str) -> None:
    up(ws)
    release = outputs(ws)["web_release"]
    deadline = time.monotonic() + 6 * SCRAPE
    while time.monotonic() < deadline:
        series = prom_query(prometheus, 'testapp_info{service="web"}')
        if len(series) == 2:
            break
        time.sleep(1)
    assert len(series) == 2, series  # two pods, one target each
    for s in series:
        labels = s["metric"]
        assert labels["release"] == release and labels["environment"] == "dev" and labels["namespace"] == NS
        assert labels["pod"].startswith(f"web-{release}")
        assert not [k for k in labels if k.startswith("exported_")]


def test_2_a_plain_swap(real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    with traffic(real, "web", "plain_swap", tmp_path) as load:
        set_web(ws, [*releases_of(ws), real.testapp_ref("1.1.0")])
        seconds, _ = up(ws)
    assert not load.failed, load.summary()
    assert load.versions[-1] == "1.1.0", load.summary()
    M["plain_swap_up_seconds"] = round(seconds, 1)


def test_3_a_healthy_release_passes_its_analysis_and_gets_the_traffic(
        real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    set_analysis(ws, True)
    with traffic(real, "web", "gated_swap", tmp_path) as load:
        set_web(ws, [*releases_of(ws), real.testapp_ref("2.0.0")])
        seconds, _ = up(ws)
    assert not load.failed, load.summary()
    assert load.versions[0] == "1.1.0" and load.versions[-1] == "2.0.0", load.summary()
    release = outputs(ws)["web_release"]
    state = ws.export()["deployment"]["resources"]
    gate = next(r for r in state if r["urn"].endswith(f"::web-analysis-{release}"))
    assert gate["outputs"]["analysed"] is True and gate["outputs"]["value"] < ANALYSIS["threshold"]
    assert gate["outputs"]["sent"] == ANALYSIS["requests"], gate["outputs"]
    M["gated_swap_up_seconds"] = round(seconds, 1)
    M["gated_vs_plain_swap_ratio"] = round(seconds / M["plain_swap_up_seconds"], 2)
    M["gated_swap_analysis_seconds"] = gate["outputs"]["seconds"]


def test_4_a_release_failing_half_its_requests_never_gets_traffic_and_rollback_restores(
        real: Cluster, ws: Workspace, tmp_path: pathlib.Path, prometheus: str) -> None:
    serving = outputs(ws)["web_release"]
    with traffic(real, "web", "half_errors", tmp_path) as load:
        set_web(ws, [*releases_of(ws), real.testapp_ref("half-errors")])
        seconds, proc = up(ws, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "FAILED" in text and "http_request_errors_total" in text and "threshold 0.05" in text, text
    assert "measured 0.5" in text or "measured 0.4" in text or "measured 0.6" in text, text
    assert not load.failed, load.summary()
    assert set(load.versions) == {"2.0.0"}, load.summary()  # the bad release never answered the Service
    assert real.get("service", "web", "-n", NS)["spec"]["selector"]["immutable.dev/release"] == serving
    M["failed_analysis_up_seconds"] = round(seconds, 1)
    # Restore: the ledger points back at the release that served (a rollback: nothing is built),
    # and `immutable-ops report` measures the time to restore from the failed update.
    with traffic(real, "web", "restore", tmp_path) as load:
        data = ws.config()
        data["config"]["immutable:ledger"]["web"]["active"] = real.testapp_ref("2.0.0")
        ws.write_config(data)
        up(ws)
    assert not load.failed, load.summary()
    assert outputs(ws)["web_release"] == serving
    report = ops(ws, "report", "dev", "--format", "json", "--no-drift")
    assert report.returncode == 0, report.stdout + report.stderr
    stack = json.loads(report.stdout)["stacks"][0]
    restore = stack["time_to_restore_seconds"]
    assert stack["failed_updates"] >= 1 and restore["last"] is not None and restore["last"] > 0, stack
    M["time_to_restore_seconds"] = restore


def test_5_health_matches_what_the_load_generator_sent(
        real: Cluster, ws: Workspace, tmp_path: pathlib.Path, prometheus: str) -> None:
    release = outputs(ws)["web_release"]
    total = f'sum(http_requests_total{{service="web",release="{release}"}})'
    time.sleep(2 * SCRAPE)  # everything before is scraped
    before = float(prom_query(prometheus, total)[0]["value"][1])
    with traffic(real, "web", "health", tmp_path, rate=20) as load:
        time.sleep(30)
    time.sleep(2 * SCRAPE)  # ... and everything the load sent
    after = float(prom_query(prometheus, total)[0]["value"][1])
    sent = len(load.records)
    assert not load.failed, load.summary()
    assert after - before == sent, (before, after, sent)
    asked_at = time.time()
    proc = ops(ws, "health", "dev", "--service", "web", "--window", "30s", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["release"]: r for r in json.loads(proc.stdout)["releases"]}
    active = rows[release]
    assert active["role"] == "active" and active["error_ratio"] == 0.0
    # The rate over the last 30 s is what the load sent in those 30 s, within what one scrape
    # interval can shift (Prometheus sees the counters only at scrapes): 20 req/s x 5 s / 30 s.
    in_window = sum(1 for r in load.records if r["t"] >= asked_at - 30) / 30
    assert abs(active["requests_per_second"] - in_window) <= 20 * SCRAPE / 30 + 0.5, (active, in_window)
    M["health_rate_vs_load"] = {"health": active["requests_per_second"], "load": round(in_window, 2)}
    assert active["p95_seconds"] is not None and active["p95_seconds"] < 0.5
    assert set(r["role"] for r in rows.values()) >= {"active", "kept"}
    logs = ops(ws, "logs", "dev", "--service", "web", "--release", release, "--tail", "5")
    assert logs.returncode == 0, logs.stderr
    pods = [line[4:-4] for line in logs.stdout.splitlines() if line.startswith("==> ")]
    assert len(pods) == 2 and all(p.startswith(f"web-{release}-") for p in pods), logs.stdout
    # Each JSON log line names the pod that wrote it: only that release's pods. (The app's own
    # "release" field stays "unknown": this service does not set release_env.)
    lines = [json.loads(line) for line in logs.stdout.splitlines() if line.startswith("{")]
    assert lines and {line["pod"] for line in lines} <= set(pods), logs.stdout


def test_6_prometheus_down_the_analysis_refuses_to_pass(
        real: Cluster, ws: Workspace, tmp_path: pathlib.Path, prometheus: str) -> None:
    serving = outputs(ws)["web_release"]
    stop = real.local("prometheus", "--stop")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    try:
        with traffic(real, "web", "prometheus_down", tmp_path) as load:
            set_web(ws, [*releases_of(ws), real.testapp_ref("2.1.0")])
            _, proc = up(ws, check=False)
        text = proc.stdout + proc.stderr
        assert proc.returncode != 0, text
        assert "failed closed" in text and "unreachable" in text, text
        assert not load.failed and set(load.versions) == {"2.0.0"}, load.summary()
        assert real.get("service", "web", "-n", NS)["spec"]["selector"]["immutable.dev/release"] == serving
        health = ops(ws, "health", "dev")
        assert health.returncode == 9, health.stdout + health.stderr
    finally:
        real.local("prometheus")
