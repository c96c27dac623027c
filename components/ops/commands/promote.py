"""``promote``: copy the exact tested release from FROM to TO, preview and guard TO; never rebuild."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode, OpsError
from ..output import Grid, View

if TYPE_CHECKING:
    from ..promote import Promotion
    from ..workspace import Project, UpOutcome


@dataclass
class PromoteResult:
    source: str
    target: str
    items: list[Promotion]
    preview_line: str | None = None
    deployed: UpOutcome | None = None

    def as_dict(self) -> dict[str, Any]:
        if not self.items:
            return {"source": self.source, "target": self.target, "promoted": [], "deployed": False}
        return {"source": self.source, "target": self.target, "promoted": [i.as_dict() for i in self.items],
                "preview": self.preview_line, "deployed": self.deployed is not None,
                "up_seconds": round(self.deployed.seconds, 2) if self.deployed else None}

    def view(self) -> View:
        if not self.items:
            return View(lines=[f"nothing to promote: {self.target} already runs what {self.source} runs"])
        rows = [[i.workload, i.artifact, i.note or "", i.source_release, i.target_artifact or "-"] for i in self.items]
        grid = Grid(f"Promoted {self.source} → {self.target}",
                    ["workload", "artifact", "note", f"release in {self.source}", f"replaces in {self.target}"], rows)
        done = (f"deployed {self.target} in {self.deployed.seconds:.1f}s" if self.deployed else
                f"Pulumi.{self.target}.yaml updated (commit it); deploy with --deploy or pulumi up -s {self.target}")
        return View([grid], [(self.preview_line or "").replace("`", ""), done])


def run(project: Project, source: str, target: str, services: Sequence[str], deploy: bool) -> PromoteResult:
    from .. import output
    from .. import promote as promotion
    from ..comment import first_line
    from ..guard import check
    from .preview import run_preview

    project.require_stack(source)
    project.require_stack(target)
    state = project.workloads(source)
    project.stack(target)
    items = promotion.plan(source, target, state, project.ledger(source), project.ledger(target), services,
                           source_archive=project.archive(source))
    if not items:
        return PromoteResult(source, target, [])
    deployed = None
    with project.ledger_edit(target):
        promotion.apply(project, target, items)
        preview = run_preview(project, target)
        findings = check(preview)
        if findings:
            raise OpsError(f"promoting to {target} would modify running compute in place: "
                           + "; ".join(f.message for f in findings), ExitCode.GUARD_FAILED,
                           hint=f"Pulumi.{target}.yaml was left unchanged")
        if deploy:
            with output.progress(f"pulumi up {target}") as update:
                deployed = project.up(target, promotion.message(source, target, items), on_output=update)
    return PromoteResult(source, target, list(items), first_line(target, preview, findings), deployed)
