"""Deliberately bad: every Kubernetes rule of the policy pack is broken at least once.

Render mode (``render_yaml_to_directory``) writes manifests instead of calling a cluster,
so ``pulumi preview --policy-pack policy/`` runs anywhere. Used by
tests/policy/test_policy_engine.py; do not "fix" it.
"""

import os

import pulumi
import pulumi_kubernetes as k8s

render_dir = os.environ.get("POLICY_TEST_RENDER_DIR") or os.path.join(os.getcwd(), "build", "rendered")
provider = k8s.Provider("render", render_yaml_to_directory=render_dir)
opts = pulumi.ResourceOptions(provider=provider)

# k8s-namespace-pod-security: no pod-security.kubernetes.io/enforce label.
# k8s-namespace-network-policy: no NetworkPolicy anywhere in this stack.
k8s.core.v1.Namespace("team", metadata={"name": "team"}, opts=opts)

# k8s-config-immutable + k8s-no-default-namespace (no namespace, provider has none).
settings = k8s.core.v1.ConfigMap("settings", metadata={"name": "settings"}, data={"LOG": "debug"}, opts=opts)

# A workload breaking the pod rules; it is not labelled with a release (stack-release-membership).
k8s.apps.v1.Deployment(
    "web",
    metadata={
        "name": "web",
        "namespace": "team",
        # k8s-opt-out-reason: the exec lock is opted out of without a reason annotation.
        "labels": {"app.kubernetes.io/name": "web", "immutable.dev/opt-out-exec-lock": "true"},
    },
    spec={
        "replicas": 2,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
            "spec": {
                # k8s-no-service-account-token
                "automountServiceAccountToken": True,
                # k8s-pod-security-restricted
                "hostNetwork": True,
                "containers": [{
                    "name": "web",
                    # k8s-image-digest
                    "image": "nginx:1.27",
                    # k8s-pod-security-restricted, k8s-read-only-root-filesystem, k8s-non-root-ids
                    "securityContext": {"privileged": True, "runAsUser": 0},
                    # k8s-secrets-as-files
                    "env": [{"name": "DB_PASSWORD",
                             "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                    # k8s-resources and k8s-probes: none declared.
                }],
            },
        },
    },
    opts=pulumi.ResourceOptions(provider=provider, depends_on=[settings]),
)

# k8s-exec-lock-complete: an "exec lock" that only stops `kubectl exec`, and fails open.
# k8s-exec-lock-present: a workload below runs without a real one.
k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
    "lock",
    metadata={"name": "team-jobs-exec-lock"},
    spec={
        "failurePolicy": "Ignore",
        "matchConstraints": {"resourceRules": [{
            "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"], "resources": ["pods/exec"]}]},
        "validations": [{"expression": "false"}],
    },
    opts=opts,
)

# stack-max-kept-releases: three kept releases of one service (the default limit is 2).
for release in ("00000001", "00000002", "00000003"):
    labels = {"app.kubernetes.io/name": "jobs", "immutable.dev/release": release}
    k8s.apps.v1.Deployment(
        f"jobs-{release}",
        metadata={"name": f"jobs-{release}", "namespace": "team",
                  "labels": {**labels, "immutable.dev/role": "kept"}},
        spec={
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "jobs",
                    "image": "registry.example.com/jobs@sha256:" + "b" * 64,
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                  "limits": {"cpu": "250m", "memory": "128Mi"}},
                    "livenessProbe": {"tcpSocket": {"port": 8080}},
                    "readinessProbe": {"tcpSocket": {"port": 8080}},
                }],
            }},
        },
        opts=opts,
    )
