"""Build a stack: read and validate its config, then register the topology.

Everything is validated (stack config, ledger, every service spec) before the first
resource is registered, so a bad config deploys nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s
from immutable_infra import ContainerServiceSpec, Problem, SpecError
from immutable_infra.aws import ServerGroup, ServerGroupSpec
from immutable_infra.aws.sdk import aws
from immutable_infra.docker import DockerContainerService, StackNetwork
from immutable_infra.environment import CONFIG_NAMESPACE, KNOWN_KEYS, StackConfig, load_stack_config
from immutable_infra.kubernetes import ContainerService, ServiceNamespace

from . import topology

PROJECT_CONFIG = "immutable-example"
"""Config namespace of the example program's own values (secrets)."""


@dataclass(frozen=True)
class Plan:
    """Everything a stack will deploy, validated, before anything is registered."""

    config: StackConfig
    services: dict[str, tuple[ContainerServiceSpec, list[ContainerServiceSpec]]]
    server_groups: dict[str, tuple[ServerGroupSpec, list[ServerGroupSpec]]]
    """Active spec and the ledger's other releases, oldest first (ServerGroup's ``history``)."""


def read_raw_config(stack: str) -> dict[str, Any]:
    """The stack's ``immutable:*`` config objects, keys without the namespace."""
    import json

    all_config = pulumi.runtime.get_config_env()
    raw: dict[str, Any] = {}
    for full_key, value in all_config.items():
        namespace, _, key = full_key.partition(":")
        if namespace != CONFIG_NAMESPACE:
            continue
        try:
            raw[key] = json.loads(value)
        except (TypeError, ValueError):
            raw[key] = value
    return raw


def read_secrets(stack: str) -> dict[str, str]:
    """Secret values from the stack's encrypted config. Read raw (never logged); the
    components keep them Pulumi secrets in state."""
    values: dict[str, str] = {}
    problems = []
    for key in topology.SECRET_KEYS:
        value = pulumi.runtime.get_config(f"{PROJECT_CONFIG}:{key}")
        if value is None:
            problems.append(Problem(f"Pulumi.{stack}.yaml: {PROJECT_CONFIG}:{key}", "nothing", "secret not set",
                                    f"run: pulumi config set --secret {PROJECT_CONFIG}:{key} -s {stack}"))
        else:
            values[key] = value
    if problems:
        raise SpecError(f"stack config of {stack!r}", problems)
    return values


def plan(stack: str, raw: Mapping[str, Any], secrets: Mapping[str, str]) -> Plan:
    """Validate the stack config and every service spec (active and kept releases)."""
    config = load_stack_config(stack, raw, workloads=topology.WORKLOADS)
    problems: list[Problem] = []
    services: dict[str, tuple[ContainerServiceSpec, list[ContainerServiceSpec]]] = {}
    for name in topology.SERVICES:
        ledger = config.ledger.get(name)
        if ledger is None:
            problems.append(_missing_ledger(stack, name))
            continue
        try:
            active = topology.service_spec(name, ledger.active_artifact, config.environment, secrets)
            kept = [topology.service_spec(name, artifact, config.environment, secrets)
                    for artifact in ledger.previous(active.keep_previous)]
        except SpecError as exc:
            problems += exc.nested(name)
            continue
        services[name] = (active, kept)
    server_groups: dict[str, tuple[ServerGroupSpec, list[ServerGroupSpec]]] = {}
    for name in topology.SERVER_GROUPS:
        ledger = config.ledger.get(name)
        if ledger is None:
            problems.append(_missing_ledger(stack, name))
            continue
        try:
            group = topology.server_group_spec(name, ledger.active_artifact, config.environment)
            history = [topology.server_group_spec(name, entry.artifact, config.environment)
                       for entry in ledger.releases if entry.artifact != ledger.active_artifact]
        except SpecError as exc:
            problems += exc.nested(name)
            continue
        server_groups[name] = (group, history)
    if problems:
        raise SpecError(f"stack {stack!r}", problems)
    return Plan(config=config, services=services, server_groups=server_groups)


def _missing_ledger(stack: str, name: str) -> Problem:
    return Problem(f"Pulumi.{stack}.yaml: {CONFIG_NAMESPACE}:ledger.{name}", "nothing",
                   "no release recorded for this workload",
                   f"add {CONFIG_NAMESPACE}:ledger.{name}.releases with the artifact to run")


def kubernetes_provider(config: StackConfig, project_dir: str) -> k8s.Provider:
    env = config.environment
    if env.target == "render":
        # Render mode: the provider writes manifests instead of calling an API server.
        # Secret manifests land on disk too: build/ is git-ignored for that reason.
        directory = env.render_dir or os.path.join(project_dir, "build", "manifests", env.name)
        return k8s.Provider("render", render_yaml_to_directory=directory)
    kubeconfig = env.kubeconfig
    if env.target == "local-cluster" and kubeconfig is None:
        kubeconfig = os.path.join(project_dir, ".state", "cluster", "kubeconfig")
    return k8s.Provider("cluster", kubeconfig=kubeconfig) if kubeconfig else k8s.Provider("cluster")


def deploy(stack: str, raw: Mapping[str, Any], secrets: Mapping[str, str], project_dir: str) -> None:
    """Register the whole topology for ``stack`` (call from ``__main__.py``)."""
    validated = plan(stack, raw, secrets)
    env = validated.config.environment
    if env.target == "local-docker":
        on_docker = pulumi.ResourceOptions(providers=[docker.Provider("docker")])  # DOCKER_HOST or the default socket
        services: Mapping[str, ContainerService | DockerContainerService] = deploy_on_docker(validated, opts=on_docker)
    else:
        services = deploy_on_kubernetes(validated, kubernetes_provider(validated.config, project_dir))
    for name, service in services.items():
        pulumi.export(f"{name}_release", service.release)
        pulumi.export(f"{name}_kept_releases", service.kept_releases)
        pulumi.export(f"{name}_images", service.images)
        pulumi.export(f"{name}_endpoint", service.endpoint)
    deploy_server_groups(validated)
    pulumi.export("environment", env.name)
    pulumi.export("target", env.target)


def deploy_on_kubernetes(validated: Plan, provider: k8s.Provider) -> dict[str, ContainerService]:
    namespace = ServiceNamespace(topology.NAMESPACE, {"name": topology.NAMESPACE},
                                 opts=pulumi.ResourceOptions(providers=[provider]),
                                 services=[active for active, _ in validated.services.values()],
                                 exec_break_glass=validated.config.environment.exec_break_glass)
    return {
        name: ContainerService(
            name, active, kept=kept, exec_break_glass=validated.config.environment.exec_break_glass,
            opts=pulumi.ResourceOptions(providers=[provider], depends_on=[namespace]),
        )
        for name, (active, kept) in validated.services.items()
    }


def deploy_on_docker(validated: Plan, *, accept_docker_gaps: bool = True,
                     opts: pulumi.ResourceOptions | None = None) -> dict[str, DockerContainerService]:
    """The same services on a local Docker engine (developer laptops).

    Docker cannot refuse ``docker exec`` nor filter egress by CIDR: this local target accepts
    both (production can never use it), and the components record them as opt-outs.
    """
    network = StackNetwork(topology.NAMESPACE, [active for active, _ in validated.services.values()], opts=opts)
    services = {}
    for name, (active, kept) in validated.services.items():
        services[name] = DockerContainerService(
            name, active, kept=kept, network=network,
            exec_break_glass=accept_docker_gaps, allow_unfiltered_egress=accept_docker_gaps, opts=opts,
        )
        pulumi.export(f"{name}_published_endpoint", services[name].published_endpoint)
    return services


def deploy_server_groups(validated: Plan) -> None:
    """Server groups go to the environment's AWS account when it has one (``aws``); without it
    they are validated and their release ids exported, but nothing is deployed."""
    aws_target = validated.config.environment.aws
    provider = aws.Provider("aws", region=aws_target.region) if aws_target else None
    for name, (group, history) in validated.server_groups.items():
        pulumi.export(f"{name}_release", group.release)
        pulumi.export(f"{name}_ami", group.ami_id)
        if aws_target is None or provider is None:
            pulumi.export(f"{name}_deployed", False)
            continue
        server_group = ServerGroup(
            name, group, history=history, vpc_id=aws_target.vpc_id, subnet_ids=aws_target.subnet_ids,
            load_balancer_subnet_ids=aws_target.load_balancer_subnet_ids or None,
            certificate_arn=aws_target.certificate_arn,
            opts=pulumi.ResourceOptions(providers=[provider]),
        )
        pulumi.export(f"{name}_deployed", True)
        pulumi.export(f"{name}_kept_releases", server_group.kept_releases)
        pulumi.export(f"{name}_dns_name", server_group.load_balancer_dns_name)


__all__ = ["KNOWN_KEYS", "Plan", "deploy", "plan", "read_raw_config", "read_secrets"]
