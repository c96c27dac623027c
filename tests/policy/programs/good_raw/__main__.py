"""A raw Kubernetes program (no immutable_infra components) that keeps every rule of the pack.

It shows what a team writing plain pulumi_kubernetes must do, and proves through the real
engine that the pack has no false positives on such a program (0 violations).
"""

import os

import pulumi
import pulumi_kubernetes as k8s

render_dir = os.environ.get("POLICY_TEST_RENDER_DIR") or os.path.join(os.getcwd(), "build", "rendered")
provider = k8s.Provider("render", render_yaml_to_directory=render_dir)
opts = pulumi.ResourceOptions(provider=provider)

RELEASE = "5e1f0c2a"  # normally the content hash of what runs
NAMESPACE = "shop"
labels = {"app.kubernetes.io/name": "shop", "immutable.dev/release": RELEASE}

ns = k8s.core.v1.Namespace("shop", metadata={"name": NAMESPACE, "labels": {
    "pod-security.kubernetes.io/enforce": "restricted"}}, opts=opts)
child = pulumi.ResourceOptions(provider=provider, depends_on=[ns])

k8s.networking.v1.NetworkPolicy("default-deny", metadata={"name": "default-deny", "namespace": NAMESPACE},
                                spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, opts=child)

config = k8s.core.v1.ConfigMap(f"shop-config-{RELEASE}", metadata={"namespace": NAMESPACE, "labels": labels},
                               data={"shop.toml": "port = 8080\n"}, immutable=True, opts=child)

lock = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
    "exec-lock",
    metadata={"name": "shop-exec-lock"},
    spec={
        "failurePolicy": "Fail",
        "matchConstraints": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}},
            "resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
                 "resources": ["pods/exec", "pods/attach", "pods/portforward"]},
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                 "resources": ["pods/ephemeralcontainers"]},
            ],
        },
        "validations": [{"expression": "request.userInfo.groups.exists(g, g == 'break-glass')",
                         "message": "pods of shop are immutable", "reason": "Forbidden"}],
    },
    opts=opts,
)
k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
    "exec-lock-binding",
    metadata={"name": "shop-exec-lock"},
    spec={"policyName": "shop-exec-lock", "validationActions": ["Deny"]},
    opts=pulumi.ResourceOptions(provider=provider, depends_on=[lock]),
)

k8s.apps.v1.Deployment(
    f"shop-{RELEASE}",
    metadata={"namespace": NAMESPACE, "labels": {**labels, "immutable.dev/role": "active"}},
    spec={
        "replicas": 2,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "shop",
                "image": "registry.example.com/shop@sha256:" + "c" * 64,
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                              "limits": {"cpu": "250m", "memory": "128Mi"}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                "volumeMounts": [{"name": "config", "mountPath": "/etc/shop", "readOnly": True},
                                 {"name": "tmp", "mountPath": "/tmp"}],
            }],
            "volumes": [{"name": "config", "configMap": {"name": config.metadata.name}},
                        {"name": "tmp", "emptyDir": {}}],
        }},
    },
    opts=pulumi.ResourceOptions(provider=provider, depends_on=[ns, config]),
)
