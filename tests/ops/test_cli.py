"""The command line without the engine: help, exit codes, previews read from files, bad
input refused before anything runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from .support import FIXTURES, ROOT, golden

# Typer 0.20 still uses click helpers that click 8.5 deprecates (removed in click 9).
CLICK_9 = r".*Click 9\.0.*"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=CLICK_9, category=DeprecationWarning)
    from immutable_infra.ops.cli import app
    from typer.testing import CliRunner

pytestmark = pytest.mark.filterwarnings(f"ignore:{CLICK_9}:DeprecationWarning")
runner = CliRunner()


def test_help_lists_commands_and_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("guard", "comment", "history", "promote", "rollback", "drift", "parity", "report", "touched"):
        assert command in result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "3 bad input, nothing changed" in text and "4 guard: in-place compute change" in text, text


def test_importing_the_cli_does_no_work() -> None:
    code = ("import sys, immutable_infra.ops.cli; "
            "heavy = [m for m in ('pulumi.automation', 'pulumi', 'yaml', 'immutable_infra.ops.workspace') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_guard_reads_previews_from_files() -> None:
    ok = runner.invoke(app, ["guard", "-p", str(FIXTURES / "preview-dev-release-swap.json")])
    assert ok.exit_code == 0, ok.output
    assert "✓ dev: 0 in-place compute changes" in ok.output
    bad = runner.invoke(app, ["guard", "-p", str(FIXTURES / "preview-mutating.json"), "-f", "json"])
    assert bad.exit_code == 4, bad.output
    assert json.loads(bad.output)["stacks"]["ops"]["in_place_changes"] == 4


def test_comment_from_a_file_is_the_golden_text() -> None:
    result = runner.invoke(app, ["comment", "dev", "-p", str(FIXTURES / "preview-dev-release-swap.json")])
    assert result.exit_code == 0 and result.output == golden("comment-dev-release-swap")


def test_unreadable_preview_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "preview.json"
    path.write_text("Previewing update (dev):\n")
    result = runner.invoke(app, ["guard", "-p", str(path)])
    assert result.exit_code == 3 and "is not JSON" in result.output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.test.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("args", [
    ["history", "staging"], ["rollback", "staging"], ["drift", "staging"], ["promote", "dev", "staging"],
    ["promote", "staging", "dev"], ["parity", "dev", "staging"], ["guard", "staging"], ["report", "staging"],
])
def test_unknown_stacks_are_refused_before_the_engine_runs(project: Path, args: list[str]) -> None:
    before = {p.name: p.read_bytes() for p in project.iterdir()}
    result = runner.invoke(app, ["-C", str(project), *args])
    assert result.exit_code == 3, result.output
    assert "unknown stack 'staging'" in result.output and "use one of: dev, test, prod" in result.output
    assert {p.name: p.read_bytes() for p in project.iterdir()} == before


def test_parity_of_config_alone(project: Path) -> None:
    result = runner.invoke(app, ["-C", str(project), "parity", "--no-preview"])
    assert result.exit_code == 0, result.output
    assert "✓ parity: dev, test, prod have one topology" in result.output
    prod = project / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text().replace("  immutable:ledger:", "  kubernetes:context: prod-admin\n  immutable:ledger:"))
    result = runner.invoke(app, ["-C", str(project), "parity", "--no-preview", "-f", "json"])
    assert result.exit_code == 7, result.output
    assert json.loads(result.output)["errors"][0]["where"] == "kubernetes:context"


def test_touched_lists_stacks(project: Path) -> None:
    result = runner.invoke(app, ["-C", str(project), "touched", "Pulumi.prod.yaml", "README.md", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == ["prod"]
    result = runner.invoke(app, ["-C", str(project), "touched"], input="stacks/topology.py\n")
    assert result.output.split() == ["dev", "test", "prod"]


def test_no_project_is_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["-C", str(tmp_path), "history", "dev"])
    assert result.exit_code == 3 and "no Pulumi.yaml" in result.output


def test_report_inventory_needs_stack_and_file(project: Path) -> None:
    result = runner.invoke(app, ["-C", str(project), "report", "--inventory", "dev"])
    assert result.exit_code == 3 and "expected STACK=FILE" in result.output
