"""Drift on the REAL node (issue #37): what runs is compared with what the release declares,
and ``drift --fix`` makes a release true again without losing a request.

One workspace (the dev stack: web blue-green with one kept release, api with its ConfigMap and
Secret), changed by hand the way an operator would (``kubectl set env``, ``label``,
``annotate``), with the bounded load generator (tests/cluster/load.py) on web's Service through
every repair. The tests run in file order on the state the previous one left.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from components.ops.live import targets
from tests.cluster.kube import BIN, Cluster
from tests.cluster.realnode import NS, M, traffic
from tests.engine.harness import Workspace, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]


@pytest.fixture(scope="module")
def ws(real: Cluster, netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w = Workspace.create(tmp_path_factory.mktemp("drift-real"), target="local-cluster")
    data = w.config()
    env = data["config"]["immutable:environment"]
    env["kubeconfig"] = str(real.kubeconfig)
    env["services"]["web"].update({"replicas": 2, "rollout_timeout_seconds": 60})
    ledger = data["config"]["immutable:ledger"]
    for svc in ("web", "api", "worker"):
        ledger[svc] = {"releases": [{"artifact": real.testapp_ref("1.0.0"), "note": f"{svc} testapp 1.0.0"}]}
    w.write_config(data)
    w.env["IMMUTABLE_KUBECTL"] = str(BIN / "kubectl")  # the cluster's kubectl, as deploy.sh finds it in .toolchain
    w.init_stack("dev")
    w.pulumi("up", "--yes", "--skip-preview", "-s", "dev", timeout=600)
    # A second web release: 1.0.0 becomes the kept one (scaled to zero).
    data = w.config()
    data["config"]["immutable:ledger"]["web"]["releases"].append({"artifact": real.testapp_ref("2.0.0")})
    w.write_config(data)
    w.pulumi("up", "--yes", "--skip-preview", "-s", "dev", timeout=600)
    try:
        yield w
    finally:
        real.kubectl("delete", "resourcequota", "no-more-pods", "-n", NS, "--ignore-not-found", check=False)
        w.pulumi("destroy", "--yes", "-s", "dev", check=False, timeout=600)
        out = tmp_path_factory.getbasetemp() / "real-node-measurements.json"
        out.write_text(json.dumps(M, indent=2) + "\n")
        print(f"\nreal node measurements ({out}):\n{json.dumps(M, indent=2)}")


def ops(ws: Workspace, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(ws.dir), *args], env=ws.env,
                          capture_output=True, text=True, timeout=timeout)


def outputs(ws: Workspace) -> dict[str, Any]:
    return json.loads(ws.pulumi("stack", "output", "--json", "-s", "dev").stdout)  # type: ignore[no-any-return]


def drift_json(ws: Workspace, *args: str) -> tuple[int, dict[str, Any]]:
    proc = ops(ws, "drift", "dev", "--format", "json", *args)
    assert proc.returncode in (0, 5), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def fields(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(resource, field, change, manager) of every drifted field."""
    return {(d["name"], f["path"], f["kind"], f["manager"]) for d in report["drifted"] for f in d["fields"]}


def names(real: Cluster, ws: Workspace) -> dict[str, str]:
    out = outputs(ws)
    cm = real.get("configmaps", "-n", NS, "-l", "app.kubernetes.io/name=api")["items"][0]["metadata"]["name"]
    secret = real.get("secrets", "-n", NS, "-l", "app.kubernetes.io/name=api")["items"][0]["metadata"]["name"]
    return {"active": f"web-{out['web_release']}", "kept": f"web-{out['web_kept_releases'][0]}",
            "release": out["web_release"], "cm": cm, "secret": secret}


def env_of(real: Cluster, deployment: str) -> dict[str, str]:
    spec = real.get("deployment", deployment, "-n", NS)["spec"]["template"]["spec"]
    return {e["name"]: e.get("value", "") for e in spec["containers"][0].get("env", [])}


def test_1_each_kind_of_drift_is_found_with_its_field_and_manager(real: Cluster, ws: Workspace) -> None:
    code, clean = drift_json(ws)
    assert code == 0 and clean["drifted"] == [], clean
    n = names(real, ws)
    real.kubectl("set", "env", f"deployment/{n['active']}", "-n", NS, "LOG_FORMAT=text")  # a field the release owns
    real.kubectl("set", "env", f"deployment/{n['active']}", "-n", NS, "INJECTED=1")  # a field another manager adds
    real.kubectl("set", "env", f"deployment/{n['kept']}", "-n", NS, "INJECTED=1")
    real.kubectl("label", f"configmap/{n['cm']}", "-n", NS, "team=ops")
    real.kubectl("annotate", f"secret/{n['secret']}", "-n", NS, "note=by-hand")
    real.kubectl("label", "service/web", "-n", NS, "team=ops")
    code, report = drift_json(ws)
    assert code == 5
    container = "spec.template.spec.containers[name=web].env"
    expected = {
        (n["active"], f"{container}[name=LOG_FORMAT].value", "changed", "kubectl-set"),
        (n["active"], f"{container}[name=INJECTED]", "added", "kubectl-set"),
        (n["kept"], f"{container}[name=INJECTED]", "added", "kubectl-set"),
        (n["cm"], "metadata.labels.team", "added", "kubectl-label"),
        (n["secret"], "metadata.annotations.note", "added", "kubectl-annotate"),
        ("web-svc", "metadata.labels.team", "added", "kubectl-label"),
    }
    found = fields(report)
    assert expected <= found, (expected - found, found)
    assert found <= expected, found - expected  # nothing else reported (status, defaults, controllers)
    table = ops(ws, "drift", "dev")
    assert table.returncode == 5 and "kubectl-set" in table.stdout and "env[name=INJECTED]" in table.stdout, table.stdout


def test_2_fix_recreates_the_active_and_the_kept_release_without_a_failed_request(
        real: Cluster, ws: Workspace, tmp_path: pathlib.Path) -> None:
    n = names(real, ws)
    ledger = (ws.dir / "Pulumi.dev.yaml").read_text()
    t0 = time.monotonic()
    with traffic(real, "web", "drift_fix", tmp_path) as load:
        proc = ops(ws, "drift", "dev", "--fix", "--format", "json")
    M["drift_fix_seconds"] = round(time.monotonic() - t0, 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["fix"]["drifted_after"] == [], result["fix"]
    assert result["fix"]["copies"] == [f"{n['active']}-repair"], result["fix"]
    assert not load.failed, load.summary()
    assert set(load.versions) == {"2.0.0"}, load.summary()  # the same release answered throughout
    # The same release, made true again: same id, same ledger, same names, no hand-made fields.
    assert names(real, ws) == n
    assert (ws.dir / "Pulumi.dev.yaml").read_text() == ledger
    assert env_of(real, n["active"])["LOG_FORMAT"] == "json" and "INJECTED" not in env_of(real, n["active"])
    assert "INJECTED" not in env_of(real, n["kept"])
    assert "team" not in real.get("service", "web", "-n", NS)["metadata"]["labels"]
    assert not real.get("deployments", "-n", NS, "-l", "immutable.dev/repair-of")["items"]
    code, clean = drift_json(ws)
    assert code == 0 and clean["drifted"] == [], clean
    M["drift_fix_up_seconds"] = result["fix"]["up_seconds"]


def test_3_a_failed_repair_leaves_the_drifted_release_serving(real: Cluster, ws: Workspace,
                                                               tmp_path: pathlib.Path) -> None:
    n = names(real, ws)
    real.kubectl("set", "env", f"deployment/{n['active']}", "-n", NS, "INJECTED=2")
    real.kubectl("rollout", "status", f"deployment/{n['active']}", "-n", NS, "--timeout=120s", timeout=130)
    deadline = time.monotonic() + 60
    while any(p["metadata"].get("deletionTimestamp") for p in real.get("pods", "-n", NS)["items"]):
        assert time.monotonic() < deadline, "old pods still terminating"
        time.sleep(1)
    uid = real.get("deployment", n["active"], "-n", NS)["metadata"]["uid"]
    running = len([p for p in real.get("pods", "-n", NS)["items"] if p["status"].get("phase") == "Running"])
    # No room for one more pod: the clean copy cannot start.
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "no-more-pods", "namespace": NS},
             "spec": {"hard": {"pods": str(running)}}}
    real.kubectl("apply", "-f", "-", input=json.dumps(quota))
    try:
        with traffic(real, "web", "drift_fix_failed", tmp_path) as load:
            proc = ops(ws, "drift", "dev", "--fix", "--timeout", "20")
        text = proc.stdout + proc.stderr
        assert proc.returncode == 5, text
        assert f"the drifted Deployment {n['active']} still serves" in " ".join(text.split()), text
        assert not load.failed, load.summary()
        live = real.get("deployment", n["active"], "-n", NS)
        assert live["metadata"]["uid"] == uid and env_of(real, n["active"])["INJECTED"] == "2"
        assert not real.get("deployments", "-n", NS, "-l", "immutable.dev/repair-of")["items"]
    finally:
        real.kubectl("delete", "resourcequota", "no-more-pods", "-n", NS)
    # With room again, the same command repairs it.
    proc = ops(ws, "drift", "dev", "--fix")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "INJECTED" not in env_of(real, n["active"])


def _converge(ws: Workspace, when: str) -> subprocess.CompletedProcess[str]:
    """What scripts/deploy.sh runs around `pulumi up` (lib.sh: cluster_truth)."""
    return ops(ws, "converge", "dev", when)


def test_4_the_main_job_converges_after_the_cluster_was_wiped(real: Cluster, ws: Workspace,
                                                               tmp_path: pathlib.Path) -> None:
    release = outputs(ws)["web_release"]
    # Everything the stack made, gone (as after `cluster/local.py stop` and start).
    objects = targets(ws.export()["deployment"])
    cluster_scoped = [t.resource_arg for t in objects if t.namespace is None and t.kind != "Namespace"]
    real.kubectl("delete", "namespace", NS, "--wait=true", timeout=180)
    if cluster_scoped:
        real.kubectl("delete", *cluster_scoped, "--wait=true")
    # deploy.sh's check after an update refuses to print success over missing objects...
    after = _converge(ws, "after")
    assert after.returncode == 1 and "still missing" in after.stderr, after.stderr
    # ...and before it, the missing objects leave the state, so the update creates them.
    before = _converge(ws, "before")
    assert before.returncode == 0, before.stderr
    assert "the cluster does not have" in before.stderr, before.stderr
    up = ws.pulumi("up", "--yes", "--skip-preview", "-s", "dev", timeout=600)
    created = re.search(r"\+ (\d+) created", up.stdout)
    unchanged = re.search(r"(\d+) unchanged", up.stdout)
    assert created and int(created.group(1)) == len(objects), up.stdout  # every Kubernetes object created again
    total = len(ws.export()["deployment"]["resources"])
    assert unchanged is None or int(unchanged.group(1)) <= total - len(objects), up.stdout  # none called unchanged
    assert _converge(ws, "after").returncode == 0
    assert outputs(ws)["web_release"] == release
    with traffic(real, "web", "after_wipe", tmp_path) as load:
        pass
    assert not load.failed and set(load.versions) == {"2.0.0"}, load.summary()
    code, clean = drift_json(ws)
    assert code == 0 and clean["drifted"] == [], clean
