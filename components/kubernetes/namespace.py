"""``ServiceNamespace``: a namespace hardened for immutable services.

Pod Security "restricted" enforced by the API server, a default-deny NetworkPolicy so
that only the allowances each ContainerService declares are open, and the exec lock: one
ValidatingAdmissionPolicy (and its binding) for the whole namespace rather than two
objects per service (``manifests.exec_lock_policy_spec`` says how exemptions work).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from .. import PACKAGE
from ..container_spec import ContainerServiceSpec, NamespaceName
from ..errors import Problem, SpecError, validate_spec
from ..fields import Flag, Spec
from ..input_errors import raises_input_errors
from ..inputs import args_model, args_problems, normalize_args, unknown_args
from . import manifests as m

TYPE_TOKEN = f"{PACKAGE}:kubernetes:ServiceNamespace"


class NamespaceSpec(Spec):
    name: NamespaceName
    """Namespace name (never ``default`` or a ``kube-*`` namespace)."""


_ARGS = args_model("ServiceNamespace", {"exec_break_glass": Flag})


class _ServiceNamespaceArgsRequired(TypedDict):
    """The required part of ``ServiceNamespaceArgs``: a base class, so that
    ``__required_keys__`` is right under postponed annotations."""

    spec: NamespaceSpec | Mapping[str, str]
    """The namespace: a ``NamespaceSpec`` or ``{"name": ...}``. Required."""


class ServiceNamespaceArgs(_ServiceNamespaceArgsRequired, total=False):
    """Arguments of ``ServiceNamespace``."""

    services: Sequence[ContainerServiceSpec | Mapping[str, Any]]
    """Specs of the services that run in this namespace. Only their exec-lock opt-outs and own
    break-glass groups matter here: every pod of the namespace is locked unless its service opts
    out (the exemption and its reason show on the lock)."""
    exec_break_glass: bool
    """Environment-wide opt-out of the exec lock (never in prod): no lock. Default false."""


class _ServiceNamespaceOutputs:
    """The outputs of ``ServiceNamespace`` (declared apart from it: see ``immutable_infra.outputs``)."""

    name: pulumi.Output[str]
    """The namespace's name, from the Namespace (pass it as ``ContainerServiceArgs.namespace``)."""


class ServiceNamespace(pulumi.ComponentResource, _ServiceNamespaceOutputs):
    """A namespace with Pod Security "restricted", default-deny networking and an exec lock.

    ``ServiceNamespace(name, args: ServiceNamespaceArgs, *, opts=None)``.
    """

    TYPE_TOKEN = TYPE_TOKEN

    @raises_input_errors
    def __init__(self, name: str, args: ServiceNamespaceArgs, *, opts: pulumi.ResourceOptions | None = None) -> None:
        subject = f"ServiceNamespace {name!r}"
        given = normalize_args(subject, args)
        unknown_args(subject, given, lambda: list(ServiceNamespaceArgs.__annotations__))
        # Every problem at once: the spec, each service (at services[i]) and the args' own values.
        problems = args_problems(_ARGS, given)
        valid: NamespaceSpec | None = None
        try:
            valid = validate_spec(NamespaceSpec, given["spec"], subject=subject)
        except SpecError as exc:
            problems += exc.problems
        residents, resident_problems = _residents(valid.name if valid else None, given.get("services") or ())
        problems += resident_problems
        if problems or valid is None:
            raise SpecError(subject, problems)
        exec_break_glass = given.get("exec_break_glass") is True
        super().__init__(TYPE_TOKEN, name, None, opts)
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": valid.name, "labels": m.namespace_labels(), "annotations": m.PATCH_FORCE},
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata={"name": "default-deny", "namespace": valid.name,
                      "labels": {m.LABEL_MANAGED_BY: m.MANAGED_BY}, "annotations": m.PATCH_FORCE},
            spec=m.DEFAULT_DENY_SPEC,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        if not exec_break_glass:
            exec_lock(name, valid.name, residents, parent=self)
        self.name = namespace.metadata.name
        self.register_outputs({"name": self.name})


def exec_lock(name: str, namespace: str, services: list[ContainerServiceSpec], *, parent: pulumi.Resource) -> None:
    """The namespace's exec lock. It does not wait for the Namespace: it selects it by name, and
    existing locks are never deleted before it exists (an upgrade from per-service locks deletes
    those only at the end of the update, after this one was created)."""
    lock_name = m.exec_lock_name(namespace)
    meta = {"name": lock_name, "labels": {m.LABEL_MANAGED_BY: m.MANAGED_BY}, "annotations": m.PATCH_FORCE}
    policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
        f"{name}-exec-lock",
        metadata={**meta, "annotations": {**m.PATCH_FORCE, **m.exec_lock_annotations(services)}},
        spec=m.exec_lock_policy_spec(namespace, services),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        f"{name}-exec-lock-binding",
        metadata=meta,
        spec={"policyName": lock_name, "validationActions": ["Deny"]},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
    )


def _residents(namespace: str | None, services: Sequence[ContainerServiceSpec | Mapping[str, Any]]
               ) -> tuple[list[ContainerServiceSpec], list[Problem]]:
    """The valid services, and every problem of every service at ``services[i].<path>``."""
    out: list[ContainerServiceSpec] = []
    problems: list[Problem] = []
    for i, item in enumerate(services):
        try:
            spec = validate_spec(ContainerServiceSpec, item)
        except SpecError as exc:
            problems += exc.nested(f"services[{i}]")
            continue
        out.append(spec)
        if namespace is not None and spec.namespace != namespace:
            problems.append(Problem(f"services[{i}].namespace", spec.namespace,
                                    f"the service {spec.name!r} runs in namespace {spec.namespace!r}, not {namespace!r}",
                                    f"pass only the services of namespace {namespace!r}"))
    return out, problems
