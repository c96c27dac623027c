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
    """Active and running exactly as recorded (after a rollback, a promotion or a pin)."""
    changes: tuple[str, ...]
    """Settings that differ from the release that served before it (empty for the first)."""
    event: str = "deploy"
    """How it last came to serve: ``deploy``, ``rollback``, ``promotion`` or ``pin``."""
    kept: int | None = None
    """Its place among the kept releases (1: the first a rollback goes to), ``None`` for the
    active one and for an earlier listing; the program keeps the first ``keep_previous``."""
    earlier: bool = False
    """An earlier time this release served (it is listed again later: a rollback, a promotion)."""

    @property
    def role(self) -> str:
        return "active" if self.active else f"kept #{self.kept}" if self.kept else "served earlier"


def rows(ledgers: Mapping[str, WorkloadLedger], archive: ReleaseArchive, workload: str | None = None) -> list[ReleaseRow]:
    """One row each time a release started to serve, in serving order (oldest first, the active
    one last): the order the kept releases are chosen from (:meth:`WorkloadLedger.kept_entries`)."""
    out = []
    for name, ledger in sorted(ledgers.items()):
        if workload and name != workload:
            continue
        previous: ReleaseRecord | None = None
        serving = ledger.serving
        rank = {e.key: i + 1 for i, e in enumerate(ledger.kept_entries())}
        latest = {id(e) for e in ledger.latest()}
        for index, entry in enumerate(serving):
            record = archive.get(name, entry.release) if entry.release else None
            changes: tuple[str, ...] = ()
            if record is not None and previous is not None:
                changes = tuple(record.changes_from(previous))
            last = index == len(serving) - 1
            now = id(entry) in latest
            out.append(ReleaseRow(name, entry.release or "(unrecorded)", entry.artifact, entry.note,
                                  last, last and ledger.pinned, changes, entry.how,
                                  rank.get(entry.key) if now and not last else None, not now))
            previous = record or previous
    return out


def serving_order(ledgers: Mapping[str, WorkloadLedger]) -> dict[str, list[dict[str, str | None]]]:
    """workload -> its releases newest served first, each once (the active one, then the kept
    ones in the order a rollback takes them), with how each last came to serve: for ``-f json``."""
    return {name: [{"release": e.release, "artifact": e.artifact, "event": e.how} for e in reversed(ledger.latest())]
            for name, ledger in sorted(ledgers.items())}


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
