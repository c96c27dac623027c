"""One topology for every environment.

Everything that defines what runs is here, in code, identical for dev, test and prod.
The artifacts (image digests) come from each stack's release ledger; replicas, hostnames
and retention come from ``EnvironmentConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from immutable_infra import ContainerServiceSpec, Problem, SpecError, validate_spec
from immutable_infra.aws import ServerGroupSpec
from immutable_infra.environment import EnvironmentConfig, ServiceKnobs
from immutable_infra.records import SecretStore

NAMESPACE = "apps"

_RESOURCES_SMALL = {"cpu_request": "50m", "cpu_limit": "250m", "memory_request": "64Mi", "memory_limit": "128Mi"}
# Each app says which release it is (IMMUTABLE_RELEASE). Part of the release: turning it on gave
# every service a new release, which the example's users record like any other change.
_RELEASE_ENV = {"release_env": True}
_HTTP_PROBES = {
    "liveness": {"http_get": {"path": "/healthz", "port": "http"}, "period_seconds": 10},
    "readiness": {"http_get": {"path": "/ready", "port": "http"}, "period_seconds": 5},
}


def secret(store: SecretStore | Mapping[str, str], key: str, file_name: str) -> dict[str, Any]:
    """A secret file holding the newest version of ``key`` from the stack's secret store; the
    version label (not the value) stands for it in the release id."""
    current = SecretStore.coerce(store).current(key)
    if current is None:
        raise SpecError("secrets", [Problem(f"immutable:secrets.{key}", "nothing", "secret not set",
                                            f"run: pulumi config set --secret --path 'immutable:secrets.{key}.v1'")])
    version, value = current
    return {"name": file_name, "value": value, "version": version}


def service_templates(secrets: SecretStore | Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The services' release-defining settings; ``image`` is filled in from the ledger.

    ``secrets`` holds the versioned secret values of the stack's (encrypted) config.
    """
    return {
        "web": {
            "name": "web",
            "namespace": NAMESPACE,
            **_RELEASE_ENV,
            "ports": [{"name": "http", "container_port": 8080, "service_port": 80}],
            "env": {"API_URL": "http://api.apps.svc.cluster.local:8080", "LOG_FORMAT": "json"},
            "resources": _RESOURCES_SMALL,
            "probes": _HTTP_PROBES,
            "strategy": "blue-green",
            "keep_previous": 1,
            "keep_mode": "scaled-to-zero",
            "network": {"ingress_from": [{"ingress_controller": True}],
                        "egress_to": [{"service": "api", "ports": [8080]}]},
            "expose": {"ingress": {"hostname": "web.example.com", "tls_secret": "web-tls"}},
        },
        "api": {
            "name": "api",
            "namespace": NAMESPACE,
            **_RELEASE_ENV,
            "ports": [{"name": "http", "container_port": 8080}],
            "env": {"LOG_FORMAT": "json"},
            "config_files": [{"name": "api.toml", "content": "[server]\nport = 8080\nmax_body_kb = 512\n"}],
            "secrets": [secret(secrets, "api-db-password", "db-password")],
            "state": {"endpoints": [{"name": "DATABASE_URL", "url": "postgres://db.internal:5432/api"}]},
            "resources": {**_RESOURCES_SMALL, "memory_limit": "256Mi"},
            "probes": _HTTP_PROBES,
            "strategy": "rolling",
            "keep_previous": 2,
            "network": {"ingress_from": [{"service": "web"}, {"service": "worker"}],
                        "egress_to": [{"cidr": "10.0.0.0/8", "ports": [5432]}]},
        },
        "worker": {
            "name": "worker",
            "namespace": NAMESPACE,
            **_RELEASE_ENV,
            "args": ["--queue", "jobs", "--concurrency", "4"],
            "resources": _RESOURCES_SMALL,
            "probes": {
                "liveness": {"exec_command": ["/bin/worker", "healthcheck"], "period_seconds": 30},
                "readiness": {"exec_command": ["/bin/worker", "ready"], "period_seconds": 10},
            },
            "strategy": "rolling",
            "keep_previous": 1,
            "monitoring": {"scrape": False},
            "network": {"egress_to": [{"service": "api", "ports": [8080]}]},
        },
    }


def server_group_templates(env_name: str) -> dict[str, dict[str, Any]]:
    """The VM-based legacy service: an AMI per release (from the ledger), same everywhere."""
    return {
        "legacy": {
            "app": "legacy",
            "env": env_name,
            "instance_types": ["t3.small"],
            "user_data": "#!/bin/bash\nset -euo pipefail\nsystemctl enable --now legacy.service\n",
            "port": 8080,
            "load_balancer": {"allowed_cidrs": ["10.0.0.0/8"]},
            "scaling": {"min_size": 2, "max_size": 4, "desired_capacity": 2},
            "keep_previous": 1,
        },
    }


SECRET_KEYS = ("api-db-password",)
SERVICES = ("web", "api", "worker")
SERVER_GROUPS = ("legacy",)
WORKLOADS: dict[str, Literal["service", "server_group"]] = {
    **{name: "service" for name in SERVICES}, **{name: "server_group" for name in SERVER_GROUPS}}


def _apply_knobs(template: dict[str, Any], knobs: ServiceKnobs | None, env: EnvironmentConfig) -> dict[str, Any]:
    out = dict(template)
    if knobs is not None:
        if knobs.replicas is not None:
            out["replicas"] = knobs.replicas
        if knobs.keep_previous is not None:
            out["keep_previous"] = knobs.keep_previous
        if knobs.rollout_timeout_seconds is not None:
            out["rollout_timeout_seconds"] = knobs.rollout_timeout_seconds
        if knobs.hostname is not None and "expose" in out and out["expose"].get("ingress"):
            out["expose"] = {**out["expose"], "ingress": {**out["expose"]["ingress"], "hostname": knobs.hostname}}
        if knobs.node_port is not None:  # routing: the same release, reached on a node port here
            out["expose"] = {**out.get("expose", {}), "node_port": knobs.node_port.model_dump()}
    if env.allow_mutable_image_tags:
        security = dict(out.get("security", {}))
        security["opt_outs"] = {**security.get("opt_outs", {}), "mutable_image_tag": {
            "reason": f"environment {env.name} allows mutable image tags"}}
        out["security"] = security
    return out


def service_spec(name: str, image: str, env: EnvironmentConfig,
                 secrets: SecretStore | Mapping[str, str]) -> ContainerServiceSpec:
    """The validated spec of service ``name`` running ``image`` in environment ``env``."""
    template = _apply_knobs(service_templates(secrets)[name], env.services.get(name), env)
    return validate_spec(ContainerServiceSpec, {**template, "image": image}, subject=f"service {name!r}")


def server_group_spec(name: str, ami: str, env: EnvironmentConfig) -> ServerGroupSpec:
    """The validated spec of server group ``name`` running ``ami`` in environment ``env``."""
    template = dict(server_group_templates(env.name)[name])
    knobs = env.server_groups.get(name)
    if knobs is not None:
        scaling = dict(template["scaling"])
        for knob in ("min_size", "max_size", "desired_capacity"):
            if getattr(knobs, knob) is not None:
                scaling[knob] = getattr(knobs, knob)
        template["scaling"] = scaling
        if knobs.keep_previous is not None:
            template["keep_previous"] = knobs.keep_previous
    return validate_spec(ServerGroupSpec, {**template, "ami_id": ami}, subject=f"server group {name!r}")
