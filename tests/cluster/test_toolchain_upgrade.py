"""Upgrading the Pulumi toolchain (issue #34), on the REAL node under traffic: a stack deployed
by the previous toolchain and code is updated by today's with 0 replaces, 0 deletes, every
resource's id kept, the same release ids, the same pods, and 0 failed requests.

The previous toolchain and code are this repository's own at ``PREVIOUS["commit"]`` (main's
last commit on Pulumi 3.259.0): ``toolchain/previous.py`` builds its CLI and language host with
its own ``build.py`` and installs its Python SDK (scripts/test.sh runs it first, with its
progress; the fixture then only finds them). The old program runs with the old SDK and library
first on PYTHONPATH under the old CLI, as a user's stack ran before the upgrade; then today's
program, SDK and CLI update the state it wrote.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.cluster.kube import BIN, Cluster
from tests.cluster.realnode import NS, M, traffic, wait_answering
from tests.cluster.test_real_node import outputs
from tests.engine.harness import (
    DEV_SECRET,
    PULUMI,
    ROOT,
    Workspace,
    changed,
    resource_name,
    resource_type,
    toolchain_missing,
)

# isort: split
from previous import PREVIOUS, Previous  # toolchain/previous.py: the harness puts toolchain/ on sys.path
from previous import ensure as ensure_previous

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]

PULUMI_VERSION = "v" + json.loads((ROOT / "toolchain" / "versions.json").read_text())["pulumi"]["version"]
WORKLOADS = ("web", "api", "worker")
REPLACING_OR_DELETING = ("delete", "replace", "create-replacement", "delete-replaced", "discard")


class OldStack:
    """The dev stack as the previous toolchain deployed it: its CLI, SDK, library and program."""

    def __init__(self, ws: Workspace, previous: Previous) -> None:
        self.ws, self.previous = ws, previous
        # The old CLI with its own language host (the engine looks beside the CLI first), the old
        # SDK and library first on PYTHONPATH; the same backend and PULUMI_HOME (the Kubernetes
        # plugin is 4.25.0 in both toolchains).
        self.env = {**ws.env, "PATH": f"{previous.cli.parent}{os.pathsep}{ws.env['PATH']}",
                    "PYTHONPATH": os.pathsep.join(str(p) for p in previous.pythonpath)}

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(self.previous.cli), *args, "--non-interactive"], cwd=self.ws.dir, env=self.env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"pulumi {PREVIOUS['cli']} {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def deploy(self) -> None:
        """What scripts/deploy.sh did then: the old library records the releases, the old CLI deploys."""
        self.pulumi("stack", "init", "dev", "--secrets-provider", "passphrase")
        if "api-db-password" not in ((self.ws.config()["config"] or {}).get("immutable:secrets") or {}):
            self.pulumi("config", "set", "--secret", "--path", "immutable:secrets.api-db-password.v1", DEV_SECRET,
                        "-s", "dev")
        record = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(self.ws.dir), "record", "dev"],
                                env=self.env, capture_output=True, text=True, timeout=600)
        assert record.returncode == 0, f"the old immutable-ops record dev:\n{record.stdout}\n{record.stderr}"
        self.pulumi("up", "--yes", "--skip-preview", "-s", "dev")


def _releases(out: dict[str, Any]) -> dict[str, Any]:
    return {w: (out[f"{w}_release"], out[f"{w}_kept_releases"]) for w in WORKLOADS}


def _pods(real: Cluster) -> dict[str, str]:
    """name -> uid of every pod in the stack's namespace: a replaced or rolled object changes them."""
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in real.get("pods", "-n", NS)["items"]
            if not p["metadata"].get("deletionTimestamp")}


@pytest.fixture(scope="module")
def previous() -> Previous:
    return ensure_previous()


@pytest.fixture(scope="module")
def ws(real: Cluster, netns: str, previous: Previous, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The old program, ledger and config, deployed by the old toolchain on the real node."""
    w = Workspace.create(tmp_path_factory.mktemp("toolchain-upgrade"), target="local-cluster")
    for name in ("stacks", "releases"):
        shutil.rmtree(w.dir / name, ignore_errors=True)
        shutil.copytree(previous.tree / name, w.dir / name)
    shutil.copy(previous.tree / "__main__.py", w.dir / "__main__.py")
    data = yaml.safe_load((previous.tree / "Pulumi.dev.yaml").read_text())
    env = data["config"]["immutable:environment"]
    env.update({"target": "local-cluster", "kubeconfig": str(real.kubeconfig)})
    env["services"]["web"].update({"replicas": 2, "rollout_timeout_seconds": 60})
    ledger = data["config"]["immutable:ledger"]
    for svc in WORKLOADS:
        ledger[svc] = {"releases": [{"artifact": real.testapp_ref("1.0.0"), "note": f"{svc} testapp 1.0.0"}]}
    w.write_config(data)
    w.env["IMMUTABLE_KUBECTL"] = str(BIN / "kubectl")  # the cluster's kubectl, as deploy.sh finds it in .toolchain
    try:  # a deploy that fails half-way leaves objects on the session's node too: destroy them
        OldStack(w, previous).deploy()
        wait_answering(real, "web")
        yield w
    finally:
        w.pulumi("destroy", "--yes", "-s", "dev", check=False, timeout=600)


def test_a_stack_deployed_by_the_previous_toolchain_upgrades_in_place_without_a_failed_request(
        real: Cluster, ws: Workspace, previous: Previous, tmp_path: pathlib.Path) -> None:
    old = OldStack(ws, previous)
    state = json.loads(old.pulumi("stack", "export", "-s", "dev").stdout)["deployment"]
    assert state["manifest"]["version"] == f"v{PREVIOUS['cli']}", state["manifest"]  # the old engine wrote it
    before = json.loads(old.pulumi("stack", "output", "--json", "-s", "dev").stdout)
    assert all(before[f"{w}_release"] for w in WORKLOADS), before
    ids_before = {r["urn"]: r.get("id") for r in state["resources"] if r.get("custom")}
    pods_before = _pods(real)
    assert len(pods_before) >= 4, pods_before  # web x2, api, worker

    # Today's CLI, SDK, library and program on the state the old toolchain wrote.
    assert PULUMI.resolve() != previous.cli.resolve()
    shutil.rmtree(ws.dir / "stacks")
    shutil.copytree(ROOT / "stacks", ws.dir / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "__main__.py", ws.dir / "__main__.py")
    with traffic(real, "web", "toolchain_upgrade", tmp_path) as load:
        steps = ws.preview_steps()
        M["toolchain_upgrade_preview_ops"] = dict(Counter(s["op"] for s in steps))
        bad = [(s["op"], resource_type(s["urn"]), resource_name(s["urn"])) for s in steps
               if s["op"] in REPLACING_OR_DELETING]
        assert bad == [], f"upgrading from the toolchain of {PREVIOUS['commit']} would {bad}"
        t0 = time.monotonic()
        ws.pulumi("up", "--yes", "--skip-preview", "-s", "dev")
        M["toolchain_upgrade_up_seconds"] = round(time.monotonic() - t0, 1)
    assert not load.failed, load.summary()
    assert set(load.versions) == {"1.0.0"}, load.summary()

    upgraded = ws.export()["deployment"]
    assert upgraded["manifest"]["version"] == PULUMI_VERSION, upgraded["manifest"]  # today's engine wrote it
    ids_after = {r["urn"]: r.get("id") for r in upgraded["resources"] if r.get("custom")}
    assert ids_before.keys() <= ids_after.keys(), f"the upgrade deleted {sorted(ids_before.keys() - ids_after.keys())}"
    assert {u: ids_after[u] for u in ids_before} == ids_before, "the upgrade re-created resources"
    assert _pods(real) == pods_before, "the upgrade replaced or rolled pods"
    assert _releases(outputs(ws)) == _releases(before)
    no_changes = ws.pulumi("preview", "--expect-no-changes", "-s", "dev", check=False)
    assert no_changes.returncode == 0, [(s["op"], s["urn"]) for s in changed(ws.preview_steps())]
