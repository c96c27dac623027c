"""The README's public API: the tables are generated from the code (drift fails), and every
Python snippet in the README runs, as a Pulumi program under mocks."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest

from .k8s_harness import run_program

ROOT = pathlib.Path(__file__).resolve().parents[2]
SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_public_api_tables_match_the_code() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_api.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_readme_has_snippets_to_run() -> None:
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(index: int) -> None:
    exported: dict[str, Any] = {}

    def program() -> dict[str, Any]:
        namespace: dict[str, Any] = {"__name__": f"readme_snippet_{index}"}
        import pulumi

        original = pulumi.export
        pulumi.export = lambda name, value: exported.__setitem__(name, value)  # type: ignore[assignment]
        try:
            exec(compile(SNIPPETS[index], f"README.md snippet {index}", "exec"), namespace)
        finally:
            pulumi.export = original
        return exported

    result = run_program(program, config={"immutable-example:db-password": "snippet-secret"})
    assert result.resources, "the snippet registered nothing"
    assert result.outputs and all(v is not None for v in result.outputs.values()), result.outputs
