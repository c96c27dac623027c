"""Traffic first: a rollback to a kept *warm* release moves the Service before the engine runs.

A rollback through ``pulumi up`` alone puts the engine's fixed cost (CLI and program start, the
diff of every resource: 4-6 s measured on a real node, more on a big stack) between the decision
and the traffic. A warm kept release already runs and is ready, and what moves the traffic is
one field, the blue-green Service's selector, which is exactly what the update then writes. So,
for a warm kept release only:

1. read from state where the Service and the kept release's Deployment live (and the
   kubeconfig and context the program's Kubernetes provider uses);
2. check in the cluster that the Service still selects the release state names, and that the
   kept Deployment is ready: every replica ready and updated, current generation, its pods
   labelled with the release;
3. merge-patch the selector's release label as field manager ``pulumi-kubernetes``: the name
   the provider used before server-side apply, which it still treats as its own. Its previews
   force past that manager's fields, and its next apply takes them back
   (``fixCSAFieldManagers`` in pulumi-kubernetes ``pkg/await/await.go``); it applies the same
   value, so the update that follows owns the field again and nothing conflicts, even when the
   update fails before it reaches the Service (any other manager name would make every later
   preview that moves the selector fail with a field conflict);
4. the caller runs the update, which writes the same selector (and the role labels) into state;
   if it fails before moving the Service in state, :func:`CutoverPlan.undo` moves the selector
   back, so a failed rollback changes nothing (the ledger is restored by the caller).

Anything else (a kept release scaled to zero, whose pods must start first; a rolling service;
no Service; render mode; no ``kubectl``; a kubeconfig held only as a secret in state) is left
to the update alone, and :func:`plan` says why. Nothing here ever creates, deletes or edits a
release: the Service is the router, not part of any release.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ExitCode, OpsError
from .records import RELEASE_LABEL, SERVICE_TYPE, selected_release

DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"
K8S_COMPONENT = "immutable:kubernetes:ContainerService"
FIELD_MANAGER = "pulumi-kubernetes"
"""The provider's client-side-apply name, which it reclaims on its next apply (see the module doc)."""
_SECRET_SIG = "4dabf18193072939515e22adb298388d"
_TIMEOUT = 20


@dataclass(frozen=True)
class Connection:
    """How to reach the cluster the program's Kubernetes provider deploys to."""

    kubectl: str
    kubeconfig: str | None = None
    """A path, or the kubeconfig's content (the provider accepts both)."""
    context: str | None = None

    @contextmanager
    def args(self) -> Iterator[list[str]]:
        """``kubectl`` and its connection flags; content is written to a private temp file."""
        base = [self.kubectl, f"--request-timeout={_TIMEOUT}s"]
        if self.context:
            base.append(f"--context={self.context}")
        if self.kubeconfig is None or _is_path(self.kubeconfig):
            if self.kubeconfig:
                base.append(f"--kubeconfig={self.kubeconfig}")
            yield base
            return
        fd, name = tempfile.mkstemp(prefix="immutable-kubeconfig-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(self.kubeconfig)
            yield [*base, f"--kubeconfig={name}"]
        finally:
            os.unlink(name)


@dataclass(frozen=True)
class CutoverPlan:
    """Move one blue-green Service from ``from_release`` to the warm ``to_release``."""

    workload: str
    namespace: str
    service: str
    deployment: str
    """The kept release's Deployment (its name in the cluster)."""
    from_release: str
    to_release: str
    connection: Connection

    def check(self) -> str | None:
        """Why the traffic cannot move first, from the live objects; ``None`` when it can."""
        live = _get(self.connection, "service", self.service, self.namespace)
        if live is None:
            return f"Service {self.namespace}/{self.service} is not readable in the cluster"
        selected = (live.get("spec") or {}).get("selector") or {}
        if selected.get(RELEASE_LABEL) != self.from_release:
            return (f"Service {self.namespace}/{self.service} selects {selected.get(RELEASE_LABEL)!r}, not "
                    f"{self.from_release!r} as state says (changed outside Pulumi? run immutable-ops drift)")
        deployment = _get(self.connection, "deployment", self.deployment, self.namespace)
        if deployment is None:
            return f"Deployment {self.namespace}/{self.deployment} of release {self.to_release} is not in the cluster"
        return deployment_not_ready(deployment, self.to_release)

    def move(self) -> float:
        """Patch the selector to ``to_release``; returns the seconds the patch took."""
        return self._patch(self.to_release)

    def undo(self) -> None:
        """Back to ``from_release`` (a failed update must leave the traffic where state has it)."""
        self._patch(self.from_release)

    def _patch(self, release: str) -> float:
        start = time.monotonic()
        body = json.dumps({"spec": {"selector": {RELEASE_LABEL: release}}})
        with self.connection.args() as base:
            proc = subprocess.run([*base, "patch", "service", self.service, "-n", self.namespace, "--type", "merge",
                                   f"--field-manager={FIELD_MANAGER}", "-p", body],
                                  capture_output=True, text=True, timeout=_TIMEOUT + 10)
        if proc.returncode != 0:
            raise OpsError(f"could not move Service {self.namespace}/{self.service} to release {release}",
                           ExitCode.PULUMI_FAILED, details=proc.stderr.strip()[-2000:])
        return time.monotonic() - start


def deployment_not_ready(deployment: Mapping[str, Any], release: str) -> str | None:
    """Why a Deployment cannot take the traffic now; ``None`` when all its replicas are ready
    pods of ``release`` (a scaled-to-zero kept release is not warm: its pods must start first,
    so the update, which awaits their readiness, moves the traffic)."""
    meta, spec, status = (deployment.get(k) or {} for k in ("metadata", "spec", "status"))
    name = meta.get("name", "?")
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if template_labels.get(RELEASE_LABEL) != release:
        return f"Deployment {name} runs pods of {template_labels.get(RELEASE_LABEL)!r}, not release {release}"
    wanted = int(spec.get("replicas") or 0)
    if wanted < 1:
        return f"release {release} is kept scaled to zero (keep_mode: scaled-to-zero): its pods start with the update"
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return f"Deployment {name} has a change the controller has not seen yet"
    counts = {k: int(status.get(k) or 0) for k in ("replicas", "readyReplicas", "updatedReplicas", "availableReplicas")}
    if any(count != wanted for count in counts.values()):
        seen = ", ".join(f"{k} {v}" for k, v in counts.items())
        return f"Deployment {name} is not fully ready ({seen}; wants {wanted})"
    return None


def plan(deployment: Mapping[str, Any], workload: str, from_release: str, to_release: str, *,
         project_dir: Path, env: Mapping[str, str]) -> CutoverPlan | str:
    """The cutover for ``workload`` from a stack's state (``pulumi stack export``), or why none."""
    resources: Sequence[Mapping[str, Any]] = list(deployment.get("resources") or [])
    children = _children(resources, workload)
    if children is None:
        return f"{workload} is not a Kubernetes ContainerService"
    service = next((r for r in children if r.get("type") == SERVICE_TYPE), None)
    if service is None:
        return f"{workload} has no Service"
    svc_meta = (service.get("outputs") or {}).get("metadata") or {}
    selector = ((service.get("outputs") or {}).get("spec") or {}).get("selector") or {}
    if RELEASE_LABEL not in selector:
        return f"{workload} is not blue-green (its Service selects every release)"
    kept = next((r for r in children if r.get("type") == DEPLOYMENT_TYPE
                 and (((r.get("outputs") or {}).get("metadata") or {}).get("labels") or {}).get(RELEASE_LABEL)
                 == to_release), None)
    if kept is None:
        return f"release {to_release} of {workload} has no Deployment in state"
    connection = _connection(resources, str(service.get("provider") or ""), project_dir, env)
    if isinstance(connection, str):
        return connection
    return CutoverPlan(workload, str(svc_meta.get("namespace") or "default"), str(svc_meta.get("name")),
                       str(((kept.get("outputs") or {}).get("metadata") or {}).get("name")), from_release, to_release,
                       connection)


def state_release(deployment: Mapping[str, Any], workload: str) -> str | None:
    """The release a workload's blue-green Service selects in state (what the engine last did)."""
    return selected_release(_children(list(deployment.get("resources") or []), workload) or [])


def connection_for(resources: Sequence[Mapping[str, Any]], provider_ref: str, project_dir: Path,
                   env: Mapping[str, str]) -> Connection | str:
    """How to reach the cluster of the provider ``provider_ref`` (a resource's ``provider`` in
    state), or why it cannot be reached from here."""
    return _connection(resources, provider_ref, project_dir, env)


def _children(resources: Sequence[Mapping[str, Any]], workload: str) -> list[Mapping[str, Any]] | None:
    """The state's children of the workload's Kubernetes ContainerService (``None``: no such component)."""
    component = next((r for r in resources if r.get("type") == K8S_COMPONENT
                      and str(r.get("urn", "")).rsplit("::", 1)[-1] == workload), None)
    if component is None:
        return None
    return [r for r in resources if r.get("parent") == component.get("urn")]


def _connection(resources: Sequence[Mapping[str, Any]], provider_ref: str, project_dir: Path,
                env: Mapping[str, str]) -> Connection | str:
    urn = provider_ref.rsplit("::", 1)[0] if provider_ref else ""
    provider = next((r for r in resources if r.get("urn") == urn), None)
    inputs: Mapping[str, Any] = (provider or {}).get("inputs") or {}
    if inputs.get("renderYamlToDirectory"):
        return "the stack renders manifests; there is no cluster"
    kubeconfig, context = inputs.get("kubeconfig"), inputs.get("context")
    if _secret(kubeconfig) or _secret(context):
        return "the provider's kubeconfig is a secret in state; the update moves the traffic"
    kubectl = env.get("IMMUTABLE_KUBECTL") or shutil.which("kubectl", path=env.get("PATH"))
    local = project_dir / ".toolchain" / "cluster" / "bin" / "kubectl"
    if not kubectl and local.is_file():
        kubectl = str(local)
    if not kubectl:
        return "kubectl is not on PATH (or IMMUTABLE_KUBECTL)"
    if kubeconfig is None and env.get("KUBECONFIG"):
        kubeconfig = env["KUBECONFIG"]
    if isinstance(kubeconfig, str) and _is_path(kubeconfig):
        # The program ran in the project directory; this tool may run anywhere (-C).
        kubeconfig = str(project_dir / Path(kubeconfig).expanduser())
    return Connection(kubectl, str(kubeconfig) if kubeconfig else None, str(context) if context else None)


def _get(connection: Connection, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    with connection.args() as base:
        proc = subprocess.run([*base, "get", kind, name, "-n", namespace, "-o", "json"], capture_output=True,
                              text=True, timeout=_TIMEOUT + 10)
    if proc.returncode != 0:
        return None
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _is_path(kubeconfig: str) -> bool:
    return "\n" not in kubeconfig and not kubeconfig.lstrip().startswith("{")


def _secret(value: Any) -> bool:
    return isinstance(value, Mapping) and _SECRET_SIG in value
