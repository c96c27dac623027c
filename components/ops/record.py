"""``record <stack>``: write the releases a stack runs (or is about to run) into its ledger
and release archive, so every release that ever ran can be kept and rolled back to exactly.

The program tells what it has no record of (a preview with ``IMMUTABLE_RECORDS_OUT`` set):
- *legacy* entries (from the previous library version, or an artifact added by hand) get
  their ``release`` id and a record; nothing is replaced (the ids are the ones running);
- a *new* release (today's code differs from the newest record) is appended and active.

:func:`plan` is pure (ledgers + archive + what the program published -> the edit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..ledger import WorkloadLedger
from ..records import ReleaseArchive, ReleaseRecord
from .errors import OpsError


@dataclass
class RecordPlan:
    stack: str
    before: dict[str, WorkloadLedger]
    after: dict[str, WorkloadLedger]
    archive: ReleaseArchive
    recorded: list[tuple[str, str, str]] = field(default_factory=list)
    """(workload, release id, ``legacy`` or ``new``)."""

    @property
    def changed(self) -> bool:
        return bool(self.recorded)


def _record(raw: Mapping[str, Any]) -> ReleaseRecord:
    record = ReleaseRecord(str(raw["release"]), str(raw["artifact"]), dict(raw["settings"]))
    if record.derived_id != record.release:
        raise OpsError(f"the program published release {record.release} whose settings hash to {record.derived_id}")
    return record


def plan(stack: str, ledgers: Mapping[str, WorkloadLedger], archive: ReleaseArchive,
         published: Mapping[str, Any]) -> RecordPlan:
    after = dict(ledgers)
    result = RecordPlan(stack, dict(ledgers), after, archive)
    for workload, data in sorted(published.items()):
        ledger = after.get(workload)
        if ledger is None:
            continue
        for raw in data.get("legacy") or []:
            record = _record(raw)
            index = next((i for i, e in enumerate(ledger.releases) if e.release is None and e.artifact == record.artifact),
                         None)
            if index is None:
                continue
            ledger = ledger.recorded(index, record.release)
            archive.add(workload, record)
            result.recorded.append((workload, record.release, "legacy"))
        new = data.get("new")
        if new:
            record = _record(new)
            note = ledger.active_entry.note
            ledger = ledger.appended(record.artifact, note, release=record.release)
            archive.add(workload, record)
            result.recorded.append((workload, record.release, "new"))
        after[workload] = ledger
    # Records are never pruned: a ledger restored from git (or an older release) can always be
    # registered exactly again; the archive is the stack's whole release history.
    return result
