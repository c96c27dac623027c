"""``history``: the releases deployed to a stack: release, artifact, when, by which update, result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..output import Grid, View

if TYPE_CHECKING:
    from ...records import ReleaseArchive
    from ..history import HistoryRow
    from ..records import WorkloadState
    from ..workspace import Project


@dataclass
class HistoryResult:
    stack: str
    found: list[HistoryRow]
    archive: ReleaseArchive | None
    current: dict[str, WorkloadState]
    updates: int
    serving_order: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        from ..history import as_json

        data = as_json(self.stack, self.found, self.archive)
        data["current"] = {n: {"release": s.release, "artifact": s.artifact, "kept": list(s.kept)}
                           for n, s in self.current.items()}
        data["serving_order"] = self.serving_order
        return data

    def view(self) -> View:
        from ..history import table

        header, cells = table(self.found, self.archive)
        lines = []
        if self.current:
            now = ", ".join(f"{n} {s.release}" + (f" (kept: {', '.join(s.kept)})" if s.kept else "")
                            for n, s in self.current.items())
            lines.append(f"\nnow active in {self.stack}: {now}")
        if not self.updates:
            lines.append(f"{self.stack} has no updates yet")
        return View([Grid(f"Releases deployed to {self.stack}", header, cells)], lines)


def run(project: Project, stack: str, all_updates: bool) -> HistoryResult:
    from ..history import rows
    from ..releases import serving_order

    records = project.history(stack)
    found = rows(records, include_unchanged=all_updates)
    current = project.workloads(stack) if records else {}
    return HistoryResult(stack, found, project.archive(stack), current, len(records),
                         serving_order(project.ledger(stack)))
