"""``drift``: `refresh --preview-only --expect-no-changes`; name the drifted resources (exit 5);
``--fix`` replaces them from the release (never a patch) and checks again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode, OpsError
from ..output import Grid, View

if TYPE_CHECKING:
    from ..drift import DriftReport
    from ..workspace import Project, UpOutcome


def check_drift(project: Project, stack: str) -> DriftReport:
    """The refresh preview of ``stack``, read as drift; exit 6 where it cannot be checked."""
    from .. import drift as drifting
    from .. import output

    rendered = drifting.render_dirs(project.export(stack))
    if rendered:
        raise OpsError(f"stack {stack!r} cannot be checked for drift: its Kubernetes provider runs in render mode "
                       f"(manifests written to {rendered[0]}), so there is no cluster to read back and refresh "
                       "does not work", ExitCode.DRIFT_UNCHECKABLE,
                       hint="check drift on a stack with a cluster target; for rendered manifests, diff the "
                            "render directory against what your GitOps agent applied")
    with output.progress(f"pulumi refresh --preview-only {stack}") as update:
        records, error = project.refresh_preview(stack, on_output=update)
    if error:
        code = ExitCode.DRIFT_UNCHECKABLE if drifting.unreachable(error) else ExitCode.PULUMI_FAILED
        raise OpsError(f"refresh of {stack!r} failed" + (": the cluster is unreachable" if code == 6 else ""), code,
                       details=error)
    return drifting.find(stack, records)


@dataclass
class DriftResult:
    stack: str
    report: DriftReport
    fixed: DriftReport | None = None
    outcome: UpOutcome | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.report.as_dict()
        if self.fixed is not None and self.outcome is not None:
            data["fix"] = {"replaced": [d.name for d in self.report.drifted], "up_seconds": round(self.outcome.seconds, 2),
                           "drifted_after": [d.name for d in self.fixed.drifted]}
        return data

    def view(self) -> View:
        report = self.report
        rows = [[d.name, d.type.rsplit(":", 1)[-1], d.state, d.describe()] for d in report.drifted]
        grids = [Grid(f"Drift in {self.stack}", ["resource", "kind", "state", "what differs"], rows)] if rows else []
        lines = [f"{self.stack}: {len(report.drifted)} of {report.managed} resources drifted ({report.percent:.0f}%)"]
        if self.fixed is not None:
            lines.append(f"replaced {', '.join(d.name for d in report.drifted)}; drifted now: {len(self.fixed.drifted)}")
        still = self.fixed.drifted if self.fixed is not None else report.drifted
        return View(grids, lines, exit_code=int(ExitCode.DRIFT) if still else 0)


def run(project: Project, stack: str, fix: bool) -> DriftResult:
    from .. import output
    from ..records import DRIFT_FIX_MESSAGE

    report = check_drift(project, stack)
    if not (report.drifted and fix):
        return DriftResult(stack, report)
    urns = [d.urn for d in report.drifted]
    with output.progress(f"pulumi up {stack} --replace ({len(urns)} drifted)") as update:
        outcome = project.up(stack, f"{DRIFT_FIX_MESSAGE}: replace {', '.join(d.name for d in report.drifted)}",
                             replace=urns, on_output=update)
    return DriftResult(stack, report, check_drift(project, stack), outcome)
