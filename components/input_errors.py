"""``SpecError`` as Pulumi reports input errors: a ``pulumi.InputPropertiesError`` too.

A separate module (imported by the components only) so that ``immutable_infra.errors`` and
the specs stay importable without the Pulumi SDK (the ops CLI starts fast).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import pulumi

from .errors import SpecError


class InputSpecError(SpecError, pulumi.InputPropertiesError):
    """A ``SpecError`` raised by a component: ``errors`` holds one ``{property_path, reason}`` per
    problem, so a component provider reports it the way the CLI shows provider input errors."""

    def __init__(self, error: SpecError) -> None:
        SpecError.__init__(self, error.subject, error.problems)
        self.message = str(self)
        self.errors = [{"property_path": p.path, "reason": f"{p.message} (got {p.value}); fix: {p.fix}"}
                       for p in self.problems]


@contextmanager
def input_errors() -> Iterator[None]:
    """Re-raise any ``SpecError`` from the block as an :class:`InputSpecError`."""
    try:
        yield
    except InputSpecError:
        raise
    except SpecError as error:
        raise InputSpecError(error) from None


P = ParamSpec("P")
R = TypeVar("R")


def raises_input_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a component's ``__init__``: its ``SpecError`` comes out as an :class:`InputSpecError`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with input_errors():
            return fn(*args, **kwargs)

    return wrapper
