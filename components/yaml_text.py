"""YAML that the Pulumi CLI reads back as it was written.

PyYAML resolves plain scalars by YAML 1.1's rules; the Pulumi CLI (Go's yaml.v3) by YAML 1.2's
core schema. They disagree on strings such as the release id ``34374e02``: a string for PyYAML,
the float 3437400 for Pulumi. PyYAML writes it bare and ``Pulumi.<stack>.yaml`` then hands the
program a number (main's CI once failed on exactly that id). :class:`Dumper` quotes every string
that either reader would take for something else, so any file this project writes (release
records, a stack's config written by a tool or a test) reads the same in Python, in Go and in
other YAML 1.2 tools.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_GO_NUMBER = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"  # yaml.v3's float (and decimal int)
    r"|[-+]?0[bB][01]+|[-+]?0[oO]?[0-7]+|[-+]?0[xX][0-9a-fA-F]+"  # what strconv.ParseInt(s, 0, 64) reads
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
"""Plain scalars yaml.v3 resolves to a number (it ignores ``_`` in them first)."""


def read_as_non_string(value: str) -> bool:
    """Whether a YAML 1.2 reader (the Pulumi CLI) would read ``value``, written bare, as a number."""
    return _GO_NUMBER.fullmatch(value.replace("_", "")) is not None


class Dumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that quotes the strings YAML 1.1 and 1.2 readers resolve differently."""


def represent_str(dumper: yaml.SafeDumper, value: str, style: str | None = None) -> yaml.ScalarNode:
    if style is None and read_as_non_string(value):
        style = "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, represent_str)


def dump(data: Any, **options: Any) -> str:
    """``yaml.safe_dump`` through :class:`Dumper` (block style, keys in the given order unless told)."""
    options.setdefault("sort_keys", False)
    options.setdefault("default_flow_style", False)
    text: str = yaml.dump(data, Dumper=Dumper, **options)
    return text
