"""The committed workflows, run by act on this machine (scripts/run_workflow.py; issue #29).

A bare repository on disk stands for the forge; a clone of this checkout's HEAD is pushed to
it, a pull-request branch changes one stack's knob, and the committed ``preview.yml`` runs on
that branch with a ``pull_request`` payload from a JSON file: its ``touched`` job names the
stack the change touches (through ``immutable-ops touched`` in a venv the job installs) and
its ``actionlint`` job lints the committed workflows. Breaking either step fails this test.

Then ``deploy.yml`` runs on a push to main: dev is deployed (render mode), test and prod are
promoted with the same release ids, each on its own local cluster, and each job commits the
target's ledger and records back to the bare repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import ROOT, pulumi_env

pytestmark = [pytest.mark.workflows]

ACT = ROOT / ".toolchain" / "bin" / "act"
RUNNER = ROOT / "scripts" / "run_workflow.py"


def _require_act() -> None:
    if not ACT.exists():
        message = f"{ACT} is missing: run python3 toolchain/go_tools.py act"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def pull_request(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A clone on a PR branch that scales test's web (touches the test stack only), and its payload."""
    _require_act()
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


# --- deploy.yml: merge to main -> dev -> test -> prod, each committing its ledger and records ----

PASSPHRASES = {"dev": "immutable-dev-only-passphrase", "test": "test-only-passphrase-29", "prod": "prod-only-passphrase-29"}


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A forge whose main the team has set up once: the shared backend (moto_server's S3 on
    127.0.0.1 standing for the bucket), the three stacks initialised with their own passphrases,
    test and prod each on its own local cluster (kwok nodes: separate control planes, so
    nothing of dev's is reachable from them) and dev in render mode."""
    from ..s3.moto import AWS_ENV, MotoServer

    _require_act()
    tmp = tmp_path_factory.mktemp("deploy-forge")
    clusters = {s: tmp / f"cluster-{s}" for s in ("test", "prod")}
    moto = MotoServer.start(tmp / "moto.log")
    try:
        for state in clusters.values():
            subprocess.run([sys.executable, str(ROOT / "cluster" / "local.py"), "start", "--nodes", "kwok"], check=True,
                           env={**os.environ, "IMMUTABLE_CLUSTER_STATE": str(state)}, capture_output=True, timeout=300)
        moto.create_bucket("state")
        url = moto.backend_url("state")
        forge = tmp / "forge.git"
        _git(tmp, "init", "-q", "--bare", "-b", "main", str(forge))
        clone = tmp / "runner"
        _git(tmp, "clone", "-q", str(ROOT), str(clone))
        _git(clone, "remote", "set-url", "origin", str(forge))
        for stack in ("dev", "test", "prod"):
            config = clone / f"Pulumi.{stack}.yaml"
            target = "target: render" if stack == "dev" else \
                f"target: kubernetes\n    kubeconfig: {clusters[stack] / 'kubeconfig'}"
            config.write_text(config.read_text().replace("target: local-cluster", target)
                              .replace("target: kubernetes", target))
        env = pulumi_env(ROOT, backend_url=url) | AWS_ENV
        for stack, passphrase in PASSPHRASES.items():
            with_pass = {**env, "PULUMI_CONFIG_PASSPHRASE": passphrase}
            pulumi = [str(ROOT / ".toolchain" / "bin" / "pulumi"), "--non-interactive"]
            subprocess.run([*pulumi, "stack", "init", stack, "--secrets-provider", "passphrase"], cwd=clone,
                           env=with_pass, check=True, capture_output=True)
            if stack != "dev":  # dev commits its dev-only secret; the others get their own
                subprocess.run([*pulumi, "config", "set", "--secret", "--path", "immutable:secrets.api-db-password.v1",
                                f"{stack}-only-password", "-s", stack], cwd=clone, env=with_pass, check=True,
                               capture_output=True)
        _git(clone, "add", "-A")
        _git(clone, "commit", "-q", "-m", "the team's set-up: stacks, targets")
        _git(clone, "push", "-q", "origin", "HEAD:main")
        _git(clone, "fetch", "-q", "origin")
        # A self-hosted runner keeps its tools between jobs: this checkout's venv and toolchain.
        (clone / ".venv").symlink_to(ROOT / ".venv")
        (clone / ".toolchain").symlink_to(ROOT / ".toolchain")
        sha = _git(clone, "rev-parse", "HEAD").strip()
        payload = tmp / "push.json"
        payload.write_text(json.dumps({"ref": "refs/heads/main", "after": sha, "head_commit": {"id": sha}}))
        secrets = [f"STATE_AWS_ACCESS_KEY_ID={AWS_ENV['AWS_ACCESS_KEY_ID']}",
                   f"STATE_AWS_SECRET_ACCESS_KEY={AWS_ENV['AWS_SECRET_ACCESS_KEY']}",
                   f"PULUMI_PASSPHRASE_TEST={PASSPHRASES['test']}", f"PULUMI_PASSPHRASE_PROD={PASSPHRASES['prod']}"]
        cmd = [sys.executable, str(RUNNER), "deploy.yml", "push", "--event", str(payload), "-C", str(clone),
               "--keep-ignored", "--var", f"PULUMI_BACKEND_URL={url}", "--var", f"AWS_REGION={AWS_ENV['AWS_REGION']}",
               "--env", "AWS_EC2_METADATA_DISABLED=true"]
        for secret in secrets:
            cmd += ["--secret", secret]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)

        def run(workflow: str, event: str, payload: dict[str, Any]) -> subprocess.CompletedProcess[str]:
            """Another committed workflow on the same forge and runner (after a pull of main)."""
            _git(clone, "pull", "-q", "--ff-only", "origin", "main")
            path = tmp / f"{event}.json"
            path.write_text(json.dumps(payload))
            again = [cmd[0], cmd[1], workflow, event, "--event", str(path), *cmd[6:]]
            return subprocess.run(again, capture_output=True, text=True, timeout=900)
        outputs = {}
        for stack, passphrase in PASSPHRASES.items():
            out = subprocess.run([str(ROOT / ".toolchain" / "bin" / "pulumi"), "--non-interactive", "stack", "output",
                                  "--json", "-s", stack], cwd=clone, capture_output=True, text=True,
                                 env={**env, "PULUMI_CONFIG_PASSPHRASE": passphrase})
            outputs[stack] = json.loads(out.stdout) if out.returncode == 0 else {}
        yield {"proc": proc, "forge": forge, "outputs": outputs, "run": run}
    finally:
        moto.stop()
        for state in clusters.values():
            if (state / "kubeconfig").exists():
                subprocess.run([sys.executable, str(ROOT / "cluster" / "local.py"), "stop"], capture_output=True,
                               env={**os.environ, "IMMUTABLE_CLUSTER_STATE": str(state)}, timeout=120)


def test_merge_deploys_dev_and_promotes_the_same_release_ids_to_test_and_prod(merged: dict[str, Any]) -> None:
    proc = merged["proc"]
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    dev, test, prod = (merged["outputs"][s] for s in ("dev", "test", "prod"))
    for workload in ("web", "api", "worker"):
        assert dev[f"{workload}_release"] == test[f"{workload}_release"] == prod[f"{workload}_release"], workload


def test_each_promotion_commits_the_targets_ledger_and_records_to_the_forge(merged: dict[str, Any]) -> None:
    forge = merged["forge"]
    subjects = _git(forge, "log", "--format=%s", "-2", "main").splitlines()
    assert [s.split(" (")[0] for s in subjects] == ["promote test → prod", "promote dev → test"], subjects
    for rev, stack in (("main", "prod"), ("main~1", "test")):
        files = _git(forge, "show", "--name-only", "--format=", rev).split()
        assert sorted(files) == [f"Pulumi.{stack}.yaml", f"releases/{stack}.yaml"], files
    web = merged["outputs"]["dev"]["web_release"]
    assert f"release: {web}" in _git(forge, "show", "main:Pulumi.prod.yaml")
    assert web in _git(forge, "show", "main:releases/prod.yaml")


def test_scheduled_drift_checks_every_stack_and_reports(merged: dict[str, Any]) -> None:
    """drift.yml: test and prod are read back from their clusters (no drift), dev in render
    mode cannot be checked (a warning, not a failure); then the metrics report."""
    proc = merged["run"]("drift.yml", "workflow_dispatch", {})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "test: no drift" in log and "prod: no drift" in log, log[-6000:]
    assert "dev cannot be checked for drift" in log, log[-6000:]
    assert "Job succeeded" in log and "change failure rate" in log, log[-6000:]
