"""Kubernetes platform: ``ContainerService`` and ``ServiceNamespace``."""

from .container_service import TYPE_TOKEN, ContainerService
from .namespace import NamespaceSpec, ServiceNamespace

__all__ = ["TYPE_TOKEN", "ContainerService", "NamespaceSpec", "ServiceNamespace"]
