"""The namespace exec lock (manifests.exec_lock_policy_spec) on a real API server.

Pods are created directly (kwok runs them) with the names Deployments give their pods, and
the very policy ServiceNamespace renders is applied, so what is checked is the API server's
own CEL evaluation of CONNECT (exec) and ephemeral-container requests: the whole namespace
locked, an opted-out service exempt by name prefix (and a longer locked prefix winning), a
service's own break-glass group.
"""

from __future__ import annotations

import json
import time

import pytest
from immutable_infra import ContainerServiceSpec
from immutable_infra.kubernetes import manifests as m

from tests.cluster.kube import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

NS = "lockcheck"
LOCK_PREFIX = "immutable-infra exec lock:"
IMAGE = "registry.example.com/acme/app@sha256:" + "e" * 64
PODS = {  # pod name -> service label
    "api-5d4f7c9b8-x2x7z": "api",
    "api-gateway-6c8d9f7b5-abcde": "api-gateway",
    "pay-7f6d5c4b3-q9w8e": "pay",
    "stray": "stray",
}


def _spec(name: str, **overrides: object) -> ContainerServiceSpec:
    return ContainerServiceSpec.model_validate({
        "name": name, "image": IMAGE, "namespace": NS, "strategy": "rolling",
        "resources": {"cpu_request": "10m", "cpu_limit": "100m", "memory_request": "16Mi", "memory_limit": "32Mi"},
        "ports": [{"name": "http", "container_port": 8080}],
        "probes": {"liveness": {"http_get": {"path": "/healthz"}}, "readiness": {"http_get": {"path": "/ready"}}},
        **overrides})


def _pod(name: str, service: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {m.LABEL_NAME: service}},
            "spec": {"containers": [{"name": "app", "image": IMAGE}]}}


def _exec(cluster: Cluster, pod: str, *extra: str) -> tuple[bool, str]:
    """(refused by the lock?, stderr) for `kubectl exec`; past the lock it fails on kwok (no container)."""
    proc = cluster.kubectl(*extra, "exec", pod, "-n", NS, "--", "true", check=False, timeout=60)
    return LOCK_PREFIX in proc.stderr, proc.stderr


def _debug(cluster: Cluster, pod: str) -> tuple[bool, str]:
    proc = cluster.kubectl("debug", pod, "-n", NS, "--image=" + IMAGE, "--attach=false", "--", "true",
                           check=False, timeout=60)
    return LOCK_PREFIX in proc.stderr, proc.stderr


def test_namespace_lock_on_a_real_api_server(cluster: Cluster) -> None:
    services = [
        _spec("api", security={"opt_outs": {"exec_lock": {"reason": "incident 4711 debugging"}}}),
        _spec("api-gateway"),
        _spec("pay", security={"break_glass_group": "pay:oncall"}),
    ]
    name = m.exec_lock_name(NS)
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        *(_pod(pod, service) for pod, service in PODS.items()),
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": name, "annotations": m.exec_lock_annotations(services)},
         "spec": m.exec_lock_policy_spec(NS, services)},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": name}, "spec": {"policyName": name, "validationActions": ["Deny"]}},
    ]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    try:
        # The policy is type-checked by the API server: a CEL error would show in its status.
        deadline = time.monotonic() + 60
        while True:
            status = cluster.get("validatingadmissionpolicy", name).get("status", {})
            if status.get("observedGeneration") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert not status.get("typeChecking", {}).get("expressionWarnings"), status
        # Admission picks new policies up asynchronously: wait until the lock bites once.
        deadline = time.monotonic() + 60
        while not _exec(cluster, "stray")[0]:
            assert time.monotonic() < deadline, "the exec lock never refused anything"
            time.sleep(1)

        refused, err = _exec(cluster, "stray")
        assert refused and f"ValidatingAdmissionPolicy '{name}'" in err, err
        assert _exec(cluster, "api-gateway-6c8d9f7b5-abcde")[0], "a locked prefix extending an exempt one wins"
        refused, err = _exec(cluster, "api-5d4f7c9b8-x2x7z")
        assert not refused, err
        assert _debug(cluster, "api-gateway-6c8d9f7b5-abcde")[0]
        refused, err = _debug(cluster, "api-5d4f7c9b8-x2x7z")
        assert not refused, err

        default_glass = ["--kubeconfig", str(cluster.kubeconfig_for("glass", ["system:masters", m.DEFAULT_BREAK_GLASS_GROUP]))]
        pay_glass = ["--kubeconfig", str(cluster.kubeconfig_for("pay-oncall", ["system:masters", "pay:oncall"]))]
        refused, err = _exec(cluster, "stray", *default_glass)
        assert not refused, err
        assert _exec(cluster, "pay-7f6d5c4b3-q9w8e", *default_glass)[0], "pay needs its own group"
        refused, err = _exec(cluster, "pay-7f6d5c4b3-q9w8e", *pay_glass)
        assert not refused, err
    finally:
        cluster.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name,
                        "--ignore-not-found", check=False)
        cluster.kubectl("delete", "namespace", NS, "--wait=false", "--ignore-not-found", check=False)
