"""``expose.node_port``: the Service of a ContainerService as a NodePort, with its reason recorded
as the ``exposed_service`` opt-out the policy pack reads (the dev stack's address on this machine)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec, SpecError
from immutable_infra.kubernetes import ContainerService

from ..fixtures import service
from ..k8s_harness import run_program

importlib.import_module("tests.policy")  # puts policy/ on sys.path, as for every policy test

REASON = "the local cluster answers node ports on 127.0.0.1 only"


def services(spec: dict[str, Any]) -> list[dict[str, Any]]:
    result = run_program(lambda: {"svc": ContainerService("web", {"spec": spec}).release})
    return [r.inputs for r in result.resources if r.type == "kubernetes:core/v1:Service"]


def test_node_port_service_carries_its_reason_and_passes_the_policy() -> None:
    check_service_exposure = importlib.import_module("immutable_policy.kubernetes").check_service_exposure

    spec = service(strategy="blue-green")
    [plain] = services(spec)
    assert plain["spec"]["type"] == "ClusterIP" and "nodePort" not in plain["spec"]["ports"][0]
    spec["expose"] = {**spec.get("expose", {}), "node_port": {"port": 30080, "reason": REASON}}
    [svc] = services(spec)
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["ports"][0]["nodePort"] == 30080
    assert svc["metadata"]["labels"]["immutable.dev/opt-out-exposed-service"] == "true"
    assert svc["metadata"]["annotations"]["immutable.dev/opt-out-reason-exposed_service"] == REASON
    assert check_service_exposure("kubernetes:core/v1:Service", svc) == []
    # The reason is what lets it through: without the opt-out the policy refuses the same Service.
    bare = {**svc, "metadata": {**svc["metadata"], "labels": {}, "annotations": {}}}
    assert "has type NodePort" in check_service_exposure("kubernetes:core/v1:Service", bare)[0]
    # Routing, not part of the release: adding the node port keeps the release id.
    plain_spec = service(strategy="blue-green")
    assert ContainerServiceSpec.model_validate(spec).release == ContainerServiceSpec.model_validate(plain_spec).release


@pytest.mark.parametrize(("node_port", "expose", "fragment"), [
    ({"port": 8080, "reason": REASON}, {}, "expose.node_port.port"),
    ({"port": 30080, "reason": "x"}, {}, "expose.node_port.reason"),
    ({"port": 30080, "reason": REASON}, {"service": False}, "a node port needs the Service"),
])
def test_bad_node_port_is_refused_before_anything_registers(node_port: dict[str, Any], expose: dict[str, Any],
                                                            fragment: str) -> None:
    spec = service(strategy="blue-green")
    spec["expose"] = {**spec.get("expose", {}), **expose, "node_port": node_port}
    with pytest.raises(SpecError) as err:
        ContainerServiceSpec.model_validate(spec)
    assert fragment in str(err.value)


def test_dev_reaches_web_on_its_node_port_and_test_keeps_a_cluster_ip() -> None:
    """dev's knob (Pulumi.dev.yaml) makes web's Service the NodePort 30080 with its reason; the
    test stack, without the knob, runs the same release behind a ClusterIP."""
    import pathlib

    import yaml
    from immutable_infra.records import SecretStore

    from stacks import program

    root = pathlib.Path(__file__).resolve().parents[3]
    secrets = SecretStore(versions={"api-db-password": {"v1": "example-db-password"}})

    def web_service(stack: str) -> dict[str, Any]:
        data = yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text())["config"]
        raw = {k.split(":", 1)[1]: v for k, v in data.items() if k.startswith("immutable:")}
        result = run_program(lambda: program.deploy(stack, raw, secrets, str(root)), stack=stack)
        return result.named("web-svc").inputs  # type: ignore[no-any-return]

    dev, test = web_service("dev"), web_service("test")
    assert dev["spec"]["type"] == "NodePort" and dev["spec"]["ports"][0]["nodePort"] == 30080
    assert "127.0.0.1 only" in dev["metadata"]["annotations"]["immutable.dev/opt-out-reason-exposed_service"]
    assert test["spec"]["type"] == "ClusterIP" and "nodePort" not in test["spec"]["ports"][0]
