"""Every job of deploy.yml that records or promotes commits the stack's ledger AND its release
records back to main (issue #29: the promotions committed only ``Pulumi.<stack>.yaml``, the dev
job nothing). The committed workflow's own ``run:`` text is executed in a clone of a bare
repository standing for the forge, after the files the job's deploy writes were changed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import ROOT

DEPLOY = ROOT / ".github" / "workflows" / "deploy.yml"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _commit_step(job: dict[str, Any]) -> str:
    """The run: text of the job's step that commits (the step after its deploy)."""
    steps = [s for s in job["steps"] if "commit" in str(s.get("name", ""))]
    assert len(steps) == 1, f"want one commit step, got {[s.get('name') for s in job['steps']]}"
    return str(steps[0]["run"])


@pytest.fixture
def forge(tmp_path: Path) -> tuple[Path, Path]:
    remote = tmp_path / "forge.git"
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp_path / "runner"
    _git(tmp_path, "clone", "-q", str(remote), str(work))
    for name in ("Pulumi.dev.yaml", "Pulumi.test.yaml", "Pulumi.prod.yaml"):
        (work / name).write_bytes((ROOT / name).read_bytes())
    (work / "scripts").mkdir()
    (work / "scripts" / "commit_records.sh").write_bytes((ROOT / "scripts" / "commit_records.sh").read_bytes())
    _git(work, "add", "-A")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    _git(work, "push", "-q", "origin", "HEAD:main")
    return remote, work


@pytest.mark.parametrize("stack", ["dev", "test", "prod"])
def test_each_deploy_job_commits_its_ledger_and_records(forge: tuple[Path, Path], stack: str) -> None:
    remote, work = forge
    job = yaml.safe_load(DEPLOY.read_text())["jobs"][stack]
    # What the job's deploy (record / promote) wrote: an edited ledger and a new records file.
    with (work / f"Pulumi.{stack}.yaml").open("a") as ledger:
        ledger.write("# edited by the deploy\n")
    (work / "releases").mkdir()
    (work / "releases" / f"{stack}.yaml").write_text("web: {}\n")
    env = {**os.environ, "GITHUB_SHA": "0123456789abcdef", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z"}
    proc = subprocess.run(["bash", "-e", "-c", _commit_step(job)], cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pushed = _git(remote, "show", "--name-only", "--format=%s", "main").split()
    assert f"Pulumi.{stack}.yaml" in pushed and f"releases/{stack}.yaml" in pushed, pushed
    assert "01234567" in _git(remote, "log", "-1", "--format=%s", "main")
    again = subprocess.run(["bash", "-e", "-c", _commit_step(job)], cwd=work, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "nothing to commit" in again.stdout, again.stdout + again.stderr
