"""The rules behind the classes, each checked where it lives.

- No ``$``-anchored pattern in the library or the policy pack: ``re.match`` with ``$`` accepts a
  final newline (``"web\\n"``), so every pattern is compiled unanchored and used with ``fullmatch``.
- CEL string literals escape everything but printable ASCII (what the exec lock writes into code).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from immutable_infra.kubernetes import manifests

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted([*(ROOT / "components").rglob("*.py"), *(ROOT / "policy").rglob("*.py")])
RE_FUNCTIONS = {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall", "finditer"}


def _dollar_anchored(source: str) -> list[tuple[int, str]]:
    """Pattern literals given to ``re.*`` that end in an unescaped ``$`` (or use it before ``)``/``|``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.func.attr in RE_FUNCTIONS and node.args):
            continue
        pattern = node.args[0]
        texts = [pattern.value] if isinstance(pattern, ast.Constant) and isinstance(pattern.value, str) else [
            part.value for part in getattr(pattern, "values", []) if isinstance(part, ast.Constant)]
        for text in texts:
            if re.search(r"(?<!\\)\$(?:$|[)|])", text):
                found.append((node.lineno, text))
    return found


def test_the_detector_finds_an_anchored_pattern() -> None:
    assert _dollar_anchored('import re\nX = re.compile(r"^[a-z]+$")\n') == [(2, "^[a-z]+$")]
    assert _dollar_anchored('import re\nre.match(r"(a|b$)", s)\n')
    assert _dollar_anchored('import re\nre.compile(r"price \\$5")\n') == []


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_dollar_anchored_pattern_comes_back(path: Path) -> None:
    assert _dollar_anchored(path.read_text()) == [], (
        "a $-anchored pattern accepts a trailing newline with re.match: compile it without anchors and "
        "call fullmatch")


@pytest.mark.parametrize(("value", "literal"), [
    ("immutable:break-glass", "'immutable:break-glass'"),
    ("it's", "'it\\'s'"),
    ('a"b', "'a\\\"b'"),
    ("back\\slash", "'back\\\\slash'"),
    ("line\nbreak", "'line\\u000abreak'"),
    ("caf\u00e9", "'caf\\u00e9'"),
    ("\U0001f600", "'\\U0001f600'"),
])
def test_cel_string_literals_escape_everything_but_printable_ascii(value: str, literal: str) -> None:
    assert manifests._cel_str(value) == literal
