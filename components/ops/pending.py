"""Pending operations that a killed ``pulumi up`` leaves in the state, settled before the next update.

The engine writes an operation into the state when it starts a step and removes it when the
step ends. A killed update leaves them behind. The next update drops pending updates and
deletes by itself, but it keeps a pending *create* for ever (it cannot know whether the object
was made) and warns about it on every later update, asking for an interactive refresh.

Here the answer is known per kind of object, so the main job settles them without asking:

- **Kubernetes objects** (and every object whose create is idempotent, such as render mode's
  files): the pending create is cleared and the next update creates the object again. The
  Kubernetes provider creates by server-side apply, which adopts an object of the same name
  that the killed update made, so nothing is duplicated.
- **Docker containers, networks and volumes**: a create under a name that exists fails, so an
  object that the killed update made is imported into the state (``pulumi refresh
  --import-pending-creates URN ID``); one it never made is cleared.

Clearing edits the exported state and imports it back (``stack import``), which needs no provider:
a render-mode stack cannot refresh at all. ``plan`` decides; ``settle`` carries it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ExitCode, OpsError

if TYPE_CHECKING:
    from .workspace import Project

DOCKER_NAMED = {
    "docker:index/container:Container": "container",
    "docker:index/network:Network": "network",
    "docker:index/volume:Volume": "volume",
}
"""Docker types whose create fails when an object of the same name exists (``docker inspect`` kind)."""

Lookup = Callable[[Mapping[str, Any]], "str | None"]
"""The id of the live object a pending create names, or ``None`` when it does not exist."""


@dataclass
class Plan:
    clear: list[str] = field(default_factory=list)
    """URNs of pending creates to drop from the state (the next update creates them)."""
    imports: list[tuple[str, str]] = field(default_factory=list)
    """(URN, id) of pending creates whose object exists and must be imported, not created again."""
    others: int = 0
    """Pending updates, deletes and reads: the next update drops them itself."""

    def __bool__(self) -> bool:
        return bool(self.clear or self.imports)


def pending_creates(deployment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [op["resource"] for op in deployment.get("pending_operations") or [] if op.get("type") == "creating"]


def plan(deployment: Mapping[str, Any], lookup: Lookup) -> Plan:
    """What to do with each pending create of ``deployment``; ``lookup`` is asked only about the
    objects whose name cannot be created twice."""
    out = Plan(others=sum(1 for op in deployment.get("pending_operations") or [] if op.get("type") != "creating"))
    for resource in pending_creates(deployment):
        urn = str(resource["urn"])
        found = lookup(resource) if resource.get("type") in DOCKER_NAMED else None
        if found:
            out.imports.append((urn, found))
        else:
            out.clear.append(urn)
    return out


def docker_lookup(env: Mapping[str, str]) -> Lookup:
    """``docker inspect`` of the named object, on the engine the stack's provider talks to
    (DOCKER_HOST in the project's environment, else the default socket)."""
    docker = shutil.which("docker", path=env.get("PATH")) or shutil.which("docker")

    def lookup(resource: Mapping[str, Any]) -> str | None:
        name = (resource.get("inputs") or {}).get("name")
        if not name or not docker:
            return None
        kind = DOCKER_NAMED[str(resource["type"])]
        cmd = [docker, kind, "inspect", "--format", "{{.Name}}" if kind == "volume" else "{{.Id}}", str(name)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ, **env})
        if proc.returncode != 0:
            return None  # no such object (or no engine: then nothing was made there either)
        return proc.stdout.strip() or None

    return lookup


def settle(project: Project, stack: str, state: Mapping[str, Any], *, lookup: Lookup | None = None) -> Plan:
    """Settle the pending creates of ``stack``, whose exported ``state`` (``Project.export_state``)
    is given (see the module's doc); prints what it does. A true result: the state changed."""
    decided = plan(state.get("deployment") or {}, lookup or docker_lookup(project.env))
    if not decided:
        return decided
    print(f"pending operations: a killed update left {len(decided.clear) + len(decided.imports)} create(s) in the "
          f"state of {stack}; settling them", file=sys.stderr)
    if decided.clear:
        _clear(project, stack, state, set(decided.clear))
        for urn in decided.clear:
            print(f"  cleared {urn.rsplit('::', 1)[-1]} (the update creates it)", file=sys.stderr)
    if decided.imports:
        args = ["refresh", "--yes", "--skip-preview", "--stack", stack]
        for urn, object_id in decided.imports:
            args += ["--import-pending-creates", urn, object_id]
        code, stdout, stderr = project.run(args)
        if code != 0:
            raise OpsError(f"could not import the objects a killed update made in {stack}", ExitCode.PULUMI_FAILED,
                           details=f"{stdout[-2000:]}\n{stderr[-2000:]}")
        for urn, object_id in decided.imports:
            print(f"  imported {urn.rsplit('::', 1)[-1]} ({object_id[:12]}): it exists", file=sys.stderr)
    return decided


def _clear(project: Project, stack: str, exported: Mapping[str, Any], urns: set[str]) -> None:
    """Drop those pending creates from the stack's state (the export, edited, imported back)."""
    state = json.loads(json.dumps(exported))  # the caller's copy stays as it was exported
    deployment = state.get("deployment") or {}
    deployment["pending_operations"] = [op for op in deployment.get("pending_operations") or []
                                        if not (op.get("type") == "creating" and op["resource"]["urn"] in urns)]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(state, handle)
    try:
        code, _, stderr = project.run(["stack", "import", "--file", handle.name, "--stack", stack])
    finally:
        os.unlink(handle.name)
    if code != 0:
        raise OpsError(f"pulumi stack import of {stack!r} failed", ExitCode.PULUMI_FAILED, details=stderr[-2000:])
