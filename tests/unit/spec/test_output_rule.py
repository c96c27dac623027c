"""The Output rule: an Output in what defines a release is pinned by a version label.

Another component's endpoint given as ``state.endpoints[].url`` is only known at deployment.
Its ``version`` stands for it in the release id (as for a secret), so a new endpoint with a
new version is a new release, and an endpoint without a version is refused. A new value
under the same version would change the running release's pods in place: the guard refuses
that preview (``release-patched``, exit 4) for a blue-green and for a rolling service.

The previews below are made of what the component really registers (under mocks) for the
old and the new value, shaped as ``pulumi preview --json`` steps.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pulumi
import pytest
from immutable_infra import SpecError
from immutable_infra.docker import DockerContainerService
from immutable_infra.kubernetes import ContainerService
from immutable_infra.ops import guard
from immutable_infra.ops.steps import parse_preview

from ..fixtures import service
from ..k8s_harness import Registered, run_program

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _deployments(strategy: str, url: str, version: str) -> dict[str, Registered]:
    def program() -> dict[str, Any]:
        endpoint = pulumi.Output.from_input(url)  # another component's endpoint, as an Output
        web = ContainerService("web", {"spec": service(strategy=strategy, state={"endpoints": [
            {"name": "API_URL", "url": endpoint, "version": version}]})})
        return {"release": web.release}

    result = run_program(program)
    return {r.name: r for r in result.resources if r.type == DEPLOYMENT}


def _step(op: str, name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    urn = f"urn:pulumi:dev::shop::immutable:kubernetes:ContainerService${DEPLOYMENT}::{name}"
    step: dict[str, Any] = {"op": op, "urn": urn}
    if old is not None:
        step["oldState"] = {"urn": urn, "type": DEPLOYMENT, "custom": True, "inputs": old, "outputs": old}
    if new is not None:
        step["newState"] = {"urn": urn, "type": DEPLOYMENT, "custom": True, "inputs": new}
    return step


def _preview(before: dict[str, Registered], after: dict[str, Registered]) -> dict[str, Any]:
    """The engine's plan between two programs: same name updated, new names created, gone deleted."""
    steps = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        op = "create" if old is None else "delete" if new is None else "update" if old.inputs != new.inputs else "same"
        steps.append(_step(op, name, old.inputs if old else None, new.inputs if new else None))
    return {"steps": steps}


def _env(deployment: Registered) -> dict[str, str]:
    return {e["name"]: e["value"] for e in deployment.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}


@pytest.mark.parametrize("strategy", ["blue-green", "rolling"])
def test_a_new_endpoint_under_the_same_version_is_refused_by_the_guard(strategy: str) -> None:
    before = _deployments(strategy, "http://api.apps.svc.cluster.local:80", "api-v1")
    after = _deployments(strategy, "http://api-v2.apps.svc.cluster.local:80", "api-v1")
    assert set(before) == set(after)  # same release id, same Deployment
    (name,) = after
    assert _env(after[name])["API_URL"] != _env(before[name])["API_URL"]
    (finding,) = guard.check(parse_preview(_preview(before, after)))
    assert finding.rule == "release-patched" and finding.name == name
    assert "spec.template.spec.containers[0].env[1].value" in finding.paths


@pytest.mark.parametrize("strategy", ["blue-green", "rolling"])
def test_a_new_endpoint_with_a_new_version_is_a_new_release_the_guard_passes(strategy: str) -> None:
    before = _deployments(strategy, "http://api.apps.svc.cluster.local:80", "api-v1")
    after = _deployments(strategy, "http://api-v2.apps.svc.cluster.local:80", "api-v2")
    old_release = next(iter(before.values())).inputs["metadata"]["labels"]["immutable.dev/release"]
    new_release = next(iter(after.values())).inputs["metadata"]["labels"]["immutable.dev/release"]
    assert old_release != new_release
    if strategy == "blue-green":
        assert set(before).isdisjoint(after)  # a new Deployment beside the old one
    assert guard.check(parse_preview(_preview(before, after))) == []


def test_the_guard_exits_4_on_a_blue_green_template_update(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from immutable_infra.ops.cli import app
        from typer.testing import CliRunner
    before = _deployments("blue-green", "http://api.apps.svc.cluster.local:80", "api-v1")
    after = _deployments("blue-green", "http://other.apps.svc.cluster.local:80", "api-v1")
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(_preview(before, after)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        result = CliRunner().invoke(app, ["guard", "-p", str(path)])
    assert result.exit_code == 4, result.output


def test_any_template_update_of_a_blue_green_deployment_is_in_place_whatever_its_labels() -> None:
    """Even when the pod template's release label is edited too (so old and new labels differ)."""
    (old,) = _deployments("blue-green", "http://api.apps.svc.cluster.local:80", "api-v1").values()
    new = json.loads(json.dumps(old.inputs))
    new["spec"]["template"]["metadata"]["labels"]["immutable.dev/release"] = "00000000"
    (finding,) = guard.check(parse_preview({"steps": [_step("update", old.name, old.inputs, new)]}))
    assert finding.rule == "release-patched" and "blue-green release" in finding.message


@pytest.mark.parametrize("component", [ContainerService, DockerContainerService])
def test_an_endpoint_output_without_a_version_is_refused_registering_nothing(component: Any) -> None:
    errors: list[SpecError] = []

    def program() -> None:
        spec = service(state={"endpoints": [{"name": "API_URL", "url": pulumi.Output.from_input("http://api:80")}]})
        try:
            component("web", {"spec": spec, "exec_break_glass": True})
        except SpecError as error:
            errors.append(error)

    assert run_program(program).resources == []
    (error,) = errors
    assert error.paths == ["state.endpoints[0].version"]
    assert "in place" in error.problems[0].message
