"""``parity``: prove the stacks have one topology and differ only in the knobs (exit 7 if not)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode, OpsError
from ..output import Grid, View

if TYPE_CHECKING:
    from ..parity import Difference, ParityReport
    from ..workspace import Project


@dataclass
class ParityResult:
    names: list[str]
    report: ParityReport
    show_allowed: bool

    def as_dict(self) -> dict[str, Any]:
        return self.report.as_dict()

    def view(self) -> View:
        names, report = self.names, self.report
        header = ["where", "what", *names, "allowed by"]

        def cells(diffs: list[Difference]) -> list[list[str]]:
            return [[d.where, d.what, *(d.values.get(n, "") for n in names), d.allowed_by or "-"] for d in diffs]

        grids = []
        if self.show_allowed and report.allowed:
            grids.append(Grid("Allowed differences (knobs, artifacts)", header, cells(report.allowed)))
        if report.errors:
            grids.append(Grid("Differences outside the knobs (parity errors)", header, cells(report.errors)))
            line = (f"[red]✗[/] parity: {len(report.errors)} difference(s) between {', '.join(names)} outside "
                    "the knobs EnvironmentConfig allows")
        else:
            line = (f"[green]✓[/] parity: {', '.join(names)} have one topology; they differ only in "
                    f"{len(report.allowed)} allowed knob/artifact value(s)")
        return View(grids, [line], exit_code=int(ExitCode.PARITY) if report.errors else 0)


def run(project: Project, stacks: Sequence[str], no_preview: bool, show_allowed: bool) -> ParityResult:
    from .. import parity as par
    from .preview import run_preview

    names = list(stacks) or project.stack_names()
    if len(names) < 2:
        raise OpsError("parity needs at least two stacks", hint=f"stacks: {', '.join(names) or 'none'}")
    configs = {name: project.raw_config(name) for name in names}
    report = par.ParityReport(list(names))
    par.check_config(configs, report)
    deployed = [n for n in names if project.has_state(n)]
    par.check_releases({n: project.ledger(n) for n in names}, {n: project.workloads(n) for n in deployed}, report)
    if not no_preview:
        previews = {name: run_preview(project, name) for name in names}
        par.check_topology(previews, configs, report)
    return ParityResult(names, report, show_allowed)
