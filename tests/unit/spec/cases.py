"""Shared helpers of the spec tests: deep overrides of the fixtures, and what a safe error is."""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

# One definition of a safe error (no secret in any rendering, a message and a fix for each problem).
from .test_bad_input_validation import AWS_KEY_ID, assert_safe

__all__ = ["AWS_KEY_ID", "assert_safe", "parts", "with_"]

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parts(path: str) -> list[str | int]:
    """``"a.b[0].c"`` -> ``["a", "b", 0, "c"]`` (keys hold no dots here)."""
    return [int(index) if index else key for key, index in _PART.findall(path)]


def with_(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with values set at dotted paths: ``with_(s, {"ports[0].name": "x"})``."""
    out = copy.deepcopy(base)
    for dotted, value in changes.items():
        keys = parts(dotted)
        node: Any = out
        for key, following in itertools.pairwise(keys):
            node = node[key] if isinstance(key, int) else node.setdefault(key, [] if isinstance(following, int) else {})
        node[keys[-1]] = value
    return out
