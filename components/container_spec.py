"""``ContainerServiceSpec``: one service, one model, for Kubernetes and for Docker.

Everything that defines what runs (image digest, command, env, config files, secrets'
digests, resources, probes, security settings) is part of the release id. Replicas,
hostnames, who may connect and how many old releases are kept are not.

Every problem is reported at once: single-field rules raise at their field, cross-field
rules are ``@rule`` methods that add each problem at the field it blames (see
:class:`~immutable_infra.fields.Spec`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, field_validator

from . import rules
from .errors import Problem, SpecError, validate_spec
from .fields import (
    RETENTION,
    ROLLOUT,
    ROUTING,
    SCALE,
    AbsolutePath,
    AddedLater,
    Cidr,
    CpuQuantity,
    DnsLabel,
    EnvName,
    Flag,
    Hostname,
    HttpPath,
    Image,
    Int,
    MemoryQuantity,
    NoCredential,
    NoNul,
    Number,
    OptOut,
    Port,
    PortName,
    Problems,
    Spec,
    VersionLabel,
    cpu_millicores,
    invalid,
    memory_bytes,
    parse_image,
    pattern,
    rule,
)
from .inputs import ImageNotOutput, OutputAllowed, is_output, output_problems
from .release import release_id, secret_digest

# An env var whose name says it holds a secret belongs in `secrets` (mounted as a file).
_SECRET_ENV_NAME = rules.SECRET_NAME
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FILE_NAME = re.compile(r"[A-Za-z0-9][-._A-Za-z0-9]{0,252}")

PROTECTED_ENV_PREFIXES = ("KUBERNETES_", "IMMUTABLE_")
RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
MAX_CONFIG_BYTES = 1024 * 1024
"""A ConfigMap (and a Secret) holds at most 1 MiB."""

FileName = Annotated[str, pattern(_FILE_NAME.pattern, "a file name",
                                  "use letters, digits, '.', '_' and '-' (no '/'), starting with a letter or digit, "
                                  "e.g. 'app.toml'")]
def _not_reserved_namespace(value: str) -> str:
    if value in RESERVED_NAMESPACES:
        raise invalid(f"namespace {value!r} is reserved", "use a namespace of your own, e.g. 'apps'")
    return value


NamespaceName = Annotated[DnsLabel, AfterValidator(_not_reserved_namespace)]
"""A namespace of the user's own: a DNS label, never ``default`` or a ``kube-*`` namespace. The
one rule for the spec field, ``NamespaceSpec.name`` and the components' ``args['namespace']``."""

BREAK_GLASS_GROUP = pattern(r"[A-Za-z0-9][A-Za-z0-9:._@+=/-]*", "a group name",
                            "use letters, digits and ':._@+=/-', starting with a letter or digit, "
                            "e.g. 'immutable:break-glass' or 'oidc:sre@example.com'")
"""A Kubernetes group as it is written into a CEL string literal: nothing that needs escaping."""
Argument = Annotated[NoNul, NoCredential]
"""A command or argument: no NUL, no credential (arguments are visible in every process list)."""


class PortSpec(Spec):
    """A port the container listens on."""

    name: PortName = "http"
    """Port name (at most 15 characters); referenced by probes and monitoring. Default ``http``."""
    container_port: Port
    """Port inside the container (1-65535). No default."""
    protocol: Literal["TCP", "UDP"] = "TCP"
    """``TCP`` (default) or ``UDP``."""
    service_port: Port | None = None
    """Port on the Service; defaults to ``container_port``."""


class ConfigFile(Spec):
    """A config file delivered in an immutable ConfigMap named by its content hash."""

    name: FileName
    """File name inside ``config_dir`` (no slashes)."""
    content: Annotated[NoNul, NoCredential]
    """File content (plain text; put secrets in ``secrets``). Known credential formats are refused."""


class SecretFile(Spec):
    """A secret mounted as a file, never as an env var and never stored in clear.

    ``value`` is kept a Pulumi secret in state. The release id uses ``version`` when given
    (for values from a secret manager), else the SHA-256 of the value. ``value`` may be a
    ``pulumi.Output`` (``Config.require_secret``); ``version`` is then required.
    """

    name: FileName
    """File name inside ``secrets_dir``."""
    value: Annotated[SecretStr, OutputAllowed]
    """The secret value (masked in every error and log), or a secret ``pulumi.Output``."""
    version: VersionLabel | None = None
    """Optional version label; when set it stands for the value in the release id. Required
    when ``value`` is a ``pulumi.Output``. Up to 64 letters, digits and ``._+:/@=-``."""

    @rule
    def _output_needs_version(self, problems: Problems) -> None:
        if is_output(self.value) and not self.version:
            problems.add(("version",), None, "a secret given as a pulumi.Output needs `version`: its value is not "
                         "known when the release id is computed, so the version label stands for it",
                         "set version (for example the secret manager's version id, or 'v1' and bump it "
                         "whenever the secret changes)")

    def release_fingerprint(self) -> dict[str, str]:
        """What enters the release id: the version label, else the value's digest."""
        # An Output value always has a version (a rule), so without one the value is known here.
        digest = f"version:{self.version}" if self.version else secret_digest(self.value.get_secret_value())
        return {"name": self.name, "secret": digest}

    @classmethod
    def from_fingerprint(cls, fingerprint: Mapping[str, Any], value: str) -> dict[str, Any]:
        """The input of a recorded secret: its fingerprint (from a release record) and the value
        the secret store holds for it."""
        secret = str(fingerprint.get("secret", ""))
        version = secret.removeprefix("version:") if secret.startswith("version:") else None
        return {"name": fingerprint.get("name"), "value": value, "version": version}


class HttpGet(Spec):
    """An HTTP probe: ready when ``GET <path>`` on ``port`` answers 2xx/3xx."""

    path: HttpPath = "/"
    """Path to request. Default ``/``."""
    port: Port | PortName = "http"
    """A declared port, by name (default ``http``) or number."""


class Probe(Spec):
    """A health probe: exactly one of ``http_get``, ``tcp_port`` or ``exec_command``."""

    http_get: HttpGet | None = None
    """Probe with an HTTP GET."""
    tcp_port: Port | None = None
    """Probe by opening a TCP connection to this declared port."""
    exec_command: Annotated[list[Argument], Field(min_length=1)] | None = None
    """Probe by running this command in the container (exit code 0 is healthy)."""
    initial_delay_seconds: Annotated[Int, Field(ge=0, le=3600)] = 0
    """Seconds after start before the first probe. Default 0."""
    period_seconds: Annotated[Int, Field(ge=1, le=300)] = 10
    """Seconds between probes. Default 10."""
    timeout_seconds: Annotated[Int, Field(ge=1, le=120)] = 1
    """Seconds a probe may take. Default 1."""
    failure_threshold: Annotated[Int, Field(ge=1, le=100)] = 3
    """Failures in a row before the probe counts as failed. Default 3."""

    @rule
    def _one_handler(self, problems: Problems) -> None:
        set_ = [n for n in ("http_get", "tcp_port", "exec_command") if getattr(self, n)]
        if len(set_) != 1:
            problems.add(("http_get",), set_ or None,
                         f"a probe needs exactly one handler, got {len(set_)} ({', '.join(set_) or 'none'})",
                         "set one of http_get, tcp_port or exec_command")


class Probes(Spec):
    """Liveness and readiness are required (a release is only given traffic when ready)."""

    liveness: Probe
    """Restarts the container when it fails."""
    readiness: Probe
    """Gives the pod traffic only while it passes."""
    startup: Probe | None = None
    """Holds the other probes back until the container has started (slow starters)."""


class Resources(Spec):
    """Requests and limits are all required: no unbounded container. Kubernetes quantities
    (``500m``, ``0.5``, ``128Mi``, ``1.5Gi``, ``1e9``)."""

    cpu_request: CpuQuantity
    """CPU reserved for the container, e.g. ``100m``."""
    cpu_limit: CpuQuantity
    """CPU the container may use at most, e.g. ``500m``."""
    memory_request: MemoryQuantity
    """Memory reserved for the container, e.g. ``64Mi``."""
    memory_limit: MemoryQuantity
    """Memory at which the container is killed, e.g. ``128Mi``."""

    @rule
    def _requests_within_limits(self, problems: Problems) -> None:
        if cpu_millicores(self.cpu_request) > cpu_millicores(self.cpu_limit):
            problems.add(("cpu_request",), self.cpu_request,
                         f"`cpu_request` ({self.cpu_request}) must be <= `cpu_limit` ({self.cpu_limit})",
                         "lower cpu_request or raise cpu_limit")

    @rule
    def _memory_within_limit(self, problems: Problems) -> None:
        if memory_bytes(self.memory_request) > memory_bytes(self.memory_limit):
            problems.add(("memory_request",), self.memory_request,
                         f"`memory_request` ({self.memory_request}) must be <= `memory_limit` ({self.memory_limit})",
                         "lower memory_request or raise memory_limit")


class Peer(Spec):
    """Who may connect: exactly one of ``service``, ``namespace`` or ``ingress_controller``."""

    service: DnsLabel | None = None
    """Another service of the same namespace (by name)."""
    namespace: DnsLabel | None = None
    """Every pod of another namespace."""
    ingress_controller: Flag = False
    """The cluster's ingress controller (namespace ``ingress_namespace`` of the expose spec)."""

    @rule
    def _one_kind(self, problems: Problems) -> None:
        kinds = [k for k in ("service", "namespace") if getattr(self, k)] + (
            ["ingress_controller"] if self.ingress_controller else [])
        if len(kinds) != 1:
            problems.add(("service",), kinds or None, "a peer is exactly one of service, namespace or ingress_controller",
                         "split it into one entry per peer")


class Egress(Spec):
    """What the service may reach: a service, a namespace or a CIDR block, on some ports."""

    service: DnsLabel | None = None
    """A service of the same namespace (by name)."""
    namespace: DnsLabel | None = None
    """Every pod of another namespace."""
    cidr: Cidr | None = None
    """A network outside the cluster, e.g. ``10.0.0.0/16``."""
    ports: list[Port] = Field(default_factory=list)
    """Allowed destination ports; empty means every port."""

    @rule
    def _one_kind(self, problems: Problems) -> None:
        kinds = [k for k in ("service", "namespace", "cidr") if getattr(self, k)]
        if len(kinds) != 1:
            problems.add(("service",), kinds or None, "an egress rule is exactly one of service, namespace or cidr",
                         "split it into one entry per destination")

    @rule
    def _not_the_whole_internet(self, problems: Problems) -> None:
        if self.cidr in ("0.0.0.0/0", "::/0") and not self.ports:
            problems.add(("ports",), [], "egress to the whole internet on every port",
                         "list the ports the service needs (for example [443])")


class Network(Spec):
    """Default deny; these are the declared allowances (not part of the release)."""

    ingress_from: list[Peer] = Field(default_factory=list)
    """Who may connect to the service's ports. Default: nobody."""
    egress_to: list[Egress] = Field(default_factory=list)
    """Where the service may connect to. Default: nowhere (but DNS)."""
    allow_dns: Flag = True
    """Allow DNS lookups to the cluster DNS (UDP/TCP 53)."""


class Ingress(Spec):
    """An Ingress routing ``hostname`` + ``path`` to the service."""

    hostname: Annotated[Hostname, OutputAllowed]
    """Public host name, e.g. ``app.example.com``; may be a ``pulumi.Output`` (routing, not part of the release)."""
    path: HttpPath = "/"
    """Path prefix routed to the service. Default ``/``."""
    tls_secret: Annotated[DnsLabel, OutputAllowed] | None = None
    """Name of an existing TLS Secret (may be a ``pulumi.Output``); required unless
    ``security.opt_outs.plain_http_ingress``."""
    class_name: DnsLabel | None = None
    """IngressClass name; default: the cluster's default class."""


class NodePort(OptOut):
    """The Service as type NodePort: its first port answers on ``port`` of the nodes' addresses.

    An exposure, so it carries its reason (recorded on the Service as the ``exposed_service``
    opt-out the policy pack reads). Made for the project's local cluster, whose kube-proxy answers
    node ports on 127.0.0.1 only: the address that answers from this machine (Kubernetes only;
    the Docker component publishes on loopback through ``published_endpoint``)."""

    port: Annotated[int, Field(ge=30000, le=32767)]
    """The node port (Kubernetes' default range, 30000-32767)."""


class Expose(Spec):
    """How the service is reached. A ClusterIP Service always; an Ingress when set."""

    service: Flag = True
    """Create the ClusterIP Service. Default true."""
    ingress: Ingress | None = None
    """Route outside traffic through an Ingress. Default none."""
    node_port: NodePort | None = None
    """Make the Service a NodePort (with a reason). Default none: ClusterIP."""
    ingress_namespace: DnsLabel = "ingress-nginx"
    """Namespace of the ingress controller (allowed in by the network policy)."""


class VolumeClaimRef(Spec):
    """An existing PersistentVolumeClaim (state lives outside the immutable unit)."""

    claim_name: DnsLabel
    """Name of the PersistentVolumeClaim."""
    mount_path: AbsolutePath
    """Where it is mounted in the container."""
    read_only: Flag = False
    """Mount read-only. Default false."""


def _endpoint_url(value: str) -> str:
    if rules.url_userinfo(value):
        raise invalid("the URL carries credentials ('user:password@' before the host)",
                      "remove 'user:password@' from the URL, put the password in `secrets` (for example a file "
                      "'db-password') and let the application read it from `secrets_dir`")
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*://[^\s@/?#]+[^\s]*", value):
        raise invalid("not a URL", "write scheme://host[:port][/path], e.g. 'postgres://db.internal:5432/app'")
    return value


class ExternalEndpoint(Spec):
    """A stateful dependency outside the release, passed by reference as an env var."""

    name: Annotated[str, pattern(r"[A-Z][A-Z0-9_]*", "an upper-case environment variable name",
                                 "use upper-case letters, digits and '_', starting with a letter, e.g. 'DATABASE_URL'")]
    """Env var name that receives the URL, for example ``DATABASE_URL``."""
    url: Annotated[str, AfterValidator(_endpoint_url), NoCredential, OutputAllowed]
    """The endpoint; must not carry credentials (put them in ``secrets``). May be a
    ``pulumi.Output`` (another resource's endpoint): see ``version``."""
    version: VersionLabel | None = None
    """Required for an Output ``url``: stands for the value in the release id, so a new URL is a new
    release when (and only when) it comes with a new version. A version label: up to 64 letters,
    digits and ``._+:/@=-``."""

    @rule
    def _output_needs_version(self, problems: Problems) -> None:
        if is_output(self.url) and not self.version:
            problems.add(("version",), None, "an endpoint given as a pulumi.Output needs `version`: its value is not "
                         "known when the release id is computed, and without a version a new value would change "
                         "the running release in place",
                         "set version (for example the other stack's release id or 'v1', and bump it whenever the "
                         "endpoint changes)")

    def release_fingerprint(self) -> dict[str, str]:
        """A plain URL enters the release id as before; an Output by reference (and ``version``)."""
        if is_output(self.url):
            return {"name": self.name, "url": f"output:{self.version or ''}"}
        if self.version:
            return {"name": self.name, "url": self.url, "version": self.version}
        return {"name": self.name, "url": self.url}


class State(Spec):
    """State that outlives a release, referenced by name (never created by the release)."""

    volumes: list[VolumeClaimRef] = Field(default_factory=list)
    """Existing PersistentVolumeClaims to mount."""
    endpoints: list[ExternalEndpoint] = Field(default_factory=list)
    """External services (databases, queues) passed as env vars."""


class Monitoring(Spec):
    """Prometheus scraping of the service."""

    scrape: Flag = True
    """Mark the pods for scraping. Default true."""
    port: PortName | Port = "http"
    """A declared port, by name or number. Default ``http``."""
    path: HttpPath = "/metrics"
    """Path of the metrics endpoint. Default ``/metrics``."""


DEFAULT_ANALYSIS_QUERY = (
    'sum(increase(http_request_errors_total{namespace="$namespace",service="$service",release="$release"}[$window]))'
    ' / sum(increase(http_requests_total{namespace="$namespace",service="$service",release="$release"}[$window]))')
"""The error ratio of one release over the analysis window (the metrics docs/monitoring.md names)."""


class Analysis(Spec):
    """A cutover analysis (blue-green): after the new release is ready and before the Service moves,
    it is exercised through its own release-scoped Service and must pass a Prometheus query.
    Not part of the release: it decides whether a release gets the traffic, not what runs."""

    query: Annotated[NoNul, NoCredential] = DEFAULT_ANALYSIS_QUERY
    """PromQL giving one value; ``$service``, ``$release``, ``$namespace`` and ``$window`` (the
    duration, e.g. ``60s``) are filled in. Default: the release's error ratio
    (``http_request_errors_total`` / ``http_requests_total``)."""
    threshold: Number
    """The value the query is compared with (a finite number: NaN would fail every comparison,
    infinity pass every one). No default."""
    compare: Literal["below", "above"] = "below"
    """Pass when the value is ``below`` (default) or ``above`` the threshold."""
    duration_seconds: Annotated[Int, Field(ge=10, le=1800)] = 60
    """How long the analysis runs; the update waits this long at most. Default 60."""
    interval_seconds: Annotated[Int, Field(ge=1, le=300)] = 10
    """Seconds between two evaluations; the first failing one fails the analysis. Default 10."""
    requests: Annotated[Int, Field(ge=0, le=10_000)] = 100
    """Synthetic requests sent to the new release through its release-scoped Service (0: rely on
    traffic the user routes there). Default 100."""
    request_rate: Annotated[Number, Field(gt=0, le=100)] = 5.0
    """Synthetic requests per second. Default 5."""
    path: HttpPath = "/"
    """Path of the synthetic requests. Default ``/``."""

    @rule
    def _bounded(self, problems: Problems) -> None:
        if self.interval_seconds > self.duration_seconds:
            problems.add(("interval_seconds",), self.interval_seconds,
                         f"interval_seconds ({self.interval_seconds}) is longer than duration_seconds "
                         f"({self.duration_seconds})", "make the interval at most the duration")
        if self.requests and self.requests / self.request_rate > self.duration_seconds:
            problems.add(("requests",), self.requests,
                         f"{self.requests} requests at {self.request_rate:g}/s take "
                         f"{self.requests / self.request_rate:.0f}s, longer than duration_seconds "
                         f"({self.duration_seconds})", "send fewer requests, faster, or analyse longer")
        for name in ("$release",):
            if name not in self.query:
                problems.add(("query",), self.query, f"the query does not select the new release ({name})",
                             'filter on release="$release", or the analysis measures other releases')


OptOutName = Literal[
    "mutable_image_tag",
    "run_as_root",
    "writable_root_filesystem",
    "privilege_escalation",
    "service_account_token",
    "exec_lock",
    "network_policy",
    "plain_http_ingress",
    "env_not_secret",
]


def _names_form(value: Any) -> Any:
    """``{NAME: reason}`` is the short form of ``{names: {NAME: reason}}``."""
    if isinstance(value, Mapping) and not (set(value) == {"names"} and isinstance(value.get("names"), Mapping)):
        return {"names": dict(value)}
    return value


class EnvNotSecret(Spec):
    """Env names that look secret but are not: the secret-name heuristic's per-name escape.

    Written as ``{NAME: reason}``. Recorded like every opt-out (label
    ``immutable.dev/opt-out-env-not-secret`` and the reasons in its annotation) and the values
    are still checked for known credential formats.
    """

    names: Annotated[dict[EnvName, Annotated[str, AfterValidator(lambda v: _reason_text(v))]], Field(min_length=1)]
    """``{env name: why its value is not a secret}``."""

    @property
    def reason(self) -> str:
        """Every name with its reason, as one text (what is recorded on the resources)."""
        return "; ".join(f"{name}: {why}" for name, why in sorted(self.names.items()))


def _reason_text(value: str) -> str:
    problem = rules.opt_out_reason_problem(value)
    if problem:
        raise invalid(problem, rules.REASON_FIX)
    return value


class OptOuts(Spec):
    """Explicit exceptions to secure defaults, each with a reason (shown in the preview)."""

    mutable_image_tag: OptOut | None = None
    """Allow an image by tag instead of digest (the release then does not pin what runs)."""
    run_as_root: OptOut | None = None
    """Allow a UID or GID below 10000."""
    writable_root_filesystem: OptOut | None = None
    """Mount the root filesystem writable."""
    privilege_escalation: OptOut | None = None
    """Allow setuid binaries to gain privileges."""
    service_account_token: OptOut | None = None
    """Mount the service account token into the pods."""
    exec_lock: OptOut | None = None
    """Break glass: allow exec/attach/cp/ephemeral containers into this service's pods."""
    network_policy: OptOut | None = None
    """Leave the service without its default-deny network policy."""
    plain_http_ingress: OptOut | None = None
    """Serve the ingress without TLS."""
    env_not_secret: Annotated[EnvNotSecret | None, BeforeValidator(_names_form), AddedLater("0.2.0")] = None
    """``{NAME: reason}``: env names that look secret (``PASSWORD_POLICY_URL``) but hold no secret."""

    def names(self) -> list[str]:
        return sorted(n for n in type(self).model_fields if getattr(self, n) is not None)


class Security(Spec):
    """Pod security settings; every weaker setting needs an opt-out with a reason."""

    run_as_user: Annotated[Int, Field(ge=0, le=2**31 - 1)] = 10001
    """UID; must be >= 10000 unless ``opt_outs.run_as_root``."""
    run_as_group: Annotated[Int, Field(ge=0, le=2**31 - 1)] = 10001
    """GID; must be >= 10000 unless ``opt_outs.run_as_root``."""
    scratch_dirs: list[AbsolutePath] = Field(default_factory=lambda: ["/tmp"])
    """Writable emptyDir/tmpfs mounts (the root filesystem is read-only)."""
    break_glass_group: Annotated[str, Field(min_length=1, max_length=128), BREAK_GLASS_GROUP] = "immutable:break-glass"
    """Group allowed through the exec lock in an emergency (audited by the API server). Printable
    ASCII without quotes, backslashes or spaces (it is written into the lock's CEL expression)."""
    opt_outs: OptOuts = Field(default_factory=OptOuts)
    """Reviewed exceptions to the secure defaults."""


class ContainerServiceSpec(Spec):
    """A long-running containerised service, deployed as immutable releases."""

    name: DnsLabel
    """Service name; prefix of every resource name. No default."""
    image: Annotated[Image, ImageNotOutput]
    """Image by digest (``repo@sha256:...``). A tag alone needs ``opt_outs.mutable_image_tag``."""
    command: list[Argument] | None = None
    """Replaces the image's entrypoint. Default: the image's own."""
    args: list[Argument] | None = None
    """Replaces the image's arguments (cmd). Default: the image's own."""
    ports: list[PortSpec] = Field(default_factory=list)
    """Ports the container listens on."""
    env: dict[str, str] = Field(default_factory=dict)
    """Plain environment. Names that look secret are refused (use ``secrets``, or
    ``security.opt_outs.env_not_secret`` for a name that only looks secret); values holding a
    known credential format are refused."""
    release_env: Annotated[Flag, AddedLater("0.2.0")] = False
    """Tell each process which release it is: ``IMMUTABLE_RELEASE=<release id>`` in its
    environment. Part of the release, so turning it on makes a new release. Default false: a
    release deployed by an earlier library keeps its pod template (no pod rolls on upgrade)."""
    config_files: list[ConfigFile] = Field(default_factory=list)
    """Files mounted under ``config_dir`` from an immutable ConfigMap (1 MiB in all)."""
    config_dir: AbsolutePath = "/etc/app"
    """Where config files are mounted. Default ``/etc/app``."""
    secrets: list[SecretFile] = Field(default_factory=list)
    """Secret files mounted under ``secrets_dir`` (1 MiB in all)."""
    secrets_dir: AbsolutePath = "/var/run/secrets/app"
    """Where secret files are mounted. Default ``/var/run/secrets/app``."""
    resources: Resources
    """CPU and memory requests and limits. No default."""
    probes: Probes
    """Liveness and readiness (and optionally startup) probes. No default."""
    security: Security = Field(default_factory=Security)
    """Pod security settings and opt-outs."""
    state: State = Field(default_factory=State)
    """Volumes and external endpoints that outlive a release."""

    replicas: Annotated[Int, Field(ge=0, le=1000), SCALE] = 2
    """Scale knob (not part of the release). Default 2."""
    strategy: Annotated[Literal["rolling", "blue-green"], RETENTION] = "rolling"
    """``rolling`` (default): one Deployment updated in place. ``blue-green``: one Deployment per
    release, the Service moves once the new one is ready."""
    keep_previous: Annotated[Int, Field(ge=0, le=10), RETENTION] = 1
    """How many previous releases to keep (blue-green) for instant rollback. Default 1."""
    keep_mode: Annotated[Literal["warm", "scaled-to-zero"], RETENTION] = "scaled-to-zero"
    """Kept releases run at full size (``warm``) or at 0 replicas (``scaled-to-zero``, default)."""
    rollout_timeout_seconds: Annotated[Int, Field(ge=30, le=3600), ROLLOUT] = 600
    """How long a new release may take to become ready before the update fails (the old release
    keeps the traffic). Default 600 (the Kubernetes provider's own default)."""
    namespace: Annotated[NamespaceName, ROUTING] = "apps"
    """Never ``default``."""
    network: Annotated[Network, ROUTING] = Field(default_factory=Network)
    """Network policy allowances (default deny)."""
    expose: Annotated[Expose, ROUTING] = Field(default_factory=Expose)
    """Service and Ingress."""
    monitoring: Annotated[Monitoring, ROUTING] = Field(default_factory=Monitoring)
    """Prometheus scraping."""
    labels: Annotated[dict[str, str], ROUTING] = Field(default_factory=dict)
    """Extra Kubernetes labels on every resource (keys outside ``immutable.dev/``)."""
    analysis: Annotated[Analysis | None, ROLLOUT] = None
    """Opt-in cutover analysis (blue-green with a Service): the new release must pass it before
    the Service moves. Not part of the release. Default: none."""

    # --- single-field rules ----------------------------------------------------------

    @field_validator("env")
    @classmethod
    def _env_rules(cls, env: dict[str, str]) -> dict[str, str]:
        problems = Problems("env")
        for key, value in env.items():
            if not _ENV_NAME.fullmatch(key):
                problems.add((key,), key, f"env name {key!r} is not a valid variable name",
                             "use letters, digits and '_', not starting with a digit, e.g. 'LOG_LEVEL'")
            elif key.startswith(PROTECTED_ENV_PREFIXES):
                problems.add((key,), key, f"env {key!r} uses a reserved prefix",
                             f"rename it: {' and '.join(PROTECTED_ENV_PREFIXES)} are set by the platform")
            control = rules.control_characters(value)
            kind = rules.credential_kind(value)
            if control:
                problems.add((key,), value, f"the value contains {control}",
                             "remove the control character (it is usually a copy-paste accident)",
                             sensitive=rules.looks_like_secret_name(key))
            if kind:
                problems.add((key,), value, f"the value contains {kind}",
                             "move it to `secrets` (mounted as a file, kept secret in state) and rotate it",
                             sensitive=True)
        problems.raise_if_any()
        return env

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        problems = Problems("labels")
        for key, value in labels.items():
            key_problem = rules.label_key_problem(key)
            if key_problem:
                problems.add((key,), key, f"label key {key!r} is invalid: {key_problem}", rules.LABEL_KEY_FIX)
            elif key.startswith("immutable.dev/"):
                problems.add((key,), key, f"label key {key!r} is reserved",
                             "use a key outside the immutable.dev/ prefix (the component sets those)")
            value_problem = rules.label_value_problem(value)
            if value_problem:
                problems.add((key,), value, value_problem, rules.LABEL_VALUE_FIX)
        problems.raise_if_any()
        return labels

    # --- cross-field rules -------------------------------------------------------------

    @rule
    def _image_pinned(self, problems: Problems) -> None:
        if not parse_image(self.image).pinned and self.security.opt_outs.mutable_image_tag is None:
            problems.add(("image",), self.image, f"image {self.image!r} is not pinned by digest",
                         "use repo@sha256:<digest>, or set security.opt_outs.mutable_image_tag with a reason")

    @rule
    def _not_root(self, problems: Problems) -> None:
        opt = self.security.opt_outs
        for what, value in (("run_as_user", self.security.run_as_user), ("run_as_group", self.security.run_as_group)):
            if value < 10000 and opt.run_as_root is None:
                problems.add(("security", what), value, f"`security.{what}` ({value}) is below 10000",
                             f"use {'a UID' if what == 'run_as_user' else 'a GID'} >= 10000, "
                             "or set security.opt_outs.run_as_root with a reason")

    @rule
    def _secret_env_names(self, problems: Problems) -> None:
        allowed = self.security.opt_outs.env_not_secret
        exempt = allowed.names if allowed else {}
        for key in self.env:
            if rules.looks_like_secret_name(key) and key not in exempt:
                problems.add(("env", key), self.env[key], f"env {key!r} looks like a secret in plain env",
                             "move it to `secrets` (mounted as a file, kept secret in state); if it holds no "
                             f"secret, set security.opt_outs.env_not_secret.{key} with a reason", sensitive=True)
        for key in exempt:
            if key not in self.env:
                problems.add(("security", "opt_outs", "env_not_secret", key), key, f"env {key!r} is not set",
                             "remove the opt-out, or set the variable in `env`")

    @rule
    def _distinct_ports(self, problems: Problems) -> None:
        first: dict[tuple[str, Any], int] = {}
        reported: set[tuple[int, str]] = set()
        for i, port in enumerate(self.ports):
            keys = (("name", port.name), ("container_port", (port.container_port, port.protocol)),
                    ("service_port", (port.service_port or port.container_port, port.protocol)))
            for what, key in keys:
                other = first.setdefault((what, key), i)
                if other == i:
                    continue
                clash = self.ports[other]
                shown = key if what == "name" else f"{key[0]}/{key[1]}"
                field = "container_port" if what == "service_port" and port.service_port is None else what
                if (i, field) in reported:
                    continue  # a service port that defaults to a clashing container port: said once
                reported.add((i, field))
                problems.add(("ports", i, field), port.name if what == "name" else key[0],
                             f"{what.replace('_', ' ')} {shown} of ports[{i}] ({port.name}) is also used by "
                             f"ports[{other}] ({clash.name})",
                             f"give ports[{i}] its own {what.replace('_', ' ')}, or remove the duplicate entry")

    @rule
    def _probe_ports(self, problems: Problems) -> None:
        names = [p.name for p in self.ports]
        numbers = [p.container_port for p in self.ports]
        declared = ", ".join(f"{p.name} ({p.container_port})" for p in self.ports) or "none"
        for probe_name in ("liveness", "readiness", "startup"):
            probe = getattr(self.probes, probe_name)
            if probe is None:
                continue
            port = probe.http_get.port if probe.http_get else probe.tcp_port
            where = ("probes", probe_name, "http_get", "port") if probe.http_get else ("probes", probe_name, "tcp_port")
            if port is None or port in (names if isinstance(port, str) else numbers):
                continue
            problems.add(where, port, f"probes.{probe_name} uses port {port!r}, which is not declared in `ports`",
                         f"declare it in `ports`, or use a declared port: {declared}")

    @rule
    def _monitoring_port(self, problems: Problems) -> None:
        port = self.monitoring.port
        if not self.monitoring.scrape or not self.ports:
            return
        declared: list[str | int] = [p.name if isinstance(port, str) else p.container_port for p in self.ports]
        if port not in declared:
            problems.add(("monitoring", "port"), port, f"monitoring.port {port!r} is not declared in `ports`",
                         f"use one of {declared}")

    @rule
    def _distinct_files(self, problems: Problems) -> None:
        lists: tuple[tuple[str, list[str]], ...] = (("config_files", [f.name for f in self.config_files]),
                                                    ("secrets", [s.name for s in self.secrets]))
        for field, names in lists:
            seen: dict[str, int] = {}
            for i, name in enumerate(names):
                other = seen.setdefault(name, i)
                if other != i:
                    problems.add((field, i, "name"), name, f"{field}[{i}] has the same name as {field}[{other}]",
                                 "rename one of them")

    @rule
    def _sizes(self, problems: Problems) -> None:
        config = sum(len(f.name.encode()) + len(f.content.encode()) for f in self.config_files)
        if config > MAX_CONFIG_BYTES:
            problems.add(("config_files",), f"{config} bytes", f"config files total {config} bytes, a ConfigMap "
                         f"holds at most {MAX_CONFIG_BYTES} (1 MiB)", "bake large files into the image")
        # An Output value (require_secret) is not known yet: only what is known counts.
        secret = sum(len(s.name.encode()) + (0 if is_output(s.value) else len(s.value.get_secret_value().encode()))
                     for s in self.secrets)
        if secret > MAX_CONFIG_BYTES:
            problems.add(("secrets",), f"{secret} bytes", f"secrets total {secret} bytes, a Secret holds at most "
                         f"{MAX_CONFIG_BYTES} (1 MiB)", "split them across services or use a secret manager")

    @rule
    def _distinct_mounts(self, problems: Problems) -> None:
        mounts: list[tuple[tuple[str | int, ...], str]] = [
            (("config_dir",), self.config_dir), (("secrets_dir",), self.secrets_dir),
            *((("security", "scratch_dirs", i), d) for i, d in enumerate(self.security.scratch_dirs)),
            *((("state", "volumes", i, "mount_path"), v.mount_path) for i, v in enumerate(self.state.volumes)),
        ]
        seen: dict[str, str] = {}
        for loc, path in mounts:
            if path in seen:
                problems.add(loc, path, f"mount path {path} is also used by {seen[path]}",
                             "give each mount its own directory")
            seen.setdefault(path, ".".join(str(p) for p in loc))

    @rule
    def _endpoints_not_in_env(self, problems: Problems) -> None:
        for i, endpoint in enumerate(self.state.endpoints):
            if endpoint.name in self.env:
                problems.add(("state", "endpoints", i, "name"), endpoint.name,
                             f"state endpoint {endpoint.name} is also set in env", "set it in one place")

    @rule
    def _ingress(self, problems: Problems) -> None:
        ingress = self.expose.ingress
        if ingress and not ingress.tls_secret and self.security.opt_outs.plain_http_ingress is None:
            problems.add(("expose", "ingress", "tls_secret"), None, "ingress without TLS",
                         "set expose.ingress.tls_secret, or security.opt_outs.plain_http_ingress with a reason")
        if ingress and not self.ports:
            problems.add(("ports",), [], "an ingress needs a port", "declare the HTTP port in `ports`")
        if self.expose.node_port is not None and not (self.expose.service and self.ports):
            problems.add(("expose", "node_port"), self.expose.node_port.port, "a node port needs the Service and a port",
                         "keep expose.service true and declare the port in `ports`, or remove expose.node_port")

    @rule
    def _analysis_needs_a_cutover(self, problems: Problems) -> None:
        if self.analysis is None:
            return
        if self.strategy != "blue-green":
            problems.add(("analysis",), "set", f"a cutover analysis needs the blue-green strategy (got {self.strategy})",
                         "set strategy: blue-green, or remove analysis")
        if not (self.expose.service and self.ports):
            problems.add(("analysis",), "set", "a cutover analysis needs a Service (ports and expose.service)",
                         "declare a port, or remove analysis")
        if self.monitoring.scrape is False:
            problems.add(("analysis",), "set", "a cutover analysis reads the release's metrics, but "
                         "monitoring.scrape is false", "set monitoring.scrape: true, or remove analysis")

    @rule
    def _blue_green_replicas(self, problems: Problems) -> None:
        if self.replicas == 0 and self.strategy == "blue-green":
            problems.add(("replicas",), 0, "blue-green with 0 replicas never becomes ready",
                         "give at least 1 replica, or use the rolling strategy")

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
    previous, problems = _kept_releases(active, kept, field)
    if problems:
        raise SpecError(subject, problems)
    return previous


def _kept_releases(active: ContainerServiceSpec | None, kept: Sequence[ContainerServiceSpec | Mapping[str, Any]],
                   field: str, identity: tuple[Any, Any] | None = None) -> tuple[list[ContainerServiceSpec], list[Problem]]:
    """The kept releases and every problem of them (each validated even when ``active`` is not:
    ``identity`` is then the active spec's name and namespace where those validated)."""
    out: list[ContainerServiceSpec] = []
    problems: list[Problem] = []
    seen = {active.release} if active else set()
    name, namespace = (active.name, active.namespace) if active else (identity or (None, None))
    for index, item in enumerate(kept):
        try:
            spec = validate_spec(ContainerServiceSpec, item, subject=f"{field}[{index}]")
        except SpecError as exc:
            problems += exc.nested(f"{field}[{index}]")
            continue
        if (name is not None and spec.name != name) or (namespace is not None and spec.namespace != namespace):
            problems.append(Problem(f"{field}[{index}].name", repr(spec.name),
                                    "a kept release must be the same service in the same namespace",
                                    f"use name {name!r} and namespace {namespace!r}"))
            continue
        if active is None:
            continue
        if spec.release not in seen:
            seen.add(spec.release)
            out.append(spec)
    return out[: active.keep_previous] if active else [], problems


def validate_service_inputs(subject: str, spec: ContainerServiceSpec | Mapping[str, Any],
                            kept: Sequence[ContainerServiceSpec | Mapping[str, Any]], *,
                            field: str = "previous", problems: Sequence[Problem] = (),
                            ) -> tuple[ContainerServiceSpec, list[ContainerServiceSpec]]:
    """The active spec and its kept releases, or one :class:`SpecError` with every problem at once:
    ``problems`` already found (the args' own values), Outputs where none is accepted, the active
    spec's fields and rules, and each kept release's (at ``<field>[i].<path>``)."""
    found = list(problems)
    outputs = output_problems(spec)
    found += outputs
    at_outputs = {p.path for p in outputs}
    active: ContainerServiceSpec | None = None
    try:
        active = validate_spec(ContainerServiceSpec, spec, subject=subject)
    except SpecError as exc:  # an Output where none is accepted is reported once, with its own message
        found += [p for p in exc.problems if p.path not in at_outputs]
    identity = None
    if active is None and isinstance(spec, Mapping):
        partial = ContainerServiceSpec.partial(spec)
        identity = (getattr(partial, "name", None), getattr(partial, "namespace", None))
    previous, kept_problems = _kept_releases(active, kept, field, identity)
    found += kept_problems
    if found or active is None:
        raise SpecError(subject, found)
    return active, previous


def port_number(spec: ContainerServiceSpec, port: int | str) -> int:
    """A port given by number or by name (a probe's or the monitoring port), as the container
    port it names: what the kubelet does with a named port, and what Docker needs spelt out."""
    if isinstance(port, int):
        return port
    return next(p.container_port for p in spec.ports if p.name == port)
