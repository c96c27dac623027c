"""Every example program runs under Pulumi mocks (the Kubernetes render example also runs on
the real engine: tests/engine/test_examples.py)."""

from __future__ import annotations

import json
import pathlib
import runpy
from typing import Any

import pulumi
import pytest
import yaml

from . import aws_mocks
from .docker.test_docker_container_service import engine_outputs
from .k8s_harness import run_program

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SECRET = "example-secret-value"


def _run_example(name: str) -> dict[str, Any]:
    """Run ``examples/<name>/__main__.py`` inside the current mocked program, capturing its exports."""
    exported: dict[str, Any] = {}
    original = pulumi.export
    pulumi.export = lambda key, value: exported.__setitem__(key, value)  # type: ignore[assignment]
    try:
        runpy.run_path(str(EXAMPLES / name / "__main__.py"), run_name="__main__")
    finally:
        pulumi.export = original
    return exported


def _config(project: str, **values: str) -> dict[str, str]:
    return {f"{project}:{key}": value for key, value in values.items()}


def test_every_example_is_a_pulumi_project() -> None:
    dirs = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert dirs == ["aws", "docker", "kubernetes-local-cluster", "kubernetes-render", "yaml"]
    for name in dirs:
        text = (EXAMPLES / name / "Pulumi.yaml").read_text()
        if name == "yaml":  # Pulumi YAML's `${...}` in flow sequences is not plain YAML 1.1: read the header
            text = text.split("\nresources:", 1)[0]
        meta = yaml.safe_load(text)
        runtime = meta["runtime"] if isinstance(meta["runtime"], str) else meta["runtime"]["name"]
        expected = "immutable-yaml-example" if name == "yaml" else f"example-{name}"
        assert meta["name"] == expected and runtime == ("yaml" if name == "yaml" else "python")


@pytest.mark.parametrize("name", ["kubernetes-render", "kubernetes-local-cluster"])
def test_kubernetes_examples_wire_namespace_secret_and_endpoint(name: str) -> None:
    result = run_program(lambda: _run_example(name), config=_config("immutable-example", **{"db-password": SECRET}))
    assert result.outputs["namespace"] == "shop"
    assert result.outputs["api_endpoint"] == "http://api.shop.svc.cluster.local:80"
    web = next(r for r in result.resources if r.type == "kubernetes:apps/v1:Deployment" and r.name.startswith("web-"))
    assert web.inputs["metadata"]["namespace"] == "shop"
    env = web.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "API_URL", "value": "http://api.shop.svc.cluster.local:80"} in env
    (secret,) = result.of_type("kubernetes:core/v1:Secret")
    assert SECRET not in json.dumps(secret.inputs.get("metadata")) and "value" in secret.inputs["stringData"]


def test_docker_example_runs_under_mocks() -> None:
    with engine_outputs():
        result = run_program(lambda: _run_example("docker"), config=_config("immutable-example", **{"db-password": SECRET}))
    assert result.outputs["api_endpoint"] == "http://api.apps.svc.cluster.local:8080"
    assert result.outputs["web_published"] == "http://127.0.0.1:32768"
    assert any(n.endswith("-web-to-api") for n in result.outputs["web_networks"])
    web = next(r for r in result.resources if r.type == "docker:index/container:Container" and r.name.startswith("web-")
               and not r.name.endswith("-seed"))
    assert "API_URL=http://api.apps.svc.cluster.local:8080" in web.inputs["envs"]


def test_aws_example_runs_under_mocks() -> None:
    config = {"immutable-test:vpc-id": aws_mocks.VPC,
              "immutable-test:subnet-ids": json.dumps(aws_mocks.SUBNETS),
              "immutable-test:lb-subnet-ids": json.dumps(aws_mocks.LB_SUBNETS),
              "immutable-test:certificate-arn": aws_mocks.CERT}
    exported: dict[str, Any] = {}

    def build() -> None:
        pulumi.runtime.set_all_config(config)
        exported.update(_run_example("aws"))

    program = aws_mocks.run(build)
    assert any(r.type == "aws:autoscaling/group:Group" for r in program.resources)
    assert set(exported) == {"release", "endpoint", "load_balancer_zone_id", "instance_security_group_id"}
