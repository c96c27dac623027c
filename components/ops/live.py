"""The Kubernetes objects a stack's state describes, read back from the cluster and compared
with what the release declares, field by field, with the manager of each difference.

What is compared, for every Kubernetes object in state (Deployments: the pod template, the
replicas and their metadata; the release's ConfigMap and Secret; the Service; and the rest:
ServiceAccount, NetworkPolicy, PodDisruptionBudget, Namespace, the exec lock):

- **gone**: the object is not in the cluster;
- **added / changed**: a field that a manager other than the program's own
  (``pulumi-kubernetes-*``) owns in ``managedFields`` and whose value is not the declared one
  (a new env var from ``kubectl set env``: *added*; a declared value overwritten: *changed*);
- **removed**: a field the program declared (a non-empty, non-zero, non-false value) that the
  live object lacks.

Deliberately ignored: ``status`` (and every ``managedFields`` entry of the ``status``
subresource), fields the cluster defaults (no manager owns them: ``clusterIP``,
``terminationMessagePath``...), the Deployment controller's revision annotation, and fields
another manager co-owns with the *same* value as declared (two writers agree: no drift).
Secret values are never read into a report: both sides show ``***``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import fieldsets as fs
from .cutover import DEPLOYMENT_TYPE, K8S_COMPONENT, Connection, connection_for
from .errors import ExitCode, OpsError
from .records import RELEASE_LABEL, SERVICE_TYPE

OWN_MANAGER_PREFIX = "pulumi-kubernetes"
"""The provider's server-side-apply managers (``pulumi-kubernetes-<random>``), and the name it
uses for client-side writes, which ``cutover.py`` borrows to move a selector."""
IGNORED_PATHS: tuple[tuple[str, ...], ...] = (
    ("status",),
    ("metadata", "annotations", "deployment.kubernetes.io/revision"),  # the Deployment controller's counter
    ("metadata", "labels", "kubernetes.io/metadata.name"),  # the API server's label on every namespace
)
COMPARED_ROOTS: tuple[tuple[str, ...], ...] = (
    ("spec",), ("data",), ("binaryData",), ("immutable",), ("type",), ("metadata", "labels"), ("metadata", "annotations"),
)
"""Where declared fields are checked for removal (names, namespaces and ids are the object's identity)."""
SECRET_TYPE = "kubernetes:core/v1:Secret"
MASK = "***"
_TIMEOUT = 30


@dataclass(frozen=True)
class FieldDrift:
    path: str
    kind: str
    """``added`` (declared nowhere), ``changed`` (declared value overwritten), ``removed``."""
    manager: str
    """Who wrote it (``kubectl-set``, ``kubectl-edit``...); ``?`` for a removed field (a removal leaves no owner)."""
    declared: Any
    live: Any

    def describe(self) -> str:
        if self.kind == "added":
            return f"{self.path} added by {self.manager} ({_short(self.live)})"
        if self.kind == "removed":
            return f"{self.path} removed ({_short(self.declared)} declared)"
        return f"{self.path}: {_short(self.declared)} → {_short(self.live)} by {self.manager}"


@dataclass(frozen=True)
class Target:
    """A Kubernetes object of the stack, as state describes it."""

    urn: str
    type: str
    namespace: str | None
    name: str
    declared: Mapping[str, Any]
    """The manifest the program applied (the resource's inputs in state)."""
    workload: str | None
    """The ContainerService it belongs to (``None`` for other objects)."""
    provider: str

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def release(self) -> str | None:
        labels = (self.declared.get("metadata") or {}).get("labels") or {}
        value = labels.get(RELEASE_LABEL) if isinstance(labels, Mapping) else None
        return str(value) if isinstance(value, str) else None

    @property
    def resource_arg(self) -> str:
        """``kubectl get`` argument: ``Deployment.v1.apps/web-1a2b3c4d``, ``ConfigMap/...``."""
        group_version = self.type.split(":")[1]
        group, _, version = group_version.rpartition("/")
        qualified = self.kind if group in ("", "core") else f"{self.kind}.{version}.{group}"
        return f"{qualified}/{self.name}"


@dataclass(frozen=True)
class LiveResult:
    target: Target
    live: Mapping[str, Any] | None
    """``None``: gone from the cluster."""
    fields: tuple[FieldDrift, ...] = ()

    @property
    def drifted(self) -> bool:
        return self.live is None or bool(self.fields)


def targets(deployment: Mapping[str, Any]) -> list[Target]:
    """Every Kubernetes object in a stack's state (``pulumi stack export``), providers excluded."""
    resources: Sequence[Mapping[str, Any]] = list(deployment.get("resources") or [])
    workloads = {str(r.get("urn")): str(r.get("urn", "")).rsplit("::", 1)[-1]
                 for r in resources if r.get("type") == K8S_COMPONENT}
    out = []
    for r in resources:
        kind = str(r.get("type", ""))
        if not r.get("custom") or not kind.startswith("kubernetes:") or r.get("delete"):
            continue
        meta = (r.get("outputs") or {}).get("metadata") or {}
        name = meta.get("name") if isinstance(meta, Mapping) else None
        if not isinstance(name, str):
            continue
        declared = {k: v for k, v in (r.get("inputs") or {}).items() if not str(k).startswith("__")}
        namespace = meta.get("namespace")
        out.append(Target(str(r["urn"]), kind, str(namespace) if namespace else None, name, declared,
                          workloads.get(str(r.get("parent", ""))), str(r.get("provider") or "")))
    return out


def compare(target: Target, live: Mapping[str, Any] | None) -> LiveResult:
    """The differences between what ``target`` declares and the live object (pure)."""
    if live is None:
        return LiveResult(target, None)
    secret = target.type == SECRET_TYPE
    found: dict[str, FieldDrift] = {}
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        manager = str(entry.get("manager", "?"))
        if manager.startswith(OWN_MANAGER_PREFIX) or entry.get("subresource") == "status":
            continue
        for path in fs.owned_paths(entry.get("fieldsV1") or {}):
            if any(fs.starts_with(path, ignored) for ignored in IGNORED_PATHS):
                continue
            declared_here = fs.has(target.declared, path)
            declared, value = fs.resolve(target.declared, path), fs.resolve(live, path)
            if declared_here and _equal(declared, value):
                continue  # co-owned with the same value: two writers agree
            if secret and _secret_value(path):
                declared, value = (MASK if declared_here else None), MASK
            label = fs.text(path)
            found[label] = FieldDrift(label, "changed" if declared_here else "added", manager, declared, value)
    for path in fs.declared_leaves(target.declared):
        if not any(fs.starts_with(path, root) for root in COMPARED_ROOTS) or (secret and _secret_value(path)):
            continue
        if fs.resolve(target.declared, path) in (0, False) or fs.has(live, path):
            continue  # zero and false are what the API server omits; present values were checked above
        gone = next(path[:n] for n in range(1, len(path) + 1) if not fs.has(live, path[:n]))  # the whole item
        label = fs.text(gone)
        found.setdefault(label, FieldDrift(label, "removed", "?", fs.resolve(target.declared, gone), None))
    return LiveResult(target, live, tuple(found[k] for k in sorted(found)))


def _secret_value(path: fs.Path) -> bool:
    return bool(path) and path[0] in (("f", "data"), ("f", "stringData"))


def _equal(declared: Any, live: Any) -> bool:
    return declared == live or (not isinstance(declared, Mapping | list) and str(declared) == str(live))


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


# --- reading the cluster -------------------------------------------------------------------------

Reader = Callable[[Connection, str | None, Sequence[Target]], Mapping[str, Mapping[str, Any]]]


def read_live(connection: Connection, namespace: str | None, wanted: Sequence[Target]) -> dict[str, dict[str, Any]]:
    """The live objects of ``wanted`` (one namespace), by ``resource_arg``; absent ones are missing.

    One ``kubectl get`` for the lot, managed fields included."""
    args = [t.resource_arg for t in wanted]
    with connection.args() as base:
        cmd = [*base, "get", *args, "-o", "json", "--show-managed-fields", "--ignore-not-found"]
        if namespace:
            cmd += ["-n", namespace]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT + 10)
    if proc.returncode != 0:
        raise OpsError("could not read the stack's objects from the cluster", ExitCode.DRIFT_UNCHECKABLE,
                       details=proc.stderr.strip()[-2000:])
    data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    items = data.get("items") if data.get("kind") == "List" else ([data] if data else [])
    by_kind_name = {(str(i.get("kind")), str((i.get("metadata") or {}).get("name"))): i for i in items or []}
    return {t.resource_arg: by_kind_name[(t.kind, t.name)] for t in wanted if (t.kind, t.name) in by_kind_name}


def check(deployment: Mapping[str, Any], *, project_dir: Path, env: Mapping[str, str],
          reader: Reader = read_live) -> list[LiveResult]:
    """Every Kubernetes object of the stack, read back and compared (``[]``: none in state)."""
    resources: Sequence[Mapping[str, Any]] = list(deployment.get("resources") or [])
    results = []
    for (provider, namespace), group in _groups(targets(deployment)):
        connection = connection_for(resources, provider, project_dir, env)
        if isinstance(connection, str):
            raise OpsError(f"cannot read the stack's Kubernetes objects: {connection}", ExitCode.DRIFT_UNCHECKABLE)
        live = reader(connection, namespace, group)
        results += [compare(t, live.get(t.resource_arg)) for t in group]
    return results


def _groups(all_targets: Sequence[Target]) -> Iterator[tuple[tuple[str, str | None], list[Target]]]:
    groups: dict[tuple[str, str | None], list[Target]] = {}
    for t in all_targets:
        groups.setdefault((t.provider, t.namespace), []).append(t)
    yield from groups.items()


def active_release(deployment: Mapping[str, Any], workload: str) -> str | None:
    """The release a workload's Service selects in state."""
    for t in targets(deployment):
        if t.workload == workload and t.type == SERVICE_TYPE:
            selector = (t.declared.get("spec") or {}).get("selector") or {}
            value = selector.get(RELEASE_LABEL) if isinstance(selector, Mapping) else None
            return str(value) if isinstance(value, str) else None
    return None


def is_deployment(target: Target) -> bool:
    return target.type == DEPLOYMENT_TYPE
