"""The README's promises: two set-up commands first, .ci/run calls the test command,
and the spec reference is generated from the models (fails when it drifts)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None and text.index("```bash") < text.index("## ")
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["bash scripts/deploy.sh dev", "bash scripts/test.sh"]


def test_ci_runs_the_readme_test_command() -> None:
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_reference_tables_match_the_models() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_reference.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
