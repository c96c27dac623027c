"""``drift``: compare what runs with what the releases declare (the refresh preview joined with
every Kubernetes object read back with its field managers); name each drifted field and its
manager (exit 5). ``--fix`` makes the same release true again without taking its traffic away
(``repair.py``) and checks again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode
from ..output import Grid, View

if TYPE_CHECKING:
    from ..drift import DriftReport
    from ..workspace import Project


def check_drift(project: Project, stack: str) -> DriftReport:
    """The drift of ``stack``; exit 6 where it cannot be checked (render mode, unreachable cluster)."""
    from .. import drift as drifting

    return drifting.check(project, stack).report


@dataclass
class DriftResult:
    stack: str
    report: DriftReport
    fixed: DriftReport | None = None
    outcome: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.report.as_dict()
        if self.fixed is not None:
            data["fix"] = {**(self.outcome or {}), "drifted_after": [d.name for d in self.fixed.drifted]}
        return data

    def view(self) -> View:
        from .. import drift as drifting

        report = self.report
        rows = [[d.name, d.type.rsplit(":", 1)[-1], d.state, d.describe()] for d in report.drifted]
        grids = [Grid(f"Drift in {self.stack}", ["resource", "kind", "state", "what differs"], rows)] if rows else []
        if field_rows := drifting.field_rows(report):
            grids.append(Grid("Drifted fields", ["resource", "field", "change", "manager"], field_rows))
        lines = [f"{self.stack}: {len(report.drifted)} of {report.managed} resources drifted ({report.percent:.0f}%)"]
        if self.fixed is not None:
            lines.append(f"repaired {', '.join(d.name for d in report.drifted)}; drifted now: {len(self.fixed.drifted)}")
        still = self.fixed.drifted if self.fixed is not None else report.drifted
        return View(grids, lines, exit_code=int(ExitCode.DRIFT) if still else 0)


def run(project: Project, stack: str, fix: bool, timeout: float = 300) -> DriftResult:
    from .. import drift as drifting
    from .. import output, repair

    checked = drifting.check(project, stack)
    if not (checked.report.drifted and fix):
        return DriftResult(stack, checked.report)
    outcome = repair.fix(project, stack, checked, timeout=timeout, say=output.note)
    return DriftResult(stack, checked.report, drifting.check(project, stack).report, outcome)
