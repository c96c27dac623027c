"""immutable_infra: immutable-infrastructure components for Pulumi.

Every change to what runs becomes a new *release*, created beside the old one,
health-gated, given the traffic, and only then is the old one removed or kept for
rollback. Platform components live in subpackages::

    from immutable_infra.kubernetes import ContainerService
    from immutable_infra.aws import ServerGroup
    from immutable_infra.docker import DockerContainerService
"""

from .container_spec import ContainerServiceSpec
from .errors import ImmutableInfraError, Problem, SpecError, validate_spec
from .registrations import start_registrations
from .release import canonical_json, release_id

PACKAGE = "immutable"
"""Type-token prefix shared by every component: ``immutable:<module>:<Name>``."""

MANAGED_BY = "immutable-infra"
"""The one managed-by value: label ``app.kubernetes.io/managed-by`` (Kubernetes, Docker) and
tag ``immutable.dev/managed-by`` (AWS)."""

__all__ = [
    "MANAGED_BY",
    "PACKAGE",
    "ContainerServiceSpec",
    "ImmutableInfraError",
    "Problem",
    "SpecError",
    "canonical_json",
    "release_id",
    "start_registrations",
    "validate_spec",
]
