"""``DockerContainerService``: the ContainerService spec on a developer's Docker engine.

The same spec as on Kubernetes, with the same release id. Each release owns its image
pull (``RemoteImage`` by digest) and its containers, named ``<service>-<release>-<n>``
both in Pulumi and in Docker: a new release is a new set of containers created beside the
old ones, each waited on until healthy, and the old release's containers are deleted at
the end of the update. Config files and secrets go to volumes named by their content
hash, filled once by a never-started seed container and mounted read-only. Isolation
comes from the ``StackNetwork`` (one internal network per declared pair). What Docker
cannot honour is refused (see ``run_options.docker_problems``) unless accepted by name,
and where Docker honours a field differently it is listed in the ``adaptations`` output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypedDict

import pulumi
import pulumi_docker as docker
from pydantic import Field

from .. import PACKAGE
from ..container_spec import ContainerServiceSpec, NamespaceName
from ..errors import Problem, SpecError
from ..fields import AbsolutePath, Flag, Int, LocalPath
from ..input_errors import raises_input_errors
from ..inputs import OutputAllowed, args_model, is_output
from ..outputs import ContainerReleaseOutputs
from ..release_inputs import container_service_inputs
from . import edge as ed
from . import run_options as ro
from .network import StackNetwork, default_scope

TYPE_TOKEN = f"{PACKAGE}:docker:ContainerService"

SpecInput = ContainerServiceSpec | Mapping[str, Any]


_ARGS = args_model("DockerContainerService", {
    "namespace": Annotated[NamespaceName, OutputAllowed],  # an Output is refused with its reason: _namespace_problems
    "exec_break_glass": Flag,
    "allow_unfiltered_egress": Flag,
    # A port an unprivileged listener may take on 127.0.0.1 (the edge proxy's fixed address).
    "edge_port": Annotated[Int, Field(ge=1024, le=65535)],
    "edge_state": LocalPath,
    "probe_binary": AbsolutePath,  # bind-mounted by the engine: only an absolute path means one file
})


class _DockerContainerServiceArgsRequired(TypedDict):
    """The required part of ``DockerContainerServiceArgs``: a base class, so that
    ``__required_keys__`` is right under postponed annotations."""

    spec: SpecInput
    """The active release's spec: a ``ContainerServiceSpec`` or a mapping of its fields. Required."""


class DockerContainerServiceArgs(_DockerContainerServiceArgsRequired, total=False):
    """Arguments of ``DockerContainerService`` (the Kubernetes ``ContainerServiceArgs`` plus Docker's own)."""

    previous: Sequence[SpecInput]
    """Specs of previous releases to keep for rollback, newest first; only the first
    ``spec.keep_previous`` are kept, as their pulled image and config volumes (no containers:
    Docker cannot move traffic to a running container without recreating it). Default: none."""
    namespace: str
    """Must equal ``spec.namespace`` when given (Docker has no namespaces: it only names the
    networks and aliases). A ``pulumi.Output`` is refused. Default: ``spec.namespace``."""
    exec_break_glass: bool
    """Accept that Docker cannot refuse ``docker exec`` (recorded as the opt-out ``exec_lock``);
    without it, or the spec's own opt-out, the spec is refused. Default ``False``."""
    network: StackNetwork
    """The ``StackNetwork`` built from the namespace's specs; may be left out only by a service
    that declares no service peers."""
    allow_unfiltered_egress: bool
    """Accept that CIDR egress rules become unfiltered outbound access (recorded as the opt-out
    ``unfiltered_egress``); without it they are refused. Default ``False``."""
    edge_port: int
    """The service's fixed port on 127.0.0.1, served by the project's edge proxy (docker/edge.py),
    which forwards to the healthy containers of the active release; only for a published service.
    The proxy must be running: the component checks before it registers anything. Not part of
    the release. Default: none (only the per-container ports Docker picks)."""
    edge_state: str
    """The edge proxy's state directory (its admin socket and route-sync heartbeat). Default:
    ``$IMMUTABLE_EDGE_STATE``, else ``.state/edge`` under the program's directory."""
    probe_binary: str
    """Absolute path, on the engine's host, of the project's probe binary (docker/probe), mounted
    read-only into each container to run HTTP and TCP probes in exec form. Required when the
    readiness probe is not ``exec_command``. Default: ``$IMMUTABLE_PROBE_BINARY``."""


class _DockerContainerServiceOutputs(ContainerReleaseOutputs):
    """The outputs of ``DockerContainerService`` (declared apart from it: see ``immutable_infra.outputs``)."""

    endpoint: pulumi.Output[str | None]
    """URL peers use (Kubernetes-style name, first port; ``None`` when not exposed); resolves
    once the first container exists."""
    opt_outs: pulumi.Output[list[str]]
    """Names of the secure defaults opted out of, sorted."""
    service_name: pulumi.Output[str | None]
    """The name peers resolve (``None`` when not exposed)."""
    namespace: pulumi.Output[str]
    """The spec's namespace (part of the Docker names and aliases)."""
    ports: pulumi.Output[dict[str, int]]
    """Port name -> port peers connect to (the container port: Docker maps no service port)."""
    published_endpoint: pulumi.Output[str | None]
    """``http://127.0.0.1:<host port>`` when published (an ingress), else ``None``."""
    published_ports: pulumi.Output[dict[str, int]]
    """Port name -> host port Docker picked on the loopback address (empty when not published)."""
    address: pulumi.Output[str | None]
    """``http://127.0.0.1:<edge_port>``: the fixed address through the edge proxy (``None`` without ``edge_port``)."""
    network_names: pulumi.Output[list[str]]
    """Docker networks the containers join, from the networks."""
    adaptations: pulumi.Output[dict[str, str]]
    """Where Docker honours a field differently, and how."""


class DockerContainerService(pulumi.ComponentResource, _DockerContainerServiceOutputs):
    """A service deployed as immutable releases on a Docker engine.

    ``DockerContainerService(name, args: DockerContainerServiceArgs, *, opts=None)``; children
    are ``<name>-<role>``.
    """

    TYPE_TOKEN = TYPE_TOKEN

    @raises_input_errors
    def __init__(
        self,
        name: str,
        args: DockerContainerServiceArgs,
        *,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        subject = f"DockerContainerService {name!r}"
        # Validate everything before registering anything (nothing is half-deployed), and report
        # every problem at once: the args' own values, the spec, the kept releases, Docker's limits.
        given: dict[str, Any] = dict(args) if isinstance(args, Mapping) else {}
        flags = {"exec_break_glass": given.get("exec_break_glass") is True,
                 "allow_unfiltered_egress": given.get("allow_unfiltered_egress") is True}
        try:
            given, active, previous = container_service_inputs(
                subject, args, lambda: list(DockerContainerServiceArgs.__annotations__), _ARGS)
        except SpecError as exc:
            reported = set(exc.paths)
            raise SpecError(subject, [*exc.problems, *(p for p in _partial_docker_problems(given["spec"], flags)
                                                       if p.path not in reported)]) from None
        network: StackNetwork | None = given.get("network")
        exec_break_glass, allow_unfiltered_egress = flags["exec_break_glass"], flags["allow_unfiltered_egress"]
        edge_port: int | None = given.get("edge_port")
        probe_binary = ed.probe_binary(given.get("probe_binary"))
        problems = ro.docker_problems(active, **flags)
        problems += _network_problems(active, network)
        problems += _namespace_problems(active, given.get("namespace"))
        problems += ed.probe_problems(active, probe_binary)
        problems += ed.edge_port_problems(active, edge_port)
        if not problems:  # the proxy is asked only about a spec that would deploy
            problems += ed.edge_problems(active, edge_port, ed.edge_state(given.get("edge_state")))
        if problems:
            raise SpecError(subject, problems)
        super().__init__(TYPE_TOKEN, name, None, opts)

        self._name = name
        self._scope = network.scope if network is not None else default_scope()
        releases = [active, *previous]
        ids = [r.release for r in releases]
        child = pulumi.ResourceOptions(parent=self)
        unfiltered = allow_unfiltered_egress and ro.wants_outbound(active)
        extra_opt_outs: dict[str, str] = {}
        if exec_break_glass and active.security.opt_outs.exec_lock is None:
            extra_opt_outs["exec_lock"] = ro.EXEC_BREAK_GLASS_REASON
        if unfiltered:
            extra_opt_outs[ro.UNFILTERED_EGRESS] = ro.UNFILTERED_EGRESS_REASON

        # Kept releases keep their pulled image (and config volumes, below): a rollback
        # creates containers from what is already on the engine.
        images = {
            spec.release: docker.RemoteImage(
                f"{name}-image-{spec.release}",
                name=spec.image,
                # The engine's image cache is shared with other stacks and containers:
                # forgetting a release must not delete an image something may still use.
                keep_locally=True,
                opts=child,
            )
            for spec in releases
        }
        volumes = self._content_volumes(releases, images, child)
        attachments = network.attachments(active.name) if network is not None else []
        networks: list[dict[str, Any]] = [
            {"name": a.network.name, "aliases": ro.service_aliases(active) if a.server and active.expose.service else []}
            for a in attachments
        ]
        if ro.publishes(active) or unfiltered:
            kind = "outbound" if unfiltered else "loopback"
            edge = docker.Network(
                f"{name}-edge-{kind}",
                **ro.edge_network_args(active, name=ro.docker_name(self._scope, active, "edge", kind),
                                       outbound=unfiltered),
                opts=child,
            )
            # First: the only non-internal network, so the one that carries the publication.
            networks.insert(0, {"name": edge.name, "aliases": []})

        containers = self._containers(active, images[ids[0]], volumes, networks, extra_opt_outs, child,
                                      probe_binary=probe_binary, edge_port=edge_port)

        opt_outs = sorted({*active.security.opt_outs.names(), *extra_opt_outs})
        self.release = pulumi.Output.from_input(ids[0])
        self.active_release = self.release
        self.kept_releases = pulumi.Output.from_input(ids[1:])
        self.images = pulumi.Output.from_input({r.release: r.image for r in releases})
        self.opt_outs = pulumi.Output.from_input(opt_outs)
        exposed = active.expose.service and bool(active.ports)
        # Composition outputs come from the children, so whatever uses them waits for them.
        first: pulumi.Output[Any] = containers[0].name if containers else pulumi.Output.from_input("")
        url = ro.endpoint(active) or None
        self.endpoint = first.apply(lambda _: url)
        self.service_name = first.apply(lambda _: active.name if exposed else None)
        self.namespace = pulumi.Output.from_input(active.namespace)
        self.ports = first.apply(lambda _: {p.name: p.container_port for p in active.ports} if exposed else {})
        publishes = bool(containers) and ro.publishes(active)
        self.published_endpoint = (containers[0].ports.apply(lambda ports: ro.published_endpoint(ports) or None)
                                   if publishes else pulumi.Output.from_input(None))
        self.published_ports = (containers[0].ports.apply(lambda ports: ro.published_ports_by_name(active, ports))
                                if publishes else pulumi.Output.from_input({}))
        address = f"http://{ro.LOOPBACK}:{edge_port}" if edge_port is not None and publishes else None
        self.address = first.apply(lambda _: address)
        self.network_names = pulumi.Output.all(*(n["name"] for n in networks)).apply(
            lambda names: [str(n) for n in names])
        self.adaptations = pulumi.Output.from_input(
            ro.adaptations(active, linked=bool(attachments), unfiltered_egress=unfiltered))
        self.register_outputs({
            "release": self.release,
            "active_release": self.active_release,
            "kept_releases": self.kept_releases,
            "images": self.images,
            "endpoint": self.endpoint,
            "opt_outs": self.opt_outs,
            "service_name": self.service_name,
            "namespace": self.namespace,
            "ports": self.ports,
            "published_endpoint": self.published_endpoint,
            "published_ports": self.published_ports,
            "address": self.address,
            "network_names": self.network_names,
            "adaptations": self.adaptations,
        })

    # --- children ------------------------------------------------------------------

    def _content_volumes(self, releases: Sequence[ContainerServiceSpec],
                         images: Mapping[str, docker.RemoteImage],
                         child: pulumi.ResourceOptions) -> dict[str, tuple[docker.Volume, docker.Container]]:
        """Config and secret volumes named by content hash, each filled once by its seed;
        shared by releases with the same content and deleted only when no kept release
        uses them any more (as the Kubernetes ConfigMaps/Secrets)."""
        out: dict[str, tuple[docker.Volume, docker.Container]] = {}
        for spec in releases:
            wanted: list[tuple[str, str | None, list[dict[str, Any]]]] = [
                ("config", ro.config_key(spec), ro.config_uploads(spec)),
                # Kept a Pulumi secret: encrypted in state, masked in previews and logs.
                ("secret", ro.secret_key(spec), ro.secret_uploads(spec, pulumi.Output.secret)),
            ]
            for role, key, uploads in wanted:
                if key is None or f"{role}-{key}" in out:
                    continue
                volume = docker.Volume(
                    f"{self._name}-{role}-{key}",
                    name=ro.docker_name(self._scope, spec, role, key),
                    labels=[docker.VolumeLabelArgs(**label) for label in ro.volume_labels(spec, role, key)],
                    opts=child,
                )
                seed = docker.Container(
                    f"{self._name}-{role}-{key}-seed",
                    **ro.seed_args(spec, spec.release, name=ro.docker_name(self._scope, spec, role, key, "seed"),
                                   image=images[spec.release].image_id, volume=volume.name, uploads=uploads,
                                   content=key),
                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                        # A seed belongs to its content, not to one release: it keeps the image and
                        # labels of the release that brought the content (it never runs), so a new
                        # release with the same content does not recreate it.
                        ignore_changes=["image", "labels"],
                    )),
                )
                out[f"{role}-{key}"] = (volume, seed)
        return out

    def _containers(self, spec: ContainerServiceSpec, image: docker.RemoteImage,
                    volumes: Mapping[str, tuple[docker.Volume, docker.Container]],
                    networks: Sequence[Mapping[str, Any]], extra_opt_outs: Mapping[str, str],
                    child: pulumi.ResourceOptions, *, probe_binary: str | None,
                    edge_port: int | None) -> list[docker.Container]:
        """``replicas`` containers of the active release. Rolling: one after another, each
        once the previous is healthy. Blue-green: all at once. Either way the old release's
        containers go at the end of the update, after every new one is healthy."""
        rid = spec.release
        config = volumes.get(f"config-{ro.config_key(spec)}")
        secret = volumes.get(f"secret-{ro.secret_key(spec)}")
        seeds: list[pulumi.Resource] = [v[1] for v in (config, secret) if v is not None]
        containers: list[docker.Container] = []
        for index in range(spec.replicas):
            previous: list[pulumi.Resource] = list(containers[-1:]) if spec.strategy == "rolling" else []
            containers.append(docker.Container(
                f"{self._name}-{rid}-{index}",
                **ro.container_args(
                    spec, rid, name=ro.docker_name(self._scope, spec, rid, index), image=image.image_id,
                    networks=networks, config_volume=config[0].name if config else None,
                    secret_volume=secret[0].name if secret else None, extra_opt_outs=extra_opt_outs,
                    probe_binary=probe_binary, edge_port=edge_port),
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                    # The files are in the volumes before the process starts.
                    depends_on=[*seeds, *previous],
                    # A change that is not a new release (networks, labels) keeps the Docker
                    # name, and Docker names are unique: the old container must go first.
                    delete_before_replace=True,
                )),
            ))
        return containers


def _partial_docker_problems(spec: Any, flags: Mapping[str, bool]) -> list[Problem]:
    """Docker's own checks on the fields of an invalid spec that did validate (best effort: a
    check that reads a failed field is left out, that field's own problem is reported)."""
    if isinstance(spec, ContainerServiceSpec):
        return ro.docker_problems(spec, **flags)
    if not isinstance(spec, Mapping):
        return []
    try:
        return ro.docker_problems(ContainerServiceSpec.partial(spec), **flags)
    except (AttributeError, TypeError, ValueError, KeyError):
        return []


def _namespace_problems(spec: ContainerServiceSpec, namespace: Any) -> list[Problem]:
    if namespace is None or namespace == spec.namespace:
        return []
    if is_output(namespace):
        return [Problem("namespace", "a pulumi.Output", "Docker names networks and aliases after the namespace when "
                        "the component registers, and Docker has no namespace object to wait for",
                        "pass the namespace as a string (or leave it to spec.namespace)")]
    return [Problem("namespace", repr(namespace), f"differs from spec.namespace ({spec.namespace!r})",
                    "give one namespace, in the spec")]


def _network_problems(spec: ContainerServiceSpec, network: StackNetwork | None) -> list[Problem]:
    if network is not None:
        return network.problems_for(spec)
    if ro.declared_service_peers(spec):
        return [Problem("network", "None", "the service declares service peers, and only a StackNetwork keeps "
                        "the other services away from it on Docker",
                        "pass network=StackNetwork(<name>, <every service spec of the namespace>)")]
    return []

