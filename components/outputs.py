"""Where a component's outputs are declared, and how tools read them.

Each component declares its outputs (``name: pulumi.Output[T]`` and a docstring under it) on a
plain base class, ``_<Component>Outputs``, not on the component class itself. The Python SDK
re-reads a resource class's *own* annotations with ``typing.get_type_hints`` on every
registration, to type outputs from the engine; a component receives none, and with a dozen
outputs that reading cost 0.26 ms per service, about 1% of registering one (docs/measurements.md, "Scale").
Type checkers and these readers see the base class's annotations just the same.
"""

from __future__ import annotations

import inspect

import pulumi  # at run time: readers evaluate the annotations (inspect.get_annotations(eval_str=True))


def output_classes(component: type) -> list[type]:
    """The classes of ``component``'s MRO that are ours (not Pulumi's), bases first."""
    package = __name__.rsplit(".", 1)[0]
    return [k for k in reversed(component.__mro__) if k.__module__.split(".", 1)[0] == package]


def declared_outputs(component: type) -> dict[str, str]:
    """Output name -> ``T`` of each ``pulumi.Output[T]`` annotation, in declaration order."""
    out: dict[str, str] = {}
    for klass in output_classes(component):
        for name, annotation in inspect.get_annotations(klass).items():
            text = str(annotation)
            if not name.startswith("_") and text.startswith("pulumi.Output["):
                out[name] = text.removeprefix("pulumi.Output[").removesuffix("]")
    return out


class ContainerReleaseOutputs:
    """The release outputs both ``ContainerService``s declare (Kubernetes and Docker), first."""

    release: pulumi.Output[str]
    """Id of the active release (8 hex characters)."""
    active_release: pulumi.Output[str]
    """Same as ``release``."""
    kept_releases: pulumi.Output[list[str]]
    """Ids of the kept previous releases, newest first."""
    images: pulumi.Output[dict[str, str]]
    """Release id -> image, for the active and the kept releases."""
