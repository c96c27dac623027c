"""The cross-field problem collector, now shared by every spec (see :class:`~immutable_infra.fields.Problems`).

Kept importable here for the AWS models that used it first.
"""

from __future__ import annotations

from ..fields import Loc, Problems

__all__ = ["Loc", "Problems"]
