"""``touched``: the stacks a change touches (the pull-request workflow previews those)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OpsError
from ..output import View

if TYPE_CHECKING:
    from ..workspace import Project


@dataclass
class TouchedResult:
    stacks: list[str]

    def as_dict(self) -> list[str]:
        return self.stacks

    def view(self) -> View:
        return View(raw="".join(f"{s}\n" for s in self.stacks))


def git_changed(project_dir: Path, base: str) -> list[str]:
    """The files changed between ``base`` and HEAD, relative to the project directory."""
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise OpsError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    top = Path(git("rev-parse", "--show-toplevel").strip())
    prefix = project_dir.resolve().relative_to(top.resolve()).as_posix()
    names = git("diff", "--name-only", f"{base}...HEAD").splitlines()
    if prefix in ("", "."):
        return names
    return [n[len(prefix) + 1:] for n in names if n.startswith(prefix + "/")]


def run(project: Project, changed: Sequence[str], base: str | None) -> TouchedResult:
    from ..touched import touched

    files = list(changed) + (git_changed(project.dir, base) if base else [])
    return TouchedResult(touched(files, project.stack_names()))
