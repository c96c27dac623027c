"""ContainerService (Kubernetes) vs the same Kubernetes resources written by hand.

    .venv/bin/python -m bench.bench_container_service
    .venv/bin/python -m bench.bench_container_service --whole-process   # also: fresh processes, N=200

The raw variant registers exactly the objects the component renders (same manifests,
built once up front, as a hand-written program would have them as literals), without
the component wrapper, validation or hashing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from immutable_infra import ContainerServiceSpec
from immutable_infra.kubernetes import ContainerService, ServiceNamespace
from immutable_infra.kubernetes import manifests as m

from .harness import compare

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spec_dict(i: int) -> dict[str, Any]:
    return {
        "name": f"svc{i}",
        "image": f"registry.example.com/acme/svc{i}@sha256:" + f"{i:064x}",
        "ports": [{"name": "http", "container_port": 8080, "service_port": 80}],
        "env": {"LOG_FORMAT": "json", "INDEX": str(i)},
        "config_files": [{"name": "app.toml", "content": f"index = {i}\n"}],
        "resources": {"cpu_request": "50m", "cpu_limit": "250m", "memory_request": "64Mi", "memory_limit": "128Mi"},
        "probes": {"liveness": {"http_get": {"path": "/healthz"}}, "readiness": {"http_get": {"path": "/ready"}}},
        "replicas": 2,
        "strategy": "blue-green",
    }


def component(n: int) -> Callable[[], None]:
    dicts = [spec_dict(i) for i in range(n)]

    def program() -> None:
        # Validated once (timed) and passed to both: the namespace needs them for its exec lock.
        specs = [ContainerServiceSpec.model_validate(d) for d in dicts]
        ns = ServiceNamespace("apps", {"spec": {"name": "apps"}, "services": specs})
        after_ns = pulumi.ResourceOptions(depends_on=[ns])
        for i, spec in enumerate(specs):
            ContainerService(f"svc{i}", {"spec": spec}, opts=after_ns)
    return program


def raw(n: int) -> Callable[[], None]:
    """The same objects as literals, with the same labels: what a careful engineer would write by hand."""
    literals = []
    for i in range(n):
        s = ContainerServiceSpec.model_validate(spec_dict(i))
        rid = s.release
        literals.append((i, s, rid, m.deployment_spec(s, rid, s.replicas), m.network_policy_spec(s),
                         m.config_map_name(s)))
    lock = m.exec_lock_policy_spec("apps", [])

    def program() -> None:
        ns = k8s.core.v1.Namespace("apps-ns", metadata={"name": "apps", "labels": m.namespace_labels()})
        k8s.networking.v1.NetworkPolicy("apps-default-deny", metadata={"name": "default-deny", "namespace": "apps"},
                                        spec=m.DEFAULT_DENY_SPEC, opts=pulumi.ResourceOptions(depends_on=[ns]))
        p = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            "apps-exec-lock", metadata={"name": "apps.exec-lock"}, spec=lock)
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            "apps-exec-lock-binding", metadata={"name": "apps.exec-lock"},
            spec={"policyName": "apps.exec-lock", "validationActions": ["Deny"]},
            opts=pulumi.ResourceOptions(depends_on=[p]))
        after_ns = pulumi.ResourceOptions(depends_on=[ns])
        for i, s, rid, dep, netpol, cm_name in literals:
            meta = {"name": s.name, "namespace": "apps",
                    "labels": {m.LABEL_NAME: s.name, m.LABEL_MANAGED_BY: m.MANAGED_BY}}
            owned = {**meta["labels"], m.LABEL_RELEASE: rid}
            k8s.core.v1.ServiceAccount(f"svc{i}-sa", metadata=meta, automount_service_account_token=False,
                                       opts=after_ns)
            cm = k8s.core.v1.ConfigMap(cm_name, metadata={**meta, "name": cm_name, "labels": owned},
                                       data={"app.toml": f"index = {i}\n"}, immutable=True)
            d = k8s.apps.v1.Deployment(f"svc{i}-{rid}", metadata={
                **meta, "name": f"{s.name}-{rid}", "labels": {**owned, m.LABEL_ROLE: "active"}}, spec=dep,
                                       opts=pulumi.ResourceOptions(depends_on=[cm]))
            k8s.core.v1.Service(f"svc{i}-svc", metadata=meta, spec={
                "selector": {m.LABEL_NAME: s.name, m.LABEL_RELEASE: rid},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
                opts=pulumi.ResourceOptions(depends_on=[d]))
            k8s.policy.v1.PodDisruptionBudget(f"svc{i}-pdb", metadata=meta, spec={
                "maxUnavailable": 1, "selector": {"matchLabels": {m.LABEL_NAME: s.name, m.LABEL_RELEASE: rid}}})
            k8s.networking.v1.NetworkPolicy(f"svc{i}-netpol", metadata=meta, spec=netpol)
    return program


# --- whole process: interpreter start, imports and program, each in a fresh process ----------------

_CHILD_COMPONENT = """
import json, sys
from bench.harness import run_timed
from bench.bench_container_service import component
run_timed(component(int(sys.argv[1])))
"""

_CHILD_RAW = """
import json, sys
import pulumi
import pulumi_kubernetes as k8s
from bench.harness import run_timed

literals = json.load(open(sys.argv[1]))
with_sa = sys.argv[2] == "6"

def program():
    ns = k8s.core.v1.Namespace("apps-ns", metadata=literals["namespace"])
    for o in literals["services"]:
        meta = o["meta"]
        if with_sa:
            k8s.core.v1.ServiceAccount(o["sa"], metadata=meta, automount_service_account_token=False,
                                       opts=pulumi.ResourceOptions(depends_on=[ns]))
        cm = k8s.core.v1.ConfigMap(o["cm"], metadata={**meta, "name": o["cm"], "labels": o["cm_labels"]},
                                   data=o["data"], immutable=True)
        d = k8s.apps.v1.Deployment(o["dep_urn"], metadata={**meta, "name": o["dep_name"], "labels": o["dep_labels"]},
                                   spec=o["dep"],
                                   opts=pulumi.ResourceOptions(depends_on=[cm]))
        k8s.core.v1.Service(o["svc"], metadata=meta, spec=o["service"], opts=pulumi.ResourceOptions(depends_on=[d]))
        k8s.policy.v1.PodDisruptionBudget(o["pdb"], metadata=meta, spec=o["pdb_spec"])
        k8s.networking.v1.NetworkPolicy(o["netpol"], metadata=meta, spec=o["netpol_spec"])

run_timed(program)
"""


def _literals(n: int) -> dict[str, Any]:
    """What a hand-written program would carry as literals (so its process imports no immutable_infra)."""
    services = []
    for i in range(n):
        s = ContainerServiceSpec.model_validate(spec_dict(i))
        rid = s.release
        selector = {m.LABEL_NAME: s.name, m.LABEL_RELEASE: rid}
        services.append({
            "meta": {"name": s.name, "namespace": "apps",
                     "labels": {m.LABEL_NAME: s.name, m.LABEL_MANAGED_BY: m.MANAGED_BY}},
            "cm_labels": {m.LABEL_NAME: s.name, m.LABEL_MANAGED_BY: m.MANAGED_BY, m.LABEL_RELEASE: rid},
            "dep_labels": {m.LABEL_NAME: s.name, m.LABEL_MANAGED_BY: m.MANAGED_BY, m.LABEL_RELEASE: rid,
                           m.LABEL_ROLE: "active"},
            "sa": f"svc{i}-sa", "cm": m.config_map_name(s), "data": {"app.toml": f"index = {i}\n"},
            "dep_urn": f"svc{i}-{rid}", "dep_name": f"{s.name}-{rid}", "dep": m.deployment_spec(s, rid, s.replicas),
            "svc": f"svc{i}-svc", "service": {"selector": selector,
                                              "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
            "pdb": f"svc{i}-pdb", "pdb_spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            "netpol": f"svc{i}-netpol", "netpol_spec": m.network_policy_spec(s),
        })
    return {"namespace": {"name": "apps", "labels": m.namespace_labels()}, "services": services}


def _process(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child) of one fresh Python process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", *args], env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed: {args[1:]}")
    return wall, usage.ru_utime + usage.ru_stime


def whole_process(n: int = 200, rounds: int = 3) -> dict[str, float]:
    """Fresh-process time of the component program vs hand-written ones (6 objects per service,
    the same as the component's; and 5, without the ServiceAccount). Returns CPU-time ratios."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "literals.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(_literals(n), f)
        variants = {"component": [_CHILD_COMPONENT, str(n)], "raw, same objects": [_CHILD_RAW, path, "6"],
                    "raw, 5 objects": [_CHILD_RAW, path, "5"]}
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        for _ in range(rounds):
            for name, args in variants.items():
                times[name].append(_process(args))
    base_wall = statistics.median(t[0] for t in times["component"])
    base_cpu = statistics.median(t[1] for t in times["component"])
    print(f"\nwhole process, N={n} (median of {rounds} fresh processes each)")
    print(f"{'variant':<20} {'wall s':>8} {'cpu s':>8} {'component/this wall':>20} {'cpu':>6}")
    out = {}
    for name, samples in times.items():
        wall, cpu = statistics.median(t[0] for t in samples), statistics.median(t[1] for t in samples)
        out[name] = base_cpu / cpu
        print(f"{name:<20} {wall:>8.2f} {cpu:>8.2f} {base_wall / wall:>19.2f}x {base_cpu / cpu:>5.2f}x")
    return out


def main() -> dict[int, float]:
    ratios = compare("ContainerService (Kubernetes) vs raw resources, under mocks", component, raw)
    if "--whole-process" in sys.argv:
        whole_process()
    return ratios


if __name__ == "__main__":
    main()
