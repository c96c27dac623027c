"""The dev stack through the real Pulumi engine (CLI + language host + Kubernetes provider
in render mode) on a temporary local backend."""

from __future__ import annotations

import copy
import hashlib
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from .harness import DEV_SECRET, TARGET_KUBERNETES_VERSION, Workspace, changed, resource_name, resource_type, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.skipif(toolchain_missing() is not None,
                                                       reason=toolchain_missing() or "")]

NEW_WEB = "registry.example.com/acme/web@sha256:" + hashlib.sha256(b"web-1.6.0").hexdigest()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = Workspace.create(tmp_path_factory.mktemp("dev"))
    ws.init_stack("dev")
    preview = ws.pulumi("preview", "-s", "dev")
    assert "web" in preview.stdout
    ws.pulumi("up", "--yes", "-s", "dev")
    yield ws


def manifests(ws: Workspace) -> list[pathlib.Path]:
    return sorted((ws.dir / "build" / "manifests" / "dev").rglob("*.yaml"))


def test_up_renders_every_release_manifest(deployed: Workspace) -> None:
    files = [p.name for p in manifests(deployed)]
    outputs = deployed.pulumi("stack", "output", "--json", "-s", "dev").stdout
    assert '"web_release"' in outputs and '"target": "render"' in outputs
    assert any("deployment-apps-web-" in f for f in files), files
    assert any("validatingadmissionpolicy" in f for f in files), files


def test_second_up_changes_nothing(deployed: Workspace) -> None:
    assert changed(deployed.preview_steps()) == []
    proc = deployed.pulumi("preview", "--expect-no-changes", "-s", "dev", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _with_web_release(ws: Workspace, artifact: str) -> dict[str, Any]:
    original = ws.config()
    data = copy.deepcopy(original)
    data["config"]["immutable:ledger"]["web"]["releases"].append({"artifact": artifact})
    ws.write_config(data)
    return original


def test_new_digest_replaces_that_release_and_nothing_else(deployed: Workspace) -> None:
    original = _with_web_release(deployed, NEW_WEB)
    try:
        steps = changed(deployed.preview_steps())
    finally:
        deployed.write_config(original)
    touched = {resource_name(s["urn"]) for s in steps}
    assert touched, "a new digest must change something"
    assert all(name.startswith("web") for name in touched), touched
    creates = [s for s in steps if s["op"] == "create" and resource_type(s["urn"]) == "kubernetes:apps/v1:Deployment"]
    assert len(creates) == 1  # the new release's Deployment, beside the old one
    # No Deployment is updated in its pod template: the old active one is only scaled (to 0).
    for step in steps:
        if step["op"] == "update" and resource_type(step["urn"]) == "kubernetes:apps/v1:Deployment":
            diff = step["detailedDiff"]
            # scaled to 0, relabelled kept, and (at 0) the skipAwait annotation: its pods untouched
            assert all(k == "spec.replicas" or k.startswith(("metadata.labels", "metadata.annotations")) for k in diff), diff
    assert not [s for s in steps if s["op"] in ("replace", "create-replacement", "delete-replaced")]


def test_scale_only_change_replaces_nothing(deployed: Workspace) -> None:
    original = deployed.config()
    data = copy.deepcopy(original)
    data["config"]["immutable:environment"]["services"]["api"]["replicas"] = 3
    deployed.write_config(data)
    try:
        steps = changed(deployed.preview_steps())
    finally:
        deployed.write_config(original)
    ops = {(resource_name(s["urn"]), s["op"]) for s in steps}
    # Scaling 1 -> 3 updates the Deployment's replicas and adds a PodDisruptionBudget
    # (only services with more than one replica get one); nothing is replaced or deleted.
    assert ops == {("api-deploy", "update"), ("api-pdb", "create")}, ops
    (update,) = [s for s in steps if s["op"] == "update"]
    assert list(update["detailedDiff"]) == ["spec.replicas"], update["detailedDiff"]


def test_no_secret_value_in_state(deployed: Workspace) -> None:
    state = deployed.pulumi("stack", "export", "-s", "dev").stdout
    assert DEV_SECRET not in state
    assert "ciphertext" in state


def test_rendered_manifests_pass_kubernetes_validate(deployed: Workspace) -> None:
    files = [str(p) for p in manifests(deployed)]
    proc = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", TARGET_KUBERNETES_VERSION, *files],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(not os.environ.get("IMMUTABLE_CHECKOV"), reason="checkov not installed: scripts/test.sh installs it")
def test_rendered_manifests_pass_checkov(deployed: Workspace) -> None:
    """0 failed checks (SECURITY.md cites Checkov's ids), run offline."""
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}
    proc = subprocess.run([os.environ["IMMUTABLE_CHECKOV"], "-d", str(deployed.dir / "build" / "manifests" / "dev"),
                           "--framework", "kubernetes", "--skip-download", "--compact", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Failed checks: 0" in proc.stdout and "Passed checks: " in proc.stdout


def test_invalid_stack_config_fails_before_any_resource(tmp_path: pathlib.Path) -> None:
    ws = Workspace.create(tmp_path)
    ws.init_stack("dev")
    data = ws.config()
    data["config"]["immutable:environment"]["services"]["web"]["replicas"] = "many"
    data["config"]["immutable:environment"]["bogus"] = True
    ws.write_config(data)
    proc = ws.pulumi("up", "--yes", "-s", "dev", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Pulumi.dev.yaml: immutable:environment.services.web.replicas" in out
    assert "Pulumi.dev.yaml: immutable:environment.bogus" in out
    resources = ws.export().get("deployment", {}).get("resources") or []
    assert [r["type"] for r in resources if r["type"] != "pulumi:pulumi:Stack"] == []
