"""Unusual but valid: inputs at the edges of each grammar and limit, accepted by the component
that takes them (under mocks: something is registered, no error). Each rule of the bad-input
classes is checked from the other side here, so a rule made too strict fails a test too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from immutable_infra.aws import ServerGroup
from immutable_infra.docker import DockerContainerService, StackNetwork
from immutable_infra.environment import EnvironmentConfig
from immutable_infra.kubernetes import ContainerService, ServiceNamespace

from ..aws_mocks import ACCOUNT, CERT, SUBNETS, WIRING, server_group_spec
from ..aws_mocks import run as run_aws
from ..fixtures import service
from ..k8s_harness import run_program
from .cases import with_

DIGEST = "sha256:" + "e" * 64
REASON = {"reason": "reviewed exception, ticket SEC-42"}


def _unpinned_namespace(**changes: Any) -> dict[str, Any]:
    spec = service(**changes)
    spec.pop("namespace")
    return spec


K8S: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    ("registry with a port, tag and digest", lambda: {"spec": service(image=f"localhost:5000/acme/web:1.2.3@{DIGEST}")}),
    ("IPv6 registry", lambda: {"spec": service(image=f"[::1]:5000/acme/web@{DIGEST}")}),
    ("path separators __ and --", lambda: {"spec": service(image=f"registry.example.com/a__b/c--d.e@{DIGEST}")}),
    ("tag of 128 characters", lambda: {"spec": service(image=f"registry.example.com/acme/web:{'v' * 128}@{DIGEST}")}),
    ("tag starting with '_'", lambda: {"spec": service(image=f"registry.example.com/acme/web:_rc1@{DIGEST}")}),
    ("upper-case registry host", lambda: {"spec": service(image=f"Registry.Example.com/acme/web@{DIGEST}")}),
    ("args namespace of 63 characters", lambda: {"spec": _unpinned_namespace(), "namespace": "n" * 63}),
    ("args namespace as an Output", lambda: {"spec": _unpinned_namespace(), "namespace": pulumi.Output.from_input("x")}),
    ("exec_break_glass false given", lambda: {"spec": service(), "exec_break_glass": False}),
    ("port as a whole float (YAML numbers)", lambda: {"spec": with_(service(), {"ports[0].container_port": 8080.0})}),
    ("replicas 0 with rolling", lambda: {"spec": service(replicas=0)}),
    ("env values with spaces, line breaks and any script", lambda: {"spec": service(
        env={"GREETING": "  h\u00e9llo w\u00f6rld \u4f60\u597d\n", "LOG_FORMAT": "json"})}),
    ("config content with tabs and any script", lambda: {"spec": with_(service(), {
        "config_files[0].content": "[app]\n\tname = \"caf\u00e9\"\n"})}),
    ("break-glass group with ':' and '@'", lambda: {"spec": with_(service(), {
        "security.break_glass_group": "oidc:sre@example.com"})}),
    ("secret version with '+' and ':'", lambda: {"spec": with_(service(), {"secrets[0].version": "v1+build.5:2024"})}),
    ("host name starting with a digit", lambda: {"spec": service(
        expose={"ingress": {"hostname": "1app.example.com", "tls_secret": "web-tls"}})}),
    ("percent-encoded probe path with a query", lambda: {"spec": with_(service(), {
        "probes.liveness.http_get.path": "/h%C3%A9alth?full=1"})}),
    ("probe port by number", lambda: {"spec": with_(service(), {"probes.readiness": {"tcp_port": 8080}})}),
    ("endpoint Output with a version", lambda: {"spec": service(state={"endpoints": [
        {"name": "API_URL", "url": pulumi.Output.from_input("http://api:80"), "version": "2024-06-01T10:00"}]})}),
]
DOCKER: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    ("memory of exactly 6Mi", lambda: {"spec": service(resources={
        "cpu_request": "100m", "cpu_limit": "500m", "memory_request": "6Mi", "memory_limit": "6Mi"}),
        "exec_break_glass": True}),
    ("memory 5.5Mi (Docker gets 6 MiB, rounded up)", lambda: {"spec": service(resources={
        "cpu_request": "100m", "cpu_limit": "500m", "memory_request": "5767168", "memory_limit": "5767168"}),
        "exec_break_glass": True}),
    ("allow_unfiltered_egress false given", lambda: {"spec": with_(service(), {"security.opt_outs.exec_lock": REASON}),
                                                     "allow_unfiltered_egress": False}),
]
OTHERS: list[tuple[str, Callable[[], Any]]] = [
    ("StackNetwork scope with '_' and '.'", lambda: StackNetwork("apps", {"services": [service()], "scope": "Shop_Dev.v2"})),
    ("ServiceNamespace of 63 characters", lambda: ServiceNamespace("ns", {"spec": {"name": "n" * 63}})),
    ("ServiceNamespace break glass false", lambda: ServiceNamespace("ns", {"spec": {"name": "apps"},
                                                                       "exec_break_glass": False})),
]
AWS: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    ("tag value with spaces and any script", lambda: {"spec": server_group_spec(tags={"team": " \u00c9quipe Web "}),
                                                      **WIRING}),
    ("subnets as Outputs", lambda: {"spec": server_group_spec(), **WIRING,
                                    "subnet_ids": [pulumi.Output.from_input(s) for s in SUBNETS]}),
    ("VPC id of 8 hex digits", lambda: {"spec": server_group_spec(), **WIRING, "vpc_id": "vpc-0123abcd"}),
    ("certificate in the China partition", lambda: {"spec": server_group_spec(), **WIRING, "certificate_arn":
        f"arn:aws-cn:acm:cn-north-1:{ACCOUNT}:certificate/01234567-89ab-cdef-0123-456789abcdef"}),
    ("certificate as an Output", lambda: {"spec": server_group_spec(), **WIRING,
                                          "certificate_arn": pulumi.Output.from_input(CERT)}),
]
ENVIRONMENTS = [
    ("kubeconfig in a non-ASCII home", {"name": "dev", "target": "kubernetes", "kubeconfig": "/home/jos\u00e9/.kube/config"}),
    ("render dir with spaces inside", {"name": "dev", "render_dir": "build/my manifests"}),
]


def test_at_least_twenty_unusual_valid_inputs() -> None:
    assert len(K8S) + len(DOCKER) + len(OTHERS) + len(AWS) + len(ENVIRONMENTS) >= 20


@pytest.mark.parametrize(("case", "args"), K8S, ids=[c for c, _ in K8S])
def test_kubernetes_accepts(case: str, args: Callable[[], dict[str, Any]]) -> None:
    assert run_program(lambda: ContainerService("web", args()) and None).resources


@pytest.mark.parametrize(("case", "args"), DOCKER, ids=[c for c, _ in DOCKER])
def test_docker_accepts(case: str, args: Callable[[], dict[str, Any]]) -> None:
    assert run_program(lambda: DockerContainerService("web", args()) and None).resources


@pytest.mark.parametrize(("case", "build"), OTHERS, ids=[c for c, _ in OTHERS])
def test_other_components_accept(case: str, build: Callable[[], Any]) -> None:
    assert run_program(lambda: build() and None).resources


@pytest.mark.parametrize(("case", "args"), AWS, ids=[c for c, _ in AWS])
def test_server_group_accepts(case: str, args: Callable[[], dict[str, Any]]) -> None:
    assert run_aws(lambda: ServerGroup("web", args())).resources


@pytest.mark.parametrize(("case", "data"), ENVIRONMENTS, ids=[c for c, _ in ENVIRONMENTS])
def test_environment_config_accepts(case: str, data: dict[str, Any]) -> None:
    EnvironmentConfig.model_validate(data)
