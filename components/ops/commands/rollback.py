"""``rollback``: point the ledger at a kept release and deploy; report how long it took."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..output import View

if TYPE_CHECKING:
    from ..rollback import RollbackPlan, RollbackResult
    from ..workspace import Project


@dataclass
class DryRun:
    plan: RollbackPlan

    def as_dict(self) -> dict[str, Any]:
        p = self.plan
        return {"stack": p.stack, "workload": p.workload, "from": p.from_release, "to": p.to_release,
                "artifact": p.artifact, "dry_run": True}

    def view(self) -> View:
        p = self.plan
        return View(lines=[f"would roll back {p.workload} in {p.stack}: {p.from_release} → {p.to_release} ({p.artifact})"])


@dataclass
class RolledBack:
    result: RollbackResult

    def as_dict(self) -> dict[str, Any]:
        return self.result.as_dict()

    def view(self) -> View:
        r, p = self.result, self.result.plan
        done = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced"}
        changes = ", ".join(f"{n} {done.get(op, op)}" for op, n in r.summary.items() if op != "same" and n) \
            or "no resource changes"
        traffic = f"traffic moved in {r.traffic_seconds:.1f}s, before the update" \
            if r.traffic_seconds is not None else f"traffic moved with the update: {r.traffic_note}"
        return View(lines=[f"rolled back {p.workload} in {p.stack}: {p.from_release} → {p.to_release} in "
                           f"{r.seconds:.1f}s ({traffic}; pulumi up {r.up_seconds:.1f}s; {changes})"])


def run(project: Project, stack: str, to: str | None, service: str | None, dry_run: bool,
        traffic_with_update: bool) -> DryRun | RolledBack:
    from .. import history as hist
    from .. import output
    from .. import rollback as rb
    from ..records import workloads_from_deployment

    deployment = project.export(stack)
    state = workloads_from_deployment(deployment)
    known = hist.releases_seen(project.history(stack)) if to else {}
    plan = rb.plan(stack, state, project.ledger(stack), to=to, workload=service, known=known)
    if dry_run:
        return DryRun(plan)
    with output.progress(f"rollback {stack} {plan.workload} {plan.from_release} → {plan.to_release}") as update:
        return RolledBack(rb.run(project, plan, deployment=deployment, traffic_first=not traffic_with_update,
                                 on_output=update))
