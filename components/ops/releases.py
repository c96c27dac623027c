"""``releases <stack>``: what is in each recorded release, and what changed between two (pure).

Answers "what is in release X" (``--show X``: artifact and every setting) and "what changed
from X to Y" (``--diff X Y``: the settings that differ, by name) from the stack's ledger and
release archive alone: no engine, no state needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..ledger import WorkloadLedger
from ..records import ReleaseArchive, ReleaseRecord
from .errors import OpsError


@dataclass(frozen=True)
class ReleaseRow:
    workload: str
    release: str
    artifact: str
    note: str | None
    active: bool
    pinned: bool
    changes: tuple[str, ...]
    """Settings that differ from the previous entry of the ledger (empty for the first)."""


def rows(ledgers: Mapping[str, WorkloadLedger], archive: ReleaseArchive, workload: str | None = None) -> list[ReleaseRow]:
    out = []
    for name, ledger in sorted(ledgers.items()):
        if workload and name != workload:
            continue
        previous: ReleaseRecord | None = None
        for index, entry in enumerate(ledger.releases):
            record = archive.get(name, entry.release) if entry.release else None
            changes: tuple[str, ...] = ()
            if record is not None and previous is not None:
                changes = tuple(record.changes_from(previous))
            out.append(ReleaseRow(name, entry.release or "(unrecorded)", entry.artifact, entry.note,
                                  index == ledger.active_index, ledger.pinned and index == ledger.active_index, changes))
            previous = record or previous
    return out


def find(archive: ReleaseArchive, query: str, workload: str | None = None) -> tuple[str, ReleaseRecord]:
    """A record by id or unique prefix (>= 4 characters)."""
    hits = [(w, r) for w, records in archive.records.items() if workload in (None, w)
            for rid, r in records.items() if len(query) >= 4 and rid.startswith(query)]
    if not hits:
        raise OpsError(f"no recorded release {query!r}" + (f" of {workload}" if workload else ""),
                       hint="list them with: immutable-ops releases <stack>")
    if len(hits) > 1:
        raise OpsError(f"{query!r} matches several releases: {', '.join(f'{w} {r.release}' for w, r in hits)}",
                       hint="give more characters, or --service")
    return hits[0]


def flatten(settings: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted setting name -> value (lists and scalars are leaves)."""
    if isinstance(settings, Mapping):
        out: dict[str, Any] = {}
        for key in sorted(settings):
            out.update(flatten(settings[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: settings}


def diff(old: ReleaseRecord, new: ReleaseRecord) -> list[tuple[str, Any, Any]]:
    """(setting, value in ``old``, value in ``new``) for every setting that differs
    (which ones: ``ReleaseRecord.changes_from``, the same rule ``history`` uses)."""
    a, b = flatten(dict(old.settings)), flatten(dict(new.settings))
    return [(k, a.get(k), b.get(k)) for k in new.changes_from(old)]
