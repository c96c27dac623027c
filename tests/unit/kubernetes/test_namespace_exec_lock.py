"""The namespace's exec lock: one ValidatingAdmissionPolicy + binding per ServiceNamespace.

Its CEL is evaluated here with a CEL interpreter (cel-python) the way the API server runs a
policy (variables first, then the validation), on the requests kubectl sends: CONNECT to
``pods/exec`` (name only) and UPDATE of ``pods/ephemeralcontainers`` (the pod itself).
tests/cluster/test_local_cluster.py checks the same policy on a real API server.
"""

from __future__ import annotations

from typing import Any

import celpy
import pulumi
import pytest
from immutable_infra import ContainerServiceSpec, SpecError
from immutable_infra.kubernetes import ContainerService, ServiceNamespace
from immutable_infra.kubernetes import manifests as m

from ..fixtures import service
from ..k8s_harness import Result, run_program

VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
VAP_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
DEFAULT = "immutable:break-glass"


def deploy(services: list[dict[str, Any]], **kwargs: Any) -> Result:
    def program() -> None:
        ns = ServiceNamespace("apps", {"spec": {"name": "apps"}, "services": services, **kwargs})
        for s in services:
            ContainerService(s["name"], {"spec": s}, opts=pulumi.ResourceOptions(depends_on=[ns]))

    return run_program(program)


def spec(**overrides: Any) -> ContainerServiceSpec:
    return ContainerServiceSpec.model_validate(service(**overrides))


# --- the objects -----------------------------------------------------------------------------


def test_one_lock_per_namespace_whatever_the_number_of_services() -> None:
    result = deploy([service(name=f"svc{i}") for i in range(5)])
    (policy,), (binding,) = result.of_type(VAP), result.of_type(VAP_BINDING)
    assert (policy.name, policy.parent, binding.name) == ("apps-exec-lock", "apps", "apps-exec-lock-binding")
    assert policy.inputs["metadata"]["name"] == "apps.exec-lock" == binding.inputs["spec"]["policyName"]
    assert binding.inputs["spec"]["validationActions"] == ["Deny"]
    assert binding.depends_on == ["apps-exec-lock"]
    lock = policy.inputs["spec"]
    assert lock["failurePolicy"] == "Fail"
    assert lock["matchConstraints"]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}
    rules = lock["matchConstraints"]["resourceRules"]
    assert rules[0]["operations"] == ["CONNECT"]
    assert set(rules[0]["resources"]) == {"pods/exec", "pods/attach", "pods/portforward"}
    assert (rules[1]["operations"], rules[1]["resources"]) == (["UPDATE"], ["pods/ephemeralcontainers"])
    # The common case stays a one-liner that lists no service: adding one changes nothing here.
    assert "variables" not in lock and "svc" not in str(lock)


def test_environment_break_glass_means_no_lock() -> None:
    result = deploy([service()], exec_break_glass=True)
    assert not result.of_type(VAP) and not result.of_type(VAP_BINDING)


def test_an_opt_out_is_visible_on_the_lock_with_its_reason() -> None:
    reason = "incident 4711 debugging"
    result = deploy([service(name="api", security={"opt_outs": {"exec_lock": {"reason": reason}}}),
                     service(name="web")])
    (policy,) = result.of_type(VAP)
    assert policy.inputs["metadata"]["annotations"] == {"exec-lock-exempt.immutable.dev/api": reason, **m.PATCH_FORCE}


def test_services_of_another_namespace_are_refused_by_field() -> None:
    with pytest.raises(SpecError) as err:
        ServiceNamespace("apps", {"spec": {"name": "apps"}, "services": [service(namespace="shop")]})
    assert "services[0].namespace" in str(err.value) and "'shop'" in str(err.value)


# --- what the CEL decides ---------------------------------------------------------------------

_CEL = celpy.Environment()


def admits(lock: dict[str, Any], *, pod: str, groups: list[str], ephemeral_label: str | None = None) -> bool:
    """Evaluate the policy as the API server would; True when the request gets through."""
    request: dict[str, Any] = {"name": pod, "namespace": "apps", "userInfo": {"username": "u", "groups": groups}}
    if ephemeral_label is None:
        request["subResource"] = "exec"
        obj: dict[str, Any] = {"kind": "PodExecOptions", "command": ["sh"]}
    else:
        request["subResource"] = "ephemeralcontainers"
        obj = {"metadata": {"name": pod, "labels": {m.LABEL_NAME: ephemeral_label}}}
    activation: dict[str, Any] = {"request": request, "object": obj, "variables": {}}
    for variable in lock.get("variables", []):
        value = _CEL.program(_CEL.compile(variable["expression"])).evaluate(celpy.json_to_cel(activation))
        activation["variables"][variable["name"]] = value
    (validation,) = lock["validations"]
    cel_activation = {k: v if k == "variables" else celpy.json_to_cel(v) for k, v in activation.items()}
    cel_activation["variables"] = celpy.celtypes.MapType(
        {celpy.celtypes.StringType(k): v for k, v in activation["variables"].items()})
    result = _CEL.program(_CEL.compile(validation["expression"])).evaluate(cel_activation)
    assert isinstance(result, celpy.celtypes.BoolType), result
    return bool(result)


def test_every_pod_of_the_namespace_is_locked_even_undeclared_ones() -> None:
    lock = m.exec_lock_policy_spec("apps", [spec(name="api")])
    for pod in ("api-5d4f7c9b8-x2x7z", "someone-elses-pod", "web-abc12-q9w8e"):
        assert not admits(lock, pod=pod, groups=["system:authenticated", "developers"])
        assert admits(lock, pod=pod, groups=["system:authenticated", DEFAULT])
        assert not admits(lock, pod=pod, groups=["developers"], ephemeral_label="api")


def test_an_opt_out_exempts_its_service_only() -> None:
    api = spec(name="api", strategy="rolling", security={"opt_outs": {"exec_lock": {"reason": "incident 4711 debugging"}}})
    gateway = spec(name="api-gateway", strategy="rolling")
    lock = m.exec_lock_policy_spec("apps", [api, gateway, spec(name="web")])
    assert admits(lock, pod="api-5d4f7c9b8-x2x7z", groups=[])
    assert admits(lock, pod="api-5d4f7c9b8-x2x7z", groups=[], ephemeral_label="api")
    # api-gateway's pods start with "api-" too: its own (locked) prefix wins.
    assert not admits(lock, pod="api-gateway-6c8d9-abcde", groups=[])
    assert not admits(lock, pod="api-gateway-6c8d9-abcde", groups=[], ephemeral_label="api-gateway")
    assert not admits(lock, pod="web-6c8d9-abcde", groups=[])


def test_a_blue_green_opt_out_matches_every_release_and_long_names() -> None:
    name = "a" * 60
    bg = spec(name=name, strategy="blue-green", security={"opt_outs": {"exec_lock": {"reason": "incident 4711 debugging"}}})
    lock = m.exec_lock_policy_spec("apps", [bg])
    for release_spec in (bg, bg.with_image("registry.example.com/acme/web@sha256:" + "d" * 64)):
        deployment = m.deployment_name(release_spec, release_spec.release)
        replica_set = f"{deployment}-7d9f8c6b5d"
        pod = f"{replica_set}-"[:58] + "x2x7z"  # the API server's generateName
        assert admits(lock, pod=pod, groups=[]), pod
    assert not admits(lock, pod="other-7d9f8c6b5d-x2x7z", groups=[])


def test_a_service_with_its_own_break_glass_group_needs_that_group() -> None:
    pay = spec(name="pay", strategy="rolling", security={"break_glass_group": "pay:oncall"})
    lock = m.exec_lock_policy_spec("apps", [pay, spec(name="web", strategy="rolling")])
    assert admits(lock, pod="pay-5d4f7c9b8-x2x7z", groups=["pay:oncall"])
    assert not admits(lock, pod="pay-5d4f7c9b8-x2x7z", groups=[DEFAULT])
    assert admits(lock, pod="web-5d4f7c9b8-x2x7z", groups=[DEFAULT])
    assert not admits(lock, pod="web-5d4f7c9b8-x2x7z", groups=["pay:oncall"])


def test_every_object_of_the_components_is_owned_by_the_program() -> None:
    """``pulumi.com/patchForce`` on everything: after a killed `up`, an object whose create was
    interrupted keeps an unknown field manager; without it every later change conflicts."""
    result = deploy([service(name="api", strategy="blue-green"), service(name="web")])
    objects = [r for r in result.resources if r.type.startswith("kubernetes:")]
    assert {r.type.rsplit(":", 1)[-1] for r in objects} >= {
        "Namespace", "NetworkPolicy", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    missing = [r.name for r in objects if (r.inputs["metadata"].get("annotations") or {}).get(
        "pulumi.com/patchForce") != "true"]
    assert not missing, missing
