"""Failures are visible and never misreported (real engine, render-mode dev stack).

A rollback whose ``pulumi up`` fails (here: the Kubernetes plugin is missing) prints the
engine's own error lines, restores the ledger, and afterwards every command still says the
release that really runs: the active release is read from the resources in state, never
from outputs a failed update may have written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ..engine.harness import Workspace, artifacts_only
from .support import explain, run_ops

pytestmark = [pytest.mark.engine]


def test_a_failed_rollback_shows_the_engine_error_and_history_keeps_the_running_release(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path)
    # A web history with a kept release: test's ledger (dev's names one build of the example apps).
    dev = ws.config("dev")
    dev["config"]["immutable:ledger"]["web"] = artifacts_only(ws.config("test")["config"]["immutable:ledger"]["web"])
    ws.write_config(dev, "dev")
    ws.init_stack("dev")
    ws.pulumi("up", "--yes", "-s", "dev")
    outputs = json.loads(ws.pulumi("stack", "output", "--json", "-s", "dev").stdout)
    running, kept = outputs["web_release"], outputs["web_kept_releases"][0]
    ledger_before = (ws.dir / "Pulumi.dev.yaml").read_bytes()

    # The same engine, but a PULUMI_HOME without the Kubernetes plugin: the update cannot run.
    broken_home = tmp_path / "home-without-plugins"
    shutil.copytree(ws.env["PULUMI_HOME"], broken_home, ignore=shutil.ignore_patterns("plugins"))
    broken = {**ws.env, "PULUMI_HOME": str(broken_home)}
    proc = run_ops(ws.dir, broken, "rollback", "dev", "--service", "web")
    assert proc.returncode == 8, explain(proc)
    assert "kubernetes" in proc.stderr and "plugin" in proc.stderr, explain(proc)   # the engine's own words
    assert (ws.dir / "Pulumi.dev.yaml").read_bytes() == ledger_before                  # ledger restored

    proc = run_ops(ws.dir, ws.env, "history", "dev", "--format", "json")
    assert proc.returncode == 0, explain(proc)
    current = json.loads(proc.stdout)["current"]["web"]
    assert current["release"] == running and kept in current["kept"], current
