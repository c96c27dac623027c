"""``promote <from> <to>``: copy the exact tested artifact to the next stack; never rebuild.

The artifact promoted is the one the source stack *runs* (its outputs), and it must be the
one its ledger points at: an entry someone added but never deployed was not tested. The
source's ledger entry (artifact and note) is appended to the target's ledger and made
active, exactly like a deploy; then the target is previewed and guarded.

:func:`plan` is pure; :func:`apply` edits the target's ``Pulumi.<stack>.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..ledger import LedgerEntry, WorkloadLedger
from .errors import OpsError
from .records import PROMOTE_MESSAGE, WorkloadState
from .workspace import Project


@dataclass(frozen=True)
class Promotion:
    workload: str
    artifact: str
    note: str | None
    source_release: str
    target_artifact: str | None
    """What the target's ledger pointed at before."""
    before: WorkloadLedger | None
    after: WorkloadLedger

    def as_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "artifact": self.artifact, "note": self.note,
                "source_release": self.source_release, "replaces_artifact": self.target_artifact}


def message(source: str, target: str, promotions: Sequence[Promotion]) -> str:
    items = ", ".join(f"{p.workload} {p.source_release}" for p in promotions)
    return f"{PROMOTE_MESSAGE} {source} → {target}: {items}"


def plan(source: str, target: str, source_state: Mapping[str, WorkloadState],
         source_ledgers: Mapping[str, WorkloadLedger], target_ledgers: Mapping[str, WorkloadLedger],
         workloads: Sequence[str] = ()) -> list[Promotion]:
    """What to copy; raises ``OpsError(BAD_INPUT)`` before anything is written."""
    if source == target:
        raise OpsError(f"cannot promote {source!r} to itself")
    if not source_state:
        raise OpsError(f"stack {source!r} exports no releases: nothing was tested there",
                       hint=f"deploy {source} first")
    unknown = [w for w in workloads if w not in source_state]
    if unknown:
        raise OpsError(f"unknown workload(s) {', '.join(map(repr, unknown))} in stack {source!r}",
                       hint=f"use one of: {', '.join(source_state)}")
    out: list[Promotion] = []
    for name in workloads or list(source_state):
        state = source_state[name]
        artifact = state.artifact
        if not artifact:
            raise OpsError(f"the outputs of {source!r} do not say which artifact {name} runs",
                           hint=f"export `{name}_images` or `{name}_ami` from the program")
        ledger = source_ledgers.get(name)
        if ledger is None or ledger.active_artifact != artifact:
            pointed = ledger.active_artifact if ledger else "nothing"
            raise OpsError(f"{source!r} runs {artifact} for {name} but its ledger points at {pointed}: "
                           "that entry was never tested there",
                           hint=f"deploy {source} first (pulumi up -s {source}), then promote")
        entry = next(e for e in ledger.releases if e.artifact == artifact)
        before = target_ledgers.get(name)
        if before is not None and before.active_artifact == artifact:
            continue
        after = before.appended(artifact, entry.note) if before else WorkloadLedger(
            releases=[LedgerEntry(artifact=artifact, note=entry.note)])
        out.append(Promotion(name, artifact, entry.note, state.release,
                             before.active_artifact if before else None, before, after))
    return out


def apply(project: Project, target: str, promotions: Sequence[Promotion]) -> None:
    """Write the target's ledger (call inside ``project.ledger_edit(target)``)."""
    for item in promotions:
        project.write_ledger(target, item.workload, item.before, item.after)
