"""Cross-field rules that report every problem at once, each at its own field path.

A pydantic ``model_validator`` normally reports one error at the model's own location
(``<root>``). Raising a :class:`~pydantic.ValidationError` built from several
``InitErrorDetails`` instead lets pydantic-core keep each error's location (prefixed with
the model's own path when it is nested), so ``min_size`` > ``max_size`` is reported at
``scaling.min_size`` with its fix, next to every other problem of the same model.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails

from ..fields import invalid

Loc = tuple[str | int, ...]


class Problems:
    """Collects cross-field problems inside one validator; ``raise_if_any`` reports them together."""

    def __init__(self, title: str) -> None:
        self._title = title
        self._details: list[InitErrorDetails] = []

    def add(self, loc: Loc, value: Any, message: str, fix: str, *, sensitive: bool = False) -> None:
        """Record one problem at ``loc`` (relative to the model being validated)."""
        self._details.append(
            InitErrorDetails(type=invalid(message, fix, sensitive=sensitive), loc=loc, input=value)
        )

    def __len__(self) -> int:
        return len(self._details)

    def raise_if_any(self) -> None:
        if self._details:
            raise ValidationError.from_exception_data(self._title, self._details)
