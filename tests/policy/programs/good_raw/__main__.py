"""A raw Kubernetes program (no immutable_infra components) that keeps every rule of the pack,
with every workload kind: Deployment (RollingUpdate and Recreate), StatefulSet, DaemonSet, Job, CronJob.

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

# Every other workload kind, hardened the same way (issue 18: good programs for each kind).
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"}}


def hardened_pod(name: str, probes: bool = True, **extra) -> dict:
    c = {"name": name, "image": "registry.example.com/shop/" + name + "@sha256:" + "c" * 64,
         "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                             "capabilities": {"drop": ["ALL"]}},
         "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "128Mi"}}}
    if probes:
        c["livenessProbe"] = {"tcpSocket": {"port": 8080}}
        c["readinessProbe"] = {"tcpSocket": {"port": 8080}}
    return {"automountServiceAccountToken": False, "serviceAccountName": "shop", "securityContext": POD_SECURITY,
            "containers": [c], **extra}


def kind_labels(name: str) -> dict:
    return {"app.kubernetes.io/name": name, "immutable.dev/release": RELEASE}


k8s.core.v1.ServiceAccount("shop-sa", metadata={"name": "shop", "namespace": NAMESPACE},
                           automount_service_account_token=False, opts=child)
k8s.core.v1.Service("shop-svc", metadata={"name": "shop", "namespace": NAMESPACE},
                    spec={"type": "ClusterIP", "selector": {"app.kubernetes.io/name": "shop"},
                          "ports": [{"port": 80, "targetPort": 8080}]}, opts=child)
k8s.rbac.v1.Role("shop-reader", metadata={"name": "shop-config-reader", "namespace": NAMESPACE},
                 rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}], opts=child)
k8s.rbac.v1.RoleBinding("shop-reader-binding", metadata={"name": "shop-config-reader", "namespace": NAMESPACE},
                        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "shop-config-reader"},
                        subjects=[{"kind": "ServiceAccount", "name": "shop", "namespace": NAMESPACE}], opts=child)
k8s.networking.v1.NetworkPolicy("shop-allow", metadata={"name": "shop-from-ingress", "namespace": NAMESPACE},
                                spec={"podSelector": {"matchLabels": {"app.kubernetes.io/name": "shop"}},
                                      "policyTypes": ["Ingress"],
                                      "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                          "kubernetes.io/metadata.name": "ingress"}}}], "ports": [{"port": 8080}]}]},
                                opts=child)
k8s.apps.v1.StatefulSet(
    f"store-{RELEASE}",
    metadata={"namespace": NAMESPACE, "labels": kind_labels("store")},
    spec={"serviceName": "store", "replicas": 2, "selector": {"matchLabels": kind_labels("store")},
          "updateStrategy": {"type": "RollingUpdate"},
          "template": {"metadata": {"labels": kind_labels("store")}, "spec": hardened_pod("store")}},
    opts=child)
k8s.apps.v1.DaemonSet(
    f"agent-{RELEASE}",
    metadata={"namespace": NAMESPACE, "labels": kind_labels("agent")},
    spec={"selector": {"matchLabels": kind_labels("agent")}, "updateStrategy": {"type": "RollingUpdate"},
          "template": {"metadata": {"labels": kind_labels("agent")}, "spec": hardened_pod("agent")}},
    opts=child)
k8s.batch.v1.Job(
    f"migrate-{RELEASE}",
    metadata={"namespace": NAMESPACE, "labels": kind_labels("migrate")},
    spec={"backoffLimit": 1, "template": {"metadata": {"labels": kind_labels("migrate")},
                                          "spec": hardened_pod("migrate", probes=False, restartPolicy="Never")}},
    opts=child)
k8s.batch.v1.CronJob(
    f"report-{RELEASE}",
    metadata={"namespace": NAMESPACE, "labels": kind_labels("report")},
    spec={"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {
        "metadata": {"labels": kind_labels("report")},
        "spec": hardened_pod("report", probes=False, restartPolicy="Never")}}}},
    opts=child)
k8s.apps.v1.Deployment(
    f"worker-{RELEASE}",
    metadata={"namespace": NAMESPACE, "labels": kind_labels("worker")},
    spec={"replicas": 1, "strategy": {"type": "Recreate"},  # replaced (with downtime): allowed
          "selector": {"matchLabels": kind_labels("worker")},
          "template": {"metadata": {"labels": kind_labels("worker")}, "spec": hardened_pod("worker")}},
    opts=child)
