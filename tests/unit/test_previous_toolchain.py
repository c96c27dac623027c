"""toolchain/previous.py names the toolchain the upgrade test starts from: it must be the one the
repository pinned just before the current one, so that a new move of the toolchain without a new
``PREVIOUS`` fails here instead of testing an upgrade nobody makes any more."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "toolchain"))
from previous import PREVIOUS  # noqa: E402

VERSIONS = "toolchain/versions.json"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout


def _versions_at(commit: str) -> dict[str, Any]:
    return json.loads(_git("show", f"{commit}:{VERSIONS}"))  # type: ignore[no-any-return]


def test_previous_names_the_toolchain_its_commit_pinned() -> None:
    old = _versions_at(PREVIOUS["commit"])
    assert old["pulumi"]["version"] == PREVIOUS["cli"]
    assert old["python"]["pulumi"] == PREVIOUS["sdk"]


def test_previous_is_the_last_toolchain_before_the_current_one() -> None:
    current = json.loads((ROOT / VERSIONS).read_text())["pulumi"]["version"]
    assert PREVIOUS["cli"] != current, "the upgrade test would upgrade a toolchain to itself"
    # Every versions.json committed since PREVIOUS pins the current CLI: an intermediate one
    # means the toolchain moved again, and PREVIOUS must become the last commit before that move.
    since = _git("log", "--format=%H", f"{PREVIOUS['commit']}..HEAD", "--", VERSIONS).split()
    assert since, f"no commit after {PREVIOUS['commit']} changed {VERSIONS}"
    others = {c[:10]: v for c in since if (v := _versions_at(c)["pulumi"]["version"]) != current}
    assert others == {}, f"commits after PREVIOUS pin other CLIs: {others}; move PREVIOUS past them"
