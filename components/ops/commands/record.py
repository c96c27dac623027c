"""``record``: write the releases a stack runs or is about to run into its ledger and archive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import OpsError
from ..output import Grid, View

if TYPE_CHECKING:
    from ..workspace import Project


@dataclass
class RecordResult:
    stack: str
    recorded: list[tuple[str, str, str]]
    """(workload, release id, ``legacy`` or ``new``)."""
    check: bool

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "recorded": [{"workload": w, "release": r, "kind": k} for w, r, k in self.recorded],
                "check": self.check}

    def view(self) -> View:
        rows = [[w, rid, kind] for w, rid, kind in self.recorded]
        if self.check:
            error = OpsError(f"{len(self.recorded)} release(s) of {self.stack!r} are not recorded",
                             hint=f"run immutable-ops record {self.stack} and commit Pulumi.{self.stack}.yaml and "
                                  f"releases/{self.stack}.yaml") if self.recorded else None
            return View([Grid(f"Unrecorded releases of {self.stack}", ["workload", "release", "kind"], rows)], error=error)
        line = (f"{len(self.recorded)} recorded; review and commit Pulumi.{self.stack}.yaml and releases/{self.stack}.yaml"
                if self.recorded else "every release is recorded")
        return View([Grid(f"Recorded releases of {self.stack}", ["workload", "release", "kind"], rows)], [line])


def run(project: Project, stack: str, check: bool) -> RecordResult:
    """Preview ``stack`` to collect what it has no record of; write it unless ``check``."""
    from .. import output
    from ..record import plan as record_plan

    project.require_stack(stack)
    archive = project.archive(stack)
    with output.progress(f"pulumi preview {stack} (collecting releases to record)") as update:
        published = project.unrecorded(stack, on_output=update)
    plan = record_plan(stack, project.ledger(stack), archive, published)
    if plan.changed and not check:
        with project.ledger_edit(stack):
            for workload, after in plan.after.items():
                if after != plan.before.get(workload):
                    project.write_ledger(stack, workload, plan.before.get(workload), after)
            project.save_archive(stack, plan.archive)
    return RecordResult(stack, list(plan.recorded), check)
