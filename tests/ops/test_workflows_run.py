"""The committed workflows, run by act on this machine (scripts/run_workflow.py; issue #29).

A bare repository on disk stands for the forge; a clone of this checkout's HEAD is pushed to
it, a pull-request branch changes one stack's knob, and the committed ``preview.yml`` runs on
that branch with a ``pull_request`` payload from a JSON file: its ``touched`` job names the
stack the change touches (through ``immutable-ops touched`` in a venv the job installs) and
its ``actionlint`` job lints the committed workflows. Breaking either step fails this test.

Then ``deploy.yml`` runs on a push to main: dev is deployed (render mode), test and prod are
promoted with the same release ids, each on its own local cluster, and each job commits the
target's ledger and records back to the bare repository. On that forge the rest of the loop
runs, each step through a committed workflow: a pull request with web's new image is previewed
(``preview.yml``: the comment body of the one stack it touches), a pull request that changes
every release's pod template in place is refused by the guard, the first one is merged
(``deploy.yml``: the new web release in dev, test and prod), prod's web is rolled back
(``rollback.yml``, manual dispatch with inputs) to the exact release it ran before, and
``drift.yml`` checks drift and reports the loop's metrics from its real history.
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
import yaml

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
        # A self-hosted runner keeps its tools between jobs: this checkout's venv (each job's
        # ensure_venv layers a thin venv of its own over it: scripts/lib.sh layer_venv) and toolchain.
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

        def run(workflow: str, event: str, payload: dict[str, Any], *extra: str,
                pull: bool = True) -> subprocess.CompletedProcess[str]:
            """Another committed workflow on the same forge and runner (after a pull of main)."""
            if pull:
                _git(clone, "pull", "-q", "--ff-only", "origin", "main")
            path = tmp / f"{event}-{len(list(tmp.glob(event + '-*.json')))}.json"
            path.write_text(json.dumps(payload))
            again = [cmd[0], cmd[1], workflow, event, "--event", str(path), *cmd[6:], *extra]
            proc = subprocess.run(again, capture_output=True, text=True, timeout=900)
            path.with_suffix(".log").write_text(proc.stdout + proc.stderr)  # the whole run, for a failure
            return proc

        def outputs() -> dict[str, dict[str, Any]]:
            found = {}
            for stack, passphrase in PASSPHRASES.items():
                out = subprocess.run([str(ROOT / ".toolchain" / "bin" / "pulumi"), "--non-interactive", "stack",
                                      "output", "--json", "-s", stack], cwd=clone, capture_output=True, text=True,
                                     env={**env, "PULUMI_CONFIG_PASSPHRASE": passphrase})
                found[stack] = json.loads(out.stdout) if out.returncode == 0 else {}
            return found
        yield {"proc": proc, "forge": forge, "clone": clone, "tmp": tmp, "outputs": outputs(), "read": outputs,
               "run": run}
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


# --- the rest of the loop on that forge: a PR previewed, a refused PR, the merge, a prod rollback ----

NEW_WEB = "127.0.0.1:5000/apps/web@sha256:" + "7e" * 32
"""The image the pull request's build step appended to dev's ledger (render and kwok run no image)."""


def _open_pull_request(merged: dict[str, Any], number: int, branch: str, message: str,
                       edit: Any) -> tuple[subprocess.CompletedProcess[str], Path]:
    """A branch of main with ``edit`` committed, pushed to the forge, and preview.yml run on it."""
    clone, tmp = merged["clone"], merged["tmp"]
    _git(clone, "checkout", "-q", "main")
    _git(clone, "pull", "-q", "--ff-only", "origin", "main")
    _git(clone, "checkout", "-q", "-b", branch)
    edit(clone)
    _git(clone, "commit", "-q", "-am", message)
    _git(clone, "push", "-q", "origin", branch)
    artifacts = tmp / f"artifacts-{branch}"
    payload = {"number": number, "pull_request": {"number": number, "base": {"ref": "main"}, "head": {"ref": branch}}}
    proc = merged["run"]("preview.yml", "pull_request", payload, "--env", f"IMMUTABLE_ARTIFACTS_DIR={artifacts}",
                         pull=False)
    _git(clone, "checkout", "-q", "main")
    return proc, artifacts


def _append_web_image(clone: Path) -> None:
    """What registry/apps.py build appends for a changed web: a new artifact (release id by record)."""
    config = clone / "Pulumi.dev.yaml"
    text = config.read_text()
    anchor = "    api:\n      releases:\n"
    assert text.count(anchor) == 1, "Pulumi.dev.yaml's ledger moved: update this test"
    config.write_text(text.replace(anchor, f"        - artifact: {NEW_WEB}\n          note: web 1.1.0 (commit pr-2)\n"
                                           f"          build_seconds: 1.5\n{anchor}"))


def _patch_pod_template(clone: Path) -> None:
    """A code change that edits every release's pod template without making a new release."""
    manifests = clone / "components" / "kubernetes" / "manifests.py"
    text = manifests.read_text()
    line = "annotations = {**opt_annotations, LABEL_RELEASE: release}"
    assert text.count(line) == 1, "the pod template's annotations moved: update this test"
    manifests.write_text(text.replace(line, line[:-1] + ', "team": "payments"}'))


@pytest.fixture(scope="module")
def web_pr(merged: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], Path]:
    return _open_pull_request(merged, 2, "web-1.1.0", "web 1.1.0", _append_web_image)


def test_pull_request_previews_the_touched_stack_and_writes_the_comment_body(
        web_pr: tuple[subprocess.CompletedProcess[str], Path], merged: dict[str, Any]) -> None:
    proc, artifacts = web_pr
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert 'stacks touched: ["dev"]' in log, log[-6000:]
    body = (artifacts / "preview-dev" / "previews" / "comment.md").read_text()
    first = body.splitlines()[0]
    old = merged["outputs"]["dev"]["web_release"]
    assert first.startswith(f"`dev` · web: {old} → ") and first.endswith(", 0 in-place compute changes"), first
    assert "<!-- immutable-ops:preview:dev -->" in body
    assert not (artifacts / "preview-test").exists() and not (artifacts / "preview-prod").exists()


def test_pull_request_with_an_in_place_change_is_refused_by_the_guard(merged: dict[str, Any]) -> None:
    proc, artifacts = _open_pull_request(merged, 3, "pod-annotation", "annotate pods", _patch_pod_template)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-6000:]
    assert 'stacks touched: ["dev","test","prod"]' in log, log[-6000:]
    # test and prod run on clusters: every Deployment of theirs would be patched in place.
    # (dev renders manifests into its job's copy of the repository, so each run's render
    # directory differs and its preview replaces every object: nothing to patch there.)
    for stack in ("test", "prod"):
        body = (artifacts / f"preview-{stack}" / "previews" / "comment.md").read_text()
        assert "in-place compute changes (guard fails)" in body.splitlines()[0], body[:2000]
        assert "changes its pod template (spec.template.metadata.annotations.team) without a new release id" in body
        assert f"immutable-ops guard exited 4 for {stack}" in log, log[-6000:]


@pytest.fixture(scope="module")
def second_merge(merged: dict[str, Any], web_pr: Any) -> dict[str, Any]:
    """The web PR merged: deploy.yml runs again on the new main."""
    clone = merged["clone"]
    _git(clone, "merge", "-q", "--ff-only", "web-1.1.0")
    _git(clone, "push", "-q", "origin", "HEAD:main")
    sha = _git(clone, "rev-parse", "HEAD").strip()
    proc = merged["run"]("deploy.yml", "push", {"ref": "refs/heads/main", "after": sha, "head_commit": {"id": sha}})
    return {"proc": proc, "outputs": merged["read"]()}


def test_merge_of_the_pull_request_deploys_its_release_everywhere(merged: dict[str, Any],
                                                                  second_merge: dict[str, Any]) -> None:
    proc = second_merge["proc"]
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    before, after = merged["outputs"], second_merge["outputs"]
    new = after["dev"]["web_release"]
    assert new != before["dev"]["web_release"]
    assert after["test"]["web_release"] == after["prod"]["web_release"] == new
    for workload in ("api", "worker"):  # only web changed
        assert {after[s][f"{workload}_release"] for s in PASSPHRASES} == {before["dev"][f"{workload}_release"]}
    assert NEW_WEB in _git(merged["forge"], "show", "main:Pulumi.prod.yaml")


@pytest.fixture(scope="module")
def prod_rollback(merged: dict[str, Any], second_merge: dict[str, Any]) -> dict[str, Any]:
    inputs = {"stack": "prod", "service": "web", "to": ""}
    proc = merged["run"]("rollback.yml", "workflow_dispatch", {"inputs": inputs},
                         *(arg for k, v in inputs.items() for arg in ("--input", f"{k}={v}")))
    return {"proc": proc, "outputs": merged["read"]()}


def test_rollback_workflow_returns_prod_to_the_exact_previous_release(
        merged: dict[str, Any], second_merge: dict[str, Any], prod_rollback: dict[str, Any]) -> None:
    proc = prod_rollback["proc"]
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    first, rolled = merged["outputs"], prod_rollback["outputs"]
    assert rolled["prod"]["web_release"] == first["prod"]["web_release"]
    assert rolled["dev"]["web_release"] == rolled["test"]["web_release"] == second_merge["outputs"]["dev"]["web_release"]
    forge = merged["forge"]
    assert _git(forge, "log", "--format=%s", "-1", "main").startswith("rollback prod web")
    committed = yaml.safe_load(_git(forge, "show", "main:Pulumi.prod.yaml"))["config"]["immutable:ledger"]["web"]
    last = committed["releases"][-1]  # the serving order (docs/releases.md): the rollback is its newest event
    assert (last["release"], last["event"]) == (first["prod"]["web_release"], "rollback"), last


def test_scheduled_drift_checks_every_stack_and_reports(merged: dict[str, Any], prod_rollback: dict[str, Any]) -> None:
    """drift.yml after the whole loop: test and prod are read back from their clusters (no
    drift), dev in render mode cannot be checked (a warning, not a failure); then the metrics
    report per stack, computed from the loop's real history."""
    artifacts = merged["tmp"] / "artifacts-drift"
    proc = merged["run"]("drift.yml", "workflow_dispatch", {}, "--env", f"IMMUTABLE_ARTIFACTS_DIR={artifacts}")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "test: no drift" in log and "prod: no drift" in log, log[-6000:]
    assert "dev cannot be checked for drift" in log, log[-6000:]
    assert "Job succeeded" in log and "change failure rate" in log, log[-6000:]
    report = json.loads(next((artifacts / "ops-report-prod").rglob("report-prod.json")).read_text())
    prod = report["stacks"][0]
    # two promotions deployed (web 1.0.0, then 1.1.0), the second rolled back by rollback.yml
    assert (prod["deploys"], prod["rollbacks"], prod["rolled_back_deploys"]) == (2, 1, 1), prod
    assert prod["change_failure_rate_percent"] == 50.0, prod
    assert prod["rollback_seconds"]["last"] > 0 and prod["time_to_restore_seconds"]["last"] > 0, prod
