"""``rollback <stack> [--to RELEASE]``: serve a kept release again, and deploy.

The ledger records it as an event in the serving order: the kept release is listed once more
at the end with ``event: rollback`` (see :mod:`immutable_infra.ledger`), so the release rolled
back from becomes the newest kept one, and a deploy after the rollback needs nothing but a
new artifact appended.

A kept release is still there, exactly as it ran (its Deployment scaled down, its config
objects alive, registered from its record), so a rollback creates nothing: the same
``pulumi up`` as a deploy moves the traffic back, to the old image *and* the old config,
env and secret versions. Only kept releases qualify; an older one would have to be rebuilt,
which is a deploy. What is active afterwards is read from the resources in state.

A *warm* kept release (``keep_mode: warm``) gets its traffic back before the update starts
(``cutover.py``): the engine's fixed cost is then spent after the traffic moved, not before.

:func:`plan` is pure (outputs + ledger -> the edit); :func:`run` applies it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..ledger import WorkloadLedger
from . import cutover
from .errors import ExitCode, OpsError
from .records import ROLLBACK_MESSAGE, WorkloadState
from .workspace import OnOutput, Project


@dataclass(frozen=True)
class RollbackPlan:
    stack: str
    workload: str
    from_release: str
    to_release: str
    artifact: str
    before: WorkloadLedger
    after: WorkloadLedger

    @property
    def message(self) -> str:
        return f"{ROLLBACK_MESSAGE} {self.workload} {self.from_release} → {self.to_release}"


@dataclass(frozen=True)
class RollbackResult:
    plan: RollbackPlan
    seconds: float
    """Wall clock from the ledger edit to the verified outputs."""
    up_seconds: float
    summary: Mapping[str, int]
    traffic_seconds: float | None = None
    """From the start to the traffic moved, when it moved before the update (warm kept release)."""
    traffic_note: str | None = None
    """Why the traffic moved with the update instead (``None`` when it moved first)."""

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.plan.stack, "workload": self.plan.workload, "from": self.plan.from_release,
                "to": self.plan.to_release, "artifact": self.plan.artifact, "seconds": round(self.seconds, 2),
                "up_seconds": round(self.up_seconds, 2), "changes": dict(self.summary),
                "traffic_seconds": None if self.traffic_seconds is None else round(self.traffic_seconds, 2),
                "traffic_first": self.traffic_seconds is not None, "traffic_note": self.traffic_note}


def _matches(query: str, release: str, artifact: str | None) -> bool:
    q = query.strip()
    if len(q) >= 4 and release.startswith(q):
        return True
    if artifact:
        digest = artifact.split("@", 1)[-1]
        hexpart = digest.split(":", 1)[-1]
        if q in (artifact, digest) or (len(q) >= 8 and hexpart.startswith(q.removeprefix("sha256:"))):
            return True
    return False


def plan(stack: str, workloads: Mapping[str, WorkloadState], ledgers: Mapping[str, WorkloadLedger], *,
         to: str | None = None, workload: str | None = None,
         known: Mapping[str, Mapping[str, str | None]] | None = None) -> RollbackPlan:
    """Resolve ``--to`` (release id or unique prefix, artifact or digest) and ``--service``
    against the stack's outputs; raise ``OpsError(BAD_INPUT)`` for anything unclear.

    ``known`` (workload -> release -> artifact, from history) lets an old release that is no
    longer kept be told apart from one that never existed."""
    known = known or {}
    if not workloads:
        raise OpsError(f"stack {stack!r} exports no releases (no `<workload>_release` outputs)",
                       hint="deploy it with the immutable components first")
    if workload is not None and workload not in workloads:
        raise OpsError(f"unknown workload {workload!r} in stack {stack!r}", hint=f"use one of: {', '.join(workloads)}")
    scope = {workload: workloads[workload]} if workload else dict(workloads)
    kept_list = "; ".join(f"{n}: {', '.join(s.kept) or 'none'}" for n, s in scope.items())

    if to is None:
        with_kept = [s for s in scope.values() if s.kept]
        if not with_kept:
            raise OpsError(f"nothing to roll back to in {stack!r}: no kept release ({kept_list})",
                           hint="a workload keeps previous releases with keep_previous >= 1")
        if len(with_kept) > 1:
            raise OpsError(f"several workloads of {stack!r} have kept releases ({', '.join(s.name for s in with_kept)})",
                           hint="pass --service NAME (newest kept release) or --to RELEASE")
        state, target = with_kept[0], with_kept[0].kept[0]
    else:
        hits = [(s, rid) for s in scope.values() for rid in dict.fromkeys([s.release, *s.kept, *s.artifacts])
                if _matches(to, rid, s.artifacts.get(rid))]
        if not hits:
            old = [(n, rid) for n, releases in known.items() if n in scope for rid, art in releases.items()
                   if _matches(to, rid, art)]
            if old:
                name, rid = old[0]
                raise OpsError(f"release {rid} of {name} is not kept in {stack!r} any more (kept: "
                               f"{', '.join(scope[name].kept) or 'none'}); nothing was changed",
                               hint="rolling back to it would rebuild it: deploy it as a new release instead "
                                    "(append its artifact to the ledger)")
            raise OpsError(f"unknown release {to!r} in stack {stack!r}; nothing was changed",
                           hint=f"kept releases are {kept_list}")
        if len({(s.name, rid) for s, rid in hits}) > 1:
            raise OpsError(f"{to!r} matches several releases: {', '.join(f'{s.name} {rid}' for s, rid in hits)}",
                           hint="give more characters of the release id")
        state, target = hits[0]
        if target == state.release:
            raise OpsError(f"release {target} is already the active release of {state.name} in {stack!r}")
        if target not in state.kept:
            raise OpsError(f"release {target} of {state.name} is not kept in {stack!r} (kept: "
                           f"{', '.join(state.kept) or 'none'}); nothing was changed",
                           hint="rolling back to it would rebuild it: deploy it as a new release instead")
    artifact = state.artifacts.get(target)
    if not artifact:
        raise OpsError(f"the outputs of {stack!r} do not say which artifact release {target} of {state.name} runs",
                       hint=f"export `{state.name}_images` (release -> artifact) from the program")
    before = ledgers.get(state.name)
    entry = before.find(target) if before is not None else None
    if entry is None and before is not None:
        entry = next((e for e in before.releases if e.release is None and e.artifact == artifact), None)
    if before is None or entry is None:
        raise OpsError(f"the ledger of {stack!r} has no entry for release {target} of {state.name} ({artifact})",
                       hint=f"Pulumi.{stack}.yaml and the deployed stack disagree: restore the entry first")
    # The exact release serves again (its record: old image *and* old config, env, secret
    # versions): an event in the serving order. Releases listed after the one that serves never
    # served (a failed update) and leave the order, so they are not kept before it.
    base = before.migrated()
    stale = [e for e in base.never_served(state.release, retry=False) if e.key != entry.key]
    return RollbackPlan(stack, state.name, state.release, target, artifact, before,
                        base.pointed_at(entry.key).dropping(stale))


def run(project: Project, rollback: RollbackPlan, *, deployment: Mapping[str, Any] | None = None,
        traffic_first: bool = True, on_output: OnOutput | None = None) -> RollbackResult:
    """Move the traffic first when the kept release is warm, edit the ledger, ``pulumi up``.

    If anything fails, the ledger is restored and the traffic moved back: nothing changed.
    ``deployment`` is the stack's state as the plan read it (exported again when absent)."""
    start = time.monotonic()
    moved: cutover.CutoverPlan | None = None
    traffic_seconds: float | None = None
    note: str | None = "traffic first is off (--traffic-with-update)"
    with project.ledger_edit(rollback.stack):
        try:
            if traffic_first:
                cut = cutover.plan(project.export(rollback.stack) if deployment is None else deployment,
                                   rollback.workload, rollback.from_release, rollback.to_release,
                                   project_dir=project.dir, env=project.env)
                note = cut if isinstance(cut, str) else cut.check()
                if isinstance(cut, cutover.CutoverPlan) and note is None:
                    cut.move()
                    moved, traffic_seconds = cut, time.monotonic() - start
                    if on_output is not None:
                        on_output(f"traffic moved to {rollback.to_release} in {traffic_seconds:.1f}s; "
                                  "the update now records it\n")
            project.write_ledger(rollback.stack, rollback.workload, rollback.before, rollback.after)
            outcome = project.up(rollback.stack, rollback.message, on_output=on_output)
            live = project.workloads(rollback.stack).get(rollback.workload)
            now = live.release if live else outcome.outputs.get(f"{rollback.workload}_release")
            if now != rollback.to_release:
                raise OpsError(f"after the update {rollback.workload} runs {now}, not {rollback.to_release}",
                               ExitCode.PULUMI_FAILED)
        except BaseException as exc:
            if moved is not None:
                _move_back(project, rollback.stack, moved, exc)
            raise
    return RollbackResult(rollback, time.monotonic() - start, outcome.seconds, outcome.summary, traffic_seconds, note)


def _move_back(project: Project, stack: str, moved: cutover.CutoverPlan, failure: BaseException) -> None:
    """A failed rollback leaves the traffic where state has it; say so on the error.

    If the update moved the Service in state before it failed, cluster and state already agree
    (and the next update, with the restored ledger, moves it back like any other change)."""
    note: str | None = None
    try:
        if cutover.state_release(project.export(stack), moved.workload) == moved.to_release:
            note = (f"the update had moved the Service to {moved.to_release} in state before it failed; "
                    "the next update moves it back")
        else:
            moved.undo()
    except OpsError as undo:
        if isinstance(failure, OpsError):
            failure.details = "\n".join(filter(None, [failure.details, f"and moving the traffic back failed: "
                                                                        f"{undo.message} {undo.details or ''}"]))
        return
    if isinstance(failure, OpsError):
        said = note or f"the traffic was moved back to {moved.from_release}"
        failure.details = "\n".join(filter(None, [failure.details, said]))
