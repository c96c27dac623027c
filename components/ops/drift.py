"""``drift <stack>``: ``refresh --preview-only --expect-no-changes``, drifted resources named.

Drift is answered by replacing the drifted resources from the release's spec
(``pulumi up --replace``), never by patching them back and never by accepting the drift into
the state (no ``refresh``).

A stack whose Kubernetes provider renders manifests (``render_yaml_to_directory``) has no
cluster to read back: refresh cannot work there, and ``drift`` says so with its own exit
code instead of failing obscurely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .records import RefreshRecord
from .steps import diff_paths, flatten, urn_name

MANIFEST_DIR_INPUT = "renderYamlToDirectory"


@dataclass(frozen=True)
class Drifted:
    urn: str
    type: str
    name: str
    state: str
    """``changed`` (it differs from what was deployed) or ``gone`` (deleted out of band)."""
    changes: tuple[tuple[str, Any, Any], ...] = ()
    """(property path, deployed value, value found)."""

    def describe(self, limit: int = 4) -> str:
        if self.state == "gone":
            return "deleted outside Pulumi"
        shown = [f"{path}: {_short(old)} → {_short(new)}" for path, old, new in self.changes[:limit]]
        more = f" (+{len(self.changes) - limit} more)" if len(self.changes) > limit else ""
        return "; ".join(shown) + more if shown else "changed outside Pulumi"


@dataclass(frozen=True)
class DriftReport:
    stack: str
    managed: int
    """Resources checked (custom resources, providers excluded)."""
    drifted: tuple[Drifted, ...] = field(default_factory=tuple)

    @property
    def percent(self) -> float:
        return 100.0 * len(self.drifted) / self.managed if self.managed else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "managed": self.managed, "drifted_count": len(self.drifted),
                "drift_percent": round(self.percent, 1), "drifted": [asdict(d) for d in self.drifted]}


def _short(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def find(stack: str, records: Sequence[RefreshRecord]) -> DriftReport:
    """Drifted resources from the refresh preview's per-resource results."""
    managed = [r for r in records if r.custom and not r.type.startswith("pulumi:")]
    drifted = []
    for record in managed:
        if record.op == "delete":
            drifted.append(Drifted(record.urn, record.type, urn_name(record.urn), "gone"))
        elif record.op == "update":
            old = {k: v for k, v in record.old_outputs.items() if not k.startswith("__")}
            new = {k: v for k, v in record.new_outputs.items() if not k.startswith("__")}
            a, b = flatten(old), flatten(new)
            changes = tuple((p, a.get(p), b.get(p)) for p in diff_paths(old, new))
            drifted.append(Drifted(record.urn, record.type, urn_name(record.urn), "changed", changes))
    return DriftReport(stack, len(managed), tuple(sorted(drifted, key=lambda d: d.urn)))


def render_dirs(deployment: Mapping[str, Any]) -> list[str]:
    """Directories the stack's Kubernetes providers render manifests to (render mode)."""
    out = []
    for resource in deployment.get("resources") or []:
        if not str(resource.get("type", "")).startswith("pulumi:providers:kubernetes"):
            continue
        directory = (resource.get("inputs") or {}).get(MANIFEST_DIR_INPUT)
        if isinstance(directory, str) and directory:
            out.append(directory)
    return out


def unreachable(error: str) -> bool:
    """The engine's refresh failed because the cluster cannot be reached."""
    text = error.lower()
    return "unreachable cluster" in text or "cluster is unreachable" in text
