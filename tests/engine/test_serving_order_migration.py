"""Upgrading a stack whose ledger has the previous format's ``active`` pin (written by a rollback
of the previous version) to serving order: no running release is replaced or deleted.

The previous version is ``PREVIOUS`` (the commit before serving order), taken from this
repository's git history: it deploys dev in render mode and rolls web back (which pins
``active``). Today's code then previews (no create, delete or replace of a Deployment),
``immutable-ops record`` stores the ledger in the current form (the pinned entry last with
``event: pin``, no ``active``), and the update leaves the active and kept releases as they were.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .harness import PULUMI, ROOT, Workspace, changed, install_todays_program
from .test_ledger_migration import _steps_on

pytestmark = [pytest.mark.engine, pytest.mark.slow]

PREVIOUS = "708e3a8"
"""The last commit before serving order (issue #36)."""
CHANGES = ("create", "delete", "replace", "create-replacement", "delete-replaced")


def test_a_pinned_ledger_upgrades_with_no_replace_and_no_delete(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS, "components", "stacks",
                              "__main__.py", "Pulumi.dev.yaml", "releases"], capture_output=True, check=False)
    assert archive.returncode == 0, f"git archive {PREVIOUS} failed (a full clone is needed): {archive.stderr.decode()}"
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    (old / "lib").mkdir()
    os.symlink(old / "components", old / "lib" / "immutable_infra")  # the old library wins over the editable install

    ws = Workspace.create(tmp_path)
    ws.auto_record = False
    for name in ("stacks", "releases"):
        shutil.rmtree(ws.dir / name, ignore_errors=True)
        shutil.copytree(old / name, ws.dir / name)
    shutil.copy(old / "__main__.py", ws.dir / "__main__.py")
    dev = yaml.safe_load((old / "Pulumi.dev.yaml").read_text())
    dev["config"]["immutable:environment"]["target"] = "render"
    ws.write_config(dev)
    old_env = {**ws.env, "PYTHONPATH": str(old / "lib")}

    def run(*args: str, ops: bool = False) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "immutable_infra.ops", "-C", str(ws.dir), *args] if ops else \
            [str(PULUMI), *args, "--non-interactive"]
        proc = subprocess.run(cmd, cwd=ws.dir, env=old_env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
        return proc

    ws.init_stack("dev")
    run("record", "dev", ops=True)
    run("up", "--yes", "-s", "dev")
    run("rollback", "dev", "--service", "web", "--format", "json", ops=True)  # the previous version pins `active`
    pinned = ws.config()["config"]["immutable:ledger"]["web"]
    assert pinned.get("active"), pinned
    before = json.loads(run("stack", "output", "--json", "-s", "dev").stdout)
    assert before["web_release"] == pinned["active"] and before["web_kept_releases"]

    # Upgrade: today's code and library, the same config and records.
    install_todays_program(ws.dir, release_env=False)
    steps = ws.preview_steps()
    assert _steps_on(steps, CHANGES) == [], [(s["op"], s["urn"]) for s in changed(steps)]
    proc = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(ws.dir), "record", "dev"],
                          env=ws.env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    web = ws.config()["config"]["immutable:ledger"]["web"]
    assert "active" not in web and web["releases"][-1]["release"] == before["web_release"]
    assert web["releases"][-1]["event"] == "pin"
    steps = ws.preview_steps()
    assert _steps_on(steps, CHANGES) == [], [(s["op"], s["urn"]) for s in changed(steps)]
    ws.pulumi("up", "--yes", "-s", "dev")
    after = json.loads(ws.pulumi("stack", "output", "--json", "-s", "dev").stdout)
    for w in ("web", "api", "worker"):
        assert (after[f"{w}_release"], after[f"{w}_kept_releases"]) == (before[f"{w}_release"], before[f"{w}_kept_releases"])
