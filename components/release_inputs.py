"""The validation preamble every release component runs before it registers anything.

``ContainerService`` (Kubernetes) and ``DockerContainerService`` take the same args shape and
the same spec: the args mapping is checked (one shape, no unknown keys), then the args' own
values, ``pulumi.Output`` values where the release id depends on them, the active spec and the
kept releases are validated together, every problem at once (``validate_service_inputs``).
One function, so the two platforms cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .container_spec import ContainerServiceSpec, validate_service_inputs
from .fields import Spec
from .inputs import args_problems, normalize_args, take_previous, unknown_args


def container_service_inputs(subject: str, args: Any, known: Callable[[], Sequence[str]], model: type[Spec]
                             ) -> tuple[dict[str, Any], ContainerServiceSpec, list[ContainerServiceSpec]]:
    """``(args mapping, active spec, kept specs newest first)``, or a ``SpecError`` listing every
    problem (``TypeError`` for a malformed args object); ``model`` checks the args' own values."""
    given = normalize_args(subject, args)
    unknown_args(subject, given, known)
    active, previous = validate_service_inputs(subject, given["spec"], take_previous(given),
                                               problems=args_problems(model, given))
    return given, active, previous
