"""The validation preamble every release component runs before it registers anything.

``ContainerService`` (Kubernetes) and ``DockerContainerService`` take the same args shape and
the same spec: the args mapping is normalised, unknown keys are refused, ``pulumi.Output``
values are refused where the release id depends on them, the active spec and the kept
releases are validated. One function, so the two platforms cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .container_spec import ContainerServiceSpec, validate_kept_releases
from .errors import SpecError, validate_spec
from .inputs import normalize_args, output_problems, take_previous, unknown_args


def container_service_inputs(subject: str, args: Any, known: Callable[[], Sequence[str]]
                             ) -> tuple[dict[str, Any], ContainerServiceSpec, list[ContainerServiceSpec]]:
    """``(args mapping, active spec, kept specs newest first)``, or a ``SpecError`` listing every
    problem (``TypeError`` for a malformed args object)."""
    given = normalize_args(subject, args)
    unknown_args(subject, given, known)
    problems = output_problems(given["spec"])
    if problems:
        raise SpecError(subject, problems)
    active = validate_spec(ContainerServiceSpec, given["spec"], subject=subject)
    previous = validate_kept_releases(subject, active, take_previous(given), "previous")
    return given, active, previous
