"""``drift <stack>``: what runs, compared with what the releases declare; drifted resources named.

Two readings are joined: the engine's ``refresh --preview-only --expect-no-changes`` (every
provider: a resource deleted or a declared field changed outside Pulumi), and, for Kubernetes
objects, the live object itself (``live.py``): every field another manager added or
overwrote, with that manager, which the provider's refresh does not see.

Drift is answered by recreating the drifted objects from the release's spec, never by patching
them back and never by accepting the drift into the state (``repair.py``).

A stack whose Kubernetes provider renders manifests (``render_yaml_to_directory``) has no
cluster to read back: refresh cannot work there, and ``drift`` says so with its own exit
code instead of failing obscurely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ExitCode, OpsError
from .live import FieldDrift, LiveResult
from .records import RefreshRecord
from .steps import diff_paths, flatten, urn_name

if TYPE_CHECKING:
    from .workspace import Project

MANIFEST_DIR_INPUT = "renderYamlToDirectory"


@dataclass(frozen=True)
class Drifted:
    urn: str
    type: str
    name: str
    state: str
    """``changed`` (it differs from what was deployed) or ``gone`` (deleted out of band)."""
    changes: tuple[tuple[str, Any, Any], ...] = ()
    """(property path, deployed value, value found), from the engine's refresh."""
    fields: tuple[FieldDrift, ...] = ()
    """Fields of the live object that differ from the declared ones, with their managers."""

    def describe(self, limit: int = 4) -> str:
        if self.state == "gone":
            return "deleted outside Pulumi"
        shown = [f.describe() for f in self.fields[:limit]]
        shown += [f"{path}: {_short(old)} → {_short(new)}" for path, old, new in self.changes[:limit - len(shown)]]
        hidden = len(self.fields) + len(self.changes) - len(shown)
        if hidden > 0:
            return "; ".join(shown) + f" (+{hidden} more)"
        return "; ".join(shown) if shown else "changed outside Pulumi"


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


def find(stack: str, records: Sequence[RefreshRecord], live: Sequence[LiveResult] = ()) -> DriftReport:
    """Drifted resources from the refresh preview's per-resource results, joined with the live
    objects' field differences (``live.check``)."""
    managed = [r for r in records if r.custom and not r.type.startswith("pulumi:")]
    drifted: dict[str, Drifted] = {}
    for record in managed:
        if record.op == "delete":
            drifted[record.urn] = Drifted(record.urn, record.type, urn_name(record.urn), "gone")
        elif record.op == "update":
            old = {k: v for k, v in record.old_outputs.items() if not k.startswith("__")}
            new = {k: v for k, v in record.new_outputs.items() if not k.startswith("__")}
            a, b = flatten(old), flatten(new)
            changes = tuple((p, a.get(p), b.get(p)) for p in diff_paths(old, new))
            drifted[record.urn] = Drifted(record.urn, record.type, urn_name(record.urn), "changed", changes)
    for result in live:
        if not result.drifted:
            continue
        t = result.target
        seen = drifted.get(t.urn)
        state = "gone" if result.live is None else (seen.state if seen is not None else "changed")
        drifted[t.urn] = Drifted(t.urn, t.type, urn_name(t.urn), state, seen.changes if seen else (), result.fields)
    checked = {r.urn for r in managed} | {r.target.urn for r in live}
    return DriftReport(stack, len(checked), tuple(sorted(drifted.values(), key=lambda d: d.urn)))


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


@dataclass(frozen=True)
class Checked:
    """A drift check and what a repair needs from it."""

    report: DriftReport
    live: tuple[LiveResult, ...]
    deployment: Mapping[str, Any]
    """The stack's state it was checked against (``pulumi stack export``)."""


def check(project: Project, stack: str) -> Checked:
    """The refresh preview and the live objects of ``stack``; raises ``OpsError`` when the target
    cannot be checked (render mode: exit 6; unreachable cluster: 6; another engine failure: 8)."""
    from . import live as live_objects
    from . import output

    deployment = project.export(stack)
    rendered = render_dirs(deployment)
    if rendered:
        raise OpsError(f"stack {stack!r} cannot be checked for drift: its Kubernetes provider runs in render mode "
                       f"(manifests written to {rendered[0]}), so there is no cluster to read back and refresh "
                       "does not work", ExitCode.DRIFT_UNCHECKABLE,
                       hint="check drift on a stack with a cluster target; for rendered manifests, diff the "
                            "render directory against what your GitOps agent applied")
    with output.progress(f"pulumi refresh --preview-only {stack}") as update:
        records, error = project.refresh_preview(stack, on_output=update)
    if error:
        code = ExitCode.DRIFT_UNCHECKABLE if unreachable(error) else ExitCode.PULUMI_FAILED
        raise OpsError(f"refresh of {stack!r} failed" + (": the cluster is unreachable" if code == 6 else ""), code,
                       details=error)
    results: list[LiveResult] = []
    if live_objects.targets(deployment):
        with output.progress(f"live objects of {stack} (fields and their managers)"):
            results = live_objects.check(deployment, project_dir=project.dir, env=project.env)
    return Checked(find(stack, records, results), tuple(results), deployment)


def field_rows(report: DriftReport) -> list[list[str]]:
    """One row per drifted field: resource, field, change, manager."""
    rows = []
    for d in report.drifted:
        for f in d.fields:
            rows.append([d.name, f.path, f.kind, f.manager])
    return rows
