"""The components the provider serves, each as a thin adapter over the public class.

Everything here is read from the public components and their pydantic models: argument docs
from the ``:param:`` lines, output types from the class annotations, output docs from the
class docstring, field types and docs from the models. The ``build`` functions are the only
place that knows the constructors' signatures (one adapter per component).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, cast

import pulumi

from ..aws.server_group import ServerGroup, ServerGroupArgs
from ..aws.server_group_spec import ServerGroupSpec
from ..container_spec import ContainerServiceSpec
from ..docker.container_service import DockerContainerService, DockerContainerServiceArgs
from ..docker.network import StackNetwork, StackNetworkArgs
from ..errors import Problem, SpecError
from ..kubernetes.container_service import ContainerService, ContainerServiceArgs
from ..kubernetes.namespace import NamespaceSpec, ServiceNamespace, ServiceNamespaceArgs
from ..outputs import declared_outputs
from ..source_docs import attribute_docs
from .facades import Arg, FacadeSpec, Output, output_docs, param_docs

NAME = "immutable"
"""The provider's package name: YAML tokens are ``immutable:index:<Component>``."""

KEPT_IMAGES_DOC = ("Previous artifacts to keep for rollback, newest first: each is the active spec with that image "
                   "(what the ledger gives in Python: `spec.with_image(artifact)`). Use `kept` instead for kept "
                   "releases that differ in more than the image.")


def _outputs(component: type) -> list[Output]:
    # The docstring under each declaration; the component's own docstring may say more.
    docs = {**attribute_docs(component), **output_docs(component)}
    return [Output(name, type_text, docs.get(name, "")) for name, type_text in declared_outputs(component).items()]


def _params(component: type, *args_classes: type) -> dict[str, str]:
    """Argument docs: the args TypedDicts' attribute docstrings (a TypedDict keeps no bases in
    its MRO, so each part is read), then any ``:param`` line of the class."""
    docs: dict[str, str] = {}
    for klass in args_classes:
        docs.update({name: " ".join(doc.split()) for name, doc in attribute_docs(klass).items()})
    return {**docs, **param_docs(component, component.__init__)}  # type: ignore[misc]


def _args_parts(args: type) -> tuple[type, ...]:
    """A TypedDict and the TypedDicts it was built from (its required part)."""
    bases = [b for b in getattr(args, "__orig_bases__", ()) if isinstance(b, type) and b is not dict]
    return (*bases, args)


def _model_args(model: type[Any]) -> list[Arg]:
    """The fields of a model as top-level arguments (for components whose args are one spec)."""
    docs = attribute_docs(model)
    return [Arg(name, Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation,
                docs.get(name, ""), info.is_required())
            for name, info in model.model_fields.items()]


def _kept(args: Mapping[str, Any]) -> tuple[list[Any], bool]:
    """``kept`` as given, or the active spec with each of ``kept_images`` (newest first)."""
    images = list(args.get("kept_images") or [])
    if images and args.get("kept"):
        raise SpecError("arguments", [Problem("kept_images", repr(images), "given together with `kept`",
                                              "use one of kept or kept_images")])
    spec = args.get("spec")
    if images and isinstance(spec, Mapping):
        return [{**spec, "image": image} for image in images], True
    return list(args.get("kept") or []), False


def _kept_images_paths(exc: SpecError) -> SpecError:
    """Report problems of kept releases made from ``kept_images`` at the image the user gave."""
    problems = []
    for p in exc.problems:
        for head in ("kept[", "previous[", "spec.previous["):
            if p.path.startswith(head):
                index = p.path[len(head):].split("]", 1)[0]
                p = Problem(f"kept_images[{index}]" + ("" if p.path.endswith("].image") else f" ({p.path})"),
                            p.value, p.message, p.fix)
                break
        problems.append(p)
    return SpecError(exc.subject, problems)


def _build_container_service(self: ContainerService, name: str, args: Mapping[str, Any],
                             opts: pulumi.ResourceOptions | None) -> None:
    kept, from_images = _kept(args)
    try:
        # Flags go as given: the component refuses anything but true/false (never bool("false")).
        ContainerService.__init__(self, name, cast(ContainerServiceArgs, {
            "spec": args.get("spec") or {}, "previous": kept, "exec_break_glass": args.get("exec_break_glass")}), opts=opts)
    except SpecError as exc:
        raise _kept_images_paths(exc) if from_images else exc from None


def _build_namespace(self: ServiceNamespace, name: str, args: Mapping[str, Any],
                     opts: pulumi.ResourceOptions | None) -> None:
    ServiceNamespace.__init__(self, name, {"spec": dict(args)}, opts=opts)


def _build_server_group(self: ServerGroup, name: str, args: Mapping[str, Any],
                        opts: pulumi.ResourceOptions | None) -> None:
    wiring = {k: args.get(k) for k in ("vpc_id", "subnet_ids", "load_balancer_subnet_ids", "certificate_arn",
                                       "target_group_arns", "load_balancer_security_group_id")}
    # The facade's ``history`` is oldest first (its documented order); ``previous`` is newest first.
    previous = list(reversed(list(args.get("history") or [])))
    ServerGroup.__init__(self, name, {"spec": args.get("spec") or {}, "previous": previous,
                                      **{k: v for k, v in wiring.items() if v is not None}},  # type: ignore[typeddict-item]
                         opts=opts)


# StackNetworks built by this provider process, by Pulumi name: a DockerContainerService names
# its network (one provider process serves every construct of one deployment).
_NETWORKS: dict[str, StackNetwork] = {}


def _build_stack_network(self: StackNetwork, name: str, args: Mapping[str, Any],
                         opts: pulumi.ResourceOptions | None) -> None:
    network_args: dict[str, Any] = {"services": list(args.get("services") or [])}
    if args.get("scope"):
        network_args["scope"] = args.get("scope")
    StackNetwork.__init__(self, name, network_args, opts=opts)  # type: ignore[arg-type]
    _NETWORKS[name] = self


def _build_docker_service(self: DockerContainerService, name: str, args: Mapping[str, Any],
                          opts: pulumi.ResourceOptions | None) -> None:
    network = None
    ref = args.get("network")
    if ref:
        network = _NETWORKS.get(str(ref).rsplit("::", 1)[-1])
        if network is None:
            raise SpecError(f"DockerContainerService {name!r}", [Problem(
                "network", repr(ref), "no StackNetwork of that name was built in this deployment",
                "declare the StackNetwork in the same program and pass its urn (`${net.urn}`)")])
    kept, from_images = _kept(args)
    try:
        docker_args: dict[str, Any] = {
            "spec": args.get("spec") or {}, "previous": kept,
            # As given: the component refuses anything but true/false (never bool("no")).
            "exec_break_glass": args.get("exec_break_glass"),
            "allow_unfiltered_egress": args.get("allow_unfiltered_egress")}
        if network is not None:
            docker_args["network"] = network
        DockerContainerService.__init__(self, name, cast(DockerContainerServiceArgs, docker_args), opts=opts)
    except SpecError as exc:
        raise _kept_images_paths(exc) if from_images else exc from None


def _facades() -> list[FacadeSpec]:
    k8s, _ns, aws, dk, net = (_params(c, *_args_parts(a)) for c, a in (
        (ContainerService, ContainerServiceArgs), (ServiceNamespace, ServiceNamespaceArgs),
        (ServerGroup, ServerGroupArgs), (DockerContainerService, DockerContainerServiceArgs),
        (StackNetwork, StackNetworkArgs)))
    # The facades' ``kept`` is the args' ``previous``; ``history`` the same list, oldest first.
    for docs in (k8s, dk):
        docs.setdefault("kept", docs.get("previous", ""))
    aws.setdefault("history", "Specs of previous releases of this app and env, oldest first (the facade's order; "
                   "in Python `previous` is newest first); the `keep_previous` most recent other than `spec` are "
                   "kept for rollback. Default: none.")
    spec_doc = "The active release's spec (validated before anything registers)."
    return [
        FacadeSpec("ServiceNamespace", ServiceNamespace, _model_args(NamespaceSpec), _outputs(ServiceNamespace),
                   _build_namespace),
        FacadeSpec("ContainerService", ContainerService, [
            Arg("spec", ContainerServiceSpec, k8s.get("spec", spec_doc), required=True),
            Arg("kept", list[ContainerServiceSpec], k8s.get("kept", "")),
            Arg("kept_images", list[str], KEPT_IMAGES_DOC),
            Arg("exec_break_glass", bool, k8s.get("exec_break_glass", "")),
        ], _outputs(ContainerService), _build_container_service),
        FacadeSpec("StackNetwork", StackNetwork, [
            Arg("services", list[ContainerServiceSpec], net.get("services", ""), required=True),
            Arg("scope", str, net.get("scope", "")),
        ], _outputs(StackNetwork), _build_stack_network),
        FacadeSpec("DockerContainerService", DockerContainerService, [
            Arg("spec", ContainerServiceSpec, dk.get("spec", spec_doc), required=True),
            Arg("kept", list[ContainerServiceSpec], dk.get("kept", "")),
            Arg("kept_images", list[str], KEPT_IMAGES_DOC),
            Arg("network", str, "The StackNetwork of the namespace, by its urn (`${net.urn}`, which also orders the "
                "two) or Pulumi name; built by this provider in the same deployment. "
                + dk.get("network", "")),
            Arg("exec_break_glass", bool, dk.get("exec_break_glass", "")),
            Arg("allow_unfiltered_egress", bool, dk.get("allow_unfiltered_egress", "")),
        ], _outputs(DockerContainerService), _build_docker_service),
        FacadeSpec("ServerGroup", ServerGroup, [
            Arg("spec", ServerGroupSpec, aws.get("spec", spec_doc), required=True),
            Arg("history", list[ServerGroupSpec], aws.get("history", "")),
            *(Arg(n, list[str] if n.endswith("_ids") or n.endswith("_arns") else str, aws.get(n, ""))
              for n in ("vpc_id", "subnet_ids", "load_balancer_subnet_ids", "certificate_arn", "target_group_arns",
                        "load_balancer_security_group_id")),
        ], _outputs(ServerGroup), _build_server_group, type_prefix="ServerGroup"),
    ]


FACADES: Sequence[FacadeSpec] = _facades()
