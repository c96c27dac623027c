"""``guard``: fail (exit 4) if any preview step would modify running compute in place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode
from ..output import Grid, View
from . import ProjectSource

if TYPE_CHECKING:
    from ..guard import Finding


@dataclass
class GuardResult:
    results: list[tuple[str, list[Finding]]]
    """(stack or preview label, its findings), in the order checked."""

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not any(f for _, f in self.results),
                "stacks": {label: {"in_place_changes": len(f), "findings": [x.as_dict() for x in f]}
                           for label, f in self.results}}

    def view(self) -> View:
        from ..guard import summary

        rows = [[label, f.name, f.type.rsplit(":", 1)[-1], f.rule, f.message] for label, found in self.results for f in found]
        grids = [Grid("In-place changes to running compute", ["stack", "resource", "kind", "rule", "what"], rows)] if rows else []
        lines = [f"{'[red]✗[/]' if found else '[green]✓[/]'} {label}: {summary(found)}" for label, found in self.results]
        return View(grids, lines, exit_code=int(ExitCode.GUARD_FAILED) if rows else 0)


def run(project: ProjectSource, stacks: Sequence[str], preview_json: Sequence[Path], save_dir: Path | None) -> GuardResult:
    """Check the saved previews, or (none given) preview ``stacks`` (default: every stack)."""
    from ..guard import check
    from ..steps import Preview, load_preview
    from .preview import run_preview

    previews: list[tuple[str, Preview]] = []
    for path in preview_json:
        preview = load_preview(path)
        previews.append((preview.stack or path.stem, preview))
    if not preview_json:
        opened = project()
        names = list(stacks) or opened.stack_names()
        for name in names:
            opened.require_stack(name)
        for name in names:
            previews.append((name, run_preview(opened, name, save_dir)))
    return GuardResult([(label, check(preview)) for label, preview in previews])
