"""The pulumi-policy wrappers, through pulumi-policy's own analyzer servicer (no engine).

pulumi-policy for Python ships no test helpers; its servicer is what the engine talks to
over gRPC, so driving it with the engine's request messages tests the real wrapper path:
deserialisation, unknown values, config and enforcement levels, stack resources.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from immutable_policy.pack import PACK_NAME, build_policies
from immutable_policy.registry import POLICIES
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from .policy_testkit import (
    CONFIG_MAP,
    DEPLOYMENT,
    INSTANCE,
    POLICY_DIR,
    changed,
    config_map,
    deployment,
    instance,
)

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
LEVELS = {"mandatory": proto.MANDATORY, "advisory": proto.ADVISORY}


def servicer(config: dict[str, tuple[int, dict[str, Any]]] | None = None) -> _PolicyAnalyzerServicer:
    s = _PolicyAnalyzerServicer(PACK_NAME, "0.1.0", build_policies(), EnforcementLevel.ADVISORY)
    if config:
        request = proto.ConfigureAnalyzerRequest()
        for name, (level, properties) in config.items():
            request.policyConfig[name].enforcementLevel = level
            request.policyConfig[name].properties.update(properties)
        s.Configure(request, None)
    return s


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(props)
    return out


def analyze(s: _PolicyAnalyzerServicer, resource_type: str, props: dict[str, Any], *,
            provider: dict[str, Any] | None = None, ignore_changes: tuple[str, ...] = ()) -> Any:
    request = proto.AnalyzeRequest(type=resource_type, properties=struct(props), urn=f"urn:x::{resource_type}::r",
                                   name="r", options=proto.AnalyzerResourceOptions(ignoreChanges=ignore_changes))
    if provider is not None:
        request.provider.CopyFrom(proto.AnalyzerProviderResource(
            type="pulumi:providers:kubernetes", properties=struct(provider), urn="urn:x::provider", name="p"))
    return s.Analyze(request, None)


def by_policy(response: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for d in response.diagnostics:
        out.setdefault(d.policyName, []).append(d)
    return out


def test_analyzer_info_lists_every_policy_with_its_level_and_config() -> None:
    info = servicer().GetAnalyzerInfo(None, None)
    assert info.name == PACK_NAME and info.supportsConfig
    listed = {p.name: p for p in info.policies}
    assert list(listed) == [p.name for p in POLICIES]
    for policy in POLICIES:
        assert listed[policy.name].enforcementLevel == LEVELS[policy.level], policy.name
        assert set(listed[policy.name].configSchema.properties) == set(policy.config)
        expected = proto.POLICY_TYPE_STACK if policy.is_stack else proto.POLICY_TYPE_RESOURCE
        assert listed[policy.name].policy_type == expected


def test_bad_deployment_reports_named_mandatory_violations() -> None:
    bad = changed(deployment(), ("spec.template.spec.containers[0].image", "nginx:1.27"),
                  ("spec.template.spec.automountServiceAccountToken", True),
                  ("spec.template.spec.containers[0].readinessProbe", None))
    found = by_policy(analyze(servicer(), DEPLOYMENT, bad))
    assert set(found) == {"k8s-image-digest", "k8s-no-service-account-token", "k8s-probes"}
    digest = found["k8s-image-digest"][0]
    assert digest.enforcementLevel == proto.MANDATORY and digest.policyPackName == PACK_NAME
    assert digest.message.startswith("Container images are pinned by digest")
    assert "'nginx:1.27' is not pinned by digest" in digest.message
    assert found["k8s-probes"][0].enforcementLevel == proto.ADVISORY


def test_good_deployment_has_no_diagnostics() -> None:
    assert list(analyze(servicer(), DEPLOYMENT, deployment()).diagnostics) == []


def test_enforcement_level_and_properties_come_from_config() -> None:
    bad = changed(deployment(), ("spec.template.spec.containers[0].image", "nginx:1.27"),
                  ("spec.template.spec.containers[0].resources.limits", {"memory": "128Mi"}))
    as_is = by_policy(analyze(servicer(), DEPLOYMENT, bad))
    assert set(as_is) == {"k8s-image-digest", "k8s-resources"}
    configured = servicer({"k8s-image-digest": (proto.ADVISORY, {}),
                           "k8s-resources": (proto.MANDATORY, {"requireCpuLimit": False})})
    found = by_policy(analyze(configured, DEPLOYMENT, bad))
    assert set(found) == {"k8s-image-digest"}
    assert found["k8s-image-digest"][0].enforcementLevel == proto.ADVISORY
    disabled = servicer({"k8s-image-digest": (proto.DISABLED, {})})
    assert "k8s-image-digest" not in by_policy(analyze(disabled, DEPLOYMENT, bad))


def test_unknown_values_neither_fail_nor_abort_the_policy() -> None:
    unknown_image = changed(deployment(), ("spec.template.spec.containers[0].image", UNKNOWN_STRING),
                            ("spec.template.spec.automountServiceAccountToken", True))
    found = by_policy(analyze(servicer(), DEPLOYMENT, unknown_image))
    assert set(found) == {"k8s-no-service-account-token"}  # the rest of the resource is still checked


def test_secret_values_are_unwrapped() -> None:
    wrapped = changed(config_map(), ("immutable", {**SECRET_SIG, "value": False}))
    assert set(by_policy(analyze(servicer(), CONFIG_MAP, wrapped))) == {"k8s-config-immutable"}


def test_provider_namespace_and_ignore_changes_reach_the_checks() -> None:
    no_namespace = changed(config_map(), ("metadata", {"name": "c"}))
    assert "k8s-no-default-namespace" in by_policy(analyze(servicer(), CONFIG_MAP, no_namespace))
    assert by_policy(analyze(servicer(), CONFIG_MAP, no_namespace, provider={"namespace": "apps"})) == {}
    found = by_policy(analyze(servicer(), INSTANCE, instance(), ignore_changes=("userData",)))
    assert set(found) == {"aws-no-mutable-instance"}


def test_stack_policies_report_against_the_resource_urn() -> None:
    unlabelled = changed(deployment(), ("metadata.labels", {}), ("spec.template.metadata.labels", {}))
    request = proto.AnalyzeStackRequest(resources=[
        proto.AnalyzerResource(type=DEPLOYMENT, properties=struct(unlabelled), urn="urn:x::web", name="web"),
    ])
    found = by_policy(servicer().AnalyzeStack(request, None))
    assert set(found) == {"stack-release-membership", "k8s-namespace-network-policy", "k8s-exec-lock-present"}
    assert [d.urn for d in found["stack-release-membership"]] == ["urn:x::web"]
    assert found["stack-release-membership"][0].enforcementLevel == proto.MANDATORY


def test_a_patch_resource_reaches_the_checks_of_what_it_sets() -> None:
    patch = {"metadata": {"name": "web", "namespace": "apps"}, "spec": {"template": {"spec": {"containers": [
        {"name": "web", "securityContext": {"privileged": True}}]}}}}
    found = by_policy(analyze(servicer(), "kubernetes:apps/v1:DeploymentPatch", patch))
    assert set(found) == {"k8s-no-in-place-patch", "k8s-pod-security-restricted"}
    assert all(d.enforcementLevel == proto.MANDATORY for ds in found.values() for d in ds)


def test_opt_outs_are_listed_as_advisory_lines_against_their_resource() -> None:
    tagged = changed(deployment(), ("spec.template.spec.containers[0].image", "nginx:1.27"),
                     ("spec.template.metadata.labels", {"immutable.dev/opt-out-mutable-image-tag": "true"}),
                     ("spec.template.metadata.annotations", {
                         "immutable.dev/opt-out-reason-mutable_image_tag": "nightly builds are tagged, never promoted"}))
    request = proto.AnalyzeStackRequest(resources=[
        proto.AnalyzerResource(type=DEPLOYMENT, properties=struct(tagged), urn="urn:x::nightly", name="nightly")])
    listed = by_policy(servicer().AnalyzeStack(request, None))["stack-opt-outs"]
    assert [(d.urn, d.enforcementLevel) for d in listed] == [("urn:x::nightly", proto.ADVISORY)]
    assert "reason: 'nightly builds are tagged, never promoted'" in listed[0].message


def test_the_pack_directory_boots_and_serves_its_policies() -> None:
    """``python policy/`` is what the language host runs: it must print a port and serve."""
    process = subprocess.Popen([sys.executable, "-u", str(POLICY_DIR)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=POLICY_DIR)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().decode().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        assert info.name == PACK_NAME
        assert len(info.policies) == len(POLICIES)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.communicate()


@pytest.mark.parametrize("policy", [p.name for p in POLICIES])
def test_policy_names_are_prefixed_by_platform(policy: str) -> None:
    assert policy.split("-", 1)[0] in {"k8s", "aws", "docker", "stack"}
