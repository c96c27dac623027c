"""Pure builders for the Docker containers of a ContainerService release.

No Pulumi here: every function takes a validated spec and returns plain data (the keyword
arguments of ``docker.Container``, its labels, health check and mounts), so the hardened
run options are testable, and comparable with the Kubernetes pod template, without an
engine. Values that only exist once resources do (image id, network and volume names) are
passed in and placed as they are.
Docs behind the choices:
- Run-time security options: https://docs.docker.com/engine/containers/run/#security-configuration
- Health checks: https://docs.docker.com/reference/dockerfile/#healthcheck
- Internal bridge networks, published ports: https://docs.docker.com/engine/network/drivers/bridge/
- Copying into a container with a read-only root filesystem (refused unless the target is
  a writable volume): moby ``daemon/archive.go``, ``containerExtractToDir``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from .. import MANAGED_BY as MANAGED_BY
from ..container_spec import ContainerServiceSpec, Probe, port_number
from ..errors import Problem
from ..fields import cpu_millicores, memory_bytes
from ..inputs import is_output
from ..release import content_hash

# Same keys and values as the Kubernetes labels, so policies and people read both alike.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RELEASE = "immutable.dev/release"
RELEASE_ENV = "IMMUTABLE_RELEASE"
"""The release id in the container's environment, as on Kubernetes (IMMUTABLE_ is reserved)."""
LABEL_ROLE = "immutable.dev/role"
LABEL_PORTS = "immutable.dev/ports"
LABEL_CONTENT = "immutable.dev/content"
LABEL_OPT_OUT_PREFIX = "immutable.dev/opt-out-"
LABEL_OPT_OUT_REASON_PREFIX = "immutable.dev/opt-out-reason-"
# The route a release declares to the edge proxy (docker/edge.py reads these labels): the
# service's fixed port on 127.0.0.1, the container port behind it, and how many replicas
# make the release whole (the proxy moves the route only to a whole, healthy release).
LABEL_EDGE_PORT = "immutable.dev/edge-port"
LABEL_EDGE_TARGET = "immutable.dev/edge-target"
LABEL_REPLICAS = "immutable.dev/replicas"
PROBE_PATH = "/.immutable/probe"
"""Where the project's probe binary (docker/probe) is mounted, read-only, in each container."""

LOOPBACK = "127.0.0.1"
SCRATCH_TMPFS_OPTIONS = "rw,nosuid,nodev,size=64m"
"""Same size as the Kubernetes ``emptyDir`` scratch mounts (64Mi)."""
SEED_MOUNT = "/seed"
SEED_USER = "65534:65534"
"""The seed container is never started; it still names a non-root user."""
SEED_MEMORY_MB = 16
DOCKER_MIN_MEMORY_MB = 6
"""Docker's own floor for a container's memory limit and reservation (``linuxMinMemory``, 6 MiB):
below it the engine refuses the container at create time, after the update has started."""
SEED_CPUS = "0.1"
CONFIG_FILE_MODE = "0444"
SECRET_FILE_MODE = "0444"
"""Uploads are written as root:root; 0444 lets the service's non-root user read them.
(Kubernetes uses 0440 with ``fsGroup``; the upload API has no group to give.)"""
RESTART_POLICY = "unless-stopped"
STOP_GRACE_SECONDS = 30
"""Same as the Kubernetes default ``terminationGracePeriodSeconds``."""
MIN_WAIT_SECONDS = 60
CLUSTER_DOMAIN = "svc.cluster.local"

# Docker-only exceptions, recorded like the spec's opt-outs (label + reason + output).
UNFILTERED_EGRESS = "unfiltered_egress"
UNFILTERED_EGRESS_REASON = "Docker cannot filter egress by address or port: CIDR rules give unfiltered outbound access"
EXEC_BREAK_GLASS_REASON = "environment-wide break glass: Docker cannot refuse docker exec or docker cp"
SEED_OPT_OUT_REASON = "seed container: created, never started; Docker uploads need a writable root filesystem"

MIB = 2**20
Args = dict[str, Any]


# --- names -------------------------------------------------------------------------


def config_content(spec: ContainerServiceSpec) -> dict[str, str]:
    return {f.name: f.content for f in spec.config_files}


def config_key(spec: ContainerServiceSpec) -> str | None:
    """Content hash of the config files (``None`` without config files)."""
    return content_hash(config_content(spec)) if spec.config_files else None


def secret_key(spec: ContainerServiceSpec) -> str | None:
    """Hash of the secrets' fingerprints (version or value digest), never of the values."""
    if not spec.secrets:
        return None
    return content_hash([s.release_fingerprint() for s in spec.secrets])


def docker_name(scope: str, spec: ContainerServiceSpec, *parts: str | int) -> str:
    """Engine-wide Docker name: ``<scope>-<namespace>-<service>[-<part>...]``.

    Docker names are global on an engine, so the stack scope and the namespace that
    Kubernetes would give are part of them.
    """
    return "-".join([scope, spec.namespace, spec.name, *(str(p) for p in parts)])


def service_aliases(spec: ContainerServiceSpec) -> list[str]:
    """The names peers use on Kubernetes, so URLs in env work unchanged on Docker."""
    base = spec.name
    return [base, f"{base}.{spec.namespace}", f"{base}.{spec.namespace}.svc",
            f"{base}.{spec.namespace}.{CLUSTER_DOMAIN}"]


def endpoint(spec: ContainerServiceSpec) -> str:
    """How peers reach the service: its first port, by the Kubernetes-style name.

    Docker has no Service port mapping, so the port is the container port.
    """
    if not (spec.expose.service and spec.ports):
        return ""
    return f"http://{spec.name}.{spec.namespace}.{CLUSTER_DOMAIN}:{spec.ports[0].container_port}"


def published_endpoint(ports: Sequence[Mapping[str, Any]] | None) -> str:
    """``http://127.0.0.1:<port>`` from a container's ``ports`` output (the host port is
    picked by Docker); empty while it is not known."""
    for port in ports or []:
        external = port.get("external")
        if external:
            return f"http://{port.get('ip') or LOOPBACK}:{int(external)}"
    return ""


# --- what Docker can and cannot do with a spec ----------------------------------------


def published_ports_by_name(spec: ContainerServiceSpec, ports: Sequence[Any] | None) -> dict[str, int]:
    """Port name -> host port, from a container's ``ports`` output (ports Docker has not picked yet are left out)."""
    names = {p.container_port: p.name for p in spec.ports}
    out: dict[str, int] = {}
    for port in ports or []:
        get = port.get if isinstance(port, Mapping) else lambda key, port=port: getattr(port, key, None)
        internal, external = get("internal"), get("external")
        if external and internal in names:
            out[names[int(internal)]] = int(external)
    return out


def publishes(spec: ContainerServiceSpec) -> bool:
    """An Ingress that the ingress controller may reach becomes a loopback publication.

    Without the ``ingress_controller`` peer the Kubernetes NetworkPolicy would block the
    Ingress, so nothing is published either.
    """
    return (spec.expose.ingress is not None and bool(spec.ports)
            and any(p.ingress_controller for p in spec.network.ingress_from))


def wants_outbound(spec: ContainerServiceSpec) -> bool:
    return any(e.cidr for e in spec.network.egress_to)


def declared_service_peers(spec: ContainerServiceSpec) -> bool:
    return any(p.service for p in spec.network.ingress_from) or any(e.service for e in spec.network.egress_to)


def docker_problems(spec: ContainerServiceSpec, *, exec_break_glass: bool = False,
                    allow_unfiltered_egress: bool = False) -> list[Problem]:
    """What Docker cannot honour in this spec, each with the field, the value and a fix.

    Nothing here is dropped quietly: a part Docker cannot enforce is refused unless the
    caller accepts it by name (``exec_break_glass``, ``allow_unfiltered_egress``), and then
    it is recorded as an opt-out.
    """
    problems: list[Problem] = []
    network = spec.network
    for index, peer in enumerate(network.ingress_from):
        if peer.namespace:
            problems.append(Problem(
                f"network.ingress_from[{index}].namespace", repr(peer.namespace),
                "Docker has no namespaces: a whole-namespace peer cannot be told apart from other containers",
                "name the peer services one by one (network.ingress_from: [{service: <name>}])"))
    for index, dest in enumerate(network.egress_to):
        if dest.namespace:
            problems.append(Problem(
                f"network.egress_to[{index}].namespace", repr(dest.namespace),
                "Docker has no namespaces: a whole-namespace destination cannot be told apart",
                "name the destination services one by one (network.egress_to: [{service: <name>}])"))
        if dest.cidr and not allow_unfiltered_egress:
            problems.append(Problem(
                f"network.egress_to[{index}].cidr", repr(dest.cidr),
                "Docker cannot filter egress by address or port: the container would reach every address",
                "remove the rule, or pass allow_unfiltered_egress=True to DockerContainerService "
                f"(recorded as the opt-out {UNFILTERED_EGRESS})"))
    if not network.allow_dns:
        problems.append(Problem(
            "network.allow_dns", "False",
            "Docker's embedded DNS (127.0.0.11) cannot be turned off for one container",
            "set allow_dns: true (on Docker a container resolves only the peers it shares a network with), "
            "or deploy this service to Kubernetes"))
    if spec.security.opt_outs.network_policy is not None:
        problems.append(Problem(
            "security.opt_outs.network_policy", "set",
            "on Docker isolation is the network layout itself (one internal network per declared pair): "
            "there is no policy to opt out of",
            "remove the opt-out and declare the peers in network.ingress_from / network.egress_to"))
    if spec.strategy == "blue-green" and spec.keep_mode == "warm" and spec.keep_previous > 0:
        problems.append(Problem(
            "keep_mode", repr(spec.keep_mode),
            "Docker cannot keep a release running off-traffic and give it the traffic back without "
            "recreating its containers (network aliases are fixed when a container is created)",
            "use keep_mode: scaled-to-zero (a kept release keeps its pulled image and config volumes; "
            "a rollback starts containers from them in seconds)"))
    if spec.security.opt_outs.exec_lock is None and not exec_break_glass:
        problems.append(Problem(
            "security.opt_outs.exec_lock", "nothing",
            "Docker cannot refuse `docker exec` or `docker cp` into a running container "
            "(the engine has no admission control)",
            "set security.opt_outs.exec_lock with a reason, or pass exec_break_glass=True to "
            "DockerContainerService for a development environment"))
    for field in ("memory_request", "memory_limit"):
        quantity = getattr(spec.resources, field)
        if mebibytes(quantity) < DOCKER_MIN_MEMORY_MB:
            problems.append(Problem(
                f"resources.{field}", repr(quantity),
                f"Docker refuses a memory {'reservation' if field == 'memory_request' else 'limit'} under "
                f"{DOCKER_MIN_MEMORY_MB} MB when it creates the container",
                f"give at least '{DOCKER_MIN_MEMORY_MB}Mi'"))
    if any(p.service for p in network.ingress_from):
        for index, port in enumerate(spec.ports):
            if port.service_port not in (None, port.container_port):
                problems.append(Problem(
                    f"ports[{index}].service_port", repr(port.service_port),
                    "Docker has no Service port mapping: peers reach the container port "
                    f"({port.container_port}), not the service port",
                    "omit service_port (or set it to container_port) for a service that other services call"))
    return problems


def adaptations(spec: ContainerServiceSpec, *, linked: bool, unfiltered_egress: bool) -> dict[str, str]:
    """Where Docker honours a field in its own, different way (the ``adaptations`` output).

    ``linked``: the service shares at least one pair network with a peer.
    """
    out: dict[str, str] = {
        "probes.liveness": f"Docker does not restart an unhealthy container: the health check follows the "
                           f"readiness probe, and the restart policy ({RESTART_POLICY}) restarts the container "
                           "when its process exits",
        "strategy": "containers per release carry the service's network aliases from creation; the old "
                    "release's containers are removed only after the new ones are healthy, so both answer "
                    "during the overlap (Docker's DNS does not check health)",
    }
    if needs_probe_binary(spec):
        out["probes.readiness"] = (f"run by the project's static probe binary, mounted read-only at {PROBE_PATH} "
                                   "and run in exec form (the kubelet's HTTP/TCP rules; no shell needed in the image)")
    if publishes(spec):
        out["expose.ingress"] = (f"published on {LOOPBACK}: at the service's fixed port through the edge proxy "
                                 "(docker/edge.py) when edge_port is set, and per container at a port Docker picks "
                                 "(output published_endpoint); no hostname or path routing and no TLS; nothing off "
                                 "this machine can connect")
    if spec.expose.node_port is not None:
        out["expose.node_port"] = ("not applied: a container has no node port; an ingress is published on "
                                   f"{LOOPBACK} instead (output published_endpoint)")
    if linked or declared_service_peers(spec):
        out["network"] = ("who may talk is enforced by one internal network per declared pair; ports within a "
                          "pair are not filtered and either side may open connections")
    if unfiltered_egress and wants_outbound(spec):
        out["network.egress_to"] = (f"CIDR rules become unfiltered outbound access through a NAT bridge network "
                                    f"(opt-out {UNFILTERED_EGRESS})")
    if spec.state.volumes:
        out["state.volumes"] = ("claim_name names a Docker volume used by reference (Docker creates an empty "
                                "local volume if it does not exist); never deleted with a release")
    if spec.security.opt_outs.service_account_token is not None:
        out["security.opt_outs.service_account_token"] = "Docker mounts no service-account token: nothing to opt out of"
    return out


# --- labels -------------------------------------------------------------------------


def opt_out_labels(spec: ContainerServiceSpec, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``immutable.dev/opt-out-<name>=true`` plus the reason, both as labels (Docker label
    values can hold a sentence, so no annotations are needed). ``extra``: name -> reason of
    exceptions the caller accepted for this platform."""
    reasons = {name: getattr(spec.security.opt_outs, name).reason for name in spec.security.opt_outs.names()}
    reasons.update(extra or {})
    return _opt_out_pairs(reasons)


def _opt_out_pairs(reasons: Mapping[str, str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for name in sorted(reasons):
        labels[f"{LABEL_OPT_OUT_PREFIX}{name.replace('_', '-')}"] = "true"
        labels[f"{LABEL_OPT_OUT_REASON_PREFIX}{name}"] = reasons[name]
    return labels


def ports_label(spec: ContainerServiceSpec) -> str:
    """``http:8080/TCP,...``: Docker needs no port declaration on a user network; the label
    keeps the declared ports visible (``docker ps``, policies, the parity test)."""
    return ",".join(f"{p.name}:{p.container_port}/{p.protocol}" for p in spec.ports)


def edge_labels(spec: ContainerServiceSpec, edge_port: int | None) -> dict[str, str]:
    """The route the release declares to the edge proxy: fixed port -> first (published) port."""
    if edge_port is None or not publishes(spec):
        return {}
    return {LABEL_EDGE_PORT: str(edge_port), LABEL_EDGE_TARGET: str(spec.ports[0].container_port),
            LABEL_REPLICAS: str(spec.replicas)}


def container_labels(spec: ContainerServiceSpec, release: str, role: str,
                     extra_opt_outs: Mapping[str, str] | None = None, edge_port: int | None = None) -> dict[str, str]:
    labels = {**spec.labels, LABEL_NAME: spec.name, LABEL_MANAGED_BY: MANAGED_BY, LABEL_RELEASE: release,
              LABEL_ROLE: role, **opt_out_labels(spec, extra_opt_outs), **edge_labels(spec, edge_port)}
    if spec.ports:
        labels[LABEL_PORTS] = ports_label(spec)
    if spec.monitoring.scrape and spec.ports:
        labels.update({
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port_number(spec, spec.monitoring.port)),
            "prometheus.io/path": spec.monitoring.path,
        })
    return labels


def label_list(labels: Mapping[str, str]) -> list[Args]:
    """pulumi-docker's label shape: ``[{"label": k, "value": v}]``, sorted."""
    return [{"label": k, "value": v} for k, v in sorted(labels.items())]


# --- health check ------------------------------------------------------------------------


def needs_probe_binary(spec: ContainerServiceSpec) -> bool:
    """The readiness probe (the Docker health check) is HTTP or TCP: run by our probe binary."""
    return spec.probes.readiness.exec_command is None


def probe_test(spec: ContainerServiceSpec, probe: Probe) -> list[str]:
    """A Kubernetes probe as a Docker health-check command, in exec form (no shell).

    HTTP and TCP probes run the project's probe binary (docker/probe, mounted at
    ``PROBE_PATH``), which applies the kubelet's rules; arguments are passed as a list, so a
    spec path is data, never shell syntax.
    """
    if probe.exec_command is not None:
        return ["CMD", *probe.exec_command]
    timeout = str(probe.timeout_seconds)
    if probe.http_get is not None:
        return ["CMD", PROBE_PATH, "http", str(port_number(spec, probe.http_get.port)), probe.http_get.path, timeout]
    return ["CMD", PROBE_PATH, "tcp", str(probe.tcp_port), timeout]


def start_period_seconds(spec: ContainerServiceSpec) -> int:
    """Failures in this window do not count: the readiness delay plus the startup probe's budget."""
    seconds = spec.probes.readiness.initial_delay_seconds
    startup = spec.probes.startup
    if startup is not None:
        seconds += startup.initial_delay_seconds + startup.period_seconds * startup.failure_threshold
    return seconds


def healthcheck(spec: ContainerServiceSpec) -> Args:
    """The readiness probe as the container's health check (what ``wait`` gates on)."""
    readiness = spec.probes.readiness
    return {
        "tests": probe_test(spec, readiness),
        "interval": f"{readiness.period_seconds}s",
        "timeout": f"{readiness.timeout_seconds}s",
        "retries": readiness.failure_threshold,
        "start_period": f"{start_period_seconds(spec)}s",
    }


def wait_timeout(spec: ContainerServiceSpec) -> int:
    """How long Pulumi waits for a new container to be healthy before failing the update."""
    readiness = spec.probes.readiness
    budget = start_period_seconds(spec) + (readiness.period_seconds + readiness.timeout_seconds) * (
        readiness.failure_threshold + 1)
    return max(MIN_WAIT_SECONDS, budget)


# --- resources, env, mounts ------------------------------------------------------------


def mebibytes(quantity: str) -> int:
    """A Kubernetes memory quantity in whole MiB (pulumi-docker counts memory in MB of
    2**20 bytes), rounded up so a limit is never tighter than the spec's."""
    return math.ceil(memory_bytes(quantity) / MIB)


def cpus(quantity: str) -> str:
    """``"500m"`` -> ``"0.5"`` (Docker's ``--cpus``, a CFS quota like the Kubernetes limit)."""
    return f"{cpu_millicores(quantity) / 1000:g}"


def cpu_shares(quantity: str) -> int:
    """The CPU request as a relative weight, the kubelet's formula (milli * 1024 / 1000, min 2)."""
    return max(2, cpu_millicores(quantity) * 1024 // 1000)


def resources(spec: ContainerServiceSpec) -> Args:
    r = spec.resources
    memory = mebibytes(r.memory_limit)
    return {
        "memory": memory,
        # Swap equal to the limit means no swap, as on a kubelet.
        "memory_swap": memory,
        "memory_reservation": mebibytes(r.memory_request),
        "cpus": cpus(r.cpu_limit),
        "cpu_shares": cpu_shares(r.cpu_request),
    }


def env(spec: ContainerServiceSpec, release: str) -> list[Any]:
    """Plain env, state endpoints, then the release id (with ``release_env``), in the Kubernetes
    order; secrets are never env. An endpoint given as a ``pulumi.Output`` stays one
    (``NAME=<value>`` once it is known)."""
    pairs = [*sorted(spec.env.items()), *((e.name, e.url) for e in spec.state.endpoints)]
    if spec.release_env:  # opt-in, part of the release (as on Kubernetes)
        pairs.append((RELEASE_ENV, release))
    return [pulumi.Output.concat(k, "=", v) if is_output(v) else f"{k}={v}" for k, v in pairs]


def scratch_tmpfs(spec: ContainerServiceSpec) -> dict[str, str]:
    return dict.fromkeys(spec.security.scratch_dirs, SCRATCH_TMPFS_OPTIONS)


def mounts(spec: ContainerServiceSpec, *, config_volume: Any = None, secret_volume: Any = None,
           probe_binary: str | None = None) -> list[Args]:
    """Config and secrets read-only from their content-hashed volumes; state volumes by
    reference; the probe binary read-only. ``*_volume``: the Docker volume names (plain or
    ``Output``); ``probe_binary``: its path on the engine's host."""
    out: list[Args] = []
    if probe_binary is not None and needs_probe_binary(spec):
        out.append({"type": "bind", "source": probe_binary, "target": PROBE_PATH, "read_only": True})
    if config_volume is not None:
        out.append({"type": "volume", "source": config_volume, "target": spec.config_dir, "read_only": True})
    if secret_volume is not None:
        out.append({"type": "volume", "source": secret_volume, "target": spec.secrets_dir, "read_only": True})
    for claim in spec.state.volumes:
        out.append({"type": "volume", "source": claim.claim_name, "target": claim.mount_path,
                    "read_only": claim.read_only})
    return out


def published_ports(spec: ContainerServiceSpec) -> list[Args]:
    """The port the Ingress would route to (the first), on loopback only; the host port is
    left to Docker so replicas and overlapping releases never clash."""
    if not publishes(spec):
        return []
    port = spec.ports[0]
    return [{"internal": port.container_port, "ip": LOOPBACK, "protocol": port.protocol.lower()}]


# --- the containers ---------------------------------------------------------------------


def hardening(spec: ContainerServiceSpec) -> Args:
    """SECURITY.md, Docker part: non-root, read-only root, no-new-privileges, no
    capabilities, never privileged. Docker's default seccomp profile stays on (nothing
    here turns it off), the counterpart of ``RuntimeDefault``."""
    opt = spec.security.opt_outs
    return {
        "user": f"{spec.security.run_as_user}:{spec.security.run_as_group}",
        "read_only": opt.writable_root_filesystem is None,
        "security_opts": [] if opt.privilege_escalation is not None else ["no-new-privileges:true"],
        "capabilities": {"drops": ["ALL"]},
        "privileged": False,
    }


def container_args(
    spec: ContainerServiceSpec,
    release: str,
    *,
    name: str,
    image: Any,
    networks: Sequence[Mapping[str, Any]] = (),
    config_volume: Any = None,
    secret_volume: Any = None,
    extra_opt_outs: Mapping[str, str] | None = None,
    probe_binary: str | None = None,
    edge_port: int | None = None,
) -> Args:
    """Keyword arguments of the ``docker.Container`` of one replica of one release.

    ``networks``: ``networks_advanced`` entries (``{"name": ..., "aliases": [...]}``); a
    container with none gets ``network_mode: none`` (never the default bridge, where every
    container may talk to every other).
    """
    args: Args = {
        "name": name,
        "image": image,
        "envs": env(spec, release),
        "labels": label_list(container_labels(spec, release, "active", extra_opt_outs, edge_port)),
        "healthcheck": healthcheck(spec),
        # Pulumi holds the update (and so the removal of the old release) until healthy.
        "wait": True,
        "wait_timeout": wait_timeout(spec),
        "restart": RESTART_POLICY,
        "must_run": True,
        "stop_timeout": STOP_GRACE_SECONDS,
        "destroy_grace_seconds": STOP_GRACE_SECONDS,
        "tmpfs": scratch_tmpfs(spec),
        "mounts": mounts(spec, config_volume=config_volume, secret_volume=secret_volume, probe_binary=probe_binary),
        **hardening(spec),
        **resources(spec),
    }
    if spec.command is not None:
        args["entrypoints"] = list(spec.command)
    if spec.args is not None:
        args["command"] = list(spec.args)
    if networks:
        args["networks_advanced"] = [dict(n) for n in networks]
    else:
        args["network_mode"] = "none"
    if ports := published_ports(spec):
        args["ports"] = ports
    return args


def seed_args(
    spec: ContainerServiceSpec,
    release: str,
    *,
    name: str,
    image: Any,
    volume: Any,
    uploads: Sequence[Args],
    content: str,
) -> Args:
    """A container that is created and never started, only to upload files into a volume.

    Docker refuses uploads into a container with a read-only root filesystem unless the
    target is a writable volume, and pulumi-docker uploads at ``/``; so the service's own
    containers (read-only) mount the volume read-only, and this seed (writable root, no
    network, no process) receives the files once per content hash. It has no health check:
    it never runs, and a check that never runs would only pretend.
    """
    labels = {LABEL_NAME: spec.name, LABEL_MANAGED_BY: MANAGED_BY, LABEL_RELEASE: release,
              LABEL_ROLE: "seed", LABEL_CONTENT: content,
              **_opt_out_pairs({"writable_root_filesystem": SEED_OPT_OUT_REASON})}
    return {
        "name": name,
        "image": image,
        "start": False,
        # Never started: "not running" is its normal state, not drift to repair.
        "must_run": False,
        "network_mode": "none",
        "user": SEED_USER,
        "read_only": False,
        "security_opts": ["no-new-privileges:true"],
        "capabilities": {"drops": ["ALL"]},
        "privileged": False,
        # Constants, not the service's settings: a seed depends on its content only, so a
        # release with the same files but other resources or probes reuses it.
        "memory": SEED_MEMORY_MB,
        "cpus": SEED_CPUS,
        "labels": label_list(labels),
        "mounts": [{"type": "volume", "source": volume, "target": SEED_MOUNT, "read_only": False}],
        "uploads": list(uploads),
    }


def config_uploads(spec: ContainerServiceSpec) -> list[Args]:
    return [{"file": f"{SEED_MOUNT}/{f.name}", "content": f.content, "permissions": CONFIG_FILE_MODE}
            for f in spec.config_files]


def secret_uploads(spec: ContainerServiceSpec, secret: Any) -> list[Args]:
    """``secret(value)`` wraps each value (``pulumi.Output.secret`` in the component), so the
    values stay encrypted in state and masked in previews."""
    return [{"file": f"{SEED_MOUNT}/{s.name}", "content": secret(s.value if is_output(s.value) else s.value.get_secret_value()),
             "permissions": SECRET_FILE_MODE} for s in spec.secrets]


def volume_labels(spec: ContainerServiceSpec, role: str, content: str) -> list[Args]:
    return label_list({LABEL_NAME: spec.name, LABEL_MANAGED_BY: MANAGED_BY, LABEL_ROLE: role,
                       LABEL_CONTENT: content})


def edge_network_args(spec: ContainerServiceSpec, *, name: str, outbound: bool) -> Args:
    """The one non-internal network of a service that is published or may go out.

    Docker publishes no port from an internal network, so a published service needs a
    bridge network of its own. Inter-container traffic is off on it (only this service's
    containers join it anyway) and, unless outbound access was accepted, so is IP
    masquerading: it carries the loopback publication, not a way out.
    """
    options = {"com.docker.network.bridge.enable_icc": "false"}
    if not outbound:
        options["com.docker.network.bridge.enable_ip_masquerade"] = "false"
    return {
        "name": name,
        "driver": "bridge",
        "internal": False,
        "options": options,
        "labels": label_list({LABEL_NAME: spec.name, LABEL_MANAGED_BY: MANAGED_BY,
                              LABEL_ROLE: "edge-outbound" if outbound else "edge-loopback"}),
    }
