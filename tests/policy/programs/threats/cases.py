"""The raw programs of policy/THREATS.md: each case is one small program (a few resources), bad or good.

A case's resources are named ``<case id>`` or ``<case id>--<part>``; everything else in the
stack is the shared baseline (``base--*``: the namespace ``threats``, restricted, default deny,
under an exec lock bound with Deny). ``expect`` maps each policy that must report the case to
its level; a good case expects nothing. Each bad case is otherwise hardened, so it is refused
for its own reason and nothing else (tests/policy/test_policy_engine_threats.py checks exactly
that, through the real CLI; tests/policy/test_policy_threats.py through the pure checks).

Properties are written as the engine hands them to a policy (camelCase); the program converts
top-level keys (and Docker's nested ones) to the SDK's snake_case. Self-contained on purpose:
the program directory is copied to a temporary directory and run by the CLI.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from typing import Any

NS = "threats"
RELEASE = "5d1e2f3a"
IMAGE = "registry.example.com/shop/web@sha256:" + "e" * 64
SA = {"kind": "ServiceAccount", "name": "web", "namespace": NS}
RBAC = "rbac.authorization.k8s.io"
M, A = "mandatory", "advisory"
REASON = "reviewed exception for the storefront, ticket SEC-31"

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
NAMESPACE = "kubernetes:core/v1:Namespace"
ENDPOINTS = "kubernetes:core/v1:Endpoints"
PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
ENDPOINT_SLICE = "kubernetes:discovery.k8s.io/v1:EndpointSlice"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
ROLE = f"kubernetes:{RBAC}/v1:Role"
CLUSTER_ROLE = f"kubernetes:{RBAC}/v1:ClusterRole"
ROLE_BINDING = f"kubernetes:{RBAC}/v1:RoleBinding"
CLUSTER_ROLE_BINDING = f"kubernetes:{RBAC}/v1:ClusterRoleBinding"
VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
VAP_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
MUTATING_WEBHOOK = "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration"
MUTATING_POLICY = "kubernetes:admissionregistration.k8s.io/v1alpha1:MutatingAdmissionPolicy"
DEPLOYMENT_PATCH = "kubernetes:apps/v1:DeploymentPatch"
NAMESPACE_PATCH = "kubernetes:core/v1:NamespacePatch"
SERVICE_PATCH = "kubernetes:core/v1:ServicePatch"
NETWORK_POLICY_PATCH = "kubernetes:networking.k8s.io/v1:NetworkPolicyPatch"
ROLE_BINDING_PATCH = f"kubernetes:{RBAC}/v1:RoleBindingPatch"
CONTAINER = "docker:index/container:Container"
DOCKER_SERVICE = "docker:index/service:Service"


@dataclass
class Res:
    type: str
    name: str
    props: dict[str, Any]
    ignore_changes: list[str] | None = None


@dataclass
class Case:
    id: str
    expect: dict[str, str]
    """policy -> level of every violation the case's resources must get (and no other)."""
    resources: list[Res]
    platform: str = "k8s"
    row: int = 0
    """The row of policy/THREATS.md it proves."""
    notes: str = ""

    @property
    def good(self) -> bool:
        return not self.expect

    @property
    def advisory_only(self) -> bool:
        return bool(self.expect) and set(self.expect.values()) == {A}


@dataclass
class _Builder:
    cases: list[Case] = field(default_factory=list)

    def add(self, id: str, row: int, expect: dict[str, str] | None, *resources: Res, platform: str = "k8s") -> None:
        self.cases.append(Case(id, dict(expect or {}), list(resources), platform, row))


# --- hardened building blocks ---------------------------------------------------------------


def labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "immutable.dev/release": RELEASE}


def meta(name: str, namespaced: bool = True, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, **extra}
    if namespaced:
        out["namespace"] = NS
    return out


def container(name: str = "web", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": IMAGE,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "128Mi"}},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "readinessProbe": {"tcpSocket": {"port": 8080}},
        **extra,
    }


def pod_spec(app: str = "web", **extra: Any) -> dict[str, Any]:
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container(app)],
        **extra,
    }


def deployment(name: str, spec: dict[str, Any] | None = None, template_meta: dict[str, Any] | None = None,
               **meta_extra: Any) -> dict[str, Any]:
    return {
        "metadata": meta(name, labels=labels(name), **meta_extra),
        "spec": {"replicas": 1, "selector": {"matchLabels": labels(name)},
                 "template": {"metadata": {"labels": labels(name), **(template_meta or {})},
                              "spec": spec or pod_spec(name)}},
    }


def opted(name: str) -> dict[str, Any]:
    """Metadata labels and annotations recording opt-out ``name`` with a real reason."""
    return {"labels": {"immutable.dev/opt-out-" + name.replace("_", "-"): "true"},
            "annotations": {"immutable.dev/opt-out-reason-" + name: REASON}}


def role(kind: str, name: str, rules: list[dict[str, Any]], **meta_extra: Any) -> Res:
    return Res(kind, f"{name}--role", {"metadata": meta(name, kind == ROLE, **meta_extra), "rules": rules})


def bind(kind: str, name: str, role_kind: str, role_name: str, subject: dict[str, Any] | None = None) -> Res:
    return Res(kind, f"{name}--binding", {
        "metadata": meta(name, kind == ROLE_BINDING),
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name},
        "subjects": [subject or SA]})


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


LOCK_RULES = [
    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
     "resources": ["pods/exec", "pods/attach", "pods/portforward"]},
    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["pods/ephemeralcontainers"]},
]


def lock(name: str, namespace: str = NS, **spec_extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                             "resourceRules": copy.deepcopy(LOCK_RULES)},
        "validations": [{"expression": "false", "message": "pods are immutable", "reason": "Forbidden"}],
    }
    for key, value in spec_extra.items():
        if key in ("objectSelector", "excludeResourceRules"):
            spec["matchConstraints"][key] = value
        else:
            spec[key] = value
    return {"metadata": {"name": name}, "spec": spec}


def lock_binding(name: str, actions: list[str] | None = None, **spec_extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"policyName": name, "validationActions": actions or ["Deny"],
                                                 **spec_extra}}


def config_map(name: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": meta(name), "data": {"app.toml": "port = 8080\n"}, "immutable": True, **extra}


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": meta(name), "spec": {"selector": {"app.kubernetes.io/name": "web"},
                                              "ports": [{"port": 80, "targetPort": 8080}], **spec}}


def claim_volume(claim: str) -> list[dict[str, Any]]:
    return [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]


def with_volume(name: str, volumes: list[dict[str, Any]], **container_extra: Any) -> dict[str, Any]:
    c = container(name, volumeMounts=[{"name": "data", "mountPath": "/data"}], **container_extra)
    return deployment(name, spec=pod_spec(name, containers=[c], volumes=volumes))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Credential-shaped test values, assembled so no scanner mistakes this file for a leak.
AWS_KEY_ID = "AKIA" + "IOSFODNN7" + "EXAMPLE"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" + "K1l2M3n4O5p6Q7r8"
JWT = "eyJ" + "hbGciOiJIUzI1NiJ9" + ".eyJ" + "zdWIiOiJ3ZWIifQ" + "." + "c2lnbmF0dXJlLXRlc3Q"
SLACK_HOOK = "https://hooks.slack.com/services/" + "T0000TEST/B0000TEST/" + "abcdefghijklmnop"


def docker_container(name: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "image": IMAGE,
        "user": "10001:10001",
        "readOnly": True,
        "securityOpts": ["no-new-privileges:true"],
        "capabilities": {"drops": ["ALL"]},
        "memory": 128,
        "cpus": "0.5",
        "healthcheck": {"tests": ["CMD", "/app", "health"], "interval": "10s"},
        "tmpfs": {"/tmp": "rw,size=64m"},
        "labels": [{"label": k, "value": v} for k, v in labels(name).items()],
        "start": True,
        "mustRun": False,
    }
    base.update(extra)
    return base


def docker_opted(name: str, props: dict[str, Any], opt_out: str) -> dict[str, Any]:
    props["labels"] = props["labels"] + [
        {"label": "immutable.dev/opt-out-" + opt_out.replace("_", "-"), "value": "true"},
        {"label": "immutable.dev/opt-out-reason-" + opt_out, "value": REASON}]
    return props


# --- the cases ------------------------------------------------------------------------------------


def build() -> list[Case]:
    b = _Builder()
    esc = {"k8s-rbac-no-escalation": M}

    # RBAC (rows 2-5): a role of the stack joined to the binding that gives it to the workload.
    for id, kind, rules_, bkind in (
        ("rbac-escalate", CLUSTER_ROLE, [rule([RBAC], ["clusterroles"], ["escalate"])], CLUSTER_ROLE_BINDING),
        ("rbac-bind", ROLE, [rule([RBAC], ["roles"], ["bind"])], ROLE_BINDING),
        ("rbac-impersonate", CLUSTER_ROLE, [rule([""], ["serviceaccounts"], ["impersonate"])], CLUSTER_ROLE_BINDING),
        ("rbac-write-bindings", ROLE, [rule([RBAC], ["rolebindings"], ["create", "update"])], ROLE_BINDING),
        ("rbac-token-create", ROLE, [rule([""], ["serviceaccounts/token"], ["create"])], ROLE_BINDING),
        ("rbac-lock-write", CLUSTER_ROLE, [rule(["admissionregistration.k8s.io"],
                                                ["validatingadmissionpolicybindings"], ["patch"])],
         CLUSTER_ROLE_BINDING),
        ("rbac-secrets-list", ROLE, [rule([""], ["secrets"], ["list"])], ROLE_BINDING),
        ("rbac-secrets-watch-clusterrole", CLUSTER_ROLE, [rule([""], ["secrets"], ["watch"])], ROLE_BINDING),
        ("rbac-pods-exec", ROLE, [rule([""], ["pods/exec"], ["create"])], ROLE_BINDING),
        ("rbac-pods-subresources-star", ROLE, [rule([""], ["pods/*"], ["get"])], ROLE_BINDING),
        ("rbac-nodes-proxy", CLUSTER_ROLE, [rule([""], ["nodes/proxy"], ["get"])], CLUSTER_ROLE_BINDING),
        ("rbac-csr-approve", CLUSTER_ROLE, [rule(["certificates.k8s.io"], ["certificatesigningrequests/approval"],
                                                ["update"])], CLUSTER_ROLE_BINDING),
        ("rbac-secrets-by-name", ROLE, [{**rule([""], ["secrets"], ["get"]), "resourceNames": ["db"]}], ROLE_BINDING),
    ):
        role_kind = "ClusterRole" if kind == CLUSTER_ROLE else "Role"
        b.add(id, 3 if "secrets" in id or "pods" in id or "nodes" in id else 2, esc,
              role(kind, id, rules_), bind(bkind, id, role_kind, id))
    b.add("rbac-aggregate-to-view", 4, esc, role(CLUSTER_ROLE, "rbac-aggregate-to-view",
                                                 [rule([""], ["secrets"], ["get", "list"])],
                                                 labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"}))
    b.add("rbac-anonymous-user", 5, esc,
          bind(CLUSTER_ROLE_BINDING, "rbac-anonymous-user", "ClusterRole", "view",
               {"kind": "User", "name": "system:anonymous", "apiGroup": RBAC}))
    b.add("rbac-unauthenticated-group", 5, esc,
          role(ROLE, "rbac-unauthenticated-group", [rule([""], ["configmaps"], ["get"])]),
          bind(ROLE_BINDING, "rbac-unauthenticated-group", "Role", "rbac-unauthenticated-group",
               {"kind": "Group", "name": "system:unauthenticated", "apiGroup": RBAC}))
    b.add("good-rbac-reader", 2, None,
          role(ROLE, "good-rbac-reader", [rule([""], ["configmaps"], ["get", "list", "watch"])]),
          bind(ROLE_BINDING, "good-rbac-reader", "Role", "good-rbac-reader"))
    b.add("good-rbac-view-binding", 2, None,
          bind(ROLE_BINDING, "good-rbac-view-binding", "ClusterRole", "view"))
    b.add("good-rbac-aggregate-safe", 4, None,
          role(CLUSTER_ROLE, "good-rbac-aggregate-safe", [rule(["shop.example.com"], ["carts"], ["get", "list"])],
               labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"}))

    # Exec lock integrity (row 6): each lock is otherwise complete and bound with Deny.
    lock_bad = {"k8s-exec-lock-complete": M}
    for id, spec_extra in (
        ("lock-validation-true", {"validations": [{"expression": "true", "message": "allowed"}]}),
        ("lock-validation-tautology", {"validations": [{"expression": "1 == 1"}, {"expression": "!false"}]}),
        ("lock-match-false", {"matchConditions": [{"name": "never", "expression": "false"}]}),
        ("lock-exclude-exec", {"excludeResourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                         "operations": ["CONNECT"], "resources": ["pods/exec"]}]}),
        ("lock-object-selector", {"objectSelector": {"matchLabels": {"locked": "true"}}}),
        ("lock-fails-open", {"failurePolicy": "Ignore"}),
    ):
        name = f"{id}.exec-lock"
        b.add(id, 6, lock_bad, Res(VAP, id, lock(name, **spec_extra)), Res(VAP_BINDING, f"{id}--binding",
                                                                             lock_binding(name)))
    dead = {"k8s-exec-lock-bound": M}
    b.add("lock-unnamed-fails-open", 6, {**lock_bad, **dead}, Res(VAP, "lock-unnamed-fails-open",
                                                                  lock("pod-guard-open", failurePolicy="Ignore")))
    b.add("lock-unbound", 6, dead, Res(VAP, "lock-unbound", lock("lock-unbound.exec-lock")))
    b.add("lock-binding-other-namespace", 6, dead, Res(VAP, "lock-binding-other-namespace",
                                                       lock("lock-binding-other-namespace.exec-lock")),
          Res(VAP_BINDING, "lock-binding-other-namespace--binding", lock_binding(
              "lock-binding-other-namespace.exec-lock", matchResources={"namespaceSelector": {
                  "matchLabels": {"kubernetes.io/metadata.name": "elsewhere"}}})))
    for id, binding_extra, actions in (
        ("lock-binding-object-selector", {"matchResources": {"objectSelector": {"matchLabels": {"x": "y"}}}}, None),
        ("lock-binding-excludes", {"matchResources": {"excludeResourceRules": [
            {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
             "resources": ["pods/exec", "pods/attach"]}]}}, None),
        ("lock-binding-warn", {}, ["Warn"]),
    ):
        name = f"{id}.exec-lock"
        b.add(id, 6, {**lock_bad, **dead}, Res(VAP, f"{id}--lock", lock(name)),
              Res(VAP_BINDING, id, lock_binding(name, actions, **binding_extra)))
    b.add("good-lock-other-name", 6, None, Res(VAP, "good-lock-other-name", lock("pod-guard")),
          Res(VAP_BINDING, "good-lock-other-name--binding", lock_binding("pod-guard")))
    b.add("good-lock-break-glass", 6, None,
          Res(VAP, "good-lock-break-glass", lock("break-glass.exec-lock", validations=[{
              "expression": "request.userInfo.groups.exists(g, g == 'immutable:break-glass')"}])),
          Res(VAP_BINDING, "good-lock-break-glass--binding", lock_binding("break-glass.exec-lock", ["Deny", "Audit"])))

    # Host access through storage (row 7).
    host = {"k8s-no-host-storage": M}
    b.add("hostpath-pv-claim", 7, host,
          Res(PV, "hostpath-pv-claim--pv", {"metadata": {"name": "hostpath-pv-claim"}, "spec": {
              "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}}}),
          Res(PVC, "hostpath-pv-claim--claim", {"metadata": meta("hostpath-pv-claim"), "spec": {
              "accessModes": ["ReadWriteOnce"], "volumeName": "hostpath-pv-claim", "storageClassName": "",
              "resources": {"requests": {"storage": "1Gi"}}}}),
          Res(DEPLOYMENT, "hostpath-pv-claim", with_volume("hostpath-pv-claim", claim_volume("hostpath-pv-claim"))))
    b.add("local-pv", 7, host, Res(PV, "local-pv", {"metadata": {"name": "local-pv"}, "spec": {
        "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "local": {"path": "/mnt/disks/ssd1"},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}]}}}}))
    socket = {"path": "/run/containerd/containerd.sock"}
    b.add("runtime-socket-pv", 7, host, Res(PV, "runtime-socket-pv", {"metadata": {"name": "runtime-socket-pv"}, "spec": {
        "capacity": {"storage": "1Mi"}, "accessModes": ["ReadWriteOnce"], "hostPath": socket}}))
    b.add("hostpath-storageclass", 7, host,
          Res(STORAGE_CLASS, "hostpath-storageclass--class", {"metadata": {"name": "hostpath-storageclass"},
                                                               "provisioner": "rancher.io/local-path"}),
          Res(PVC, "hostpath-storageclass--claim", {"metadata": meta("hostpath-storageclass"), "spec": {
              "accessModes": ["ReadWriteOnce"], "storageClassName": "hostpath-storageclass",
              "resources": {"requests": {"storage": "1Gi"}}}}),
          Res(DEPLOYMENT, "hostpath-storageclass", with_volume("hostpath-storageclass",
                                                               claim_volume("hostpath-storageclass"))))
    b.add("ephemeral-host-class", 7, host,
          Res(STORAGE_CLASS, "ephemeral-host-class--class", {"metadata": {"name": "ephemeral-host-class"},
                                                              "provisioner": "kubernetes.io/host-path"}),
          Res(DEPLOYMENT, "ephemeral-host-class", with_volume("ephemeral-host-class", [{"name": "data", "ephemeral": {
              "volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"],
                                               "storageClassName": "ephemeral-host-class",
                                               "resources": {"requests": {"storage": "1Gi"}}}}}}])))
    b.add("csi-hostpath-inline", 7, host, Res(DEPLOYMENT, "csi-hostpath-inline", with_volume(
        "csi-hostpath-inline", [{"name": "data", "csi": {"driver": "hostpath.csi.k8s.io"}}])))
    b.add("volume-devices", 7, host,
          Res(PVC, "volume-devices--claim", {"metadata": meta("volume-devices"), "spec": {
              "accessModes": ["ReadWriteOnce"], "volumeMode": "Block", "resources": {"requests": {"storage": "1Gi"}}}}),
          Res(DEPLOYMENT, "volume-devices", deployment("volume-devices", spec=pod_spec(
              "volume-devices", containers=[container("volume-devices", volumeDevices=[
                  {"name": "data", "devicePath": "/dev/xvdb"}])], volumes=claim_volume("volume-devices")))))
    b.add("good-network-storage", 7, None,
          Res(STORAGE_CLASS, "good-network-storage--class", {"metadata": {"name": "good-network-storage"},
                                                              "provisioner": "ebs.csi.aws.com"}),
          Res(PVC, "good-network-storage--claim", {"metadata": meta("good-network-storage"), "spec": {
              "accessModes": ["ReadWriteOnce"], "storageClassName": "good-network-storage",
              "resources": {"requests": {"storage": "1Gi"}}}}),
          Res(DEPLOYMENT, "good-network-storage", with_volume("good-network-storage",
                                                              claim_volume("good-network-storage"))))

    # Secrets outside the scanned fields (row 9).
    plain = {"k8s-no-plaintext-secret": M}
    b.add("secret-binarydata", 9, plain, Res(CONFIG_MAP, "secret-binarydata", config_map(
        "secret-binarydata", binaryData={"creds": b64(f"[default]\naws_access_key_id = {AWS_KEY_ID}\n")})))
    b.add("secret-annotation", 9, plain, Res(DEPLOYMENT, "secret-annotation", deployment(
        "secret-annotation", annotations={"ci.example.com/deploy": GITHUB_TOKEN})))
    b.add("secret-annotation-name", 9, plain, Res(CONFIG_MAP, "secret-annotation-name", config_map(
        "secret-annotation-name", metadata=meta("secret-annotation-name", annotations={"db-password": "hunter2"}))))
    b.add("secret-label-akia", 9, plain, Res(SERVICE_ACCOUNT, "secret-label-akia", {
        "metadata": meta("secret-label-akia", labels={"owner-key": AWS_KEY_ID}), "automountServiceAccountToken": False}))
    b.add("secret-configmap-key-ref", 9, plain, Res(DEPLOYMENT, "secret-configmap-key-ref", deployment(
        "secret-configmap-key-ref", spec=pod_spec("secret-configmap-key-ref", containers=[container(
            "secret-configmap-key-ref", env=[{"name": "DB_PASSWORD", "valueFrom": {
                "configMapKeyRef": {"name": "settings", "key": "db"}}}])]))))
    b.add("secret-fieldref-annotation", 9, plain, Res(DEPLOYMENT, "secret-fieldref-annotation", deployment(
        "secret-fieldref-annotation", spec=pod_spec("secret-fieldref-annotation", containers=[container(
            "secret-fieldref-annotation", env=[{"name": "API_TOKEN", "valueFrom": {
                "fieldRef": {"fieldPath": "metadata.annotations['api-token']"}}}])]))))
    b.add("secret-service-annotation", 9, plain, Res(SERVICE, "secret-service-annotation", {
        **service("secret-service-annotation"),
        "metadata": meta("secret-service-annotation", annotations={"alerts": SLACK_HOOK})}))
    b.add("secret-template-annotation", 9, plain, Res(DEPLOYMENT, "secret-template-annotation", deployment(
        "secret-template-annotation", template_meta={"annotations": {"session": JWT}})))
    b.add("good-secret-as-file", 9, None,
          Res(SECRET, "good-secret-as-file--secret", {"metadata": meta("good-secret-as-file"), "immutable": True,
                                                      "stringData": {"password": "not-in-a-configmap"}}),
          Res(DEPLOYMENT, "good-secret-as-file", deployment("good-secret-as-file", annotations={
              "team": "shop", "description": "storefront"}, spec=pod_spec("good-secret-as-file", containers=[container(
                  "good-secret-as-file", env=[{"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {
                      "name": "settings", "key": "log"}}}],
                  volumeMounts=[{"name": "db", "mountPath": "/run/secrets/db", "readOnly": True}])],
              volumes=[{"name": "db", "secret": {"secretName": "good-secret-as-file"}}]))))
    b.add("good-binary-config", 9, None, Res(CONFIG_MAP, "good-binary-config", config_map(
        "good-binary-config", binaryData={"logo.png": b64("\x89PNG-not-really-an-image")})))

    # Take over or rewrite running objects (row 11).
    take = {"k8s-no-takeover": M}
    b.add("takeover-patch-force", 11, take, Res(NAMESPACE_PATCH, "takeover-patch-force", {"metadata": {
        "name": "kube-public", "labels": {"team": "shop"}, "annotations": {"pulumi.com/patchForce": "true"}}}))
    b.add("takeover-service-selector", 11, take, Res(SERVICE_PATCH, "takeover-service-selector", {
        "metadata": meta("storefront"), "spec": {"selector": {"app.kubernetes.io/name": "attacker"}}}))
    b.add("takeover-netpol-patch", 11, take, Res(NETWORK_POLICY_PATCH, "takeover-netpol-patch", {
        "metadata": meta("default-deny"), "spec": {"podSelector": {"matchLabels": {"nothing": "here"}}}}))
    b.add("takeover-rolebinding-patch", 11, take, Res(ROLE_BINDING_PATCH, "takeover-rolebinding-patch", {
        "metadata": meta("ops"), "subjects": [{"kind": "User", "name": "mallory", "apiGroup": RBAC}]}))
    b.add("takeover-orphan", 11, take, Res(DEPLOYMENT, "takeover-orphan", deployment(
        "takeover-orphan", annotations={"pulumi.com/deletionPropagationPolicy": "orphan"})))
    b.add("takeover-helm-keep", 11, take, Res(CONFIG_MAP, "takeover-helm-keep", config_map(
        "takeover-helm-keep", metadata=meta("takeover-helm-keep", annotations={"helm.sh/resource-policy": "keep"}))))
    b.add("takeover-mutating-webhook", 11, take, Res(MUTATING_WEBHOOK, "takeover-mutating-webhook", {
        "metadata": {"name": "takeover-mutating-webhook"},
        "webhooks": [{"name": "inject.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                      "clientConfig": {"url": "https://inject.example.com/mutate"},
                      "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                 "resources": ["pods"]}]}]}))
    b.add("takeover-mutating-policy", 11, take, Res(MUTATING_POLICY, "takeover-mutating-policy", {
        "metadata": {"name": "takeover-mutating-policy"},
        "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                         "operations": ["CREATE", "UPDATE"],
                                                         "resources": ["deployments"]}]},
                 "failurePolicy": "Fail", "reinvocationPolicy": "Never",
                 "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {
                     "expression": "Object{spec: Object.spec{replicas: 1}}"}}]}}))
    b.add("good-patch-metadata", 11, None, Res(DEPLOYMENT_PATCH, "good-patch-metadata", {
        "metadata": meta("storefront", annotations={"team": "shop"})}))

    # Exposure (rows 12-14).
    tls = {"k8s-ingress-tls": M}
    rule_for = [{"host": "shop.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "web", "port": {"number": 80}}}}]}}]
    b.add("ingress-no-tls", 12, tls, Res(INGRESS, "ingress-no-tls", {"metadata": meta("ingress-no-tls"),
                                                                     "spec": {"rules": rule_for}}))
    b.add("ingress-host-not-covered", 12, tls, Res(INGRESS, "ingress-host-not-covered", {
        "metadata": meta("ingress-host-not-covered"),
        "spec": {"rules": rule_for, "tls": [{"hosts": ["admin.example.com"], "secretName": "admin-tls"}]}}))
    b.add("ingress-default-backend", 12, tls, Res(INGRESS, "ingress-default-backend", {
        "metadata": meta("ingress-default-backend"),
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}}))
    b.add("ingress-optout", 12, {"stack-opt-outs": A}, Res(INGRESS, "ingress-optout", {
        "metadata": meta("ingress-optout", **opted("plain_http_ingress")), "spec": {"rules": rule_for}}))
    b.add("good-ingress-tls", 12, None, Res(INGRESS, "good-ingress-tls", {"metadata": meta("good-ingress-tls"), "spec": {
        "rules": rule_for, "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}]}}))
    b.add("good-ingress-wildcard-tls", 12, None, Res(INGRESS, "good-ingress-wildcard-tls", {
        "metadata": meta("good-ingress-wildcard-tls"),
        "spec": {"rules": rule_for, "tls": [{"hosts": ["*.example.com"], "secretName": "wildcard-tls"}]}}))

    expose = {"k8s-service-exposure": M}
    b.add("externalname-metadata", 13, expose, Res(SERVICE, "externalname-metadata", {
        "metadata": meta("externalname-metadata"), "spec": {"type": "ExternalName",
                                                            "externalName": "metadata.google.internal"}}))
    b.add("externalname-metadata-optout", 13, {"k8s-service-exposure": M, "stack-opt-outs": A},
          Res(SERVICE, "externalname-metadata-optout", {
              "metadata": meta("externalname-metadata-optout", **opted("exposed_service")),
              "spec": {"type": "ExternalName", "externalName": "169.254.169.254"}}))
    b.add("externalname-external", 13, expose, Res(SERVICE, "externalname-external", {
        "metadata": meta("externalname-external"), "spec": {"type": "ExternalName", "externalName": "api.example.com"}}))
    b.add("endpoints-metadata", 13, expose,
          Res(SERVICE, "endpoints-metadata--service", {"metadata": meta("endpoints-metadata"),
                                                       "spec": {"ports": [{"port": 80}]}}),
          Res(ENDPOINTS, "endpoints-metadata", {"metadata": meta("endpoints-metadata"), "subsets": [
              {"addresses": [{"ip": "169.254.169.254"}], "ports": [{"port": 80}]}]}))
    b.add("endpointslice-loopback", 13, expose, Res(ENDPOINT_SLICE, "endpointslice-loopback", {
        "metadata": meta("endpointslice-loopback", labels={"kubernetes.io/service-name": "web"}),
        "addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.1"]}], "ports": [{"port": 10250}]}))
    b.add("nodeport-optout", 13, {"stack-opt-outs": A}, Res(SERVICE, "nodeport-optout", {
        **service("nodeport-optout", type="NodePort"), "metadata": meta("nodeport-optout", **opted("exposed_service"))}))
    b.add("nodeport", 13, expose, Res(SERVICE, "nodeport", service("nodeport", type="NodePort")))
    b.add("good-endpoints-private", 13, None,
          Res(SERVICE, "good-endpoints-private--service", {"metadata": meta("good-endpoints-private"),
                                                           "spec": {"ports": [{"port": 5432}]}}),
          Res(ENDPOINTS, "good-endpoints-private", {"metadata": meta("good-endpoints-private"), "subsets": [
              {"addresses": [{"ip": "10.20.0.5"}], "ports": [{"port": 5432}]}]}))

    netpol = {"k8s-namespace-network-policy": M}
    b.add("netpol-split-ranges", 14, netpol, Res(NETWORK_POLICY, "netpol-split-ranges", {
        "metadata": meta("netpol-split-ranges"), "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/1"}}, {"ipBlock": {"cidr": "128.0.0.0/1"}}]}]}}))
    b.add("netpol-wide-range", 14, netpol, Res(NETWORK_POLICY, "netpol-wide-range", {
        "metadata": meta("netpol-wide-range"), "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": "64.0.0.0/2"}}]}]}}))
    b.add("good-netpol-private", 14, None, Res(NETWORK_POLICY, "good-netpol-private", {
        "metadata": meta("good-netpol-private"), "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 5432}]}]}}))

    # ignore_changes on release-defining fields (row 19).
    ignored = {"k8s-no-ignored-release-fields": M}
    b.add("ignore-configmap-data", 19, ignored, Res(CONFIG_MAP, "ignore-configmap-data",
                                                    config_map("ignore-configmap-data"), ["data"]))
    b.add("ignore-secret", 19, ignored, Res(SECRET, "ignore-secret", {
        "metadata": meta("ignore-secret"), "immutable": True, "stringData": {"password": "rotated"}}, ["string_data"]))
    b.add("ignore-service-selector", 19, ignored, Res(SERVICE, "ignore-service-selector",
                                                      service("ignore-service-selector"), ['spec["selector"]']))
    b.add("ignore-netpol-spec", 19, ignored, Res(NETWORK_POLICY, "ignore-netpol-spec", {
        "metadata": meta("ignore-netpol-spec"), "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 8080}]}]}}, ["spec"]))
    b.add("ignore-lock-spec", 19, ignored,
          Res(VAP, "ignore-lock-spec", lock("ignore-lock-spec.exec-lock"), ["spec.validations"]),
          Res(VAP_BINDING, "ignore-lock-spec--binding", lock_binding("ignore-lock-spec.exec-lock")))
    b.add("ignore-wildcard", 19, ignored, Res(SERVICE_ACCOUNT, "ignore-wildcard", {
        "metadata": meta("ignore-wildcard"), "automountServiceAccountToken": False}, ["*"]))
    b.add("ignore-role-rules", 19, ignored, Res(ROLE, "ignore-role-rules", {
        "metadata": meta("ignore-role-rules"), "rules": [rule([""], ["configmaps"], ["get"])]}, ["rules"]))
    b.add("ignore-deployment-template", 19, {"k8s-replaced-by-rollout": M},
          Res(DEPLOYMENT, "ignore-deployment-template", deployment("ignore-deployment-template"),
              ["spec.template.spec.containers"]))
    b.add("good-ignore-replicas", 19, None, Res(DEPLOYMENT, "good-ignore-replicas", deployment("good-ignore-replicas"),
                                                ["spec.replicas"]))
    b.add("good-ignore-configmap-labels", 19, None, Res(CONFIG_MAP, "good-ignore-configmap-labels",
                                                        config_map("good-ignore-configmap-labels"), ["metadata.labels"]))

    # Extra containers in a live pod, old confinement annotations (rows 20, 21).
    extra = {"k8s-no-extra-containers": M}
    debug = {k: v for k, v in container("debug").items() if k not in ("resources", "livenessProbe", "readinessProbe")}
    b.add("ephemeral-containers", 20, extra, Res(DEPLOYMENT, "ephemeral-containers", deployment(
        "ephemeral-containers", spec=pod_spec("ephemeral-containers", ephemeralContainers=[debug]))))
    b.add("share-process-namespace", 20, extra, Res(DEPLOYMENT, "share-process-namespace", deployment(
        "share-process-namespace", spec=pod_spec("share-process-namespace", shareProcessNamespace=True))))
    pss = {"k8s-pod-security-restricted": M}
    b.add("apparmor-annotation", 21, pss, Res(DEPLOYMENT, "apparmor-annotation", deployment(
        "apparmor-annotation", template_meta={"annotations": {
            "container.apparmor.security.beta.kubernetes.io/apparmor-annotation": "unconfined"}})))
    b.add("seccomp-annotation", 21, pss, Res(DEPLOYMENT, "seccomp-annotation", deployment(
        "seccomp-annotation", template_meta={"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}})))
    b.add("good-apparmor-runtime-default", 21, None, Res(DEPLOYMENT, "good-apparmor-runtime-default", deployment(
        "good-apparmor-runtime-default", template_meta={"annotations": {
            "container.apparmor.security.beta.kubernetes.io/good-apparmor-runtime-default": "runtime/default"}})))

    # Docker (rows 9, 16-19).
    d_host = {"docker-no-host-access": M}
    for id, extra_props in (
        ("docker-socket", {"volumes": [{"hostPath": "/var/run/docker.sock", "containerPath": "/var/run/docker.sock"}]}),
        ("docker-bind-etc", {"mounts": [{"type": "bind", "source": "/etc", "target": "/host-etc", "readOnly": True}]}),
        ("docker-devices", {"devices": [{"hostPath": "/dev/sda", "containerPath": "/dev/sda"}]}),
        ("docker-seccomp-unconfined", {"securityOpts": ["no-new-privileges:true", "seccomp=unconfined"]}),
        ("docker-apparmor-unconfined", {"securityOpts": ["no-new-privileges:true", "apparmor=unconfined"]}),
        ("docker-label-disable", {"securityOpts": ["no-new-privileges:true", "label=disable"]}),
        ("docker-cgroupns-host", {"cgroupnsMode": "host"}),
    ):
        b.add(id, 16, d_host, Res(CONTAINER, id, docker_container(id, **extra_props)), platform="docker")
    d_ports = {"docker-published-ports": M}
    b.add("docker-port-all-interfaces", 17, d_ports, Res(CONTAINER, "docker-port-all-interfaces", docker_container(
        "docker-port-all-interfaces", ports=[{"internal": 8080, "external": 18080, "ip": "0.0.0.0"}])),
        platform="docker")
    b.add("docker-port-no-ip", 17, d_ports, Res(CONTAINER, "docker-port-no-ip", docker_container(
        "docker-port-no-ip", ports=[{"internal": 8080}])), platform="docker")
    b.add("docker-port-optout", 17, {"stack-opt-outs": A}, Res(CONTAINER, "docker-port-optout", docker_opted(
        "docker-port-optout", docker_container("docker-port-optout", ports=[{"internal": 8080, "ip": "0.0.0.0"}]),
        "exposed_service")), platform="docker")
    b.add("docker-swarm-service", 18, {"docker-no-swarm-service": M}, Res(DOCKER_SERVICE, "docker-swarm-service", {
        "name": "docker-swarm-service", "taskSpec": {"containerSpec": {"image": IMAGE}}}), platform="docker")
    b.add("docker-ignore-image", 19, {"docker-no-ignored-release-fields": M}, Res(
        CONTAINER, "docker-ignore-image", docker_container("docker-ignore-image"), ["image"]), platform="docker")
    b.add("docker-label-credential", 9, {"docker-no-plaintext-secret": M}, Res(
        CONTAINER, "docker-label-credential", docker_container("docker-label-credential", labels=[
            *[{"label": k, "value": v} for k, v in labels("docker-label-credential").items()],
            {"label": "deploy-key", "value": GITHUB_TOKEN}])), platform="docker")
    b.add("good-docker-loopback-port", 17, None, Res(CONTAINER, "good-docker-loopback-port", docker_container(
        "good-docker-loopback-port", ports=[{"internal": 8080, "ip": "127.0.0.1"}],
        mounts=[{"type": "volume", "source": "shop-config", "target": "/etc/shop", "readOnly": True}])),
        platform="docker")
    b.add("good-docker-seed", 19, None, Res(CONTAINER, "good-docker-seed", docker_container(
        "good-docker-seed", start=False), ["image", "labels"]), platform="docker")
    b.add("good-docker-custom-seccomp", 16, None, Res(CONTAINER, "good-docker-custom-seccomp", docker_container(
        "good-docker-custom-seccomp", securityOpts=["no-new-privileges:true", "apparmor=docker-default"])),
        platform="docker")
    return b.cases


BASELINE = [
    Res(NAMESPACE, "base--namespace", {"metadata": {"name": NS, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}}),
    Res(NETWORK_POLICY, "base--default-deny", {"metadata": meta("default-deny"),
                                               "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
    Res(VAP, "base--lock", lock(f"{NS}.exec-lock")),
    Res(VAP_BINDING, "base--lock-binding", lock_binding(f"{NS}.exec-lock")),
]
"""What every Kubernetes case lands beside: the namespace ``threats``, restricted, default deny,
under an exec lock bound with Deny."""

CASES = build()
BY_ID = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "case ids are unique"
