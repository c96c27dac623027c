"""The committed workflows, run by act on this machine (scripts/run_workflow.py; issue #29).

A bare repository on disk stands for the forge; a clone of this checkout's HEAD is pushed to
it, a pull-request branch changes one stack's knob, and the committed ``preview.yml`` runs on
that branch with a ``pull_request`` payload from a JSON file: its ``touched`` job names the
stack the change touches (through ``immutable-ops touched`` in a venv the job installs) and
its ``actionlint`` job lints the committed workflows. Breaking either step fails this test.

Then ``deploy.yml`` runs on a push to main: its dev job's image build step builds web, api and
worker from source into the real node's registry and dev is deployed on the real node (the
session's, tests/conftest.py), test and prod are promoted with the same release ids, each on its
own local cluster, and each job commits the target's ledger and records back to the bare
repository. On that forge the rest of the loop runs, each step through a committed workflow: a
pull request that changes web's source is previewed (``preview.yml``: the image build step
builds web's new image and the comment body names the one stack it touches), a pull request
that changes every release's pod template in place is refused by the guard, the first one is
merged (``deploy.yml``: the new web release in dev, on real pods under traffic with no failed
request, then in test and prod), prod's web is rolled back (``rollback.yml``, manual dispatch
with inputs) to the exact release it ran before, and ``drift.yml`` checks drift and reports the
loop's metrics from its real history.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from immutable_infra import yaml_text

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


def _dev_on_the_real_node(text: str, kubeconfig: Path) -> str:
    """dev's config for the session's real node: its kubeconfig, and no app in its ledger yet (the
    first merge's image build step builds web, api and worker into the node's registry)."""
    data = yaml.safe_load(text)
    data["config"]["immutable:environment"]["kubeconfig"] = str(kubeconfig)
    for app in ("web", "api", "worker"):
        del data["config"]["immutable:ledger"][app]
    return yaml_text.dump(data)


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory, real: Any) -> Iterator[dict[str, Any]]:
    """A forge whose main the team has set up once: the shared backend (moto_server's S3 on
    127.0.0.1 standing for the bucket), the three stacks initialised with their own passphrases,
    dev on the real node (the session's: one per machine) with its images built by the image
    build step into the node's registry, and test and prod each on its own local cluster (kwok
    nodes: separate control planes, so nothing of dev's is reachable from them)."""
    from ..s3.moto import AWS_ENV, MotoServer

    _require_act()
    tmp = tmp_path_factory.mktemp("deploy-forge")
    clusters = {s: tmp / f"cluster-{s}" for s in ("test", "prod")}
    registry = real.state.parent / "registry"  # the real node pulls from it (tests/cluster/kube.py)
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
        for stack in ("test", "prod"):
            config = clone / f"Pulumi.{stack}.yaml"
            target = f"target: kubernetes\n    kubeconfig: {clusters[stack] / 'kubeconfig'}"
            config.write_text(config.read_text().replace("target: local-cluster", target)
                              .replace("target: kubernetes", target))
        dev_config = clone / "Pulumi.dev.yaml"
        dev_config.write_text(_dev_on_the_real_node(dev_config.read_text(), real.kubeconfig))
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
        (clone / ".state").mkdir()
        (clone / ".state" / "tools").symlink_to(ROOT / ".state" / "tools")  # checkov's venv (test.yml)
        sha = _git(clone, "rev-parse", "HEAD").strip()
        payload = tmp / "push.json"
        payload.write_text(json.dumps({"ref": "refs/heads/main", "after": sha, "head_commit": {"id": sha}}))
        secrets = [f"STATE_AWS_ACCESS_KEY_ID={AWS_ENV['AWS_ACCESS_KEY_ID']}",
                   f"STATE_AWS_SECRET_ACCESS_KEY={AWS_ENV['AWS_SECRET_ACCESS_KEY']}",
                   f"PULUMI_PASSPHRASE_TEST={PASSPHRASES['test']}", f"PULUMI_PASSPHRASE_PROD={PASSPHRASES['prod']}"]
        cmd = [sys.executable, str(RUNNER), "deploy.yml", "push", "--event", str(payload), "-C", str(clone),
               "--keep-ignored", "--var", f"PULUMI_BACKEND_URL={url}", "--var", f"AWS_REGION={AWS_ENV['AWS_REGION']}",
               "--env", "AWS_EC2_METADATA_DISABLED=true",
               # dev's cluster is the session's real node (deploy.sh finds it running) and the image
               # build step pushes to its registry; its Prometheus belongs to tests/cluster's monitoring
               "--env", f"IMMUTABLE_CLUSTER_STATE={real.state}", "--env", f"IMMUTABLE_REGISTRY_STATE={registry}",
               "--env", "IMMUTABLE_PROMETHEUS=off"]
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
        try:
            yield {"proc": proc, "forge": forge, "clone": clone, "tmp": tmp, "outputs": outputs(), "read": outputs,
                   "run": run}
        finally:  # the real node is the session's: dev's objects go, the next module starts clean
            down = subprocess.run([str(ROOT / ".toolchain" / "bin" / "pulumi"), "--non-interactive", "destroy", "--yes",
                                   "-s", "dev"], cwd=clone, capture_output=True, text=True, timeout=600,
                                  env={**env, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASES["dev"]})
            assert down.returncode == 0, down.stdout + down.stderr
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
    # dev runs on the real node: every app built by the dev job's image build step, and the
    # address answered with the releases deployed before the job succeeded (scripts/deploy.sh).
    for app in ("web", "api", "worker"):
        assert f"{app}: appended to Pulumi.dev.yaml" in log, log[-6000:]
    assert f"web release {dev['web_release']} " in log and f"api release {dev['api_release']} " in log, log[-6000:]


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


def _new_web_version(clone: Path) -> None:
    """The developer's change: web's source (its version), nothing else. The PR's image build step
    builds the image from it and appends it to dev's ledger."""
    source = clone / "testapp" / "web.go"
    text = source.read_text()
    assert text.count('const webVersion = "1.0.0"') == 1, "testapp/web.go's version moved: update this test"
    source.write_text(text.replace('const webVersion = "1.0.0"', 'const webVersion = "1.1.0"'))


def _web_digest(clone: Path) -> str:
    """The digest of web's image built from ``clone``'s source (the build is reproducible)."""
    proc = subprocess.run([sys.executable, str(ROOT / "registry" / "apps.py"), "digest", "--json",
                           "--source", str(clone / "testapp")], capture_output=True, text=True, timeout=300, check=True)
    digest: str = json.loads(proc.stdout)["web"]["digest"]
    return digest


def _patch_pod_template(clone: Path) -> None:
    """A code change that edits every release's pod template without making a new release."""
    manifests = clone / "components" / "kubernetes" / "manifests.py"
    text = manifests.read_text()
    line = "annotations = {**opt_annotations, LABEL_RELEASE: release}"
    assert text.count(line) == 1, "the pod template's annotations moved: update this test"
    manifests.write_text(text.replace(line, line[:-1] + ', "team": "payments"}'))


@pytest.fixture(scope="module")
def web_pr(merged: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], Path]:
    return _open_pull_request(merged, 2, "web-1.1.0", "web 1.1.0", _new_web_version)


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
    # The image build step built web's new image (only web's: api and worker are as in the ledger).
    assert "web: appended to Pulumi.dev.yaml" in log and "api: appended" not in log, log[-6000:]
    assert "building web" in log, log[-6000:]


def test_pull_request_with_an_in_place_change_is_refused_by_the_guard(merged: dict[str, Any]) -> None:
    proc, artifacts = _open_pull_request(merged, 3, "pod-annotation", "annotate pods", _patch_pod_template)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-6000:]
    assert 'stacks touched: ["dev","test","prod"]' in log, log[-6000:]
    # every stack runs on a cluster (dev on the real node): every Deployment would be patched in place
    for stack in ("dev", "test", "prod"):
        body = (artifacts / f"preview-{stack}" / "previews" / "comment.md").read_text()
        assert "in-place compute changes (guard fails)" in body.splitlines()[0], body[:2000]
        assert "changes its pod template (spec.template.metadata.annotations.team) without a new release id" in body
        # The guard's exit code as the job recorded it (act prints the step output it parsed), and
        # the step that fails the job on it. Not the step's own echo: act once dropped that line
        # of a 4 ms step while it printed the step's failure.
        job = "\n".join(line for line in log.splitlines() if line.startswith(f"[preview/preview {stack}-"))
        assert "::set-output:: code=4" in job, job[-6000:]
        assert "Failure - Main fail on in-place compute changes or a failed preview" in job, job[-6000:]


@pytest.fixture(scope="module")
def second_merge(merged: dict[str, Any], web_pr: Any, real: Any, netns: str) -> dict[str, Any]:
    """The web PR merged: deploy.yml runs again on the new main, while dev's web serves bounded
    traffic on the real node (tests/cluster/realnode.py)."""
    from ..cluster.realnode import traffic

    clone = merged["clone"]
    _git(clone, "merge", "-q", "--ff-only", "web-1.1.0")
    _git(clone, "push", "-q", "origin", "HEAD:main")
    sha = _git(clone, "rev-parse", "HEAD").strip()
    with traffic(real, "web", "loop_merge", merged["tmp"]) as load:
        proc = merged["run"]("deploy.yml", "push", {"ref": "refs/heads/main", "after": sha, "head_commit": {"id": sha}})
    return {"proc": proc, "outputs": merged["read"](), "load": load}


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
    # The release everywhere is the image built from the PR's source (the merge's build step
    # gave the digest the PR's did), pushed to the registry and committed in every ledger.
    clone = merged["clone"]
    digest = _web_digest(clone)
    for stack in PASSPHRASES:
        web = yaml.safe_load(_git(merged["forge"], "show", f"main:Pulumi.{stack}.yaml"))["config"]["immutable:ledger"]["web"]
        assert web["releases"][-1]["artifact"].endswith(f"/apps/web@{digest}"), (stack, web["releases"][-1])
    assert after["dev"]["web_images"][new].endswith(f"/apps/web@{digest}")
    # dev's web was replaced on the real node under traffic: no request failed, and the new
    # release answered before the test stopped sending.
    load = second_merge["load"]
    assert not load.failed, load.summary()
    assert load.versions[0] == "1.0.0" and load.versions[-1] == "1.1.0", load.summary()


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
    """drift.yml after the whole loop: dev, test and prod are read back from their clusters (no
    drift); then the metrics report per stack, computed from the loop's real history."""
    artifacts = merged["tmp"] / "artifacts-drift"
    proc = merged["run"]("drift.yml", "workflow_dispatch", {}, "--env", f"IMMUTABLE_ARTIFACTS_DIR={artifacts}")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "dev: no drift" in log and "test: no drift" in log and "prod: no drift" in log, log[-6000:]
    assert "Job succeeded" in log and "change failure rate" in log, log[-6000:]
    report = json.loads(next((artifacts / "ops-report-prod").rglob("report-prod.json")).read_text())
    prod = report["stacks"][0]
    # two promotions deployed (web 1.0.0, then 1.1.0), the second rolled back by rollback.yml
    assert (prod["deploys"], prod["rollbacks"], prod["rolled_back_deploys"]) == (2, 1, 1), prod
    assert prod["change_failure_rate_percent"] == 50.0, prod
    assert prod["rollback_seconds"]["last"] > 0 and prod["time_to_restore_seconds"]["last"] > 0, prod


INNER_TESTS = "tests/unit/test_yaml_text.py"
"""What ``test.yml``'s run of the test command is narrowed to here (the whole suite would run itself)."""


def test_test_workflow_runs_the_readme_test_command(merged: dict[str, Any]) -> None:
    """test.yml by act on the forge's main: ``bash .ci/run``, the README's test command (its
    toolchain steps, ruff, mypy, then pytest on two workers), with pytest narrowed to one file by
    ``PYTEST_ADDOPTS`` and its own temporary folder (pytest clears its ``--basetemp``, and this
    session's is the default one)."""
    clone, tmp = merged["clone"], merged["tmp"]
    _git(clone, "checkout", "-q", "main")
    _git(clone, "pull", "-q", "--ff-only", "origin", "main")
    sha = _git(clone, "rev-parse", "HEAD").strip()
    payload = tmp / "push-test-yml.json"
    payload.write_text(json.dumps({"ref": "refs/heads/main", "after": sha, "head_commit": {"id": sha}}))
    # Not merged["run"]: its runner env names the session's real node (IMMUTABLE_CLUSTER_STATE),
    # and the test command stops a real node it finds as dev's before its tests.
    proc = subprocess.run([sys.executable, str(RUNNER), "test.yml", "push", "--event", str(payload), "-C", str(clone),
                           "--keep-ignored", "--env", f"PYTEST_ADDOPTS={INNER_TESTS}",
                           "--env", f"IMMUTABLE_TEST_TMP={tmp / 'test-yml-tmp'}"],
                          capture_output=True, text=True, timeout=900)
    log = re.sub(r"\x1b(\[[0-9;]*[A-Za-z]|\(B)", "", proc.stdout + proc.stderr)  # pytest's and mypy's colours
    assert proc.returncode == 0, log[-6000:]
    for step in ("==> ruff", "==> mypy (strict on components/)", "==> pytest (2 workers"):
        assert step in log, (step, log[-6000:])
    summary = [line for line in log.splitlines() if re.search(r"\b\d+ passed in ", line)]
    assert summary and "failed" not in summary[-1] and "error" not in summary[-1], log[-6000:]
    assert "Job succeeded" in log, log[-6000:]

