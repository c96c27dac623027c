"""The main job's check that the state describes the cluster it deploys to.

A local cluster that was stopped and started again (or replaced: ``start --nodes real`` over a
kwok one) is empty, while the stack's state still lists every object of the last update. A
plain ``pulumi up`` then diffs the program against that state, finds nothing to do, prints
"25 unchanged" and the outputs: success over a cluster without the ``apps`` namespace.

``before``: every Kubernetes object the state lists is looked up in the cluster (one
``kubectl get`` per namespace); those that are missing leave the state through a targeted
``pulumi refresh`` (it only learns they are gone: no drift of a live object is accepted), so
the ``pulumi up`` that follows creates them. ``after``: the same lookup must find every object,
or the main job fails instead of printing success. ``before`` first settles the pending creates
a killed update left (``pending.py``), on every target.

    immutable-ops -C PROJECT_DIR converge STACK before|after     (hidden; scripts/lib.sh)
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cutover import Connection, connection_for
from .errors import OpsError
from .live import Target, targets
from .pending import settle as settle_pending

if TYPE_CHECKING:
    from .workspace import Project

_TIMEOUT = 60


def missing(deployment: Mapping[str, Any], project_dir: Path, env: Mapping[str, str]) -> tuple[list[Target], list[str]]:
    """The state's Kubernetes objects the cluster lacks, and notes on what could not be checked."""
    resources: Sequence[Mapping[str, Any]] = list(deployment.get("resources") or [])
    groups: dict[tuple[str, str | None], list[Target]] = {}
    for t in targets(deployment):
        groups.setdefault((t.provider, t.namespace), []).append(t)
    gone: list[Target] = []
    notes: list[str] = []
    for (provider, namespace), group in groups.items():
        connection = connection_for(resources, provider, project_dir, env)
        if isinstance(connection, str):
            notes.append(f"{len(group)} object(s) not checked: {connection}")
            continue
        present = _present(connection, namespace, group)
        gone += [t for t in group if (t.kind.lower(), t.name) not in present]
    return gone, notes


def _present(connection: Connection, namespace: str | None, group: Sequence[Target]) -> set[tuple[str, str]]:
    """(lower-case kind, name) of the objects of ``group`` that exist."""
    with connection.args() as base:
        cmd = [*base, "get", *(t.resource_arg for t in group), "-o", "name", "--ignore-not-found"]
        if namespace:
            cmd += ["-n", namespace]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT)
    if proc.returncode != 0:
        raise OpsError("could not read the stack's objects from the cluster", details=proc.stderr.strip()[-2000:])
    found = set()
    for line in proc.stdout.split():
        kind, _, name = line.partition("/")
        found.add((kind.split(".", 1)[0].lower(), name))
    return found


def before(project: Project, stack: str) -> int:
    if not project.has_state(stack):
        return 0
    # A killed update's pending creates first (any target): the update must not inherit them.
    state = project.export_state(stack)
    if settle_pending(project, stack, state):
        state = project.export_state(stack)
    deployment = state.get("deployment") or {}
    if not targets(deployment):
        return 0  # no Kubernetes objects (a Docker or AWS stack, or a first deploy)
    gone, notes = missing(deployment, project.dir, project.env)
    for note in notes:
        print(f"cluster check: {note}", file=sys.stderr)
    if not gone:
        if not notes:
            print(f"cluster check: every object the state of {stack} lists is in the cluster", file=sys.stderr)
        return 0
    shown = ", ".join(f"{t.kind}/{t.name}" for t in gone[:6]) + (f" (+{len(gone) - 6} more)" if len(gone) > 6 else "")
    print(f"cluster check: the state of {stack} lists {len(gone)} object(s) the cluster does not have ({shown}); "
          "refreshing them out of the state so that the update creates them", file=sys.stderr)
    args = ["refresh", "--yes", "--skip-preview", "--stack", stack]
    for t in gone:
        args += ["--target", t.urn]
    code, stdout, stderr = project.run(args)
    if code != 0:
        print(f"{stdout[-2000:]}\n{stderr[-2000:]}", file=sys.stderr)
        return 1
    return 0


def after(project: Project, stack: str) -> int:
    deployment = project.export(stack)
    if not targets(deployment):
        return 0
    gone, notes = missing(deployment, project.dir, project.env)
    for note in notes:
        print(f"cluster check: {note}", file=sys.stderr)
    if gone:
        print(f"cluster check: after the update, {len(gone)} object(s) of {stack} are still missing from the "
              f"cluster: {', '.join(f'{t.kind}/{t.name}' for t in gone)}", file=sys.stderr)
        return 1
    if not notes:
        print(f"cluster check: all {len(targets(deployment))} Kubernetes objects of {stack} are in the cluster",
              file=sys.stderr)
    return 0

