"""Pure parts of drift, parity (on the real stack files and real previews), coverage and
which stacks a change touches."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from immutable_infra.ops import coverage, drift, parity
from immutable_infra.ops.records import RefreshRecord
from immutable_infra.ops.steps import parse_preview
from immutable_infra.ops.touched import touched

from .support import ROOT, fixture

STACKS = ("dev", "test", "prod")


# --- drift -----------------------------------------------------------------------------------

def test_drift_names_changed_and_deleted_resources() -> None:
    urn = "urn:pulumi:w::p::pulumi-python:dynamic/compute:Server::{}"
    records = [
        RefreshRecord("same", "urn:pulumi:w::p::pulumi:pulumi:Stack::p-w", "pulumi:pulumi:Stack", False),
        RefreshRecord("same", "urn:pulumi:w::p::pulumi:providers:pulumi-python::default", "pulumi:providers:x", True),
        RefreshRecord("update", urn.format("app"), "pulumi-python:dynamic/compute:Server", True,
                      {"size": "small", "tags": {"a": 1}, "__provider": "x"}, {"size": "xlarge", "tags": {"a": 2}}),
        RefreshRecord("delete", urn.format("www"), "pulumi-python:dynamic/compute:Server", True, {"ttl": 300}, {}),
        RefreshRecord("same", urn.format("ok"), "pulumi-python:dynamic/compute:Server", True, {"x": 1}, {"x": 1}),
    ]
    report = drift.find("w", records)
    assert report.managed == 3 and report.percent == pytest.approx(200 / 3)
    app, www = report.drifted
    assert app.changes == (("size", "small", "xlarge"), ("tags.a", 1, 2))
    assert app.describe() == "size: small → xlarge; tags.a: 1 → 2"
    assert www.state == "gone" and www.describe() == "deleted outside Pulumi"
    assert report.as_dict()["drifted_count"] == 2


def test_render_mode_and_unreachable_clusters_are_recognised() -> None:
    deployment = {"resources": [{"type": "pulumi:providers:kubernetes", "inputs": {"renderYamlToDirectory": "/x"}},
                                {"type": "pulumi:providers:kubernetes", "inputs": {"kubeconfig": "k"}}]}
    assert drift.render_dirs(deployment) == ["/x"]
    assert drift.unreachable("error: Preview failed: failed to read resource state due to unreachable cluster")
    assert not drift.unreachable("error: something else")


# --- parity ----------------------------------------------------------------------------------

def _configs() -> dict[str, dict[str, Any]]:
    out = {}
    for stack in STACKS:
        data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
        out[stack] = dict(data.get("config") or {})
    return out


def test_the_repository_stacks_differ_only_in_knobs() -> None:
    report = parity.ParityReport(list(STACKS))
    parity.check_config(_configs(), report)
    assert report.errors == [], [d.as_dict() for d in report.errors]
    assert any(d.where == "immutable:environment.services.web.replicas" for d in report.allowed)
    secret = [d for d in report.allowed if d.where == "immutable-example:api-db-password"]
    assert all(d.allowed_by == "per-stack secret" for d in secret)  # set by each stack's operator


def test_config_differences_outside_the_knobs_are_errors() -> None:
    configs = _configs()
    configs["prod"]["kubernetes:context"] = "prod-cluster"
    for stack in STACKS:
        configs[stack]["immutable-example:api-db-password"] = {"secure": f"v1:{stack}"}
    configs["test"]["immutable-example:api-db-password"] = "plain text"
    del configs["dev"]["immutable:ledger"]["worker"]
    configs["prod"]["immutable:environment"] = {**configs["prod"]["immutable:environment"], "debug": True}
    report = parity.ParityReport(list(STACKS))
    parity.check_config(configs, report)
    got = {(d.where, d.what) for d in report.errors}
    assert ("kubernetes:context", "config key not in every stack") in got
    assert ("immutable-example:api-db-password", "config value differs (only knobs may)") in got
    assert any(where == "Pulumi.prod.yaml: immutable:environment.debug" for where, _ in got), got


def test_real_previews_of_dev_and_prod_have_one_topology() -> None:
    previews = {"dev": parse_preview(fixture("preview-dev-initial")), "prod": parse_preview(fixture("preview-prod-initial"))}
    configs = {s: c for s, c in _configs().items() if s in previews}
    report = parity.ParityReport(["dev", "prod"])
    parity.check_topology(previews, configs, report)
    assert report.errors == [], [d.as_dict() for d in report.errors]
    allowed = {(d.where.split(" ")[0], d.allowed_by) for d in report.allowed}
    assert ("web-pdb", "services.web.replicas") in allowed, allowed


def test_a_prod_only_input_is_a_parity_error() -> None:
    prod = copy.deepcopy(fixture("preview-prod-initial"))
    for step in prod["steps"]:
        if step["urn"].endswith("::api-deploy"):
            containers = step["newState"]["inputs"]["spec"]["template"]["spec"]["containers"]
            containers[0]["env"].append({"name": "FEATURE_X", "value": "on"})
    previews = {"dev": parse_preview(fixture("preview-dev-initial")), "prod": parse_preview(prod)}
    report = parity.ParityReport(["dev", "prod"])
    parity.check_topology(previews, {s: _configs()[s] for s in previews}, report)
    (error, *more) = [d for d in report.errors if d.where.startswith("api-deploy")]
    assert "env" in error.what and not any(d.where.startswith("web") for d in report.errors)
    assert any("FEATURE_X" in str(d.values) for d in [error, *more])


# --- coverage --------------------------------------------------------------------------------

def test_inventory_formats(tmp_path: Path) -> None:
    k8s_list = {"kind": "List", "items": [{"kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"}},
                                         {"kind": "Namespace", "metadata": {"name": "apps"}}]}
    assert coverage.inventory_keys(k8s_list) == ["Deployment/apps/web", "Namespace/apps"]
    assert coverage.inventory_keys(["i-1", {"id": "i-2"}, {"arn": "arn:x"}]) == ["i-1", "i-2", "arn:x"]
    assert coverage.inventory_keys({"server-1": {}, "dns-2": {}}) == ["server-1", "dns-2"]
    (tmp_path / "a.yaml").write_text("kind: Service\nmetadata: {name: web, namespace: apps}\n---\n"
                                     "kind: Namespace\nmetadata: {name: apps}\n")
    assert coverage.manifest_keys(tmp_path) == ["Service/apps/web", "Namespace/apps"]
    deployment = {"resources": [
        {"type": "kubernetes:core/v1:Service", "custom": True, "id": "apps/web",
         "outputs": {"kind": "Service", "metadata": {"name": "web", "namespace": "apps"}}},
        {"type": "pulumi:providers:kubernetes", "custom": True, "id": "p"},
        {"type": "immutable:kubernetes:ContainerService", "custom": False},
    ]}
    measured = coverage.measure("dir", deployment, coverage.manifest_keys(tmp_path))
    assert (measured.managed, measured.found, measured.matched, measured.unmanaged) == (1, 2, 1, ("Namespace/apps",))
    assert measured.percent == 50.0


# --- touched ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("changed", "expected"), [
    (["Pulumi.test.yaml"], ["test"]),
    (["Pulumi.prod.yaml", "Pulumi.dev.yaml"], ["dev", "prod"]),
    (["stacks/topology.py"], list(STACKS)),
    (["components/kubernetes/manifests.py"], list(STACKS)),
    (["components/ops/cli.py", "README.md", "tests/unit/x.py", ".github/workflows/pr.yml"], []),
    (["Pulumi.staging.yaml"], []),
    (["./Pulumi.yaml"], list(STACKS)),
    (["testapp/web.go"], ["dev"]),  # an app's source: its new image enters at dev
    (["testapp/api.go", "Pulumi.prod.yaml"], ["dev", "prod"]),
])
def test_touched(changed: list[str], expected: list[str]) -> None:
    assert touched(changed, STACKS) == expected
