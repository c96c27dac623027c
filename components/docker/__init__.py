"""Docker platform: ``DockerContainerService`` and its ``StackNetwork``.

The same ``ContainerServiceSpec`` as on Kubernetes, on a developer's Docker engine. What
Docker cannot honour is refused with a ``SpecError`` (or accepted by name and recorded as
an opt-out); where it honours a field its own way, the ``adaptations`` output says how.
"""


from .container_service import TYPE_TOKEN, DockerContainerService, DockerContainerServiceArgs
from .network import Link, StackNetwork, StackNetworkArgs

__all__ = ["TYPE_TOKEN", "DockerContainerService", "DockerContainerServiceArgs", "Link", "StackNetwork",
           "StackNetworkArgs"]

