"""``StackNetwork``: the services of one namespace on Docker, apart unless declared.

Docker has no NetworkPolicy, and every container on a network can reach every other on
it. So the stack's network is not one Docker network but one *internal* network per
declared pair: ``<client>-to-<server>`` exists when the client lists the server in
``network.egress_to`` *and* the server lists the client in ``network.ingress_from`` (both
sides, as with the Kubernetes default deny plus the two NetworkPolicies). Only the two
services join it; on it the server answers to its Kubernetes names (``api``,
``api.apps.svc.cluster.local``...). Internal networks have no route out of the engine.
What this does not do: filter ports inside a pair, or stop the server from opening
connections to the client (Docker networks have no direction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pulumi
import pulumi_docker as docker

from .. import PACKAGE
from ..container_spec import ContainerServiceSpec
from ..errors import Problem, SpecError, validate_spec
from ..fields import pattern
from ..input_errors import raises_input_errors
from ..inputs import args_model, args_problems, unknown_args
from . import run_options as ro

TYPE_TOKEN = f"{PACKAGE}:docker:StackNetwork"


@dataclass(frozen=True, order=True)
class Link:
    """One allowed direction of traffic: ``client`` may connect to ``server``."""

    client: str
    server: str

    @property
    def key(self) -> str:
        return f"{self.client}-to-{self.server}"


def default_scope() -> str:
    """``<project>-<stack>``: Docker names are global on an engine, stacks share it."""
    return f"{pulumi.get_project()}-{pulumi.get_stack()}"


def links(specs: Sequence[ContainerServiceSpec]) -> tuple[list[Link], list[str]]:
    """The declared pairs, and the half-declared ones (one side only: no traffic, as on
    Kubernetes, but worth seeing)."""
    by_name = {s.name: s for s in specs}
    wants = {(s.name, e.service) for s in specs for e in s.network.egress_to if e.service}
    accepts = {(p.service, s.name) for s in specs for p in s.network.ingress_from if p.service}
    pairs = sorted(Link(c, s) for c, s in wants & accepts if c in by_name and s in by_name and c != s)
    half = [f"{c} -> {s}: {s} does not list {c} in network.ingress_from" for c, s in sorted(wants - accepts)]
    half += [f"{c} -> {s}: {c} does not list {s} in network.egress_to" for c, s in sorted(accepts - wants)]
    return pairs, half


def network_name(scope: str, namespace: str, link: Link) -> str:
    return f"{scope}-{namespace}-{link.key}"


@dataclass(frozen=True)
class Attachment:
    """A pair network a service joins; the server side carries the service's aliases."""

    link: Link
    network: docker.Network
    server: bool


SCOPE = pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", "a Docker name prefix",
                "use at most 63 letters, digits, '_', '.' and '-', starting with a letter or digit (no '/'), "
                "e.g. 'shop-dev'")
"""Docker's own name grammar (``[a-zA-Z0-9][a-zA-Z0-9_.-]``): the scope starts every network name."""
_ARGS = args_model("StackNetwork", {"scope": Annotated[str, SCOPE]})


class _StackNetworkArgsRequired(TypedDict):
    """The required part of ``StackNetworkArgs``: a base class, so that
    ``__required_keys__`` is right under postponed annotations."""

    services: Sequence[ContainerServiceSpec | Mapping[str, Any]]
    """The specs of every service of the namespace (active releases; network settings are not
    part of a release, so kept ones add nothing). Required."""


class StackNetworkArgs(_StackNetworkArgsRequired, total=False):
    """Arguments of ``StackNetwork``."""

    scope: str
    """Prefix of the Docker names. Default ``<project>-<stack>``."""


class _StackNetworkOutputs:
    """The outputs of ``StackNetwork`` (declared apart from it: see ``immutable_infra.outputs``)."""

    networks: pulumi.Output[dict[str, str]]
    """``<client>-to-<server>`` -> Docker network name, from the networks."""
    links: pulumi.Output[list[str]]
    """``client->server`` of every connected pair."""
    half_declared: pulumi.Output[list[str]]
    """Pairs declared on one side only (so not connected), explained."""


class StackNetwork(pulumi.ComponentResource, _StackNetworkOutputs):
    """One internal Docker network per declared pair of services of one namespace.

    :param name: Pulumi name (children are ``<name>-<client>-to-<server>``).
    :param services: the specs of every service of the namespace (active releases; network
        settings are not part of a release, so kept ones add nothing).
    :param scope: prefix of the Docker names; default ``<project>-<stack>``.

    Outputs: ``networks`` (link -> Docker network name), ``links`` (``client->server``),
    ``half_declared`` (pairs declared on one side only, so not connected).
    """

    TYPE_TOKEN = TYPE_TOKEN

    @raises_input_errors
    def __init__(
        self,
        name: str,
        args: StackNetworkArgs,
        *,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        subject = f"StackNetwork {name!r}"
        if not isinstance(args, Mapping) or "services" not in args:
            raise TypeError(f"{subject}: args must be the args object {{'services': [...], 'scope': ...}}; "
                            "0.2.0 no longer takes the list of specs itself")
        given: dict[str, Any] = dict(args)
        unknown_args(subject, given, lambda: list(StackNetworkArgs.__annotations__))
        scope = given.get("scope")
        # Validate everything before registering anything: nothing is half-deployed.
        specs = _validate_services(name, given["services"], args_problems(_ARGS, given))
        super().__init__(TYPE_TOKEN, name, None, opts)

        self.scope = scope or default_scope()
        self.namespace = specs[0].namespace if specs else ""
        self._declared = {s.name: s.network for s in specs}
        pairs, half = links(specs)
        child = pulumi.ResourceOptions(parent=self)
        self._networks: dict[Link, docker.Network] = {}
        for link in pairs:
            self._networks[link] = docker.Network(
                f"{name}-{link.key}",
                name=network_name(self.scope, self.namespace, link),
                driver="bridge",
                internal=True,
                labels=[docker.NetworkLabelArgs(**label) for label in ro.label_list({
                    ro.LABEL_MANAGED_BY: ro.MANAGED_BY, ro.LABEL_ROLE: "pair",
                    "immutable.dev/client": link.client, "immutable.dev/server": link.server})],
                opts=child,
            )

        self.networks = (pulumi.Output.all(**{link.key: net.name for link, net in self._networks.items()}).apply(
            lambda names: {str(k): str(v) for k, v in names.items()}) if self._networks
            else pulumi.Output.from_input({}))
        self.links = pulumi.Output.from_input([f"{link.client}->{link.server}" for link in pairs])
        self.half_declared = pulumi.Output.from_input(half)
        self.register_outputs({"networks": self.networks, "links": self.links, "half_declared": self.half_declared})

    def attachments(self, service: str) -> list[Attachment]:
        """The pair networks ``service`` joins, in a stable order."""
        return [Attachment(link, net, link.server == service)
                for link, net in sorted(self._networks.items()) if service in (link.client, link.server)]

    def problems_for(self, spec: ContainerServiceSpec) -> list[Problem]:
        """A service must be one this network was built from, with the same declarations."""
        known = sorted(self._declared)
        if spec.namespace != self.namespace or spec.name not in self._declared:
            return [Problem("network", repr(spec.name), f"the StackNetwork does not know this service "
                            f"(namespace {self.namespace!r}, services {known})",
                            "add its spec to the StackNetwork's services")]
        if self._declared[spec.name] != spec.network:
            return [Problem("network", repr(spec.name),
                            "the StackNetwork was built from other network declarations for this service",
                            "build the StackNetwork from the same specs that are deployed")]
        return []


def _validate_services(name: str, services: Sequence[ContainerServiceSpec | Mapping[str, Any]],
                       problems: list[Problem]) -> list[ContainerServiceSpec]:
    specs: list[ContainerServiceSpec] = []
    for index, item in enumerate(services):
        try:
            specs.append(validate_spec(ContainerServiceSpec, item, subject=f"services[{index}]"))
        except SpecError as exc:
            problems += [Problem(f"services[{index}].{p.path}", p.value, p.message, p.fix) for p in exc.problems]
    namespaces = sorted({s.namespace for s in specs})
    if len(namespaces) > 1:
        problems.append(Problem("services", repr(namespaces), "a StackNetwork joins the services of one namespace",
                                "make one StackNetwork per namespace"))
    names = [s.name for s in specs]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(Problem(f"services[{names.index(dup)}].name", repr(dup), "two services have this name",
                                "give every service its own name"))
    if problems:
        raise SpecError(f"StackNetwork {name!r}", problems)
    return specs
