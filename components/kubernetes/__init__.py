"""Kubernetes platform: ``ContainerService`` and ``ServiceNamespace``."""

from .container_service import TYPE_TOKEN, ContainerService, ContainerServiceArgs
from .namespace import NamespaceSpec, ServiceNamespace, ServiceNamespaceArgs

__all__ = ["TYPE_TOKEN", "ContainerService", "ContainerServiceArgs", "NamespaceSpec", "ServiceNamespace",
           "ServiceNamespaceArgs"]
