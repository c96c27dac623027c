"""``report``: the metrics of immutable operations, from stack histories (pure).

Definitions (per stack; every input is an update of ``pulumi stack history``):

- **deploy**: a successful update that made a new release active (first deploy included),
  by a deploy or a promotion (how a new release reaches test and prod);
  for a program that exports no releases, a successful update that changed something.
- **rollback**: an update made by ``immutable-ops rollback``, or one that made an earlier
  release active again.
- **deploy frequency**: deploys per day over the span of the history (at least one day).
- **change failure rate**: failed changes / change attempts, where a failed change is a
  failed update or a deploy that was later rolled back, and attempts = deploys + failed
  updates.
- **time to restore**: from a failure (a failed update's end, or the end of a deploy that
  was rolled back) to the end of the next successful update (median, max).
- **rollback time**: how long rollback updates took (median, last); compared with the
  first deploy of the stack (a fresh deploy) as a ratio.
- **drift**: drifted / managed resources at the last ``refresh --preview-only`` (``n/a``
  where refresh cannot run).
- **IaC coverage**: found resources under management / resources found (see coverage.py).
- **image build time**: per workload, how long its newest built artifact took to build
  (``build_seconds`` of its ledger entries, written by the image build step ``registry/apps.py``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .coverage import Coverage
from .drift import DriftReport
from .history import rows
from .records import UpdateRecord


@dataclass(frozen=True)
class StackMetrics:
    stack: str
    updates: int
    deploys: int
    failed_updates: int
    rolled_back_deploys: int
    rollbacks: int
    span_days: float
    deploys_per_day: float
    change_failure_rate: float | None
    restore_seconds: tuple[float, ...]
    rollback_seconds: tuple[float, ...]
    first_deploy_seconds: float | None
    drift: DriftReport | None = None
    drift_note: str | None = None
    coverage: Coverage | None = None
    coverage_note: str | None = None
    last_update: datetime | None = None
    image_build_seconds: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per workload, the build seconds of its ledger entries that have them, oldest first."""

    @property
    def rollback_vs_fresh(self) -> float | None:
        if not self.rollback_seconds or not self.first_deploy_seconds:
            return None
        return self.rollback_seconds[-1] / self.first_deploy_seconds

    def as_dict(self) -> dict[str, Any]:
        def stats(values: Sequence[float]) -> dict[str, float | None]:
            return {"median": statistics.median(values) if values else None,
                    "max": max(values) if values else None, "last": values[-1] if values else None}

        return {
            "stack": self.stack, "updates": self.updates, "deploys": self.deploys,
            "failed_updates": self.failed_updates, "rolled_back_deploys": self.rolled_back_deploys,
            "rollbacks": self.rollbacks, "span_days": round(self.span_days, 3),
            "deploy_frequency_per_day": round(self.deploys_per_day, 2),
            "change_failure_rate_percent": None if self.change_failure_rate is None else round(self.change_failure_rate, 1),
            "time_to_restore_seconds": stats(self.restore_seconds),
            "rollback_seconds": stats(self.rollback_seconds),
            "first_deploy_seconds": self.first_deploy_seconds,
            "rollback_vs_fresh_deploy": None if self.rollback_vs_fresh is None else round(self.rollback_vs_fresh, 3),
            "drift_percent": None if self.drift is None else round(self.drift.percent, 1),
            "drifted": [] if self.drift is None else [d.name for d in self.drift.drifted],
            "drift_note": self.drift_note,
            "iac_coverage_percent": None if self.coverage is None or self.coverage.percent is None
            else round(self.coverage.percent, 1),
            "coverage": None if self.coverage is None else self.coverage.as_dict(),
            "coverage_note": self.coverage_note,
            "last_update": self.last_update.isoformat() if self.last_update else None,
            "image_build_seconds": {w: stats(v) for w, v in sorted(self.image_build_seconds.items())},
        }


def measure(stack: str, records: Sequence[UpdateRecord], *, since: datetime | None = None,
            drift: DriftReport | None = None, drift_note: str | None = None,
            coverage: Coverage | None = None, coverage_note: str | None = None,
            image_build_seconds: dict[str, tuple[float, ...]] | None = None) -> StackMetrics:
    updates = [r for r in records if r.kind == "update" and (since is None or r.start >= since)]
    history = rows(records)
    by_update: dict[int, set[str]] = {}
    for row in history:
        by_update.setdefault(row.update, set()).add(row.change)
    if any(r.outputs and r.workloads() for r in records):
        # a promotion is how a new release reaches test and prod: a deploy of that stack
        deploys = [r for r in updates if r.succeeded and not r.is_rollback
                   and by_update.get(r.number, set()) & {"deployed", "promoted"}]
    else:  # a program without release outputs: every successful update that changed something
        deploys = [r for r in updates if r.succeeded and not r.is_rollback and
                   any(n for op, n in r.resource_changes.items() if op != "same")]
    rollbacks = [r for r in updates if r.succeeded and (r.is_rollback or "rolled back" in by_update.get(r.number, set()))]
    failed = [r for r in updates if not r.succeeded and r.result != "in-progress"]

    rolled_back: list[tuple[UpdateRecord, UpdateRecord]] = []
    """(deploy, the rollback that undid it)"""
    for rollback in rollbacks:
        workloads = {row.workload for row in history if row.update == rollback.number and row.change == "rolled back"}
        earlier = [d for d in deploys if d.number < rollback.number and
                   any(row.update == d.number and row.workload in workloads and row.change in ("deployed", "promoted")
                       for row in history)]
        if earlier and all(earlier[-1] is not pair[0] for pair in rolled_back):
            rolled_back.append((earlier[-1], rollback))

    restore: list[float] = []
    successes = [r for r in updates if r.succeeded and r.end]
    for failure in failed:
        after = next((s for s in successes if s.number > failure.number), None)
        if after is not None and after.end and failure.end:
            restore.append((after.end - failure.end).total_seconds())
    for deploy, rollback in rolled_back:
        if deploy.end and rollback.end:
            restore.append((rollback.end - deploy.end).total_seconds())

    attempts = len(deploys) + len(failed)
    cfr = 100.0 * (len(failed) + len(rolled_back)) / attempts if attempts else None
    if updates:
        first = updates[0].start
        last = max((r.end or r.start) for r in updates)
        span = max((last - first) / timedelta(days=1), 0.0)
    else:
        span = 0.0
    days = max(span, 1.0)
    first_deploy = next((r.seconds for r in deploys if r.seconds is not None), None)
    return StackMetrics(
        stack=stack, updates=len(updates), deploys=len(deploys), failed_updates=len(failed),
        rolled_back_deploys=len(rolled_back), rollbacks=len(rollbacks), span_days=span,
        deploys_per_day=len(deploys) / days if updates else 0.0, change_failure_rate=cfr,
        restore_seconds=tuple(restore), rollback_seconds=tuple(r.seconds for r in rollbacks if r.seconds is not None),
        first_deploy_seconds=first_deploy, drift=drift, drift_note=drift_note, coverage=coverage,
        coverage_note=coverage_note, last_update=max((r.end or r.start) for r in updates) if updates else None,
        image_build_seconds={w: v for w, v in (image_build_seconds or {}).items() if v},
    )


def _secs(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    median = statistics.median(values)
    return f"{_duration(median)} median, {_duration(max(values))} max ({len(values)})"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)


def table(metrics: Sequence[StackMetrics]) -> Table:
    """One column per stack, one row per metric, and how it was measured."""
    out = Table(["metric", *(m.stack for m in metrics)])

    def row(name: str, values: Sequence[str]) -> None:
        out.rows.append([name, *values])

    row("updates", [str(m.updates) for m in metrics])
    row("deploy frequency", [f"{m.deploys_per_day:.2f}/day ({m.deploys} deploy{'' if m.deploys == 1 else 's'} "
                             f"in {max(m.span_days, 1.0):.1f} d)" for m in metrics])
    row("change failure rate", ["n/a" if m.change_failure_rate is None else
                                f"{m.change_failure_rate:.0f}% ({m.failed_updates} failed, {m.rolled_back_deploys} rolled back)"
                                for m in metrics])
    row("time to restore", [_secs(m.restore_seconds) for m in metrics])
    row("rollback time", [
        "n/a" if not m.rollback_seconds else
        f"{_duration(m.rollback_seconds[-1])} last, {_duration(statistics.median(m.rollback_seconds))} median"
        + (f" ({m.rollback_vs_fresh:.2f}x a fresh deploy)" if m.rollback_vs_fresh is not None else "")
        for m in metrics])
    row("drift", [f"{m.drift.percent:.0f}% ({len(m.drift.drifted)}/{m.drift.managed})" if m.drift is not None
                  else f"n/a: {m.drift_note}" if m.drift_note else "n/a" for m in metrics])
    row("IaC coverage", [
        f"{m.coverage.percent:.0f}% ({m.coverage.matched}/{m.coverage.found} found resources managed)"
        if m.coverage is not None and m.coverage.percent is not None
        else f"n/a: {m.coverage_note}" if m.coverage_note else "n/a" for m in metrics])
    row("image build time", [
        ", ".join(f"{w} {_duration(v[-1])}" for w, v in sorted(m.image_build_seconds.items())) + " (last build)"
        if m.image_build_seconds else "n/a: no build_seconds in the ledger" for m in metrics])
    return out
