"""The cutover analysis's resource (``ReleaseAnalysis``, a dynamic provider) under the real
engine: a release that passes is created with its measured value; changing its settings (or a
rollback to it) runs nothing; a failing release fails the update with the query, the value and
the threshold; an unreachable Prometheus fails it closed. Prometheus is a stub on 127.0.0.1
answering a fixed value (the real Prometheus and real pods: tests/cluster/test_monitoring.py)."""

from __future__ import annotations

import http.server
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engine.harness import PULUMI, ROOT, pulumi_env, toolchain_missing

pytestmark = [pytest.mark.engine]

PROGRAM = '''
import json
import pulumi
from immutable_infra.kubernetes.analysis_resource import ReleaseAnalysis

cfg = json.load(open("cfg.json"))
props = {"query": 'sum(errors{release="$release"})', "threshold": cfg["threshold"], "compare": "below",
         "duration_seconds": 10, "interval_seconds": 2, "requests": 0, "request_rate": 5.0, "path": "/",
         "namespace": "apps", "service": "web", "release": cfg["release"], "release_service": "web-" + cfg["release"],
         "port": "http", "gate": True, "prometheus_url": cfg["url"], "kubeconfig": ""}
gate = ReleaseAnalysis("web-analysis-" + cfg["release"], props)
pulumi.export("value", gate.value)
pulumi.export("analysed", gate.analysed)
'''


@pytest.fixture
def stub_prometheus() -> Iterator[tuple[str, dict[str, str]]]:
    answer = {"value": "0"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [time.time(), answer["value"]]}]}}).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answer
    finally:
        server.shutdown()
        server.server_close()


def test_the_analysis_resource_gates_under_the_real_engine(tmp_path: pathlib.Path,
                                                           stub_prometheus: tuple[str, dict[str, str]]) -> None:
    reason = toolchain_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    url, answer = stub_prometheus
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: analysis\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
                                         f"    virtualenv: {sys.prefix}\n")
    (project / "__main__.py").write_text(PROGRAM)
    env = pulumi_env(ROOT, backend_url=(tmp_path / "backend").as_uri())
    env["PULUMI_CONFIG_PASSPHRASE"] = "analysis-test-only"

    def up(release: str, threshold: float, prometheus: str = url) -> subprocess.CompletedProcess[str]:
        (project / "cfg.json").write_text(json.dumps({"release": release, "threshold": threshold, "url": prometheus}))
        return subprocess.run([str(PULUMI), "up", "--yes", "--skip-preview", "--non-interactive", "-s", "dev"],
                              cwd=project, env=env, capture_output=True, text=True, timeout=300)

    def outputs() -> dict[str, Any]:
        proc = subprocess.run([str(PULUMI), "stack", "output", "--json", "-s", "dev"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=120)
        return dict(json.loads(proc.stdout))

    subprocess.run([str(PULUMI), "stack", "init", "dev", "--non-interactive"], cwd=project, env=env, check=True,
                   capture_output=True, text=True, timeout=120)
    # A healthy release: analysed for its whole duration, its value recorded.
    t0 = time.monotonic()
    passed = up("aaaa1111", 0.05)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert time.monotonic() - t0 >= 10  # the analysis ran its duration
    assert outputs() == {"value": 0, "analysed": True}
    # Other settings for the same release (or a rollback to it): an update that analyses nothing,
    # even while Prometheus would now fail it.
    answer["value"] = "0.5"
    again = up("aaaa1111", 0.1)
    assert again.returncode == 0 and "updated" in again.stdout, again.stdout + again.stderr
    assert outputs() == {"value": 0, "analysed": True}
    # A release over the threshold fails the update, naming the query, the value and the threshold.
    failed = up("bbbb2222", 0.1)
    text = failed.stdout + failed.stderr
    assert failed.returncode != 0, text
    assert "cutover analysis of web release bbbb2222 FAILED" in text, text
    assert "sum(errors{release=\"bbbb2222\"})" in text and "measured 0.5 (threshold 0.1)" in text, text
    # Prometheus unreachable: fails closed.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{s.getsockname()[1]}"
    closed = up("cccc3333", 0.1, nobody)
    text = closed.stdout + closed.stderr
    assert closed.returncode != 0 and "failed closed" in text and "unreachable" in text, text
