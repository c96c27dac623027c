"""ContainerService (Kubernetes) vs the same Kubernetes resources written by hand.

    .venv/bin/python -m bench.bench_container_service
    .venv/bin/python -m bench.bench_container_service --whole-process   # also: fresh processes, N=200

The raw variant is the program a careful engineer would write by hand for the same objects:
generated source (``hand_written_source``), every object a literal with the component's
names, labels, dependencies and timeouts (``tests/unit/kubernetes/test_bench_same_objects.py`` checks
that the two register the same objects), compiled before the clock starts; without the
component wrapper, its outputs, validation or hashing.
"""

from __future__ import annotations

import os
import py_compile
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import pulumi
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


def hand_written_source(n: int, *, service_accounts: bool = True) -> str:
    """The program a careful engineer would write by hand for the same objects, as source text:
    every object a literal with the component's names, labels and resource options (dependencies,
    custom timeouts). Literals, not dicts built once by the benchmark: a real program builds its
    inputs each time it runs, and so does this one (its allocations count, GC included)."""
    managed = {m.LABEL_MANAGED_BY: m.MANAGED_BY}
    lines = [
        "import pulumi",
        "import pulumi_kubernetes as k8s",
        "",
        "",
        "def program():",
        f"    ns = k8s.core.v1.Namespace('apps-ns', metadata="
        f"{ {'name': 'apps', 'labels': m.namespace_labels(), 'annotations': m.PATCH_FORCE}!r})",
        f"    k8s.networking.v1.NetworkPolicy('apps-default-deny', metadata="
        f"{ {'name': 'default-deny', 'namespace': 'apps', 'labels': managed, 'annotations': m.PATCH_FORCE}!r}, "
        f"spec={m.DEFAULT_DENY_SPEC!r}, "
        "opts=pulumi.ResourceOptions(depends_on=[ns]))",
        f"    lock = k8s.admissionregistration.v1.ValidatingAdmissionPolicy('apps-exec-lock', metadata="
        f"{ {'name': 'apps.exec-lock', 'labels': managed, 'annotations': m.PATCH_FORCE}!r}, "
        f"spec={m.exec_lock_policy_spec('apps', [])!r})",
        f"    k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding('apps-exec-lock-binding', metadata="
        f"{ {'name': 'apps.exec-lock', 'labels': managed, 'annotations': m.PATCH_FORCE}!r}, "
        "spec={'policyName': 'apps.exec-lock', 'validationActions': ['Deny']}, "
        "opts=pulumi.ResourceOptions(depends_on=[lock]))",
    ]
    for i in range(n):
        s = ContainerServiceSpec.model_validate(spec_dict(i))
        rid = s.release
        meta = {"name": s.name, "namespace": "apps", "labels": {m.LABEL_NAME: s.name, **managed},
                "annotations": m.PATCH_FORCE}
        owned = {**meta["labels"], m.LABEL_RELEASE: rid}
        cm = m.config_map_name(s)
        timeout = f"{s.rollout_timeout_seconds}s"
        if service_accounts:
            lines.append(f"    k8s.core.v1.ServiceAccount('svc{i}-sa', metadata={meta!r}, "
                         "automount_service_account_token=False, opts=pulumi.ResourceOptions(depends_on=[ns]))")
        lines += [
            f"    cm = k8s.core.v1.ConfigMap({cm!r}, metadata={ {**meta, 'name': cm, 'labels': owned}!r}, "
            f"data={ {f.name: f.content for f in s.config_files}!r}, immutable=True)",
            f"    d = k8s.apps.v1.Deployment('svc{i}-{rid}', metadata="
            f"{ {**meta, 'name': m.deployment_name(s, rid), 'labels': {**owned, m.LABEL_ROLE: 'active'}}!r}, "
            f"spec={m.deployment_spec(s, rid, s.replicas, progress_deadline_seconds=s.rollout_timeout_seconds)!r}, "
            "opts=pulumi.ResourceOptions(depends_on=[cm], "
            f"custom_timeouts=pulumi.CustomTimeouts(create={timeout!r}, update={timeout!r})))",
            f"    k8s.core.v1.Service('svc{i}-svc', metadata="
            f"{ {**meta, 'annotations': {**m.PATCH_FORCE, **m.SERVICE_AWAIT_ANNOTATIONS}}!r}, spec="
            f"{ {'type': 'ClusterIP', 'selector': m.service_selector(s, rid), 'ports': m.service_ports(s)}!r}, "
            "opts=pulumi.ResourceOptions(depends_on=[d]))",
            f"    k8s.policy.v1.PodDisruptionBudget('svc{i}-pdb', metadata={meta!r}, spec="
            f"{ {'maxUnavailable': 1, 'selector': {'matchLabels': m.service_selector(s, rid)}}!r}, "
            "opts=pulumi.ResourceOptions(depends_on=[d]))",
            f"    k8s.networking.v1.NetworkPolicy('svc{i}-netpol', metadata={meta!r}, spec={m.network_policy_spec(s)!r})",
        ]
    return "\n".join(lines) + "\n"


def raw(n: int) -> Callable[[], None]:
    """The hand-written program, compiled before the clock starts (as Python caches a module's
    bytecode) and run in the timed part."""
    code = compile(hand_written_source(n), "<hand-written>", "exec")

    def program() -> None:
        namespace: dict[str, Any] = {}
        exec(code, namespace)
        namespace["program"]()
    return program


# --- whole process: interpreter start, imports and program, each in a fresh process ----------------

_CHILD_COMPONENT = """
import sys
from bench.harness import run_timed
from bench.bench_container_service import component
run_timed(component(int(sys.argv[1])))
"""

_CHILD_RAW = """
import sys
from bench.harness import run_timed
sys.path.insert(0, sys.argv[1])
from hand_written import program  # its bytecode compiled beforehand, as after a first run
run_timed(program)
"""


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
        dirs = {}
        for objects in (6, 5):
            dirs[objects] = os.path.join(tmp, str(objects))
            os.mkdir(dirs[objects])
            path = os.path.join(dirs[objects], "hand_written.py")
            with open(path, "w", encoding="utf-8") as f:
                f.write(hand_written_source(n, service_accounts=objects == 6))
            py_compile.compile(path, doraise=True)
        variants = {"component": [_CHILD_COMPONENT, str(n)], "raw, same objects": [_CHILD_RAW, dirs[6]],
                    "raw, 5 objects": [_CHILD_RAW, dirs[5]]}
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
