"""Which releases a server group runs: the active one and the kept ones. Pure.

The ledger (see DESIGN.md) is the ordered list of releases a stack has deployed, oldest
first, plus a pointer to the active one. The component gets the active spec and that list
as ``history``; it keeps the ``keep_previous`` most recent releases other than the active
one, at capacity 0 and out of the load balancer. Rollback is pointing the active spec at
an earlier entry: its group still exists, so nothing is built, it only scales back up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import Problem
from .server_group_spec import ServerGroupSpec
from .tags import group_name


@dataclass(frozen=True)
class ReleasePlan:
    """One release of the group and the name of its auto scaling group."""

    release: str
    spec: ServerGroupSpec
    group_name: str
    active: bool


@dataclass(frozen=True)
class ServerGroupPlan:
    """The active release first, then the kept ones, newest first."""

    active: ReleasePlan
    kept: tuple[ReleasePlan, ...]

    @property
    def releases(self) -> tuple[ReleasePlan, ...]:
        return (self.active, *self.kept)


def select_kept(spec: ServerGroupSpec, history: Sequence[ServerGroupSpec]) -> list[tuple[int, ServerGroupSpec]]:
    """The ``keep_previous`` most recent releases of ``history`` (oldest first) other than the
    active one, newest first, each with its index in ``history``. Duplicates count once."""
    if spec.strategy != "replace-group":
        return []
    active = spec.release
    seen = {active}
    kept: list[tuple[int, ServerGroupSpec]] = []
    for index in range(len(history) - 1, -1, -1):
        if len(kept) >= spec.keep_previous:
            break
        release = history[index].release
        if release not in seen:
            seen.add(release)
            kept.append((index, history[index]))
    return kept


def history_problems(spec: ServerGroupSpec, history: Sequence[ServerGroupSpec]) -> list[Problem]:
    """What makes ``history`` unusable with ``spec`` (every problem, with its path)."""
    problems: list[Problem] = []
    if spec.strategy == "instance-refresh" and any(h.release != spec.release for h in history):
        problems.append(Problem(
            "history", f"{len(history)} release(s)",
            "instance-refresh keeps one group, so previous releases cannot be kept",
            "pass no history (roll back by deploying the earlier spec), or use strategy replace-group"))
        return problems
    for index, previous in enumerate(history):
        for field in ("app", "env"):
            if getattr(previous, field) != getattr(spec, field):
                problems.append(Problem(
                    f"history[{index}].{field}", repr(getattr(previous, field)),
                    f"a previous release of another {field} ({getattr(spec, field)!r} is active)",
                    "keep one ledger per app and environment"))
    for index, previous in select_kept(spec, history):
        if previous.port != spec.port:
            problems.append(Problem(
                f"history[{index}].port", repr(previous.port),
                f"a kept release listens on {previous.port} but the target group forwards to {spec.port}, "
                "so rolling back to it would fail its health checks",
                "set keep_previous to 0 for the release that changes the port"))
    return problems


def plan_releases(spec: ServerGroupSpec, history: Sequence[ServerGroupSpec] = ()) -> ServerGroupPlan:
    """The releases to run: ``spec`` active, the selected ones of ``history`` kept."""
    refresh = spec.strategy == "instance-refresh"

    def plan(entry: ServerGroupSpec, active: bool) -> ReleasePlan:
        release = entry.release
        return ReleasePlan(release, entry, group_name(entry.app, entry.env, None if refresh else release), active)

    return ServerGroupPlan(plan(spec, True), tuple(plan(entry, False) for _, entry in select_kept(spec, history)))
