"""Shared helpers of the spec tests: deep overrides of the fixtures, and what a safe error is."""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

from immutable_infra import SpecError

from ..fixtures import SECRET_VALUE

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRETS = (SECRET_VALUE, AWS_KEY_ID)

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


def assert_safe(error: SpecError) -> None:
    """No secret in any rendering, and every problem says what is wrong and how to fix it."""
    for text in (str(error), repr(error), *(repr(p) for p in error.problems)):
        for secret in SECRETS:
            assert secret not in text, f"a secret is echoed: {text}"
    for problem in error.problems:
        assert problem.fix and problem.message, problem
