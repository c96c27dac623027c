"""ContainerService (Kubernetes) vs the same Kubernetes resources written by hand.

    .venv/bin/python -m bench.bench_container_service

The raw variant registers exactly the objects the component renders (same manifests,
built once up front, as a hand-written program would have them as literals), without
the component wrapper, validation or hashing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from immutable_infra import ContainerServiceSpec
from immutable_infra.kubernetes import ContainerService, ServiceNamespace
from immutable_infra.kubernetes import manifests as m

from .harness import compare


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
    specs = [spec_dict(i) for i in range(n)]

    def program() -> None:
        ns = ServiceNamespace("apps", {"name": "apps"}, services=specs)
        after_ns = pulumi.ResourceOptions(depends_on=[ns])
        for i, spec in enumerate(specs):
            ContainerService(f"svc{i}", spec, opts=after_ns)
    return program


def raw(n: int) -> Callable[[], None]:
    """The same objects as literals: what a careful engineer would write by hand."""
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
            meta = {"name": s.name, "namespace": "apps", "labels": {m.LABEL_NAME: s.name}}
            k8s.core.v1.ServiceAccount(f"svc{i}-sa", metadata=meta, automount_service_account_token=False,
                                       opts=after_ns)
            cm = k8s.core.v1.ConfigMap(cm_name, metadata={**meta, "name": cm_name},
                                       data={"app.toml": f"index = {i}\n"}, immutable=True)
            d = k8s.apps.v1.Deployment(f"svc{i}-{rid}", metadata={**meta, "name": f"{s.name}-{rid}"}, spec=dep,
                                       opts=pulumi.ResourceOptions(depends_on=[cm]))
            k8s.core.v1.Service(f"svc{i}-svc", metadata=meta, spec={
                "selector": {m.LABEL_NAME: s.name, m.LABEL_RELEASE: rid},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
                opts=pulumi.ResourceOptions(depends_on=[d]))
            k8s.policy.v1.PodDisruptionBudget(f"svc{i}-pdb", metadata=meta, spec={
                "maxUnavailable": 1, "selector": {"matchLabels": {m.LABEL_NAME: s.name, m.LABEL_RELEASE: rid}}})
            k8s.networking.v1.NetworkPolicy(f"svc{i}-netpol", metadata=meta, spec=netpol)
    return program


def main() -> dict[int, float]:
    return compare("ContainerService (Kubernetes) vs raw resources, under mocks", component, raw)


if __name__ == "__main__":
    main()
