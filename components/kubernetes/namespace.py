"""``ServiceNamespace``: a namespace hardened for immutable services.

Pod Security "restricted" enforced by the API server, and a default-deny NetworkPolicy
so that only the allowances each ContainerService declares are open.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_kubernetes as k8s
from pydantic import field_validator

from .. import PACKAGE
from ..container_spec import RESERVED_NAMESPACES
from ..errors import validate_spec
from ..fields import DnsLabel, Spec, invalid
from ..input_errors import raises_input_errors
from ..inputs import deprecated, normalize_args, unknown_args
from . import manifests as m

TYPE_TOKEN = f"{PACKAGE}:kubernetes:ServiceNamespace"


class NamespaceSpec(Spec):
    name: DnsLabel
    """Namespace name (never ``default`` or a ``kube-*`` namespace)."""

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMESPACES:
            raise invalid(f"namespace {value!r} is reserved", "use a namespace of your own, e.g. 'apps'")
        return value


class _ServiceNamespaceArgsRequired(TypedDict):
    """The required part of ``ServiceNamespaceArgs``: a base class, so that
    ``__required_keys__`` is right under postponed annotations."""

    spec: NamespaceSpec | Mapping[str, str]
    """The namespace: a ``NamespaceSpec`` or ``{"name": ...}``. Required."""


class ServiceNamespaceArgs(_ServiceNamespaceArgsRequired, total=False):
    """Arguments of ``ServiceNamespace``."""



class ServiceNamespace(pulumi.ComponentResource):
    """A namespace with Pod Security "restricted" and default-deny networking.

    ``ServiceNamespace(name, args: ServiceNamespaceArgs, *, opts=None)``.
    """

    TYPE_TOKEN = TYPE_TOKEN

    name: pulumi.Output[str]
    """The namespace's name, from the Namespace (pass it as ``ContainerServiceArgs.namespace``)."""

    @raises_input_errors
    def __init__(self, name: str, args: ServiceNamespaceArgs | NamespaceSpec | Mapping[str, str],
                 *legacy_opts: pulumi.ResourceOptions | None, opts: pulumi.ResourceOptions | None = None) -> None:
        subject = f"ServiceNamespace {name!r}"
        if legacy_opts:
            deprecated(f"{subject}: `opts` is keyword-only (ServiceNamespace(name, args, opts=...))")
            if opts is not None or len(legacy_opts) > 1:
                raise TypeError(f"{subject}: opts given twice")
            opts = legacy_opts[0]
        given = normalize_args(subject, args, NamespaceSpec, {})
        unknown_args(subject, given, lambda: list(ServiceNamespaceArgs.__annotations__))
        valid = validate_spec(NamespaceSpec, given["spec"], subject=subject)
        super().__init__(TYPE_TOKEN, name, None, opts)
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": valid.name, "labels": m.namespace_labels()},
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata={"name": "default-deny", "namespace": valid.name,
                      "labels": {m.LABEL_MANAGED_BY: m.MANAGED_BY}},
            spec=m.DEFAULT_DENY_SPEC,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        self.name = namespace.metadata.name
        self.register_outputs({"name": self.name})
