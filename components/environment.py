"""What one environment (dev/test/prod) may change, and nothing else.

A topology is written once; ``EnvironmentConfig`` lists the knobs an environment may
turn (replicas, group sizes, hostnames, target, how many old releases to keep). Anything
else is identical by construction. Stack config errors name the ``Pulumi.<env>.yaml``
key they come from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from .errors import Problem, SpecError, problems_from_validation
from .fields import DnsLabel, Spec, invalid
from .ledger import WorkloadLedger
from .records import SecretStore

CONFIG_NAMESPACE = "immutable"
ENVIRONMENT_KEY = "environment"
LEDGER_KEY = "ledger"
SECRETS_KEY = "secrets"
"""``immutable:secrets``: versioned secret values (``<key>: {<version>: {secure: ...}}``), read by
:func:`load_secret_store`, never by :func:`load_stack_config` (no secret reaches a spec error)."""
KNOWN_KEYS = (ENVIRONMENT_KEY, LEDGER_KEY, SECRETS_KEY)

Target = Literal["render", "local-cluster", "kubernetes", "local-docker"]
"""``render``: manifests written to disk by the Kubernetes provider (no cluster);
``local-cluster``: the project's local control plane; ``kubernetes``: the cluster of the
current kubeconfig context (or ``kubeconfig``); ``local-docker``: the Docker engine."""

PRODUCTION_ENVIRONMENTS = frozenset({"prod", "production"})

_HOSTNAME = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$"


class ServiceKnobs(Spec):
    """Per-service knobs an environment may set."""

    replicas: Annotated[int, Field(ge=0, le=1000)] | None = None
    hostname: Annotated[str, Field(pattern=_HOSTNAME)] | None = None
    keep_previous: Annotated[int, Field(ge=0, le=10)] | None = None
    rollout_timeout_seconds: Annotated[int, Field(ge=30, le=3600)] | None = None


class ServerGroupKnobs(Spec):
    """Per-server-group knobs an environment may set (scale only)."""

    min_size: Annotated[int, Field(ge=0, le=1000)] | None = None
    max_size: Annotated[int, Field(ge=0, le=1000)] | None = None
    desired_capacity: Annotated[int, Field(ge=0, le=1000)] | None = None
    keep_previous: Annotated[int, Field(ge=0, le=10)] | None = None


class AwsTarget(Spec):
    """Where this environment's server groups go (ids that exist only in that account)."""

    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
    """AWS region, for example ``eu-west-1``."""
    vpc_id: Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")]
    subnet_ids: Annotated[list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]], Field(min_length=1)]
    """Private subnets of the instances."""
    load_balancer_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(default_factory=list)
    """Subnets of the load balancer (at least two AZs for an ALB)."""
    certificate_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:acm:")] | None = None
    """ACM certificate for the HTTPS listener."""


class EnvironmentConfig(Spec):
    """The ``immutable:environment`` object of a stack's config."""

    name: DnsLabel
    """Environment name; ``prod``/``production`` are production (stricter rules)."""
    target: Target = "render"
    kubeconfig: Annotated[str, Field(min_length=1)] | None = None
    """Path of the kubeconfig for ``kubernetes``/``local-cluster`` targets."""
    render_dir: Annotated[str, Field(min_length=1)] | None = None
    """Where ``render`` writes manifests; default ``build/manifests/<name>``."""
    services: dict[DnsLabel, ServiceKnobs] = Field(default_factory=dict)
    server_groups: dict[DnsLabel, ServerGroupKnobs] = Field(default_factory=dict)
    aws: AwsTarget | None = None
    """Deploy server groups to this AWS account/region; without it they are validated but not deployed."""
    allow_mutable_image_tags: bool = False
    """Development convenience; refused in production."""
    exec_break_glass: bool = False
    """Turns the exec lock off for every service; refused in production."""

    @property
    def production(self) -> bool:
        return self.name in PRODUCTION_ENVIRONMENTS

    @model_validator(mode="after")
    def _production_rules(self) -> EnvironmentConfig:
        if self.production:
            for knob in ("allow_mutable_image_tags", "exec_break_glass"):
                if getattr(self, knob):
                    raise invalid(f"`{knob}` may not be set in production",
                                  f"remove `{knob}` from the production stack", field=knob)
            if self.target in ("render", "local-cluster", "local-docker"):
                raise invalid(f"production cannot deploy to the local target {self.target!r}",
                              "set target: kubernetes", field="target")
        for name, group in self.server_groups.items():
            if group.min_size is not None and group.max_size is not None and group.min_size > group.max_size:
                raise invalid(f"server_groups.{name}: `min_size` ({group.min_size}) must be <= "
                              f"`max_size` ({group.max_size})", "lower min_size or raise max_size",
                              field=f"server_groups.{name}.min_size")
        return self


class StackConfig(Spec):
    environment: EnvironmentConfig
    ledger: dict[DnsLabel, WorkloadLedger] = Field(default_factory=dict)


def _yaml_path(stack: str, loc: tuple[str | int, ...]) -> str:
    """``("environment", "services", "web", "replicas")`` -> ``Pulumi.dev.yaml: immutable:environment.services.web.replicas``."""
    head, *rest = loc or ("<root>",)
    key = f"{CONFIG_NAMESPACE}:{head}"
    for part in rest:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return f"Pulumi.{stack}.yaml: {key}"


def load_stack_config(
    stack: str,
    raw: Mapping[str, Any],
    *,
    workloads: Mapping[str, Literal["service", "server_group"]] | None = None,
) -> StackConfig:
    """Validate a stack's ``immutable:*`` config (keys without the namespace).

    ``workloads`` (name -> kind) lets knobs and ledger entries for workloads that the
    topology does not have be reported as unknown keys. Raises :class:`SpecError`.
    """
    problems: list[Problem] = []
    for key in raw:
        if key not in KNOWN_KEYS:
            problems.append(Problem(_yaml_path(stack, (key,)), repr(key), "unknown config key",
                                    f"remove it; known keys are {', '.join(f'{CONFIG_NAMESPACE}:{k}' for k in KNOWN_KEYS)}"))
    data = {k: v for k, v in raw.items() if k in KNOWN_KEYS and k != SECRETS_KEY}
    if ENVIRONMENT_KEY not in data:
        data[ENVIRONMENT_KEY] = {"name": stack}
    parsed: StackConfig | None = None
    try:
        parsed = StackConfig.model_validate(data)
    except ValidationError as exc:
        problems += problems_from_validation(exc, model=StackConfig,
                                             path_formatter=lambda loc: _yaml_path(stack, loc))
    if parsed is not None:
        if parsed.environment.name != stack:
            problems.append(Problem(_yaml_path(stack, (ENVIRONMENT_KEY, "name")), repr(parsed.environment.name),
                                    f"does not match the stack name {stack!r}", f"set name: {stack}"))
        if workloads is not None:
            problems += _unknown_workloads(stack, parsed, workloads)
    if problems:
        raise SpecError(f"stack config of {stack!r}", problems)
    assert parsed is not None
    return parsed


def _unknown_workloads(stack: str, config: StackConfig,
                       workloads: Mapping[str, Literal["service", "server_group"]]) -> list[Problem]:
    problems = []
    sections: list[tuple[str, dict[str, Any], Literal["service", "server_group"]]] = [
        ("services", dict(config.environment.services), "service"),
        ("server_groups", dict(config.environment.server_groups), "server_group"),
    ]
    for section, knobs, kind in sections:
        known = sorted(n for n, k in workloads.items() if k == kind)
        for name in knobs:
            if workloads.get(name) != kind:
                problems.append(Problem(_yaml_path(stack, (ENVIRONMENT_KEY, section, name)), repr(name),
                                        f"the topology has no {kind.replace('_', ' ')} named {name!r}",
                                        f"use one of {known}"))
    for name in config.ledger:
        if name not in workloads:
            problems.append(Problem(_yaml_path(stack, (LEDGER_KEY, name)), repr(name),
                                    f"the topology has no workload named {name!r}",
                                    f"use one of {sorted(workloads)}"))
    return problems


def load_secret_store(stack: str, raw: Mapping[str, Any], legacy: Mapping[str, str] | None = None) -> SecretStore:
    """The stack's versioned secrets (``immutable:secrets``) as a :class:`SecretStore`.

    Shape errors name the key and never show a value."""
    value = raw.get(SECRETS_KEY) or {}
    problems: list[Problem] = []
    versions: dict[str, dict[str, str]] = {}
    if not isinstance(value, Mapping):
        problems.append(Problem(_yaml_path(stack, (SECRETS_KEY,)), "<hidden>", "not a mapping",
                                f"write {CONFIG_NAMESPACE}:{SECRETS_KEY}.<key>.<version> with pulumi config set --secret --path"))
        value = {}
    for key, by_version in value.items():
        if not isinstance(by_version, Mapping) or not by_version:
            problems.append(Problem(_yaml_path(stack, (SECRETS_KEY, str(key))), "<hidden>", "not a mapping of versions",
                                    f"pulumi config set --secret --path '{CONFIG_NAMESPACE}:{SECRETS_KEY}.{key}.v1' -s {stack}"))
            continue
        for version, secret in by_version.items():
            if not isinstance(secret, str) or not _VERSION.match(str(version)):
                problems.append(Problem(_yaml_path(stack, (SECRETS_KEY, str(key), str(version))), "<hidden>",
                                        "a version is a short label (v1, v2, ...) holding a secret string",
                                        f"pulumi config set --secret --path "
                                        f"'{CONFIG_NAMESPACE}:{SECRETS_KEY}.{key}.v1' -s {stack}"))
                continue
            versions.setdefault(str(key), {})[str(version)] = secret
    if problems:
        raise SpecError(f"stack config of {stack!r}", problems)
    return SecretStore(versions=versions, legacy=dict(legacy or {}))


_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
