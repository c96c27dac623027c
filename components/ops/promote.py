"""``promote <from> <to>``: copy the exact tested artifact to the next stack; never rebuild.

The release promoted is the one the source stack *runs* (read from its state), and it must be
the one its ledger points at, recorded: an entry someone added but never deployed was not
tested. Its exact record is copied to the target's release archive, and its entry appended
to the end of the target's serving order with ``event: promotion``, so the target runs the same release id (same image,
config, env and secret versions) whatever the code says; then the target is previewed and
guarded.

:func:`plan` is pure; :func:`apply` edits the target's ``Pulumi.<stack>.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..ledger import LedgerEntry, WorkloadLedger
from ..records import ReleaseArchive, ReleaseRecord
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
    record: ReleaseRecord | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "artifact": self.artifact, "note": self.note,
                "source_release": self.source_release, "replaces_artifact": self.target_artifact}


def message(source: str, target: str, promotions: Sequence[Promotion]) -> str:
    items = ", ".join(f"{p.workload} {p.source_release}" for p in promotions)
    return f"{PROMOTE_MESSAGE} {source} → {target}: {items}"


def plan(source: str, target: str, source_state: Mapping[str, WorkloadState],
         source_ledgers: Mapping[str, WorkloadLedger], target_ledgers: Mapping[str, WorkloadLedger],
         workloads: Sequence[str] = (), source_archive: ReleaseArchive | None = None,
         target_state: Mapping[str, WorkloadState] | None = None) -> list[Promotion]:
    """What to copy; raises ``OpsError(BAD_INPUT)`` before anything is written.

    ``target_state`` (what the target serves, from its state) keeps the target's serving order
    true: a release its ledger lists after the serving one never served and leaves the order."""
    target_state = target_state or {}
    source_archive = source_archive if source_archive is not None else ReleaseArchive()
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
        entry = ledger.find(state.release) if ledger is not None else None
        if ledger is not None and entry is None and ledger.active_entry.release is None \
                and ledger.active_artifact == artifact and not source_archive.records.get(name):
            # A program that keeps no release records (no releases/<stack>.yaml for this workload):
            # the tested artifact is promoted as an unrecorded entry, the previous behaviour.
            before = target_ledgers.get(name)
            if before is not None and before.active_artifact == artifact and before.active_entry.release is None:
                continue
            after = before.appended(artifact, ledger.active_entry.note) if before else WorkloadLedger(
                releases=[LedgerEntry(artifact=artifact, note=ledger.active_entry.note)])
            out.append(Promotion(name, artifact, ledger.active_entry.note, state.release,
                                 before.active_artifact if before else None, before, after, None))
            continue
        if ledger is None or entry is None or ledger.active_entry != entry:
            pointed = (ledger.active_entry.release or ledger.active_artifact) if ledger else "nothing"
            raise OpsError(f"{source!r} runs release {state.release} of {name} but its ledger points at {pointed}: "
                           "promote only what is recorded and tested",
                           hint=f"immutable-ops record {source}, deploy {source} (pulumi up -s {source}), then promote")
        before = target_ledgers.get(name)
        if before is not None and before.active_entry.release == state.release:
            continue
        record = source_archive.get(name, state.release)
        if record is None:
            raise OpsError(f"no record of {name} {state.release} in releases/{source}.yaml",
                           hint=f"immutable-ops record {source} and commit it, then promote")
        # The exact record, as a promotion event at the end of the serving order: the target runs
        # the same release id as the source, and what it served before is its newest kept release.
        serving = target_state.get(name)
        base = before.migrated() if before is not None else None
        stale = base.never_served(serving.release, retry=False) if base is not None and serving else []
        after = base.appended(artifact, entry.note, release=state.release, event="promotion") if base else \
            WorkloadLedger(releases=[LedgerEntry(artifact=artifact, release=state.release, note=entry.note,
                                                 event="promotion")])
        after = after.dropping(stale)  # listed after what the target serves: never served (a failed update)
        out.append(Promotion(name, artifact, entry.note, state.release,
                             before.active_artifact if before else None, before, after, record))
    return out


def apply(project: Project, target: str, promotions: Sequence[Promotion]) -> None:
    """Write the target's ledger and release archive (call inside ``project.ledger_edit(target)``)."""
    archive = project.archive(target)
    for item in promotions:
        if item.record is not None:
            archive.add(item.workload, item.record)
        project.write_ledger(target, item.workload, item.before, item.after)
    project.save_archive(target, archive)
