"""Build a stack: read and validate its config, then register the topology.

Everything is validated (stack config, ledger, every service spec) before the first
resource is registered, so a bad config deploys nothing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s
from immutable_infra import ContainerServiceSpec, Problem, SpecError
from immutable_infra.aws import ServerGroup, ServerGroupSpec
from immutable_infra.aws.sdk import aws
from immutable_infra.docker import DockerContainerService, StackNetwork
from immutable_infra.docker import edge as docker_edge
from immutable_infra.docker import run_options as docker_run_options
from immutable_infra.environment import CONFIG_NAMESPACE, KNOWN_KEYS, StackConfig, load_secret_store, load_stack_config
from immutable_infra.kubernetes import ContainerService, ServiceNamespace
from immutable_infra.records import (
    ReleaseArchive,
    ReleaseRecord,
    Releases,
    SecretStore,
    archive_path,
    publish_unrecorded,
    resolve_releases,
)
from immutable_infra.stack import read_immutable_config

from . import topology

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The example project (where ``releases/<stack>.yaml`` lives)."""
PROJECT_CONFIG = "immutable-example"
"""Config namespace of the example program's own values (secrets)."""


@dataclass(frozen=True)
class Plan:
    """Everything a stack will deploy, validated, before anything is registered."""

    config: StackConfig
    services: dict[str, tuple[ContainerServiceSpec, list[ContainerServiceSpec]]]
    """Active spec and kept specs, newest first."""
    server_groups: dict[str, tuple[ServerGroupSpec, list[ServerGroupSpec]]]
    """Active spec and kept specs, newest first."""
    chosen: dict[str, Releases[Any]] = field(default_factory=dict)
    """Per workload, what :func:`resolve_releases` chose (with the releases to record)."""

    @property
    def unrecorded(self) -> dict[str, list[ReleaseRecord]]:
        """Releases that run (or would run) but have no record yet: ``immutable-ops record`` writes them."""
        return {name: c.unrecorded for name, c in self.chosen.items() if c.unrecorded}


def read_raw_config(stack: str) -> dict[str, Any]:
    """The stack's ``immutable:*`` config objects, keys without the namespace."""
    return read_immutable_config()


def read_secrets(stack: str, raw: Mapping[str, Any] | None = None) -> SecretStore:
    """The stack's versioned secrets (``immutable:secrets``, encrypted in ``Pulumi.<stack>.yaml``),
    plus the unversioned keys of the previous layout (``immutable-example:<key>``) so stacks
    deployed before secrets were versioned keep their releases. Read raw (never logged); the
    components keep the values Pulumi secrets in state."""
    legacy = {}
    for key in topology.SECRET_KEYS:
        value = pulumi.runtime.get_config(f"{PROJECT_CONFIG}:{key}")
        if value is not None:
            legacy[key] = value
    store = load_secret_store(stack, raw if raw is not None else read_raw_config(stack), legacy)
    missing = [key for key in topology.SECRET_KEYS if store.current(key) is None]
    if missing:
        raise SpecError(f"stack config of {stack!r}", [
            Problem(f"Pulumi.{stack}.yaml: {CONFIG_NAMESPACE}:secrets.{key}", "nothing", "secret not set",
                    f"run: pulumi config set --secret --path '{CONFIG_NAMESPACE}:secrets.{key}.v1' -s {stack}")
            for key in missing])
    return store


def plan(stack: str, raw: Mapping[str, Any], secrets: SecretStore | Mapping[str, str],
         archive: ReleaseArchive | None = None) -> Plan:
    """Validate the stack config and every release (active from today's code or a pin, kept
    from their records) before anything is registered."""
    secrets = SecretStore.coerce(secrets)
    config = load_stack_config(stack, raw, workloads=topology.WORKLOADS)
    archive = archive if archive is not None else ReleaseArchive.load(archive_path(PROJECT_DIR, stack))
    problems: list[Problem] = []
    chosen_all: dict[str, Releases[Any]] = {}
    templates: dict[str, tuple[type[Any], Callable[[str], Any]]] = {
        **{n: (ContainerServiceSpec, functools.partial(topology.service_spec, n, env=config.environment, secrets=secrets))
           for n in topology.SERVICES},
        **{n: (ServerGroupSpec, functools.partial(topology.server_group_spec, n, env=config.environment))
           for n in topology.SERVER_GROUPS},
    }
    for name, (model, template) in templates.items():
        ledger = config.ledger.get(name)
        if ledger is None:
            problems.append(_missing_ledger(stack, name))
            continue
        try:
            chosen_all[name] = resolve_releases(
                model, name, ledger, archive, template, secrets, keep=lambda spec: int(spec.keep_previous),
                subject=f"Pulumi.{stack}.yaml: immutable:ledger.{name}")
        except SpecError as exc:
            # Problems of a record or a ledger entry carry their file path; the template's are the service's.
            problems += exc.nested(name) if not exc.problems[0].path.startswith(("Pulumi.", "releases/")) else exc.problems
    services = {n: (c.active, c.kept) for n, c in chosen_all.items() if n in topology.SERVICES}
    server_groups = {n: (c.active, c.kept) for n, c in chosen_all.items() if n in topology.SERVER_GROUPS}
    if problems:
        raise SpecError(f"stack {stack!r}", problems)
    return Plan(config=config, services=services, server_groups=server_groups, chosen=chosen_all)


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
        # Where cluster/local.py keeps its cluster (IMMUTABLE_CLUSTER_STATE moves it, as tests do).
        state = os.environ.get("IMMUTABLE_CLUSTER_STATE") or os.path.join(project_dir, ".state", "cluster")
        kubeconfig = os.path.join(state, "kubeconfig")
    return k8s.Provider("cluster", kubeconfig=kubeconfig) if kubeconfig else k8s.Provider("cluster")


def docker_provider(project_dir: str) -> docker.Provider:
    """The project's own engine (docker/engine.py: .state/docker, or $IMMUTABLE_DOCKER_STATE) unless
    DOCKER_HOST names one. scripts/deploy.sh exports DOCKER_HOST for its own run only: a later
    `immutable-ops rollback` or `pulumi up` from a plain shell must reach the same engine, not
    the system's /var/run/docker.sock. The host is always explicit, so both runs give the
    provider the same input."""
    host = os.environ.get("DOCKER_HOST")
    if not host:
        state = os.environ.get("IMMUTABLE_DOCKER_STATE") or os.path.join(project_dir, ".state", "docker")
        host = "unix://" + os.path.join(os.path.realpath(state), "docker.sock")  # as `docker/engine.py host`
    return docker.Provider("docker", host=host)


def deploy(stack: str, raw: Mapping[str, Any], secrets: SecretStore | Mapping[str, str], project_dir: str, *,
           require_records: bool = False) -> None:
    """Register the whole topology for ``stack`` (call from ``__main__.py`` with ``require_records``:
    an update then refuses to run releases that are not recorded)."""
    validated = plan(stack, raw, secrets, ReleaseArchive.load(archive_path(project_dir, stack)))
    publish_unrecorded(validated.chosen)
    if require_records and validated.unrecorded and not pulumi.runtime.is_dry_run():
        # Every release that runs is recorded first, so the next change keeps it exactly as it ran
        # (a preview shows what would be recorded; an update refuses to run unrecorded releases).
        names = ", ".join(f"{w} {r.release}" for w, records in validated.unrecorded.items() for r in records)
        raise SpecError(f"stack {stack!r}", [Problem(
            f"releases/{stack}.yaml", names, "releases not recorded yet",
            f"run `immutable-ops record {stack}` (writes Pulumi.{stack}.yaml and releases/{stack}.yaml), review "
            f"and commit, then deploy; scripts/deploy.sh does this for you")])
    env = validated.config.environment
    if env.target == "local-docker":
        on_docker = pulumi.ResourceOptions(providers=[docker_provider(project_dir)])
        services: Mapping[str, ContainerService | DockerContainerService] = deploy_on_docker(validated, opts=on_docker)
    else:
        services = deploy_on_kubernetes(validated, kubernetes_provider(validated.config, project_dir), project_dir)
    for name, records in validated.unrecorded.items():
        pulumi.log.info(f"{name}: to record: {', '.join(r.release for r in records)} (immutable-ops record {stack})")
    for name, service in services.items():
        pulumi.export(f"{name}_release", service.release)
        pulumi.export(f"{name}_kept_releases", service.kept_releases)
        pulumi.export(f"{name}_images", service.images)
        pulumi.export(f"{name}_endpoint", service.endpoint)
    if env.target == "local-cluster":
        for name, (active, _) in validated.services.items():
            if active.expose.node_port is not None:
                # The local cluster's kube-proxy answers node ports on 127.0.0.1 (cluster/node.py).
                pulumi.export(f"{name}_address", f"http://127.0.0.1:{active.expose.node_port.port}/")
    deploy_server_groups(validated)
    pulumi.export("environment", env.name)
    pulumi.export("target", env.target)


def deploy_on_kubernetes(validated: Plan, provider: k8s.Provider, project_dir: str | None = None) -> dict[str, ContainerService]:
    namespace = ServiceNamespace(topology.NAMESPACE, {
        "spec": {"name": topology.NAMESPACE},
        "services": [active for active, _ in validated.services.values()],
        "exec_break_glass": validated.config.environment.exec_break_glass,
    }, opts=pulumi.ResourceOptions(providers=[provider]))
    env = validated.config.environment
    # Where a cutover analysis (spec.analysis) asks and sends its requests; unused without one.
    analysis: dict[str, str] = {}
    if env.prometheus_url:
        analysis["prometheus_url"] = env.prometheus_url
    kubeconfig = env.kubeconfig or (os.path.join(project_dir, ".state", "cluster", "kubeconfig")
                                    if project_dir and env.target == "local-cluster" else None)
    if kubeconfig:
        analysis["kubeconfig"] = kubeconfig
    return {
        name: ContainerService(
            name, {"spec": active, "previous": kept, "exec_break_glass": env.exec_break_glass, **analysis},
            opts=pulumi.ResourceOptions(providers=[provider], depends_on=[namespace]),
        )
        for name, (active, kept) in validated.services.items()
    }


def deploy_on_docker(validated: Plan, *, accept_docker_gaps: bool = True, with_edge: bool = True,
                     opts: pulumi.ResourceOptions | None = None) -> dict[str, DockerContainerService]:
    """The same services on a local Docker engine (developer laptops).

    Docker cannot refuse ``docker exec`` nor filter egress by CIDR: this local target accepts
    both (production can never use it), and the components record them as opt-outs. Each
    published service gets its fixed 127.0.0.1 port through the edge proxy (``with_edge``;
    scripts/deploy.sh starts it); HTTP and TCP probes run the project's probe binary.
    """
    probe = os.environ.get(docker_edge.PROBE_BINARY_ENV) or os.path.join(PROJECT_DIR, ".toolchain", "cluster",
                                                                         "bin", "probe")
    edge_ports = {name: docker_edge.default_edge_port(name) for name, (active, _) in validated.services.items()
                  if with_edge and docker_run_options.publishes(active)}
    clashes = sorted(n for n in edge_ports if list(edge_ports.values()).count(edge_ports[n]) > 1)
    if clashes:
        raise SpecError("stack", [Problem("services", ", ".join(clashes), "these services' fixed edge ports clash",
                                          "rename one of them (the port is derived from the name)")])
    if edge_ports:  # before the network too: nothing is registered without the proxy
        docker_edge.require_edge_proxy()
    network = StackNetwork(topology.NAMESPACE, {"services": [active for active, _ in validated.services.values()]},
                           opts=opts)
    services = {}
    for name, (active, kept) in validated.services.items():
        services[name] = DockerContainerService(
            name, {"spec": active, "previous": kept, "network": network, "probe_binary": probe,
                   "exec_break_glass": accept_docker_gaps, "allow_unfiltered_egress": accept_docker_gaps,
                   **({"edge_port": edge_ports[name]} if name in edge_ports else {})}, opts=opts,
        )
        pulumi.export(f"{name}_published_endpoint", services[name].published_endpoint)
        pulumi.export(f"{name}_address", services[name].address)
    return services


def deploy_server_groups(validated: Plan) -> None:
    """Server groups go to the environment's AWS account when it has one (``aws``); without it
    they are validated and their release ids exported, but nothing is deployed."""
    aws_target = validated.config.environment.aws
    provider = aws.Provider("aws", region=aws_target.region) if aws_target else None
    for name, (group, kept) in validated.server_groups.items():
        pulumi.export(f"{name}_release", group.release)
        pulumi.export(f"{name}_ami", group.ami_id)
        if aws_target is None or provider is None:
            pulumi.export(f"{name}_deployed", False)
            continue
        server_group = ServerGroup(
            name, {"spec": group, "previous": kept,  # kept releases from their records, newest first
                   "vpc_id": aws_target.vpc_id, "subnet_ids": aws_target.subnet_ids,
                   "load_balancer_subnet_ids": aws_target.load_balancer_subnet_ids or None,
                   "certificate_arn": aws_target.certificate_arn},
            opts=pulumi.ResourceOptions(providers=[provider]),
        )
        pulumi.export(f"{name}_deployed", True)
        pulumi.export(f"{name}_kept_releases", server_group.kept_releases)
        pulumi.export(f"{name}_dns_name", server_group.load_balancer_dns_name)


__all__ = ["KNOWN_KEYS", "Plan", "deploy", "plan", "read_raw_config", "read_secrets"]
