"""``releases``: the recorded releases of a stack and what changed between them (no engine)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import OpsError
from ..output import Grid, View

if TYPE_CHECKING:
    from ...records import ReleaseRecord
    from ..releases import ReleaseRow
    from ..workspace import Project


@dataclass
class ShowResult:
    """``--show``: every setting of one release."""

    workload: str
    record: ReleaseRecord

    def as_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "release": self.record.release, "artifact": self.record.artifact,
                "settings": dict(self.record.settings)}

    def view(self) -> View:
        from ..releases import flatten

        lines = [f"{self.workload} {self.record.release}: {self.record.artifact}"]
        settings = flatten(dict(self.record.settings))
        lines += [f"  {key}: {json.dumps(value, ensure_ascii=False)}" for key, value in settings.items()]
        return View(lines=lines)


@dataclass
class DiffResult:
    """``--diff X Y``: the settings that differ."""

    workload: str
    old: ReleaseRecord
    new: ReleaseRecord
    changes: list[tuple[str, Any, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "from": self.old.release, "to": self.new.release,
                "changes": [{"setting": k, "from": a, "to": b} for k, a, b in self.changes]}

    def view(self) -> View:
        rows = [[k, json.dumps(a, ensure_ascii=False), json.dumps(b, ensure_ascii=False)] for k, a, b in self.changes]
        return View([Grid(f"{self.workload}: {self.old.release} → {self.new.release}",
                          ["setting", self.old.release, self.new.release], rows)])


@dataclass
class ListResult:
    stack: str
    found: list[ReleaseRow]

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "releases": [r.__dict__ | {"changes": list(r.changes)} for r in self.found]}

    def view(self) -> View:
        rows = [[r.workload, r.release + (" (pinned)" if r.pinned else ""), "active" if r.active else "",
                 r.artifact.rsplit("/", 1)[-1][:40], r.note or "", ", ".join(r.changes) or "-"] for r in self.found]
        return View([Grid(f"Recorded releases of {self.stack} (oldest first)",
                          ["workload", "release", "", "artifact", "note", "changed from previous"], rows)])


def run(project: Project, stack: str, service: str | None, show: str | None,
        diff: tuple[str, str] | None) -> ShowResult | DiffResult | ListResult:
    from .. import releases as rel

    project.require_stack(stack)
    archive = project.archive(stack)
    if show:
        return ShowResult(*rel.find(archive, show, service))
    if diff:
        (wa, old), (wb, new) = rel.find(archive, diff[0], service), rel.find(archive, diff[1], service)
        if wa != wb:
            raise OpsError(f"{diff[0]} is a release of {wa}, {diff[1]} of {wb}")
        return DiffResult(wa, old, new, rel.diff(old, new))
    return ListResult(stack, rel.rows(project.ledger(stack), archive, service))
