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
