"""``drift --fix``: make a drifted release true again without taking its traffic away.

The release stays the same release (same id, same record): its drifted objects are recreated
from what state says the program declared. What must never happen is the old fix's outage: a
forced replace (``up --replace``) of an object with a fixed name is create-before-delete, the
"create" is a server-side-apply upsert that adopts the existing object, and the delete then
removes it: the Service keeps selecting a release that no longer has pods.

So, per kind of drifted object:

- **active Deployment** (its Service selects its release, or a rolling one): a *clean copy*
  ``<name>-repair`` is created beside it from the declared pod template, with the release's
  labels, so the same Service selector sends it traffic. Once every copy pod is ready and
  listed as a ready endpoint of the Service, the drifted Deployment is deleted (its pods drain
  as in any rollout), recreated from state by ``pulumi up``, and, once that one is ready (the
  provider awaits it), the copy is deleted. The Service always has ready endpoints of the
  release.
- **kept Deployment** (no traffic), **ConfigMap** and **Secret** of a release (immutable: data
  cannot change in place; running pods keep what they mounted): deleted and recreated.
- **gone** objects: recreated.
- The **router and the namespace's policies** (Service, NetworkPolicy, PodDisruptionBudget,
  ServiceAccount, Namespace, exec lock) are shared by the releases and deleting one would cut
  traffic or admission: their drifted fields are set back to the declared values (and added
  ones removed) by one JSON patch written as ``pulumi-kubernetes``, the name the provider takes
  back on its next apply (``cutover.py``). No pod is touched.

Deleted objects leave the state through a targeted ``refresh`` (which only learns they are
gone: it accepts no drift), then one ``pulumi up`` recreates them. A copy that does not become
ready within the timeout is deleted again and the repair stops before anything else changed:
the drifted release still serves, and the command says so (exit 5).
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import fieldsets as fs
from .cutover import FIELD_MANAGER, Connection, connection_for, deployment_not_ready
from .errors import ExitCode, OpsError
from .live import SECRET_TYPE, LiveResult, Target, is_deployment
from .records import DRIFT_FIX_MESSAGE, RELEASE_LABEL, SERVICE_TYPE

if TYPE_CHECKING:
    from .drift import Checked
    from .workspace import Project

REPAIR_LABEL = "immutable.dev/repair-of"
"""On a clean copy and its pods: the release it stands in for (its selector's own key)."""
REPAIR_MANAGER = "immutable-ops-repair"
RECREATED_TYPES = frozenset({"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:ConfigMap", SECRET_TYPE})
"""Release-owned objects: recreated, never patched."""
_TIMEOUT = 30
Say = Callable[[str], None]


class RepairFailed(OpsError):
    def __init__(self, message: str, *, details: str | None = None) -> None:
        super().__init__(message, ExitCode.DRIFT, details=details,
                         hint="fix the cause (see details), then run immutable-ops drift --fix again")


@dataclass(frozen=True)
class RepairPlan:
    active: tuple[Target, ...] = ()
    """Drifted Deployments that serve: a clean copy first."""
    recreate: tuple[Target, ...] = ()
    """Kept Deployments, ConfigMaps, Secrets: deleted, then recreated by the update."""
    gone: tuple[Target, ...] = ()
    """Objects no longer in the cluster: recreated by the update."""
    patch: tuple[LiveResult, ...] = ()
    """Shared objects: their drifted fields set back."""
    others: tuple[str, ...] = ()
    """Drifted resources of other providers: ``up --replace`` (they have no fixed name here)."""

    def describe(self) -> list[str]:
        out = [f"{t.kind} {t.name}: active release {t.release}: clean copy beside it, then recreated" for t in self.active]
        out += [f"{t.kind} {t.name}: recreated in place (no traffic)" for t in self.recreate]
        out += [f"{t.kind} {t.name}: gone: recreated" for t in self.gone]
        out += [f"{r.target.kind} {r.target.name}: {len(r.fields)} field(s) set back (shared object: "
                "not recreated)" for r in self.patch]
        out += [f"{urn.rsplit('::', 1)[-1]}: replaced" for urn in self.others]
        return out


def plan(results: Sequence[LiveResult], other_urns: Sequence[str] = ()) -> RepairPlan:
    """Sort the drifted objects by how they are repaired (pure)."""
    services = {str(r.target.workload): r for r in results if r.target.type == SERVICE_TYPE and r.target.workload}
    active, recreate, gone, patch = [], [], [], []
    for r in results:
        if not r.drifted:
            continue
        t = r.target
        if r.live is None:
            gone.append(t)
        elif is_deployment(t) and _serves(t, services.get(t.workload or "")):
            active.append(t)
        elif t.type in RECREATED_TYPES:
            recreate.append(t)
        else:
            patch.append(r)
    return RepairPlan(tuple(active), tuple(recreate), tuple(gone), tuple(patch), tuple(other_urns))


def _serves(deployment: Target, service: LiveResult | None) -> bool:
    """Whether the Service sends this Deployment traffic now (its live selector) or will once its
    drifted fields are set back (its declared selector): either way it must not lose its pods.
    No Service, or a rolling one (no release in the selector): yes."""
    if service is None or service.live is None:
        return True
    selectors = [(obj.get("spec") or {}).get("selector") or {} for obj in (service.live, service.target.declared)]
    return any(s.get(RELEASE_LABEL) in (None, deployment.release) for s in selectors)


# --- running it ----------------------------------------------------------------------------------

@dataclass
class Repair:
    project: Project
    stack: str
    resources: Sequence[Mapping[str, Any]]
    timeout: float = 300
    say: Say = print
    copies: list[tuple[Connection, Target]] = field(default_factory=list)

    def connection(self, target: Target) -> Connection:
        found = connection_for(self.resources, target.provider, self.project.dir, self.project.env)
        if isinstance(found, str):
            raise OpsError(f"cannot repair {target.kind} {target.name}: {found}", ExitCode.DRIFT_UNCHECKABLE)
        return found

    def run(self, repair: RepairPlan, services: Mapping[str, Target]) -> dict[str, Any]:
        start = time.monotonic()
        # 1. Clean copies of the serving releases, ready and behind their Service, before anything else.
        try:
            for t in repair.active:
                self._clean_copy(t, services.get(t.workload or ""))
        except OpsError as exc:
            for c, copied in self.copies:
                self._delete_copy(c, copied)
            if isinstance(exc, RepairFailed):
                raise
            drifted = ", ".join(t.name for t in repair.active)
            raise RepairFailed(f"drift repair of {self.stack!r} failed before anything was removed: the drifted "
                               f"Deployment(s) {drifted} still serve", details=f"{exc.message}\n{exc.details or ''}") from None
        try:
            # 2. Shared objects set back (no pod touched), release objects deleted, state told.
            for r in repair.patch:
                self._patch_back(r)
            deleted = [*repair.active, *repair.recreate]
            for t in deleted:
                self._delete(self.connection(t), t)
            urns = [t.urn for t in (*deleted, *repair.gone)]
            if urns:
                self._refresh(urns)
            # 3. One update recreates them from the release (the provider awaits the Deployments' readiness).
            parts = [f"recreate {', '.join(t.name for t in (*deleted, *repair.gone))}" if urns else "",
                     f"replace {', '.join(u.rsplit('::', 1)[-1] for u in repair.others)}" if repair.others else "",
                     f"set back {', '.join(r.target.name for r in repair.patch)}" if repair.patch else ""]
            what = "; ".join(p for p in parts if p)
            self.say(f"pulumi up {self.stack}: {what}")
            outcome = self.project.up(self.stack, f"{DRIFT_FIX_MESSAGE}: {what}", replace=repair.others)
        except OpsError as exc:
            serving = ", ".join(f"{c.name}-repair" for _, c in self.copies)
            note = (f"; the clean copies {serving} keep serving the same release(s)" if serving
                    else "; nothing served was removed")
            raise RepairFailed(f"drift repair of {self.stack!r} failed after its clean copies were ready{note}",
                               details=f"{exc.message}\n{exc.details or ''}".strip()) from None
        # 4. The recreated Deployments serve (ready, and endpoints of their Service): the copies go.
        for connection, t in self.copies:
            service = services.get(t.workload or "")
            deadline = time.monotonic() + self.timeout
            while service is not None and not self._endpoints_ready(connection, service, t.name, _replicas(t)):
                if time.monotonic() > deadline:
                    raise RepairFailed(f"drift repair of {self.stack!r}: {t.name} was recreated but its pods are not "
                                       f"endpoints of {service.name}; the clean copy {t.name}-repair keeps serving")
                time.sleep(1)
            time.sleep(2)  # kube-proxy programs them
            self._delete_copy(connection, t)
        return {"seconds": round(time.monotonic() - start, 1), "up_seconds": round(outcome.seconds, 1),
                "copies": [f"{t.name}-repair" for _, t in self.copies],
                "recreated": [t.name for t in (*repair.active, *repair.recreate, *repair.gone)],
                "patched": [r.target.name for r in repair.patch],
                "replaced": [urn.rsplit("::", 1)[-1] for urn in repair.others]}

    # --- steps ---

    def _clean_copy(self, t: Target, service: Target | None) -> None:
        connection = self.connection(t)
        manifest = clean_copy(t)
        name = manifest["metadata"]["name"]
        self.say(f"clean copy {name} of release {t.release} beside {t.name}")
        _kubectl(connection, ["apply", "--server-side", "--force-conflicts", f"--field-manager={REPAIR_MANAGER}",
                              "-f", "-"], stdin=json.dumps(manifest))
        self.copies.append((connection, t))
        deadline = time.monotonic() + self.timeout
        reason: str | None = "not read yet"
        last_said = time.monotonic()
        while time.monotonic() < deadline:
            live = _get(connection, "deployment", name, t.namespace)
            reason = deployment_not_ready(live, t.release or "") if live else f"Deployment {name} is not there"
            if reason is None and (service is None or self._endpoints_ready(connection, service, name, _replicas(t))):
                break
            if time.monotonic() - last_said > 10:
                self.say(f"  waiting for {name}: {reason or 'its pods to be endpoints of ' + (service.name if service else '')}")
                last_said = time.monotonic()
            time.sleep(1)
        else:
            raise RepairFailed(f"drift repair of {self.stack!r} failed: the clean copy {name} of release {t.release} "
                               f"was not ready within {self.timeout:.0f}s, so nothing was removed: the drifted "
                               f"Deployment {t.name} still serves", details=reason)
        time.sleep(2)  # kube-proxy programs the new endpoints (its sync period is 1 s)

    def _endpoints_ready(self, connection: Connection, service: Target, deployment: str, replicas: int) -> bool:
        """Whether ``replicas`` pods of ``deployment`` (not of its copy) are ready endpoints of ``service``."""
        data = _kubectl(connection, ["get", "endpointslices", "-n", service.namespace or "default", "-l",
                                     f"kubernetes.io/service-name={service.name}", "-o", "json"])
        ready = [e for s in json.loads(data).get("items") or [] for e in s.get("endpoints") or []
                 if (e.get("conditions") or {}).get("ready")
                 and _pod_of(str((e.get("targetRef") or {}).get("name", "")), deployment)]
        return len(ready) >= replicas

    def _patch_back(self, r: LiveResult) -> None:
        ops = json_patch(r)
        if not ops:
            return
        t = r.target
        self.say(f"{t.kind} {t.name}: set {len(ops)} field(s) back to the declared values")
        args = ["patch", t.resource_arg, "--type", "json", f"--field-manager={FIELD_MANAGER}", "-p", json.dumps(ops)]
        _kubectl(self.connection(t), [*args, *(["-n", t.namespace] if t.namespace else [])])

    def _delete(self, connection: Connection, t: Target) -> None:
        self.say(f"delete {t.kind} {t.name} (recreated from the release next)")
        _kubectl(connection, ["delete", t.resource_arg, "--cascade=foreground", "--wait=true", "--ignore-not-found",
                              *(["-n", t.namespace] if t.namespace else [])], timeout=self.timeout)

    def _delete_copy(self, connection: Connection, t: Target) -> None:
        self.say(f"delete the clean copy {t.name}-repair")
        _kubectl(connection, ["delete", f"deployment/{t.name}-repair", "--cascade=foreground", "--wait=true",
                              "--ignore-not-found", "-n", t.namespace or "default"], timeout=self.timeout)

    def _refresh(self, urns: Sequence[str]) -> None:
        """State learns that the deleted objects are gone (a targeted refresh: nothing else is read)."""
        self.say(f"pulumi refresh {self.stack} of {len(urns)} deleted object(s)")
        args = ["refresh", "--yes", "--skip-preview", "--stack", self.stack]
        for urn in urns:
            args += ["--target", urn]
        code, stdout, stderr = self.project.run(args)
        if code != 0:
            raise OpsError(f"pulumi refresh of {self.stack!r} failed", ExitCode.PULUMI_FAILED,
                           details=(stderr or stdout)[-2000:])


def _replicas(t: Target) -> int:
    return max(int((t.declared.get("spec") or {}).get("replicas") or 1), 1)


def _pod_of(pod: str, deployment: str) -> bool:
    """A pod of ``deployment`` is ``<deployment>-<replicaset hash>-<suffix>``: a copy's pods
    (``<deployment>-repair-...``) are not the original's."""
    rest = pod.removeprefix(f"{deployment}-")
    return rest != pod and rest.count("-") == 1


def clean_copy(t: Target) -> dict[str, Any]:
    """The clean copy of an active release's Deployment: its declared spec, under its own name and
    one more selector label, so it is a Deployment of its own whose pods the Service selects (pure)."""
    spec = copy.deepcopy(dict(t.declared.get("spec") or {}))
    release = t.release or "unknown"
    spec.setdefault("selector", {}).setdefault("matchLabels", {})[REPAIR_LABEL] = release
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {}).setdefault("labels", {})[REPAIR_LABEL] = release
    spec["replicas"] = _replicas(t)
    labels = dict((t.declared.get("metadata") or {}).get("labels") or {})
    labels.pop("immutable.dev/role", None)
    labels[REPAIR_LABEL] = release
    labels["app.kubernetes.io/managed-by"] = REPAIR_MANAGER
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"{t.name}-repair", "namespace": t.namespace or "default", "labels": labels},
            "spec": spec}


def json_patch(r: LiveResult) -> list[dict[str, Any]]:
    """JSON patch operations that set a live object's drifted fields back (pure)."""
    if r.live is None:
        return []
    ops: list[dict[str, Any]] = []
    for f in r.fields:
        path = _path_of(f.path, r)
        if path is None:
            continue
        pointer = _pointer(r.live, path)
        if pointer is None:
            continue
        if f.kind == "added":
            ops.append({"op": "remove", "path": pointer})
        else:
            declared = fs.resolve(r.target.declared, path)
            ops.append({"op": "add" if f.kind == "removed" else "replace", "path": pointer, "value": declared})
    return ops


def _path_of(text: str, r: LiveResult) -> fs.Path | None:
    """The structured path behind a reported field (the report keeps only its text)."""
    for entry in (r.live or {}).get("metadata", {}).get("managedFields") or []:
        for path in fs.owned_paths(entry.get("fieldsV1") or {}):
            if fs.text(path) == text:
                return path
    for path in fs.declared_leaves(r.target.declared):
        if fs.text(path) == text:
            return path
    return None


def _pointer(live: Mapping[str, Any], path: fs.Path) -> str | None:
    """RFC 6901 pointer of ``path`` in ``live`` (list items by their index there); the last step
    may be absent (an ``add``)."""
    parts: list[str] = []
    obj: Any = live
    for i, (kind, key) in enumerate(path):
        last = i == len(path) - 1
        if kind == "f":
            parts.append(str(key).replace("~", "~0").replace("/", "~1"))
            obj = obj.get(key) if isinstance(obj, Mapping) else None
        else:
            items = obj if isinstance(obj, list) else []
            if kind == "i":
                index: int | None = key if key < len(items) else None
            else:
                index = next((n for n, item in enumerate(items) if fs.has([item], ((kind, key),))), None)
            if index is None:
                if not last:
                    return None
                parts.append("-")
                continue
            parts.append(str(index))
            obj = items[index]
        if obj is None and not last:
            return None
    return "/" + "/".join(parts)


def _kubectl(connection: Connection, args: Sequence[str], *, stdin: str | None = None, timeout: float = _TIMEOUT) -> str:
    with connection.args() as base:
        proc = subprocess.run([*base, *args], input=stdin, capture_output=True, text=True, timeout=timeout + 10)
    if proc.returncode != 0:
        raise OpsError(f"kubectl {args[0]} failed", ExitCode.PULUMI_FAILED, details=proc.stderr.strip()[-2000:])
    return proc.stdout


def _get(connection: Connection, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
    try:
        out = _kubectl(connection, ["get", kind, name, "-o", "json", "--ignore-not-found",
                                    *(["-n", namespace] if namespace else [])])
    except OpsError:
        return None
    data: dict[str, Any] | None = json.loads(out) if out.strip() else None
    return data



def fix(project: Project, stack: str, checked: Checked, *, timeout: float = 300, say: Say = print) -> dict[str, Any]:
    """Repair what ``checked`` found (see the module doc); returns what was done."""
    kubernetes = {r.target.urn for r in checked.live}
    others = [d.urn for d in checked.report.drifted if d.urn not in kubernetes]
    repair = plan(checked.live, others)
    for line in repair.describe():
        say(f"repair: {line}")
    services = {r.target.workload: r.target for r in checked.live
                if r.target.type == SERVICE_TYPE and r.target.workload and r.live is not None}
    resources = list(checked.deployment.get("resources") or [])
    return Repair(project, stack, resources, timeout=timeout, say=say).run(repair, services)
