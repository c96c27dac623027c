"""``history <stack>``: the releases a stack has run, from its updates and its ledger (pure).

Each update in the stack's history carries the ledger it ran with (its config) and, on
the file backend, the outputs it left (release id per workload). A row is one workload
in one update: which release became active, its artifact (image digest or AMI), when, by
which update, and with what result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..ledger import WorkloadLedger
from ..records import ReleaseArchive
from .records import UpdateRecord

CHANGES = ("deployed", "rolled back", "promoted", "failed", "unchanged", "destroyed")


@dataclass(frozen=True)
class HistoryRow:
    update: int
    kind: str
    started: datetime
    seconds: float | None
    result: str
    message: str
    by: str
    workload: str
    release: str | None
    """Release id made active (``None``: unknown, e.g. a failed update)."""
    artifact: str | None
    note: str | None
    previous: str | None
    """The release that was active before this update."""
    change: str
    """``deployed`` (a new release), ``rolled back`` (back to an earlier one), ``promoted`` (the
    exact release of another stack), ``failed``, ``unchanged`` or ``destroyed``. Rollbacks and
    promotions are events of the serving order (the ledger's ``event``, or the update's message)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "update": self.update, "kind": self.kind, "started": self.started.isoformat(),
            "seconds": self.seconds, "result": self.result, "message": self.message, "by": self.by,
            "workload": self.workload, "release": self.release, "artifact": self.artifact, "note": self.note,
            "previous": self.previous, "change": self.change,
        }


def _note(ledger: WorkloadLedger | None, artifact: str | None) -> str | None:
    if ledger is None or artifact is None:
        return None
    return next((e.note for e in ledger.releases if e.artifact == artifact), None)


def _older(ledger: WorkloadLedger | None, artifact: str | None, than: str | None) -> bool:
    """``artifact`` comes before ``than`` in the ledger (moving to it goes back in time)."""
    if ledger is None or artifact is None or than is None:
        return False
    order = [e.artifact for e in ledger.releases]
    return artifact in order and than in order and order.index(artifact) < order.index(than)


def _event(record: UpdateRecord, ledger: WorkloadLedger | None, release: str, seen: set[str], artifact: str | None,
           before: str | None) -> str:
    """How ``release`` came to serve in this update: the ledger's event for it (the serving
    order), else the update's message, else (ledgers of the previous format) by ledger position."""
    event = ledger.active_entry.how if ledger is not None and ledger.active_entry.key in (release, artifact) else None
    if record.is_rollback or event == "rollback":
        return "rolled back"
    if record.is_promotion or event == "promotion":
        return "promoted"
    if release in seen and _older(ledger, artifact, before):
        return "rolled back"
    return "deployed"


def rows(records: Sequence[UpdateRecord], *, include_unchanged: bool = False) -> list[HistoryRow]:
    """History rows, oldest first. Without ``include_unchanged`` only the updates that
    changed (or tried to change) an active release are listed."""
    out: list[HistoryRow] = []
    active: dict[str, str] = {}
    """workload -> release (or artifact when outputs are unknown) active after the last success"""
    artifacts: dict[str, str | None] = {}
    seen: dict[str, set[str]] = {}
    for record in records:
        if record.kind not in ("update", "destroy"):
            continue
        def row(workload: str, release: str | None, artifact: str | None, note: str | None, previous: str | None,
                change: str, record: UpdateRecord = record) -> HistoryRow:
            return HistoryRow(record.number, record.kind, record.start, record.seconds, record.result, record.message,
                              record.by, workload, release, artifact, note, previous, change)

        if record.kind == "destroy":
            if record.succeeded:
                for name in sorted(active):
                    out.append(row(name, None, None, None, active[name], "destroyed"))
                active.clear()
            continue
        states = record.workloads()
        added = 0
        for name in sorted(set(states) | set(record.ledger) | set(active)):
            ledger = record.ledger.get(name)
            asked = ledger.active_artifact if ledger else None
            state = states.get(name) if record.succeeded else None
            previous = active.get(name)
            if state is not None:
                key = state.release
                artifact = state.artifact or asked
                if previous is None:
                    change = "deployed"
                elif key == previous:
                    change = "unchanged"
                else:
                    change = _event(record, ledger, key, seen.get(name, set()), artifact, artifacts.get(name))
                active[name] = key
                artifacts[name] = artifact
                seen.setdefault(name, set()).update({key, *state.kept})
                release: str | None = key
            elif record.succeeded and asked is not None:  # no outputs (non-file backend): by artifact
                artifact = asked
                change = "unchanged" if artifacts.get(name) == asked else (
                    "rolled back" if asked in seen.get(name, set()) else "deployed")
                active[name] = asked
                artifacts[name] = asked
                seen.setdefault(name, set()).add(asked)
                release = None
            elif not record.succeeded:
                artifact = asked
                change = "failed" if asked is not None and asked != artifacts.get(name) else "unchanged"
                release = None
            else:
                continue
            if change == "unchanged" and not include_unchanged:
                continue
            added += 1
            out.append(row(name, release, artifact, _note(ledger, artifact), previous, change))
        if not record.succeeded and added == 0:
            out.append(row("-", None, None, None, None, "failed"))
    return out


def short_artifact(artifact: str | None, width: int = 19) -> str:
    """``registry/acme/web@sha256:3bd05339...`` -> ``web@sha256:3bd05339``; AMI ids unchanged."""
    if not artifact:
        return "-"
    if "@sha256:" in artifact:
        repo, digest = artifact.split("@sha256:", 1)
        return f"{repo.rsplit('/', 1)[-1]}@sha256:{digest[:8]}"
    return artifact if len(artifact) <= width + 20 else artifact[: width + 17] + "..."


def changed_settings(row: HistoryRow, archive: ReleaseArchive | None) -> list[str] | None:
    """The settings (top-level names) that differ between the previous release and this one,
    from the stack's release records: ``[]`` when the row made no other release active,
    ``None`` when one of the two is not recorded (unknown)."""
    if archive is None or row.change not in ("deployed", "rolled back", "promoted") or not row.previous or not row.release \
            or row.previous == row.release:
        return []
    old, new = archive.get(row.workload, row.previous), archive.get(row.workload, row.release)
    if old is None or new is None:
        return None
    return list(dict.fromkeys(path.split(".", 1)[0] for path in new.changes_from(old)))


def what_changed(row: HistoryRow, archive: ReleaseArchive | None) -> str:
    """:func:`changed_settings` as a table cell: ``?`` when unknown."""
    names = changed_settings(row, archive)
    return "?" if names is None else ", ".join(names)


def table(history: Sequence[HistoryRow], archive: ReleaseArchive | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and cells, shared by the terminal table and the Markdown one."""
    header = ["#", "when (UTC)", "workload", "change", "release", "artifact", "note", "result", "took", "message"]
    if archive is not None:
        header.insert(6, "what changed")
    cells = []
    for row in history:
        release = row.release or "-"
        if row.change in ("deployed", "rolled back", "promoted") and row.previous and row.previous != row.release:
            release = f"{row.previous} → {release}"
        cell = [
            f"#{row.update}", row.started.strftime("%Y-%m-%d %H:%M"), row.workload, row.change, release,
            short_artifact(row.artifact), row.note or "", row.result,
            f"{row.seconds:.0f}s" if row.seconds is not None else "", row.message,
        ]
        if archive is not None:
            cell.insert(6, what_changed(row, archive))
        cells.append(cell)
    return header, cells


def as_json(stack: str, history: Sequence[HistoryRow], archive: ReleaseArchive | None = None) -> dict[str, Any]:
    """Each row's fields and, as the table's "what changed" column, ``what_changed``: the
    settings that differ from the previous release (``null``: one of them is not recorded)."""
    return {"stack": stack, "releases": [{**r.as_dict(), "what_changed": changed_settings(r, archive)} for r in history]}


def releases_seen(records: Sequence[UpdateRecord]) -> dict[str, dict[str, str | None]]:
    """workload -> {release id -> artifact} for every release any successful update made
    active or kept (used to tell "not kept any more" from "unknown")."""
    out: dict[str, dict[str, str | None]] = {}
    for record in records:
        if not record.succeeded:
            continue
        for name, state in record.workloads().items():
            known = out.setdefault(name, {})
            known.setdefault(state.release, state.artifact)
            for rid in state.kept:
                known.setdefault(rid, state.artifacts.get(rid))
            for rid, artifact in state.artifacts.items():
                known[rid] = known.get(rid) or artifact
    return out

