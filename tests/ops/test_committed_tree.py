"""What ``.github/workflows/deploy.yml`` runs, on a copy of the committed tree (issue #29).

Every stack's committed ledger names only recorded releases (``record <stack> --check``, what
``scripts/deploy.sh`` runs before a non-dev update), and ``promote dev test --deploy`` deploys the
target: test's kept releases were unrecorded once, so the update refused to run them. Render
mode stands for the targets' clusters (no cluster needed); the committed files are unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..engine.harness import Workspace
from .support import explain, run_ops, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.create(tmp_path_factory.mktemp("committed-tree"))
    for stack in ("dev", "test", "prod"):
        ws.init_stack(stack)
    return ws


@pytest.mark.parametrize("stack", ["test", "prod"])
def test_committed_ledgers_name_only_recorded_releases(ws: Workspace, stack: str) -> None:
    proc = run_ops(ws.dir, ws.env, "record", stack, "--check")
    assert proc.returncode == 0, explain(proc)


def test_promote_deploy_on_the_committed_tree(ws: Workspace) -> None:
    test = ws.config("test")
    test["config"]["immutable:environment"]["target"] = "render"
    ws.write_config(test, "test")
    ws.pulumi("up", "--yes", "-s", "dev")
    dev = json.loads(ws.pulumi("stack", "output", "--json", "-s", "dev").stdout)
    proc = run_ops(ws.dir, ws.env, "promote", "dev", "test", "--deploy", "--format", "json")
    assert proc.returncode == 0, explain(proc)
    assert json.loads(proc.stdout)["deployed"] is True
    after = json.loads(ws.pulumi("stack", "output", "--json", "-s", "test").stdout)
    for workload in ("web", "api", "worker"):
        assert after[f"{workload}_release"] == dev[f"{workload}_release"], workload
    check = run_ops(ws.dir, ws.env, "record", "test", "--check")
    assert check.returncode == 0, explain(check)
    assert dev["web_release"] in Path(ws.dir / "releases" / "test.yaml").read_text()
