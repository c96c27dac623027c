"""The CI workflows: valid for actionlint, wired to commands that exist, in the right order."""

from __future__ import annotations

import re
import subprocess
import warnings
from typing import Any

import pytest
import yaml

from .support import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / ".toolchain" / "bin" / "actionlint"
FILES = sorted(WORKFLOWS.glob("*.yml"))

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*Click 9\.0.*", category=DeprecationWarning)
    from immutable_infra.ops import comment
    from immutable_infra.ops.cli import app


def _load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def _scripts(workflow: dict[Any, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for job in workflow["jobs"].values() for step in job.get("steps", []))


@pytest.mark.skipif(not ACTIONLINT.exists(), reason=f"{ACTIONLINT} is missing: run python3 toolchain/build_actionlint.py")
def test_actionlint_passes() -> None:
    proc = subprocess.run([str(ACTIONLINT), "-no-color", *map(str, FILES)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_command_used_exists() -> None:
    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    used = set()
    for path in FILES:
        used |= set(re.findall(r"immutable-ops (\w+)", path.read_text()))
    assert used and used <= commands, used - commands


def test_pull_request_workflow_previews_guards_and_comments_per_stack() -> None:
    workflow = _load("preview.yml")
    assert "pull_request" in workflow[True]  # YAML reads the key `on` as True
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "touched" and "fromJSON(needs.touched.outputs.stacks)" in preview["strategy"]["matrix"]["stack"]
    script = _scripts(workflow)
    assert "immutable-ops touched --base" in script and "immutable-ops guard" in script
    assert "immutable-ops comment" in script
    poster = next(s for s in preview["steps"] if "github-script" in str(s.get("uses", "")))
    assert comment.MARKER.format(stack="${process.env.STACK}") in poster["with"]["script"]


def test_merge_deploys_dev_then_promotes_with_approvals() -> None:
    workflow = _load("deploy.yml")
    assert workflow[True]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert [jobs[j]["environment"] for j in ("dev", "test", "prod")] == ["dev", "test", "prod"]
    assert jobs["test"]["needs"] == "dev" and jobs["prod"]["needs"] == "test"
    assert "immutable-ops promote dev test --deploy" in _scripts({"jobs": {"t": jobs["test"]}})
    assert "immutable-ops promote test prod --deploy" in _scripts({"jobs": {"p": jobs["prod"]}})
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_schedule_checks_drift_of_every_stack() -> None:
    workflow = _load("drift.yml")
    assert workflow[True]["schedule"][0]["cron"]
    assert workflow["jobs"]["drift"]["strategy"]["matrix"]["stack"] == ["dev", "test", "prod"]
    script = _scripts(workflow)
    assert "immutable-ops drift" in script and re.search(r"\b5\) .*exit 1", script) and "6) " in script


def test_workflows_use_the_shared_backend_from_variables_and_secrets() -> None:
    for path in FILES:
        if path.name == "test.yml":  # the test command uses throwaway file backends of its own
            continue
        workflow = _load(path.name)
        text = path.read_text()
        assert "self-hosted" not in text and "IMMUTABLE_RUNNER" not in text, path.name
        assert workflow["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}", path.name
        assert workflow["env"]["AWS_SECRET_ACCESS_KEY"].startswith("${{ secrets."), path.name
        for name, job in workflow["jobs"].items():
            assert job["runs-on"] == "ubuntu-latest", (path.name, name)
            script = _scripts({"jobs": {name: job}})
            if "ensure_toolchain" in script:  # every job that runs the engine checks the backend first
                assert "require_shared_backend && ensure_venv" in script, (path.name, name)
            passphrase = str(job.get("env", {}).get("PULUMI_CONFIG_PASSPHRASE", ""))
            if passphrase:
                assert "secrets" in passphrase, (path.name, name)


@pytest.mark.parametrize(("url", "ok"), [
    ("s3://team-state?region=eu-west-1", True), ("gs://team-state", True), ("azblob://state", True),
    ("https://api.pulumi.com", True), ("file:///srv/state", False), ("", False),
])
def test_ci_refuses_a_backend_that_dies_with_the_runner(url: str, ok: bool) -> None:
    proc = subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/lib.sh"; require_shared_backend'],
                          env={"PATH": "/usr/bin:/bin", "PULUMI_BACKEND_URL": url}, capture_output=True, text=True)
    assert (proc.returncode == 0) is ok, proc.stdout + proc.stderr
    assert "eu-west-1" not in proc.stdout + proc.stderr  # the query (it may hold options) is not printed


def test_pull_requests_run_the_test_command() -> None:
    workflow = _load("test.yml")
    assert "pull_request" in workflow[True]
    (job,) = workflow["jobs"].values()
    assert _scripts({"jobs": {"t": job}}).strip() == "bash .ci/run"
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    checkout = next(s for s in job["steps"] if "actions/checkout" in str(s.get("uses", "")))
    assert checkout["with"]["fetch-depth"] == 0  # the upgrade test reads a pinned earlier revision


def test_rollback_is_a_manual_dispatch_that_commits_what_it_changed() -> None:
    workflow = _load("rollback.yml")
    inputs = workflow[True]["workflow_dispatch"]["inputs"]
    assert inputs["stack"]["options"] == ["dev", "test", "prod"] and inputs["service"]["required"] is True
    assert inputs["to"]["required"] is False
    assert workflow["concurrency"] == _load("deploy.yml")["concurrency"]  # never beside a deploy
    script = _scripts(workflow)
    assert 'immutable-ops rollback "$STACK" --service "$SERVICE"' in script
    assert 'scripts/commit_records.sh "$STACK"' in script


def test_workflows_are_the_five_expected() -> None:
    assert [p.name for p in FILES] == ["deploy.yml", "drift.yml", "preview.yml", "rollback.yml", "test.yml"]
