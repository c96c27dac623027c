"""``record <stack>``: write the releases a stack runs (or is about to run) into its ledger
and release archive, so every release that ever ran can be kept and rolled back to exactly.

The program tells what it has no record of (a preview with ``IMMUTABLE_RECORDS_OUT`` set):
- *legacy* entries (from the previous library version, or an artifact added by hand) get
  their ``release`` id and a record; nothing is replaced (the ids are the ones running);
- a *new* release (today's code differs from the newest record) is appended and active.

It also keeps the serving order true (see :mod:`immutable_infra.ledger`), from what the
stack's state says serves:
- a recorded release listed after the one that serves never served (its update failed): it
  leaves the order when the next release is recorded (its record stays in the archive);
- deploying after a rollback needs no edit but appending the artifact (the rolled-back-to
  release stays the first kept); with a ledger of the previous format (an ``active`` pin), an
  artifact appended after the pin that the stack has never run is moved after it: it is the
  release to deploy, and the pinned one, which serves, the first kept;
- while a rolled-back (or promoted) release runs exactly as recorded and today's code would
  make another release of it, nothing is deployed and the note says the exact next step.

Every ledger it writes is in the current form (no ``active`` pointer).

:func:`plan` is pure (ledgers + archive + what the program published + what serves -> the edit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..ledger import LedgerEntry, WorkloadLedger
from ..records import ReleaseArchive, ReleaseRecord
from .errors import OpsError
from .records import WorkloadState
from .workspace import Project


@dataclass
class RecordPlan:
    stack: str
    before: dict[str, WorkloadLedger]
    after: dict[str, WorkloadLedger]
    archive: ReleaseArchive
    recorded: list[tuple[str, str, str]] = field(default_factory=list)
    """(workload, release id, ``legacy`` or ``new``)."""
    notes: list[str] = field(default_factory=list)
    """What else changed in the order, or what the user must do next (printed by the CLI)."""

    @property
    def changed(self) -> bool:
        return bool(self.recorded) or any(self.after[w] != self.before.get(w) for w in self.after)


def _record(raw: Mapping[str, Any]) -> ReleaseRecord:
    record = ReleaseRecord(str(raw["release"]), str(raw["artifact"]), dict(raw["settings"]))
    if record.derived_id != record.release:
        raise OpsError(f"the program published release {record.release} whose settings hash to {record.derived_id}")
    return record


def plan(stack: str, ledgers: Mapping[str, WorkloadLedger], archive: ReleaseArchive,
         published: Mapping[str, Any], serving: Mapping[str, WorkloadState] | None = None) -> RecordPlan:
    """``serving``: what the stack's state says each workload runs (``None``/absent: never deployed)."""
    serving = serving or {}
    after = dict(ledgers)
    result = RecordPlan(stack, dict(ledgers), after, archive)
    for workload, data in sorted(published.items()):
        ledger = after.get(workload)
        if ledger is None:
            continue
        state = serving.get(workload)
        if ledger.active is not None:
            ledger = _migrate_pin(stack, workload, ledger, state, result.notes)
        # Recorded releases listed after the one that serves never served (a failed update): found
        # before this record moves anything (re-recording the serving release moves it to the end).
        stale = ledger.never_served(state.release, retry=False) if state is not None else []
        for raw in data.get("legacy") or []:
            record = _record(raw)
            index = next((i for i, e in enumerate(ledger.releases) if e.release is None and e.artifact == record.artifact),
                         None)
            if index is None:
                continue
            ledger = ledger.recorded(index, record.release).migrated()
            archive.add(workload, record)
            result.recorded.append((workload, record.release, "legacy"))
        new = data.get("new")
        if new:
            record = _record(new)
            note = ledger.active_entry.note
            ledger = ledger.appended(record.artifact, note, release=record.release)
            archive.add(workload, record)
            result.recorded.append((workload, record.release, "new"))
        gone = [e for e in stale if e is not ledger.active_entry]
        if state is not None and gone:
            # The last one stays: it is the release the next update deploys (a retry).
            ledger = ledger.dropping(gone)
            result.notes.append(f"{workload}: {', '.join(e.key for e in gone)} never served ({state.release} "
                                "serves: its update failed); out of the serving order, its record stays")
        held = data.get("held")
        if held and not new:
            at = len(ledger.releases)
            result.notes.append(
                f"{workload}: {ledger.active_entry.key} runs exactly as recorded ({ledger.active_entry.how}); today's "
                f"code would make {held} of the same artifact, which is not deployed. To deploy it, append the artifact "
                f"and record again: pulumi config set --path 'immutable:ledger.{workload}.releases[{at}].artifact' "
                f"'{ledger.active_artifact}' -s {stack} && immutable-ops record {stack}")
        after[workload] = ledger
    # Records are never pruned: a ledger restored from git (or an older release) can always be
    # registered exactly again; the archive is the stack's whole release history.
    return result


def serving_state(project: Project, stack: str) -> dict[str, WorkloadState]:
    """What the stack's state says each workload serves; empty for a stack never deployed."""
    try:
        return project.workloads(stack)
    except OpsError:
        return {}


def _migrate_pin(stack: str, workload: str, ledger: WorkloadLedger, state: WorkloadState | None,
                 notes: list[str]) -> WorkloadLedger:
    """A ledger of the previous format (``active`` pin) in the current form. An unrecorded entry
    listed after the pinned one whose artifact the stack has never run was appended to deploy
    it (the previous format asked to remove the pin by hand): it goes after the pinned one."""
    pinned = ledger.active_index
    ran: set[str] = set()
    if state is not None:
        ran = {*state.artifacts.values(), *([state.artifact] if state.artifact else [])}
    appended = [e for e in ledger.releases[pinned + 1:] if e.release is None and e.artifact not in ran]
    migrated = ledger.migrated()
    if not appended:
        return migrated
    keys = {e.key for e in appended}
    order: list[LedgerEntry] = [e for e in migrated.releases if e.key not in keys] + appended
    notes.append(f"{workload}: {', '.join(e.artifact for e in appended)} appended after the pin on "
                 f"{ledger.active_entry.key}: deployed next, {ledger.active_entry.key} is the first kept "
                 f"(Pulumi.{stack}.yaml now lists the releases in serving order, without `active`)")
    return WorkloadLedger(releases=order)
