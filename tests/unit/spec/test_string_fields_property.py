"""Property: every string field of every spec, fed a trailing newline, surrounding spaces, a
control character or a look-alike letter from another script, is refused at its own path, unless
the field is free text where that form is meaningful (listed in ``FREE_TEXT`` with the reason).

The bases below are valid specs that between them set every string field of every spec model
(``test_the_bases_reach_every_string_field`` fails when a new string field is not fed).
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec, SpecError
from immutable_infra.aws import ServerGroupSpec
from immutable_infra.environment import EnvironmentConfig
from immutable_infra.kubernetes.namespace import NamespaceSpec
from pydantic import BaseModel, SecretStr

from ..aws_mocks import CERT, LB_SUBNETS, SUBNETS, TG_ARN, VPC, server_group_spec
from ..fixtures import service
from .cases import assert_safe

REASON = {"reason": "reviewed exception, ticket SEC-42"}
SERVICE_A = service(
    command=["/app/server"], args=["--port", "8080"],
    env={"LOG_FORMAT": "json", "PASSWORD_POLICY_URL": "https://policy.example.com/p"},
    labels={"team": "web"},
    ports=[{"name": "http", "container_port": 8080, "service_port": 80, "protocol": "TCP"},
           {"name": "metrics", "container_port": 9090}],
    config_files=[{"name": "app.toml", "content": "port = 8080\n"}],
    secrets=[{"name": "db-password", "value": "s3cr3t-hunter2-value", "version": "v1"}],
    config_dir="/etc/app", secrets_dir="/var/run/secrets/app",
    resources={"cpu_request": "100m", "cpu_limit": "500m", "memory_request": "64Mi", "memory_limit": "128Mi"},
    probes={"liveness": {"http_get": {"path": "/healthz", "port": "http"}},
            "readiness": {"exec_command": ["/app/ready"]}},
    security={"run_as_user": 10001, "scratch_dirs": ["/tmp"], "break_glass_group": "oidc:sre",
              "opt_outs": {"exec_lock": REASON, "env_not_secret": {"PASSWORD_POLICY_URL": "a URL of the policy page"}}},
    state={"endpoints": [{"name": "DATABASE_URL", "url": "postgres://db.internal:5432/app", "version": "v3"}],
           "volumes": [{"claim_name": "data", "mount_path": "/data"}]},
    expose={"ingress": {"hostname": "web.example.com", "tls_secret": "web-tls", "class_name": "nginx", "path": "/"},
            "ingress_namespace": "ingress-nginx"},
    network={"ingress_from": [{"service": "api"}, {"namespace": "ops"}],
             "egress_to": [{"cidr": "10.0.0.0/8", "ports": [5432]}, {"service": "db"}, {"namespace": "mq"}]},
    monitoring={"port": "metrics", "path": "/metrics"},
    analysis={"query": 'sum(rate(http_request_errors_total{release="$release"}[$window]))', "threshold": 0.01,
              "compare": "below", "path": "/healthz"},
    strategy="blue-green", keep_mode="warm", namespace="apps",
)
GROUP_A = server_group_spec(
    volumes=[{"device_name": "/dev/xvda", "volume_type": "gp3",
              "kms_key_id": "arn:aws:kms:eu-west-1:123456789012:key/01234567-89ab-cdef-0123-456789abcdef",
              "snapshot_id": "snap-0123456789abcdef0"}],
    security={"key_name": "ops-key", "opt_outs": {"ssh_access": REASON},
              "extra_ingress": [{"cidr": "10.0.0.0/8", "port": 9000, "protocol": "tcp", "description": "metrics"}],
              "egress": [{"cidr": "10.0.0.0/8", "port": 443, "protocol": "tcp", "description": "internal"}]},
    state={"efs": [{"file_system_id": "fs-0123456789abcdef0", "mount_path": "/shared",
                    "access_point_id": "fsap-0123456789abcdef0", "security_group_id": "sg-0123456789abcdef0"}],
},
    network={"vpc_id": VPC, "subnet_ids": SUBNETS, "subnet_tier": "private"},
    load_balancer={"allowed_cidrs": ["10.0.0.0/8"], "subnet_ids": LB_SUBNETS, "subnet_tier": "private",
                   "certificate_arn": CERT, "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                   "access_logs_bucket": "acme-alb-logs"},
    health_check={"path": "/health", "matcher": "200-399", "capacity_timeout": "15m"},
    tags={"team": "web"}, strategy="replace-group",
)
GROUP_B = server_group_spec(
    load_balancer=None, target_groups={"arns": [TG_ARN], "security_group_id": "sg-0fedcba9876543210"},
    strategy="instance-refresh", scaling={"min_size": 1, "max_size": 1},
    instance_refresh={"min_healthy_percentage": 0, "max_healthy_percentage": 100},
    state={"data_volumes": [{"volume_id": "vol-0123456789abcdef0", "device_name": "/dev/sdf", "mount_path": "/data"}]})
ENVIRONMENT = {"name": "dev", "target": "kubernetes", "kubeconfig": "/home/dev/.kube/config",
               "render_dir": "build/manifests/dev",
               "prometheus_url": "http://prometheus.monitoring:9090",
               "services": {"web": {"replicas": 2, "hostname": "web.dev.example.com",
                                    "node_port": {"port": 30080, **REASON}}},
               "server_groups": {"api": {"min_size": 1, "max_size": 2}},
               "aws": {"region": "eu-west-1", "vpc_id": VPC, "subnet_ids": SUBNETS,
                       "load_balancer_subnet_ids": LB_SUBNETS, "certificate_arn": CERT}}
BASES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (ContainerServiceSpec, SERVICE_A), (ServerGroupSpec, GROUP_A), (ServerGroupSpec, GROUP_B),
    (EnvironmentConfig, ENVIRONMENT), (NamespaceSpec, {"name": "apps"}),
]

LOOK_ALIKE = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445",
              "i": "\u0456", "s": "\u0455", "A": "\u0391", "E": "\u0395", "O": "\u039f", "T": "\u03a4",
              "L": "\u216c", "D": "\u216e", "P": "\u03a1", "R": "\u0280", "U": "\u222a", "l": "\u04cf",
              "m": "\u217f", "r": "\u0433", "t": "\u0442", "h": "\u04bb", "d": "\u0501", "n": "\u0578",
              "v": "\u03bd", "w": "\u0461", "y": "\u0443", "b": "\u042c", "g": "\u0261", "k": "\u03ba",
              "f": "\u0192", "u": "\u03c5", "j": "\u0458", "q": "\u051b", "z": "\u1d22",
              **{str(d): chr(0xFF10 + d) for d in range(10)}}


def look_alike(value: str) -> str:
    for i, ch in enumerate(value):
        if ch in LOOK_ALIKE:
            return value[:i] + LOOK_ALIKE[ch] + value[i + 1:]
    return value + "\u00e9"


MUTATIONS = {
    "trailing newline": lambda v: v + "\n",
    "surrounding spaces": lambda v: f" {v} ",
    "control character": lambda v: v[:1] + "\x1b" + v[1:],
    "look-alike": look_alike,
}

# Free text, where a form is meaningful; every other string field refuses every mutation.
# Shapes: list items as ``[]``, ``*`` for any one key.
ALL = frozenset(MUTATIONS)
FREE_TEXT: dict[str, frozenset[str]] = {
    # Opaque or program text: only NUL is refused (a process argument or a file holds the rest).
    "command[]": ALL, "args[]": ALL, "probes.readiness.exec_command[]": ALL, "config_files[].content": ALL,
    "secrets[].value": ALL,
    # PromQL is program text too: Prometheus parses it, a newline or any script in a label value is its own.
    "analysis.query": ALL,
    # Values of environment variables and text for people: one line or many, any script; no ESC.
    "env.*": ALL - {"control character"},
    "security.opt_outs.*.reason": ALL - {"control character"},
    "services.*.node_port.reason": ALL - {"control character"},  # an exposure's reason, as an opt-out's
    "security.opt_outs.env_not_secret.*": ALL - {"control character"},
    # A script: a leading space would hide its '#!' (refused where state mounts follow it).
    "user_data": ALL - {"control character", "surrounding spaces"},
    # AWS tag values and keys, and security group rule descriptions, take spaces; tags any script.
    "tags.*": frozenset({"surrounding spaces", "look-alike"}),
    "security.extra_ingress[].description": frozenset({"surrounding spaces"}),
    "security.egress[].description": frozenset({"surrounding spaces"}),
    # Paths on the operator's own machine: any script is a valid file name.
    "kubeconfig": frozenset({"look-alike"}), "render_dir": frozenset({"look-alike"}),
}
FREE_KEYS: dict[str, frozenset[str]] = {"tags.*": frozenset({"surrounding spaces", "look-alike"})}

Path = tuple[str | int, ...]


def leaves(data: Any, path: Path = ()) -> Iterator[tuple[Path, bool]]:
    """Every string in the input, and every mapping key (``True``), with its path."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and not isinstance(value, dict | list) and path:
                yield (*path, key), True
            yield from leaves(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from leaves(value, (*path, index))
    elif isinstance(data, str):
        yield path, False


def shape(path: Path, free_keys: bool = False) -> str:
    text = ""
    for part in path:
        text += "[]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _matches(pattern: str, path: Path) -> bool:
    wanted = pattern.split(".")
    got = shape(path).split(".")
    return len(wanted) == len(got) and all(w in ("*", g) for w, g in zip(wanted, got, strict=True))


def free_text(path: Path, is_key: bool) -> frozenset[str]:
    table = FREE_KEYS if is_key else FREE_TEXT
    return next((forms for pattern, forms in table.items() if _matches(pattern, path)), frozenset())


def mutated(data: dict[str, Any], path: Path, is_key: bool, mutate: Any) -> tuple[dict[str, Any], Path]:
    out = copy.deepcopy(data)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    last = path[-1]
    if is_key:
        node[mutate(last)] = node.pop(last)
        return out, (*path[:-1], mutate(last))
    node[last] = mutate(node[last])
    return out, path


def _format(path: Path) -> str:
    from immutable_infra.errors import format_path

    return format_path(path)


CASES = [(model, base, path, is_key, name) for model, base in BASES for path, is_key in leaves(base)
         for name in MUTATIONS]


@pytest.mark.parametrize(("model", "base", "path", "is_key", "mutation"), CASES,
                         ids=[f"{m.__name__}:{_format(p)}{' (key)' if k else ''}:{n}" for m, _, p, k, n in CASES])
def test_every_string_field_refuses_the_mutation_or_is_free_text(model: type[BaseModel], base: dict[str, Any],
                                                                path: Path, is_key: bool, mutation: str) -> None:
    data, at = mutated(base, path, is_key, MUTATIONS[mutation])
    allowed = mutation in free_text(path, is_key)
    try:
        model.model_validate(data)
    except SpecError as error:
        assert not allowed, f"free text refused: {error}"
        where = _format(at)
        # The short form {NAME: reason} of env_not_secret is reported at its long form's path (.names).
        paths = [p.replace("env_not_secret.names", "env_not_secret") for p in error.paths]
        assert any(p == where or p.startswith((where + ".", where + "[")) for p in paths), (where, error.paths)
        assert_safe(error)
        return
    assert allowed, f"{mutation} at {_format(at)} was accepted"


def test_the_bases_are_valid() -> None:
    for model, base in BASES:
        model.model_validate(base)


def _string_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    if model in seen:
        return out
    seen.add(model)
    for name, field in model.model_fields.items():
        stack: list[Any] = [field.annotation]
        while stack:
            tp = stack.pop()
            origin = typing.get_origin(tp)
            if origin is typing.Literal:
                out |= {(model.__name__, name)} if any(isinstance(a, str) for a in typing.get_args(tp)) else set()
            elif origin is not None:
                stack.extend(typing.get_args(tp))
            elif isinstance(tp, type) and issubclass(tp, BaseModel):
                out |= _string_fields(tp, seen)
            elif tp in (str, SecretStr):
                out.add((model.__name__, name))
    return out


def _fed(model: type[BaseModel], data: Any, out: set[tuple[str, str]]) -> None:
    """The (model, field) pairs whose strings the base sets, walking the data beside the model."""
    for name, value in data.items():
        field = model.model_fields.get(name)
        if field is None:
            continue
        models = _models(field.annotation)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict) and models and not _is_free_mapping(field.annotation):
                for sub in models:
                    if set(item) <= set(sub.model_fields):
                        _fed(sub, item, out)
                        break
                else:  # a short form: {NAME: reason} for {names: {NAME: reason}}
                    out |= {(sub.__name__, "names") for sub in models if "names" in sub.model_fields}
            elif isinstance(item, dict) and models:  # {name: knobs} or {name: reason}
                for sub_value in item.values():
                    if isinstance(sub_value, dict):
                        _fed(models[0], sub_value, out)
                out.add((model.__name__, name))
            else:
                out.add((model.__name__, name))


def _models(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    stack = [annotation]
    while stack:
        tp = stack.pop()
        if typing.get_origin(tp) is not None:
            stack.extend(typing.get_args(tp))
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            found.append(tp)
    return found


def _is_free_mapping(annotation: Any) -> bool:
    stack = [annotation]
    while stack:
        tp = stack.pop()
        if typing.get_origin(tp) is dict:
            return True
        if typing.get_origin(tp) is not None:
            stack.extend(typing.get_args(tp))
    return False


def test_the_bases_reach_every_string_field() -> None:
    wanted: set[tuple[str, str]] = set()
    fed: set[tuple[str, str]] = set()
    for model in {m for m, _ in BASES}:
        wanted |= _string_fields(model, set())
    for model, base in BASES:
        _fed(model, base, fed)
    assert wanted - fed == set()
