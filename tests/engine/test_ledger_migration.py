"""Upgrading a running stack from the previous library version (ledgers of artifacts only, an
unversioned secret) to release records: the first preview replaces nothing, ``immutable-ops
record`` records the releases that run, and after that nothing changes.

The previous version is the landed commit before release records (``PREVIOUS``), taken from
this repository's own git history and run on the real engine to write the state fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import DEV_SECRET, PULUMI, ROOT, Workspace, changed, install_todays_program

pytestmark = [pytest.mark.engine, pytest.mark.slow]

PREVIOUS = "4ceca57"
"""The last landed commit before release records (stop 11)."""
COMPUTE = ("kubernetes:apps/v1:Deployment",)


def _previous_version(into: Path) -> None:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS, "components", "stacks",
                              "__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml"], capture_output=True, check=False)
    assert archive.returncode == 0, f"git archive {PREVIOUS} failed (a full clone is needed): {archive.stderr.decode()}"
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    # The old library must win over this checkout's editable install: a package dir on PYTHONPATH.
    (into / "lib").mkdir()
    os.symlink(into / "components", into / "lib" / "immutable_infra")


def _steps_on(steps: list[dict[str, Any]], ops: tuple[str, ...]) -> list[str]:
    return [s["urn"] for s in steps if s.get("op") in ops and s["urn"].rsplit("::", 2)[-2].rsplit("$", 1)[-1] in COMPUTE]


def test_upgrade_from_the_previous_version_replaces_no_running_compute(tmp_path: Path) -> None:
    old = tmp_path / "old"
    _previous_version(old)
    ws = Workspace.create(tmp_path)
    ws.auto_record = False  # this test runs `immutable-ops record` itself, after the refused update
    # The workspace runs the *previous* code and config first.
    for name in ("components", "stacks"):
        shutil.rmtree(ws.dir / name, ignore_errors=True)
    shutil.copytree(old / "stacks", ws.dir / "stacks")
    shutil.copy(old / "__main__.py", ws.dir / "__main__.py")
    shutil.rmtree(ws.dir / "releases", ignore_errors=True)
    dev = yaml.safe_load((old / "Pulumi.dev.yaml").read_text())
    dev["config"]["immutable:environment"]["target"] = "render"
    ws.write_config(dev)
    old_env = {**ws.env, "PYTHONPATH": str(old / "lib")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(PULUMI), *args, "--non-interactive"], cwd=ws.dir, env=old_env,
                              capture_output=True, text=True, timeout=600)

    for args in (["stack", "init", "dev", "--secrets-provider", "passphrase"],
                 ["config", "set", "--secret", "immutable-example:api-db-password", DEV_SECRET, "-s", "dev"],
                 ["up", "--yes", "-s", "dev"]):
        proc = run(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    before = json.loads(run("stack", "output", "--json", "-s", "dev").stdout)
    assert "web_release" in before

    # Upgrade: today's code, the same stack config (artifact-only ledger, unversioned secret).
    install_todays_program(ws.dir, release_env=False)
    steps = ws.preview_steps()
    assert _steps_on(steps, ("create", "delete", "replace", "create-replacement", "delete-replaced")) == [], \
        [(s["op"], s["urn"]) for s in changed(steps)]
    # An update refuses to run unrecorded releases; recording them replaces nothing.
    refused = ws.pulumi("up", "--yes", "-s", "dev", check=False)
    assert refused.returncode != 0 and "immutable-ops record dev" in refused.stdout + refused.stderr
    proc = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(ws.dir), "record", "dev", "--format", "json"],
                          env=ws.env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recorded = {(r["workload"], r["release"]) for r in json.loads(proc.stdout)["recorded"]}
    running = {(w, before[f"{w}_release"]) for w in ("web", "api", "worker")}
    assert running <= recorded                                   # the releases that run, as they run
    ledger = ws.config()["config"]["immutable:ledger"]
    assert all(e.get("release") for w in ("web", "api", "worker") for e in ledger[w]["releases"][-1:])
    # Recording changes no release: running compute stays as it is (the library's own upgrades,
    # such as the exec lock moving to the namespace, touch only policy objects).
    after_record = ws.preview_steps()
    assert _steps_on(after_record, ("create", "delete", "replace", "create-replacement", "delete-replaced")) == []
    for step in after_record:  # a kept Deployment may gain the skipAwait annotation: metadata, no pod change
        if step.get("op") == "update" and step["urn"] in _steps_on([step], ("update",)):
            assert all(k.startswith("metadata.") for k in step.get("detailedDiff") or step.get("diffs") or []), step
    ws.pulumi("up", "--yes", "-s", "dev")
    after = json.loads(ws.pulumi("stack", "output", "--json", "-s", "dev").stdout)
    for w in ("web", "api", "worker"):
        assert (after[f"{w}_release"], after[f"{w}_kept_releases"]) == (before[f"{w}_release"], before[f"{w}_kept_releases"])
