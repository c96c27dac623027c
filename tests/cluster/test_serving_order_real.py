"""Issue #36 on the real node, under traffic: deploy r1, deploy r2, roll back to r1, deploy r3.

``web`` is blue-green with ``keep_previous: 1``. After the rollback the ledger lists r1 last
(``event: rollback``); the deploy of r3 needs nothing but its artifact appended. The release
that was serving (r1) must be the kept one afterwards, and the one rolled back from (r2) retired:
its Deployment is gone from the cluster. Every request through the rollback and the deploy is
answered (0 failed). Uses the session's real node (``real``/``netns`` fixtures) and its own
workspace, destroyed at the end.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.cluster.kube import BIN, Cluster
from tests.cluster.realnode import NS, M, traffic
from tests.cluster.test_real_node import outputs
from tests.engine.harness import Workspace, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]


@pytest.fixture(scope="module")
def ws(real: Cluster, netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w = Workspace.create(tmp_path_factory.mktemp("serving-order"), target="local-cluster")
    data = w.config()
    env = data["config"]["immutable:environment"]
    env["kubeconfig"] = str(real.kubeconfig)
    env["services"]["web"].update({"replicas": 2, "rollout_timeout_seconds": 60, "keep_previous": 1})
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


def append(ws: Workspace, artifact: str) -> None:
    data = ws.config()
    data["config"]["immutable:ledger"]["web"]["releases"].append({"artifact": artifact})
    ws.write_config(data)


def web_deployments(real: Cluster) -> set[str]:
    return {d["metadata"]["labels"]["immutable.dev/release"] for d in real.get("deployments", "-n", NS)["items"]
            if d["metadata"]["labels"].get("app.kubernetes.io/name") == "web"}


def test_deploy_after_a_rollback_keeps_the_release_that_was_serving(real: Cluster, ws: Workspace,
                                                                    tmp_path: pathlib.Path) -> None:
    ws.pulumi("up", "--yes", "--skip-preview", "-s", "dev")                     # r1 (testapp 1.0.0)
    r1 = outputs(ws)["web_release"]
    append(ws, real.testapp_ref("1.1.0"))
    ws.pulumi("up", "--yes", "--skip-preview", "-s", "dev")                     # r2 (1.1.0)
    r2 = outputs(ws)["web_release"]
    assert outputs(ws)["web_kept_releases"] == [r1]
    with traffic(real, "web", "serving-order-rollback", tmp_path) as back:
        proc = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(ws.dir), "rollback", "dev",
                               "--service", "web", "--format", "json"],
                              env={**ws.env, "IMMUTABLE_KUBECTL": str(BIN / "kubectl")}, capture_output=True, text=True,
                              timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not back.failed and back.versions[-1] == "1.0.0", back.summary()
    assert (outputs(ws)["web_release"], outputs(ws)["web_kept_releases"]) == (r1, [r2])
    last = ws.config()["config"]["immutable:ledger"]["web"]["releases"][-1]
    assert (last["release"], last["event"]) == (r1, "rollback")
    append(ws, real.testapp_ref("2.0.0"))                                       # nothing else edited
    with traffic(real, "web", "serving-order-deploy", tmp_path) as load:
        ws.pulumi("up", "--yes", "--skip-preview", "-s", "dev")                 # r3 (2.0.0)
    r3 = outputs(ws)["web_release"]
    assert not load.failed, load.summary()
    assert load.versions[0] == "1.0.0" and load.versions[-1] == "2.0.0", load.summary()
    # The release that was serving (r1) is kept; the one rolled back from (r2) is retired.
    assert outputs(ws)["web_kept_releases"] == [r1], (r1, r2, r3)
    assert web_deployments(real) == {r3, r1}
    M["serving_order_rollback_requests"] = back.summary()["requests"]
    M["serving_order_deploy_requests"] = load.summary()["requests"]
