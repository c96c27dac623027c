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

from pydantic import Field, ValidationError

from . import rules
from .container_spec import NodePort
from .errors import Problem, SpecError, problems_from_validation
from .fields import DnsLabel, Flag, Hostname, Int, LocalPath, NoCredential, Problems, Spec, pattern, rule
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

_AMI = re.compile(r"ami-(?:[0-9a-f]{8}|[0-9a-f]{17})")
SubnetId = Annotated[str, pattern(r"subnet-[0-9a-f]{8,17}", "a subnet id",
                                  "write 'subnet-' followed by 8 or 17 lowercase hex digits, e.g. 'subnet-0123456789abcdef0'")]


class ServiceKnobs(Spec):
    """Per-service knobs an environment may set."""

    replicas: Annotated[Int, Field(ge=0, le=1000)] | None = None
    """Replicas in this environment; default the topology's."""
    hostname: Hostname | None = None
    """Ingress host name in this environment, e.g. ``app.dev.example.com``."""
    keep_previous: Annotated[Int, Field(ge=0, le=10)] | None = None
    """Previous releases kept for rollback; default the topology's."""
    rollout_timeout_seconds: Annotated[Int, Field(ge=30, le=3600)] | None = None
    """Seconds a new release may take to become ready; default the topology's."""
    node_port: NodePort | None = None
    """``{port, reason}``: the service's Service as a NodePort in this environment (the local
    cluster's address on 127.0.0.1); an exposure, so it carries its reason. Default: ClusterIP."""


class ServerGroupKnobs(Spec):
    """Per-server-group knobs an environment may set (scale only)."""

    min_size: Annotated[Int, Field(ge=0, le=1000)] | None = None
    """Smallest group size; default the topology's."""
    max_size: Annotated[Int, Field(ge=0, le=1000)] | None = None
    """Largest group size; default the topology's."""
    desired_capacity: Annotated[Int, Field(ge=0, le=1000)] | None = None
    """Instances to run, between ``min_size`` and ``max_size``; default the topology's."""
    keep_previous: Annotated[Int, Field(ge=0, le=10)] | None = None
    """Previous releases kept for rollback; default the topology's."""

    @rule
    def _bounds(self, problems: Problems) -> None:
        if self.min_size is not None and self.max_size is not None and self.min_size > self.max_size:
            problems.add(("min_size",), self.min_size, f"`min_size` ({self.min_size}) must be <= `max_size` ({self.max_size})",
                         "lower min_size or raise max_size")


class AwsTarget(Spec):
    """Where this environment's server groups go (ids that exist only in that account)."""

    region: Annotated[str, pattern(r"[a-z]{2}(-gov)?-[a-z]+-[0-9]", "an AWS region",
                                   "write a region code like 'eu-west-1' or 'us-gov-west-1'")]
    """AWS region, for example ``eu-west-1``."""
    vpc_id: Annotated[str, pattern(r"vpc-[0-9a-f]{8,17}", "a VPC id",
                                   "write 'vpc-' followed by 8 or 17 lowercase hex digits, e.g. 'vpc-0123456789abcdef0'")]
    """The VPC of the instances and the load balancer (``vpc-...``)."""
    subnet_ids: Annotated[list[SubnetId], Field(min_length=1)]
    """Private subnets of the instances."""
    load_balancer_subnet_ids: list[SubnetId] = Field(default_factory=list)
    """Subnets of the load balancer (at least two AZs for an ALB)."""
    certificate_arn: Annotated[str, pattern(
        r"arn:aws[a-z-]*:acm:.+", "an ACM certificate ARN",
        "copy the ARN from ACM: arn:aws:acm:<region>:<account>:certificate/<uuid>")] | None = None
    """ACM certificate for the HTTPS listener."""


class EnvironmentConfig(Spec):
    """The ``immutable:environment`` object of a stack's config."""

    name: DnsLabel
    """Environment name; ``prod``/``production`` are production (stricter rules)."""
    target: Target = "render"
    """Where services deploy: ``render`` (default), ``local-cluster``, ``kubernetes`` or ``local-docker``."""
    kubeconfig: LocalPath | None = None
    """Path of the kubeconfig for ``kubernetes``/``local-cluster`` targets."""
    prometheus_url: Annotated[str, NoCredential, pattern(r"https?://[^\s/@]+(/[^\s]*)?", "an http(s) URL without credentials",
                                           "e.g. http://prometheus.monitoring:9090; credentials go in "
                                           "$IMMUTABLE_PROMETHEUS_URL, never in stack config")] | None = None
    """The Prometheus with this environment's per-release metrics (``immutable-ops health``, the
    cutover analysis). Default: ``$IMMUTABLE_PROMETHEUS_URL``, else the local cluster's."""
    render_dir: LocalPath | None = None
    """Where ``render`` writes manifests; default ``build/manifests/<name>``."""
    services: dict[DnsLabel, ServiceKnobs] = Field(default_factory=dict)
    """Knobs per service of the topology, by name."""
    server_groups: dict[DnsLabel, ServerGroupKnobs] = Field(default_factory=dict)
    """Knobs per server group of the topology, by name."""
    aws: AwsTarget | None = None
    """Deploy server groups to this AWS account/region; without it they are validated but not deployed."""
    allow_mutable_image_tags: Flag = False
    """Development convenience; refused in production."""
    exec_break_glass: Flag = False
    """Turns the exec lock off for every service; refused in production."""

    @property
    def production(self) -> bool:
        return self.name in PRODUCTION_ENVIRONMENTS

    @rule
    def _production_rules(self, problems: Problems) -> None:
        if not self.production:
            return
        for knob in ("allow_mutable_image_tags", "exec_break_glass"):
            if getattr(self, knob):
                problems.add((knob,), True, f"`{knob}` may not be set in production",
                             f"remove `{knob}` from the production stack")
        if self.target in ("render", "local-cluster", "local-docker"):
            problems.add(("target",), self.target, f"production cannot deploy to the local target {self.target!r}",
                         "set target: kubernetes")


class StackConfig(Spec):
    """A stack's ``immutable:*`` config: the environment and the release ledger."""

    environment: EnvironmentConfig
    """``immutable:environment``."""
    ledger: dict[DnsLabel, WorkloadLedger] = Field(default_factory=dict)
    """``immutable:ledger``: per workload, the artifacts it ran and the active one."""

    @rule
    def _artifacts(self, problems: Problems) -> None:
        """Every artifact is an image by digest (a tag only with ``allow_mutable_image_tags``) or an AMI id."""
        environment = self.__dict__.get("environment")  # None when it failed: then only what is wrong anyway
        mutable_ok = environment.allow_mutable_image_tags if environment is not None else True
        for name, workload in self.ledger.items():
            for i, entry in enumerate(workload.releases):
                problem = artifact_problem(entry.artifact, allow_tag=mutable_ok)
                if problem:
                    problems.add(("ledger", name, "releases", i, "artifact"), entry.artifact, *problem)


ARTIFACT_FIX = ("write the image by digest (registry/repository@sha256:<64 hex digits>, as printed by the build) "
                "or the AMI id (ami-...)")


def artifact_problem(artifact: str, *, allow_tag: bool = False,
                     kind: Literal["service", "server_group"] | None = None) -> tuple[str, str] | None:
    """``(message, fix)`` when ``artifact`` is not what a ledger may hold (for a workload of ``kind``)."""
    if _AMI.fullmatch(artifact):
        if kind == "service":
            return "a service's artifact is an image, not an AMI id", ARTIFACT_FIX
        return None
    if kind == "server_group":
        return "a server group's artifact is an AMI id", "write the AMI id the image build printed, e.g. ami-0123456789abcdef0"
    try:
        image = rules.parse_image(artifact)
    except ValueError as exc:
        return f"neither an image nor an AMI id: {exc}", ARTIFACT_FIX
    if not image.pinned and not allow_tag:
        return ("the image is not pinned by digest, so the ledger would not say what ran",
                "write the image by digest (repository@sha256:...), as printed by the build")
    return None


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
    topology does not have be reported as unknown keys, and ledger artifacts of the wrong
    kind (an AMI for a service) at their own key. Every problem is reported at once, each at
    its ``Pulumi.<stack>.yaml`` key. Raises :class:`SpecError`.
    """
    problems: list[Problem] = []
    for key in raw:
        if key not in KNOWN_KEYS:
            problems.append(Problem(_yaml_path(stack, (key,)), repr(key), "unknown config key",
                                    f"remove it; known keys are {', '.join(f'{CONFIG_NAMESPACE}:{k}' for k in KNOWN_KEYS)}"))
    data = {k: v for k, v in raw.items() if k in KNOWN_KEYS and k != SECRETS_KEY}
    if ENVIRONMENT_KEY not in data:
        data[ENVIRONMENT_KEY] = {"name": stack}
    if workloads is not None:  # on the raw keys: reported even when other parts are invalid
        problems += _unknown_workloads(stack, data, workloads)
    parsed: StackConfig | None = None
    try:
        parsed = StackConfig.model_validate(data)
    except ValidationError as exc:  # not raised by a Spec, kept for safety
        problems += problems_from_validation(exc, model=StackConfig,
                                             path_formatter=lambda loc: _yaml_path(stack, loc))
    except SpecError as exc:
        problems += [Problem(_yaml_path(stack, p.loc), p.value, p.message, p.fix, p.loc) for p in exc.problems]
    if parsed is not None:
        if parsed.environment.name != stack:
            problems.append(Problem(_yaml_path(stack, (ENVIRONMENT_KEY, "name")), repr(parsed.environment.name),
                                    f"does not match the stack name {stack!r}", f"set name: {stack}"))
        if workloads is not None:
            problems += _artifact_kinds(stack, parsed, workloads)
    if problems:
        raise SpecError(f"stack config of {stack!r}", problems)
    assert parsed is not None
    return parsed


def _keys(value: Any) -> list[str]:
    return [str(k) for k in value] if isinstance(value, Mapping) else []


def _unknown_workloads(stack: str, data: Mapping[str, Any],
                       workloads: Mapping[str, Literal["service", "server_group"]]) -> list[Problem]:
    problems = []
    environment = data.get(ENVIRONMENT_KEY)
    environment = environment if isinstance(environment, Mapping) else {}
    sections: list[tuple[str, list[str], Literal["service", "server_group"]]] = [
        ("services", _keys(environment.get("services")), "service"),
        ("server_groups", _keys(environment.get("server_groups")), "server_group"),
    ]
    for section, knobs, kind in sections:
        known = sorted(n for n, k in workloads.items() if k == kind)
        for name in knobs:
            if workloads.get(name) != kind:
                problems.append(Problem(_yaml_path(stack, (ENVIRONMENT_KEY, section, name)), repr(name),
                                        f"the topology has no {kind.replace('_', ' ')} named {name!r}",
                                        f"use one of {known}", (ENVIRONMENT_KEY, section, name)))
    for name in _keys(data.get(LEDGER_KEY)):
        if name not in workloads:
            problems.append(Problem(_yaml_path(stack, (LEDGER_KEY, name)), repr(name),
                                    f"the topology has no workload named {name!r}",
                                    f"use one of {sorted(workloads)}", (LEDGER_KEY, name)))
    return problems


def _artifact_kinds(stack: str, config: StackConfig,
                    workloads: Mapping[str, Literal["service", "server_group"]]) -> list[Problem]:
    """An AMI in a service's ledger, an image in a server group's: at the artifact's own key."""
    problems = []
    for name, workload in config.ledger.items():
        workload_kind = workloads.get(name)
        for i, entry in enumerate(workload.releases):
            problem = artifact_problem(entry.artifact, allow_tag=config.environment.allow_mutable_image_tags,
                                       kind=workload_kind)
            if workload_kind is not None and problem:
                loc = (LEDGER_KEY, name, "releases", i, "artifact")
                problems.append(Problem(_yaml_path(stack, loc), repr(entry.artifact), *problem, loc))
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
            if not isinstance(secret, str) or not _VERSION.fullmatch(str(version)):
                problems.append(Problem(_yaml_path(stack, (SECRETS_KEY, str(key), str(version))), "<hidden>",
                                        "a version is a short label (v1, v2, ...) holding a secret string",
                                        f"pulumi config set --secret --path "
                                        f"'{CONFIG_NAMESPACE}:{SECRETS_KEY}.{key}.v1' -s {stack}"))
                continue
            versions.setdefault(str(key), {})[str(version)] = secret
    if problems:
        raise SpecError(f"stack config of {stack!r}", problems)
    return SecretStore(versions=versions, legacy=dict(legacy or {}))


_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
