"""Upgrading a stack from per-service exec locks to the namespace lock, on a real API server.

Before this change every ContainerService registered ``<namespace>-<service>-exec-lock`` (a
ValidatingAdmissionPolicy and its binding). The "old" phase below registers exactly those
objects beside a ServiceNamespace without its lock; the "new" phase is today's program. One
``pulumi up`` then creates the namespace lock and deletes the old ones. A watch on the
bindings proves there is never a moment without a lock (the engine deletes what the program
no longer registers only at the end of the update, after every create), the Deployments are
not replaced, and exec is refused throughout.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
from immutable_infra import yaml_text

from tests.cluster.kube import Cluster
from tests.engine.harness import PULUMI, ROOT, toolchain_missing

sys.path.insert(0, str(ROOT / "toolchain"))
from pulumi_env import pulumi_env

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]

NS = "upgrade"
BINDINGS = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"

PROGRAM = '''
import pulumi
import pulumi_kubernetes as k8s
from immutable_infra import ContainerServiceSpec
from immutable_infra.kubernetes import ContainerService, ServiceNamespace

config = pulumi.Config()
old = config.require("phase") == "old"
provider = k8s.Provider("cluster", kubeconfig=config.require("kubeconfig"))
specs = [ContainerServiceSpec.model_validate({
    "name": name, "namespace": "upgrade", "strategy": "blue-green", "replicas": 1,
    "image": "registry.example.com/acme/app@sha256:" + "f" * 64,
    "ports": [{"name": "http", "container_port": 8080}],
    "resources": {"cpu_request": "10m", "cpu_limit": "100m", "memory_request": "16Mi", "memory_limit": "32Mi"},
    "probes": {"liveness": {"http_get": {"path": "/healthz"}}, "readiness": {"http_get": {"path": "/ready"}}},
}) for name in ("api", "web")]
on = pulumi.ResourceOptions(providers=[provider])
ns = ServiceNamespace("upgrade", {"spec": {"name": "upgrade"}, "services": specs, "exec_break_glass": old}, opts=on)
for spec in specs:
    svc = ContainerService(spec.name, {"spec": spec}, opts=pulumi.ResourceOptions(providers=[provider], depends_on=[ns]))
    if old:  # what ContainerService registered per service before the namespace lock
        name = f"upgrade-{spec.name}-exec-lock"
        prefix = spec.name + "-"
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{spec.name}-exec-lock", metadata={"name": name},
            spec={"failurePolicy": "Fail",
                  "matchConstraints": {
                      "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "upgrade"}},
                      "resourceRules": [
                          {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
                           "resources": ["pods/exec", "pods/attach", "pods/portforward"]},
                          {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                           "resources": ["pods/ephemeralcontainers"]}]},
                  "validations": [{"expression": f"!request.name.startsWith('{prefix}') || "
                                                 "request.userInfo.groups.exists(g, g == 'immutable:break-glass')",
                                   "message": "immutable-infra exec lock (per service)", "reason": "Forbidden"}]},
            opts=pulumi.ResourceOptions(parent=svc, providers=[provider]))
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{spec.name}-exec-lock-binding", metadata={"name": name},
            spec={"policyName": name, "validationActions": ["Deny"]},
            opts=pulumi.ResourceOptions(parent=svc, providers=[provider], depends_on=[policy]))
'''


def _pulumi(project: pathlib.Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(PULUMI), *args, "--non-interactive"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"pulumi {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    return proc


def _bound_locks(events: list, namespace_locks: set[str]) -> list[set[str]]:  # type: ignore[type-arg]
    """The exec-lock bindings that exist after each watch event (in resourceVersion order)."""
    live: set[str] = set()
    out = []
    for ev in sorted(events, key=lambda e: e.rv):
        if ev.name not in namespace_locks:
            continue
        if ev.type == "DELETED":
            live.discard(ev.name)
        else:
            live.add(ev.name)
        out.append(set(live))
    return out


def test_upgrade_to_the_namespace_lock_never_leaves_the_namespace_unlocked(cluster: Cluster,
                                                                           tmp_path: pathlib.Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "__main__.py").write_text(PROGRAM)
    (project / "Pulumi.yaml").write_text(yaml_text.dump({
        "name": "lock-upgrade", "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": sys.prefix}}}))
    backend = tmp_path / "backend"
    backend.mkdir()
    env = pulumi_env(ROOT, backend_url=backend.as_uri())
    env["PULUMI_CONFIG_PASSPHRASE"] = "lock-upgrade-test-only"
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    _pulumi(project, env, "stack", "init", "t", "--secrets-provider", "passphrase")
    _pulumi(project, env, "config", "set", "kubeconfig", str(cluster.kubeconfig), "-s", "t")
    _pulumi(project, env, "config", "set", "phase", "old", "-s", "t")
    try:
        _pulumi(project, env, "up", "--yes", "--skip-preview", "-s", "t")
        old_names = {"upgrade-api-exec-lock", "upgrade-web-exec-lock"}
        before = {d["metadata"]["uid"] for d in cluster.get("deployments", "-n", NS)["items"]}
        assert {b["metadata"]["name"] for b in cluster.get("validatingadmissionpolicybindings")["items"]} >= old_names

        _pulumi(project, env, "config", "set", "phase", "new", "-s", "t")
        watch = cluster.watch(BINDINGS)
        # `up --json` streams the engine's events, one JSON object per line, in order.
        upgrade = _pulumi(project, env, "up", "--yes", "--skip-preview", "-s", "t", "--json")
        events = watch.stop()

        new_name = f"{NS}.exec-lock"
        timeline = _bound_locks(events, old_names | {new_name})
        assert timeline and all(timeline), f"a moment without any exec lock: {timeline}"
        assert timeline[-1] == {new_name}
        # The engine's own order: both new objects were created before the first delete started.
        order = [json.loads(line) for line in upgrade.stdout.splitlines() if line.startswith("{")]
        created = [i for i, e in enumerate(order) if "resOutputsEvent" in e
                   and e["resOutputsEvent"]["metadata"]["op"] == "create"
                   and e["resOutputsEvent"]["metadata"]["urn"].endswith(("::upgrade-exec-lock", "::upgrade-exec-lock-binding"))]
        deleting = [i for i, e in enumerate(order) if "resourcePreEvent" in e
                    and e["resourcePreEvent"]["metadata"]["op"] == "delete"]
        assert len(created) == 2 and deleting and max(created) < min(deleting), (created, deleting)
        # No compute replaced: the same Deployments, and only lock objects deleted.
        assert {d["metadata"]["uid"] for d in cluster.get("deployments", "-n", NS)["items"]} == before
        deleted_types = {order[i]["resourcePreEvent"]["metadata"]["type"] for i in deleting}
        assert deleted_types <= {"kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
                                 "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"}
    finally:
        subprocess.run([str(PULUMI), "destroy", "--yes", "--skip-preview", "-s", "t", "--non-interactive"],
                       cwd=project, env=env, capture_output=True, text=True, timeout=600)
