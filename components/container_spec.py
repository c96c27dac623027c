"""``ContainerServiceSpec``: one service, one model, for Kubernetes and for Docker.

Everything that defines what runs (image digest, command, env, config files, secrets'
digests, resources, probes, security settings) is part of the release id. Replicas,
hostnames, who may connect and how many old releases are kept are not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from .errors import Problem, SpecError, validate_spec
from .fields import (
    RETENTION,
    ROLLOUT,
    ROUTING,
    SCALE,
    AbsolutePath,
    Cidr,
    CpuQuantity,
    DnsLabel,
    Image,
    MemoryQuantity,
    OptOut,
    Port,
    Spec,
    cpu_millicores,
    invalid,
    memory_bytes,
    parse_image,
)
from .inputs import ImageNotOutput, OutputAllowed, is_output
from .release import release_id, secret_digest

# An env var whose name says it holds a secret belongs in `secrets` (mounted as a file).
_SECRET_ENV_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][-._A-Za-z0-9]{0,252}$")
_LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")

PROTECTED_ENV_PREFIXES = ("KUBERNETES_", "IMMUTABLE_")
RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


class PortSpec(Spec):
    """A port the container listens on."""

    name: DnsLabel = "http"
    """Port name (DNS label); referenced by probes and monitoring. Default ``http``."""
    container_port: Port
    """Port inside the container (1-65535). No default."""
    protocol: Literal["TCP", "UDP"] = "TCP"
    service_port: Port | None = None
    """Port on the Service; defaults to ``container_port``."""


class ConfigFile(Spec):
    """A config file delivered in an immutable ConfigMap named by its content hash."""

    name: Annotated[str, Field(pattern=_FILE_NAME.pattern)]
    """File name inside ``config_dir`` (no slashes)."""
    content: str
    """File content (plain text; put secrets in ``secrets``)."""


class SecretFile(Spec):
    """A secret mounted as a file, never as an env var and never stored in clear.

    ``value`` is kept a Pulumi secret in state. The release id uses ``version`` when given
    (for values from a secret manager), else the SHA-256 of the value. ``value`` may be a
    ``pulumi.Output`` (``Config.require_secret``); ``version`` is then required.
    """

    name: Annotated[str, Field(pattern=_FILE_NAME.pattern)]
    """File name inside ``secrets_dir``."""
    value: Annotated[SecretStr, OutputAllowed]
    """The secret value (masked in every error and log), or a secret ``pulumi.Output``."""
    version: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """Optional version label; when set it stands for the value in the release id. Required
    when ``value`` is a ``pulumi.Output``."""

    @model_validator(mode="after")
    def _output_needs_version(self) -> SecretFile:
        if is_output(self.value) and not self.version:
            raise invalid("a secret given as a pulumi.Output needs `version`: its value is not known when the "
                          "release id is computed, so the version label stands for it",
                          "set version (for example the secret manager's version id, or 'v1' and bump it "
                          "whenever the secret changes)", field="version", sensitive=True)
        return self

    def release_fingerprint(self) -> dict[str, str]:
        """What enters the release id: the version label, else the value's digest."""
        digest = f"version:{self.version}" if self.version else secret_digest(self.value.get_secret_value())
        return {"name": self.name, "secret": digest}


class HttpGet(Spec):
    path: Annotated[str, Field(pattern=r"^/[^\s]*$")] = "/"
    port: Port | DnsLabel = "http"


class Probe(Spec):
    """A health probe: exactly one of ``http_get``, ``tcp_port`` or ``exec_command``."""

    http_get: HttpGet | None = None
    tcp_port: Port | None = None
    exec_command: list[str] | None = None
    initial_delay_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    period_seconds: Annotated[int, Field(ge=1, le=300)] = 10
    timeout_seconds: Annotated[int, Field(ge=1, le=120)] = 1
    failure_threshold: Annotated[int, Field(ge=1, le=100)] = 3

    @model_validator(mode="after")
    def _one_handler(self) -> Probe:
        set_ = [n for n in ("http_get", "tcp_port", "exec_command") if getattr(self, n)]
        if len(set_) != 1:
            raise invalid(
                f"a probe needs exactly one handler, got {len(set_)} ({', '.join(set_) or 'none'})",
                "set one of http_get, tcp_port or exec_command",
                field="http_get",
            )
        return self


class Probes(Spec):
    """Liveness and readiness are required (a release is only given traffic when ready)."""

    liveness: Probe
    readiness: Probe
    startup: Probe | None = None


class Resources(Spec):
    """Requests and limits are all required: no unbounded container."""

    cpu_request: CpuQuantity
    cpu_limit: CpuQuantity
    memory_request: MemoryQuantity
    memory_limit: MemoryQuantity

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        if cpu_millicores(self.cpu_request) > cpu_millicores(self.cpu_limit):
            raise invalid(
                f"`cpu_request` ({self.cpu_request}) must be <= `cpu_limit` ({self.cpu_limit})",
                "lower cpu_request or raise cpu_limit", field="cpu_request",
            )
        if memory_bytes(self.memory_request) > memory_bytes(self.memory_limit):
            raise invalid(
                f"`memory_request` ({self.memory_request}) must be <= `memory_limit` ({self.memory_limit})",
                "lower memory_request or raise memory_limit", field="memory_request",
            )
        return self


class Peer(Spec):
    """Who may connect: exactly one of ``service``, ``namespace`` or ``ingress_controller``."""

    service: DnsLabel | None = None
    """Another service of the same namespace (by name)."""
    namespace: DnsLabel | None = None
    """Every pod of another namespace."""
    ingress_controller: bool = False
    """The cluster's ingress controller (namespace ``ingress_namespace`` of the expose spec)."""

    @model_validator(mode="after")
    def _one_kind(self) -> Peer:
        kinds = [k for k in ("service", "namespace") if getattr(self, k)] + (
            ["ingress_controller"] if self.ingress_controller else [])
        if len(kinds) != 1:
            raise invalid("a peer is exactly one of service, namespace or ingress_controller",
                          "split it into one entry per peer", field="service")
        return self


class Egress(Spec):
    """What the service may reach: a service, a namespace or a CIDR block, on some ports."""

    service: DnsLabel | None = None
    namespace: DnsLabel | None = None
    cidr: Cidr | None = None
    ports: list[Port] = Field(default_factory=list)
    """Allowed destination ports; empty means every port."""

    @model_validator(mode="after")
    def _one_kind(self) -> Egress:
        kinds = [k for k in ("service", "namespace", "cidr") if getattr(self, k)]
        if len(kinds) != 1:
            raise invalid("an egress rule is exactly one of service, namespace or cidr",
                          "split it into one entry per destination", field="service")
        if self.cidr in ("0.0.0.0/0", "::/0") and not self.ports:
            raise invalid("egress to the whole internet on every port",
                          "list the ports the service needs (for example [443])", field="ports")
        return self


class Network(Spec):
    """Default deny; these are the declared allowances (not part of the release)."""

    ingress_from: list[Peer] = Field(default_factory=list)
    egress_to: list[Egress] = Field(default_factory=list)
    allow_dns: bool = True
    """Allow DNS lookups to the cluster DNS (UDP/TCP 53)."""


class Ingress(Spec):
    hostname: Annotated[str, Field(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$"), OutputAllowed]
    """Host name; may be a ``pulumi.Output`` (routing, not part of the release)."""
    path: Annotated[str, Field(pattern=r"^/[^\s]*$")] = "/"
    tls_secret: Annotated[DnsLabel, OutputAllowed] | None = None
    """Name of an existing TLS Secret (may be a ``pulumi.Output``); required unless
    ``security.opt_outs.plain_http_ingress``."""
    class_name: DnsLabel | None = None


class Expose(Spec):
    """How the service is reached. A ClusterIP Service always; an Ingress when set."""

    service: bool = True
    ingress: Ingress | None = None
    ingress_namespace: DnsLabel = "ingress-nginx"


class VolumeClaimRef(Spec):
    """An existing PersistentVolumeClaim (state lives outside the immutable unit)."""

    claim_name: DnsLabel
    mount_path: AbsolutePath
    read_only: bool = False


class ExternalEndpoint(Spec):
    """A stateful dependency outside the release, passed by reference as an env var."""

    name: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
    """Env var name that receives the URL, for example ``DATABASE_URL``."""
    url: Annotated[str, Field(pattern=r"^[a-z][a-z0-9+.-]*://[^\s@]+$"), OutputAllowed]
    """The endpoint; must not carry credentials (put them in ``secrets``). May be a
    ``pulumi.Output`` (another resource's endpoint): see ``version``."""
    version: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """For an Output ``url``: stands for the value in the release id (bump it to make a new URL
    a new release). Without it the release records only that the variable is wired."""

    def release_fingerprint(self) -> dict[str, str]:
        """A plain URL enters the release id as before; an Output by reference (and ``version``)."""
        if is_output(self.url):
            return {"name": self.name, "url": f"output:{self.version or ''}"}
        if self.version:
            return {"name": self.name, "url": self.url, "version": self.version}
        return {"name": self.name, "url": self.url}


class State(Spec):
    volumes: list[VolumeClaimRef] = Field(default_factory=list)
    endpoints: list[ExternalEndpoint] = Field(default_factory=list)


class Monitoring(Spec):
    scrape: bool = True
    port: DnsLabel | Port = "http"
    path: Annotated[str, Field(pattern=r"^/[^\s]*$")] = "/metrics"


OptOutName = Literal[
    "mutable_image_tag",
    "run_as_root",
    "writable_root_filesystem",
    "privilege_escalation",
    "service_account_token",
    "exec_lock",
    "network_policy",
    "plain_http_ingress",
]


class OptOuts(Spec):
    """Explicit exceptions to secure defaults, each with a reason (shown in the preview)."""

    mutable_image_tag: OptOut | None = None
    run_as_root: OptOut | None = None
    writable_root_filesystem: OptOut | None = None
    privilege_escalation: OptOut | None = None
    service_account_token: OptOut | None = None
    exec_lock: OptOut | None = None
    """Break glass: allow exec/attach/cp/ephemeral containers into this service's pods."""
    network_policy: OptOut | None = None
    plain_http_ingress: OptOut | None = None

    def names(self) -> list[str]:
        return sorted(n for n in type(self).model_fields if getattr(self, n) is not None)


class Security(Spec):
    run_as_user: Annotated[int, Field(ge=0, le=2**31 - 1)] = 10001
    """UID; must be >= 10000 unless ``opt_outs.run_as_root``."""
    run_as_group: Annotated[int, Field(ge=0, le=2**31 - 1)] = 10001
    scratch_dirs: list[AbsolutePath] = Field(default_factory=lambda: ["/tmp"])
    """Writable emptyDir/tmpfs mounts (the root filesystem is read-only)."""
    break_glass_group: Annotated[str, Field(min_length=1, max_length=128)] = "immutable:break-glass"
    """Group allowed through the exec lock in an emergency (audited by the API server)."""
    opt_outs: OptOuts = Field(default_factory=OptOuts)


class ContainerServiceSpec(Spec):
    """A long-running containerised service, deployed as immutable releases."""

    name: DnsLabel
    """Service name; prefix of every resource name. No default."""
    image: Annotated[Image, ImageNotOutput]
    """Image by digest (``repo@sha256:...``). A tag alone needs ``opt_outs.mutable_image_tag``."""
    command: list[str] | None = None
    args: list[str] | None = None
    ports: list[PortSpec] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    """Plain environment. Names that look secret are refused: use ``secrets``."""
    config_files: list[ConfigFile] = Field(default_factory=list)
    config_dir: AbsolutePath = "/etc/app"
    secrets: list[SecretFile] = Field(default_factory=list)
    secrets_dir: AbsolutePath = "/var/run/secrets/app"
    resources: Resources
    probes: Probes
    security: Security = Field(default_factory=Security)
    state: State = Field(default_factory=State)

    replicas: Annotated[int, Field(ge=0, le=1000), SCALE] = 2
    """Scale knob (not part of the release). Default 2."""
    strategy: Annotated[Literal["rolling", "blue-green"], RETENTION] = "rolling"
    keep_previous: Annotated[int, Field(ge=0, le=10), RETENTION] = 1
    """How many previous releases to keep (blue-green) for instant rollback. Default 1."""
    keep_mode: Annotated[Literal["warm", "scaled-to-zero"], RETENTION] = "scaled-to-zero"
    rollout_timeout_seconds: Annotated[int, Field(ge=30, le=3600), ROLLOUT] = 600
    """How long a new release may take to become ready before the update fails (the old release
    keeps the traffic). Default 600 (the Kubernetes provider's own default)."""
    namespace: Annotated[DnsLabel, ROUTING] = "apps"
    """Never ``default``."""
    network: Annotated[Network, ROUTING] = Field(default_factory=Network)
    expose: Annotated[Expose, ROUTING] = Field(default_factory=Expose)
    monitoring: Annotated[Monitoring, ROUTING] = Field(default_factory=Monitoring)
    labels: Annotated[dict[str, str], ROUTING] = Field(default_factory=dict)

    # --- single-field rules ----------------------------------------------------------

    @field_validator("namespace")
    @classmethod
    def _not_default_namespace(cls, value: str) -> str:
        if value in RESERVED_NAMESPACES:
            raise invalid(f"namespace {value!r} is reserved", "use a namespace of your own, e.g. 'apps'")
        return value

    @field_validator("env")
    @classmethod
    def _env_rules(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not _ENV_NAME.match(key):
                raise invalid(f"env name {key!r} is not a valid variable name",
                              "use letters, digits and '_', not starting with a digit")
            if _SECRET_ENV_NAME.search(key):
                raise invalid(f"env {key!r} looks like a secret in plain env",
                              "move it to `secrets` (mounted as a file, kept secret in state)",
                              sensitive=True)
            if key.startswith(PROTECTED_ENV_PREFIXES):
                raise invalid(f"env {key!r} uses a reserved prefix", "rename it")
        return env

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not _LABEL_KEY.match(key) or key.startswith("immutable.dev/"):
                raise invalid(f"label key {key!r} is invalid or reserved",
                              "use a Kubernetes label key outside the immutable.dev/ prefix")
        return labels

    # --- cross-field rules -------------------------------------------------------------

    @model_validator(mode="after")
    def _cross_field(self) -> ContainerServiceSpec:
        opt = self.security.opt_outs
        if not parse_image(self.image).pinned and opt.mutable_image_tag is None:
            raise invalid(
                f"image {self.image!r} is not pinned by digest",
                "use repo@sha256:<digest>, or set security.opt_outs.mutable_image_tag with a reason",
                field="image",
            )
        if self.security.run_as_user < 10000 and opt.run_as_root is None:
            raise invalid(f"`security.run_as_user` ({self.security.run_as_user}) is below 10000",
                          "use a UID >= 10000, or set security.opt_outs.run_as_root with a reason",
                          field="security.run_as_user")
        if self.security.run_as_group < 10000 and opt.run_as_root is None:
            raise invalid(f"`security.run_as_group` ({self.security.run_as_group}) is below 10000",
                          "use a GID >= 10000, or set security.opt_outs.run_as_root with a reason",
                          field="security.run_as_group")
        names = [p.name for p in self.ports]
        if len(set(names)) != len(names):
            raise invalid(f"port names clash: {names}", "give every port a different name", field="ports")
        numbers = [(p.container_port, p.protocol) for p in self.ports]
        if len(set(numbers)) != len(numbers):
            raise invalid("two ports use the same container_port and protocol", "remove the duplicate", field="ports")
        service_ports = [(p.service_port or p.container_port, p.protocol) for p in self.ports]
        if len(set(service_ports)) != len(service_ports):
            raise invalid("two ports use the same service_port", "give each a different service_port", field="ports")
        for probe_name in ("liveness", "readiness", "startup"):
            probe = getattr(self.probes, probe_name)
            if probe and probe.http_get and isinstance(probe.http_get.port, str) \
                    and probe.http_get.port not in names:
                raise invalid(f"probes.{probe_name} uses port {probe.http_get.port!r} which is not declared",
                              f"declare it in `ports` or use one of {names or 'a port number'}",
                              field=f"probes.{probe_name}.http_get.port")
        monitored = self.monitoring.port
        if self.monitoring.scrape and self.ports and isinstance(monitored, str) and monitored not in names:
            raise invalid(f"monitoring.port {monitored!r} is not declared", f"use one of {names}", field="monitoring.port")
        files = [f.name for f in self.config_files]
        if len(set(files)) != len(files):
            raise invalid("two config files have the same name", "rename one", field="config_files")
        secret_names = [s.name for s in self.secrets]
        if len(set(secret_names)) != len(secret_names):
            raise invalid("two secrets have the same name", "rename one", field="secrets")
        mounts = [self.config_dir, self.secrets_dir, *self.security.scratch_dirs,
                  *(v.mount_path for v in self.state.volumes)]
        if len(set(mounts)) != len(mounts):
            raise invalid(f"two mounts share a path: {mounts}", "give each mount its own directory", field="state.volumes")
        for endpoint in self.state.endpoints:
            if endpoint.name in self.env:
                raise invalid(f"state endpoint {endpoint.name} is also set in env", "set it in one place",
                              field="state.endpoints")
        if self.expose.ingress and not self.expose.ingress.tls_secret and opt.plain_http_ingress is None:
            raise invalid("ingress without TLS",
                          "set expose.ingress.tls_secret, or security.opt_outs.plain_http_ingress with a reason",
                          field="expose.ingress.tls_secret")
        if self.expose.ingress and not self.ports:
            raise invalid("an ingress needs a port", "declare the HTTP port in `ports`", field="ports")
        if self.replicas == 0 and self.strategy == "blue-green":
            raise invalid("blue-green with 0 replicas never becomes ready",
                          "give at least 1 replica, or use the rolling strategy", field="replicas")
        return self

    # --- derived --------------------------------------------------------------------

    @cached_property
    def release(self) -> str:
        """The release id: content hash of the release-defining fields (computed once; the model is frozen)."""
        return release_id(self)

    def with_image(self, image: str) -> ContainerServiceSpec:
        """The same service running another artifact (for the ledger); revalidated."""
        return type(self).model_validate({**self.model_dump(mode="python"), "image": image})


def validate_kept_releases(subject: str, active: ContainerServiceSpec,
                           kept: Sequence[ContainerServiceSpec | Mapping[str, Any]],
                           field: str = "kept") -> list[ContainerServiceSpec]:
    """Kept releases (newest first) must be the same service in the same namespace.

    Duplicates of the active release are dropped and at most ``active.keep_previous`` are
    returned; every invalid one is reported at ``<field>[<index>].<field>``.
    """
    out: list[ContainerServiceSpec] = []
    problems: list[Problem] = []
    seen = {active.release}
    for index, item in enumerate(kept):
        try:
            spec = validate_spec(ContainerServiceSpec, item, subject=f"{field}[{index}]")
        except SpecError as exc:
            problems += exc.nested(f"{field}[{index}]")
            continue
        if spec.name != active.name or spec.namespace != active.namespace:
            problems.append(Problem(f"{field}[{index}].name", repr(spec.name),
                                    "a kept release must be the same service in the same namespace",
                                    f"use name {active.name!r} and namespace {active.namespace!r}"))
            continue
        if spec.release not in seen:
            seen.add(spec.release)
            out.append(spec)
    if problems:
        raise SpecError(subject, problems)
    return out[: active.keep_previous]
