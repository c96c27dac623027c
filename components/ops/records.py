"""What the ops commands read from a stack: its updates and what they deployed (pure data).

``workspace.py`` fills these from the Automation API (stack history, stack export) and the
file backend's per-update checkpoints; ``history.py``, ``report.py`` and ``rollback.py``
compute on them without touching the engine, so they are unit-tested on plain values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..ledger import WorkloadLedger

ROLLBACK_MESSAGE = "immutable-ops rollback"
"""Prefix of the update message of every rollback this tool makes (``report`` counts them)."""
PROMOTE_MESSAGE = "immutable-ops promote"
DRIFT_FIX_MESSAGE = "immutable-ops drift --fix"


@dataclass(frozen=True)
class WorkloadState:
    """One workload (service or server group) as a stack's outputs describe it."""

    name: str
    release: str
    artifact: str | None
    """Image by digest, or AMI id, of the active release (``None`` when outputs do not say)."""
    kept: tuple[str, ...] = ()
    """Kept release ids, newest first."""
    artifacts: Mapping[str, str] = field(default_factory=dict)
    """Release id -> artifact, for every release the outputs name (active and kept)."""


def workloads_from_outputs(outputs: Mapping[str, Any]) -> dict[str, WorkloadState]:
    """Read the example program's per-workload exports: ``<w>_release``, ``<w>_kept_releases``,
    ``<w>_images`` (services: release -> image) and ``<w>_ami`` (server groups)."""
    out: dict[str, WorkloadState] = {}
    for key, value in outputs.items():
        if not key.endswith("_release") or not isinstance(value, str):
            continue
        name = key[: -len("_release")]
        images = outputs.get(f"{name}_images")
        artifacts: dict[str, str] = dict(images) if isinstance(images, Mapping) else {}
        ami = outputs.get(f"{name}_ami")
        if isinstance(ami, str):
            artifacts.setdefault(value, ami)
        kept = outputs.get(f"{name}_kept_releases")
        out[name] = WorkloadState(
            name=name, release=value, artifact=artifacts.get(value),
            kept=tuple(str(k) for k in kept) if isinstance(kept, list) else (),
            artifacts=artifacts,
        )
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class UpdateRecord:
    """One entry of a stack's history (an ``up``, ``refresh``, ``destroy``...)."""

    number: int
    """1 for the oldest update of the stack; the file backend reports no version numbers."""
    kind: str
    start: datetime
    end: datetime | None
    result: str
    """``succeeded``, ``failed`` or ``in-progress``."""
    message: str = ""
    ledger: Mapping[str, WorkloadLedger] = field(default_factory=dict)
    """The ``immutable:ledger`` config the update ran with."""
    outputs: Mapping[str, Any] | None = None
    """The stack's outputs after the update (``None`` when the backend keeps no checkpoint)."""
    resource_changes: Mapping[str, int] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return (self.end - self.start).total_seconds() if self.end else None

    @property
    def succeeded(self) -> bool:
        return self.result == "succeeded"

    @property
    def is_rollback(self) -> bool:
        return self.message.startswith(ROLLBACK_MESSAGE)

    @property
    def is_promotion(self) -> bool:
        return self.message.startswith(PROMOTE_MESSAGE)

    @property
    def by(self) -> str:
        """Who or what ran it, as far as the update's environment tells."""
        env = self.environment
        for key in ("git.author", "git.committer", "exec.agent", "exec.kind"):
            if env.get(key):
                return env[key]
        return ""

    def workloads(self) -> dict[str, WorkloadState]:
        return workloads_from_outputs(self.outputs or {})


def parse_ledger_config(value: Any) -> dict[str, WorkloadLedger]:
    """The ``immutable:ledger`` config value (a JSON string or an object) as ledgers; entries
    that do not validate are skipped (history must show what it can)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, WorkloadLedger] = {}
    for name, raw in value.items():
        try:
            out[str(name)] = WorkloadLedger.model_validate(raw)
        except ValueError:
            continue
    return out


def number_updates(records: Sequence[UpdateRecord]) -> list[UpdateRecord]:
    """Oldest first, numbered 1..N."""
    ordered = sorted(records, key=lambda r: r.start)  # stable: same-second updates keep their order
    return [UpdateRecord(i + 1, r.kind, r.start, r.end, r.result, r.message, r.ledger, r.outputs,
                         r.resource_changes, r.environment) for i, r in enumerate(ordered)]


@dataclass
class RefreshRecord:
    """One resource as ``refresh --preview-only`` found it."""

    op: str
    """``same``, ``update`` (it differs from the state) or ``delete`` (it is gone)."""
    urn: str
    type: str
    custom: bool
    old_outputs: Mapping[str, Any] = field(default_factory=dict)
    new_outputs: Mapping[str, Any] = field(default_factory=dict)


COMPONENT_TYPES = ("immutable:kubernetes:ContainerService", "immutable:docker:ContainerService",
                   "immutable:docker:DockerContainerService", "immutable:aws:ServerGroup")
"""Type tokens of the components whose releases the ops commands read from state."""
RELEASE_LABEL = "immutable.dev/release"
_ROLE_LABEL = "immutable.dev/role"
SERVICE_TYPE = "kubernetes:core/v1:Service"


def workloads_from_deployment(deployment: Mapping[str, Any]) -> dict[str, WorkloadState]:
    """What each workload runs, from a stack's state (``pulumi stack export``).

    Any program that uses the components is understood: workloads are found by the
    components' type tokens and their own outputs (``release``, ``kept_releases``, ``images``),
    with the stack's ``<w>_release`` exports as a fallback. The *active* release is then read
    from the child resources, which record only what the engine really did (a blue-green
    Service's selector, a rolling Deployment's pod template): stack and component outputs are
    written by the program even when the update fails, so they may name a release that never
    got the traffic."""
    resources = list(deployment.get("resources") or [])
    outputs: dict[str, Any] = {}
    for resource in resources:
        if resource.get("type") == "pulumi:pulumi:Stack":
            outputs = dict(resource.get("outputs") or {})
    found = workloads_from_outputs(outputs)
    children: dict[str, list[Mapping[str, Any]]] = {}
    for resource in resources:
        parent = resource.get("parent")
        if parent:
            children.setdefault(str(parent), []).append(resource)
    for resource in resources:
        if resource.get("type") not in COMPONENT_TYPES:
            continue
        name = str(resource.get("urn", "")).rsplit("::", 1)[-1]
        outs = resource.get("outputs") or {}
        release = outs.get("release") or outs.get("active_release")
        state = found.get(name)
        if state is None and isinstance(release, str):
            raw_images, raw_kept = outs.get("images"), outs.get("kept_releases")
            images: dict[str, str] = dict(raw_images) if isinstance(raw_images, Mapping) else {}
            kept_ids = tuple(str(k) for k in raw_kept) if isinstance(raw_kept, list) else ()
            state = WorkloadState(name, release, images.get(release), kept_ids, images)
        if state is None:
            continue
        live = _active_from_children(children.get(str(resource.get("urn")), []))
        if live is not None and live != state.release:
            kept = tuple(k for k in (state.release, *state.kept) if k != live)
            state = WorkloadState(state.name, live, state.artifacts.get(live), kept, state.artifacts)
        found[name] = state
    return dict(sorted(found.items()))


def selected_release(children: Sequence[Mapping[str, Any]]) -> str | None:
    """The release a workload's blue-green Service selects in state (what the engine last did)."""
    for child in children:
        if child.get("type") == SERVICE_TYPE:
            selector = ((child.get("outputs") or {}).get("spec") or {}).get("selector") or {}
            if isinstance(selector, Mapping) and isinstance(selector.get(RELEASE_LABEL), str):
                return str(selector[RELEASE_LABEL])
            return None
    return None


def _active_from_children(children: Sequence[Mapping[str, Any]]) -> str | None:
    selected = selected_release(children)
    if selected is not None:
        return selected
    for child in children:
        if child.get("type") == "kubernetes:apps/v1:Deployment":
            outs = child.get("outputs") or {}
            labels = ((outs.get("metadata") or {}).get("labels")) or {}
            if labels.get(_ROLE_LABEL) == "active" and isinstance(labels.get(RELEASE_LABEL), str):
                return str(labels[RELEASE_LABEL])
    return None
