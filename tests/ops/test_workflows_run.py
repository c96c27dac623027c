"""The committed workflows, run by act on this machine (scripts/run_workflow.py; issue #29).

A bare repository on disk stands for the forge; a clone of this checkout's HEAD is pushed to
it, a pull-request branch changes one stack's knob, and the committed ``preview.yml`` runs on
that branch with a ``pull_request`` payload from a JSON file: its ``touched`` job names the
stack the change touches (through ``immutable-ops touched`` in a venv the job installs) and
its ``actionlint`` job lints the committed workflows. Breaking either step fails this test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .support import ROOT

pytestmark = [pytest.mark.workflows]

ACT = ROOT / ".toolchain" / "bin" / "act"
RUNNER = ROOT / "scripts" / "run_workflow.py"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def pull_request(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A clone on a PR branch that scales test's web (touches the test stack only), and its payload."""
    if not ACT.exists():
        message = f"{ACT} is missing: run python3 toolchain/go_tools.py act"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("forge")
    forge = tmp / "forge.git"
    _git(tmp, "init", "-q", "--bare", "-b", "main", str(forge))
    clone = tmp / "runner"
    _git(tmp, "clone", "-q", str(ROOT), str(clone))
    _git(clone, "push", "-q", str(forge), "HEAD:main")
    _git(clone, "remote", "set-url", "origin", str(forge))
    _git(clone, "fetch", "-q", "origin")
    _git(clone, "checkout", "-q", "-b", "scale-test-web", "origin/main")
    config = clone / "Pulumi.test.yaml"
    text = config.read_text()
    assert "web: {replicas: 2," in text, "Pulumi.test.yaml's web knob moved: update this test"
    config.write_text(text.replace("web: {replicas: 2,", "web: {replicas: 3,"))
    _git(clone, "commit", "-q", "-am", "test: web on 3 replicas")
    payload = tmp / "pull_request.json"
    payload.write_text(json.dumps({"number": 1, "pull_request": {
        "number": 1, "base": {"ref": "main"}, "head": {"ref": "scale-test-web"}}}))
    return clone, payload


def _run(clone: Path, payload: Path, job: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUNNER), "preview.yml", "pull_request", "--event", str(payload),
                           "--job", job, "-C", str(clone)], capture_output=True, text=True, timeout=600)


def test_pull_request_workflow_names_the_stacks_a_change_touches(pull_request: tuple[Path, Path]) -> None:
    proc = _run(*pull_request, "touched")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'stacks touched: ["test"]' in log, log[-4000:]
    assert "Job succeeded" in log


def test_pull_request_workflow_lints_the_committed_workflows(pull_request: tuple[Path, Path]) -> None:
    proc = _run(*pull_request, "workflows")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "actionlint -color .github/workflows/*.yml" in log and "Job succeeded" in log, log[-4000:]
