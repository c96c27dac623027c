"""``report``: metrics of immutable operations from stack histories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OpsError
from ..output import Grid, View

if TYPE_CHECKING:
    from ..report import StackMetrics
    from ..workspace import Project


@dataclass
class ReportResult:
    results: list[StackMetrics]

    def as_dict(self) -> dict[str, Any]:
        return {"stacks": [m.as_dict() for m in self.results]}

    def view(self) -> View:
        from ..report import table

        grid = table(self.results)
        return View([Grid("Immutable operations", grid.header, grid.rows)])


def run(project: Project, stacks: Sequence[str], days: int | None, check_drift: bool,
        inventory: Sequence[str]) -> ReportResult:
    from datetime import UTC, datetime, timedelta

    from .. import coverage as cov
    from .. import drift as drifting
    from .. import report as metrics
    from .drift import check_drift as drift_of

    files: dict[str, Path] = {}
    for item in inventory:
        name, sep, file = item.partition("=")
        if not sep or not file:
            raise OpsError(f"--inventory {item!r}: expected STACK=FILE")
        project.require_stack(name)
        files[name] = Path(file)
    names = list(stacks) or [n for n in project.stack_names() if project.has_state(n)]
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    results = []
    for name in names:
        records = project.history(name)
        deployment = project.export(name)
        rendered = drifting.render_dirs(deployment)
        drift_report, drift_note = None, None
        if rendered:
            drift_note = "render mode: no cluster to refresh"
        elif not check_drift:
            drift_note = "not checked (--no-drift)"
        else:
            try:
                drift_report = drift_of(project, name)
            except OpsError as exc:
                drift_note = exc.message
            if drift_report is not None and drift_report.managed == 0:
                drift_report, drift_note = None, "no resources deployed"
        found, coverage_note, source = None, None, ""
        if name in files:
            found, source = cov.read_inventory(files[name]), str(files[name])
        elif rendered:
            found, source = cov.manifest_keys(Path(rendered[0])), rendered[0]
        else:
            coverage_note = f"no inventory (--inventory {name}=FILE)"
        measured = cov.measure(source, deployment, found) if found is not None else None
        builds = {w: tuple(e.build_seconds for e in ledger.releases if e.build_seconds is not None)
                  for w, ledger in project.ledger(name).items()}
        results.append(metrics.measure(name, records, since=since, drift=drift_report, drift_note=drift_note,
                                       coverage=measured, coverage_note=coverage_note, image_build_seconds=builds))
    return ReportResult(results)
