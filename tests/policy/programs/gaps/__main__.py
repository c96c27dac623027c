"""The bypasses a security reviewer tries first, each in its bad and its fixed form.

``POLICY_TEST_VARIANT=bad`` (the default) declares each bypass once, in an otherwise
hardened stack; ``POLICY_TEST_VARIANT=fixed`` applies, to the same resources, exactly the
fix the pack's message suggests. tests/policy/test_policy_engine.py previews both through
``pulumi preview --policy-pack policy/``: the bad variant must fail with the named
violations, the fixed one must pass (only the advisory list of opt-outs remains). Render
mode: no cluster is needed. Do not "fix" the bad variant.
"""

import os

import pulumi
import pulumi_kubernetes as k8s

FIXED = os.environ.get("POLICY_TEST_VARIANT", "bad") == "fixed"
render_dir = os.environ.get("POLICY_TEST_RENDER_DIR") or os.path.join(os.getcwd(), "build", "rendered")
provider = k8s.Provider("render", render_yaml_to_directory=render_dir)
opts = pulumi.ResourceOptions(provider=provider)

RELEASE = "7c3e9a10"
IMAGE = "registry.example.com/shop/web@sha256:" + "d" * 64
NS, AUDITED = "gaps", "audited"


def labels(app: str) -> dict:
    return {"app.kubernetes.io/name": app, "immutable.dev/release": RELEASE}


def container(name: str, **extra) -> dict:
    base = {
        "name": name,
        "image": IMAGE,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "128Mi"}},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "readinessProbe": {"tcpSocket": {"port": 8080}},
    }
    return {**base, **extra}


def pod_spec(app: str, **extra) -> dict:
    base = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container(app)],
    }
    return {**base, **extra}


def deployment(name: str, namespace: str = NS, spec: dict | None = None, meta: dict | None = None,
               template_meta: dict | None = None) -> k8s.apps.v1.Deployment:
    return k8s.apps.v1.Deployment(
        name,
        metadata={"name": name, "namespace": namespace, "labels": labels(name), **(meta or {})},
        spec={"replicas": 1, "selector": {"matchLabels": labels(name)},
              "template": {"metadata": {"labels": labels(name), **(template_meta or {})},
                           "spec": spec or pod_spec(name)}},
        opts=opts,
    )


def namespace_baseline(name: str, deny: str = "Deny") -> None:
    """A namespace as the pack wants it: restricted, default deny, an exec lock bound with ``deny``."""
    k8s.core.v1.Namespace(name, metadata={"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
                          opts=opts)
    k8s.networking.v1.NetworkPolicy(f"{name}-default-deny", metadata={"name": "default-deny", "namespace": name},
                                    spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, opts=opts)
    lock = f"{name}-exec-lock"
    k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
        f"{name}-lock",
        metadata={"name": lock},
        spec={"failurePolicy": "Fail",
              "matchConstraints": {
                  "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}},
                  "resourceRules": [
                      {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
                       "resources": ["pods/exec", "pods/attach", "pods/portforward"]},
                      {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                       "resources": ["pods/ephemeralcontainers"]}]},
              "validations": [{"expression": "false", "message": "pods are immutable"}]},
        opts=opts)
    k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        f"{name}-lock-binding", metadata={"name": lock},
        spec={"policyName": lock, "validationActions": [deny]}, opts=opts)


namespace_baseline(NS)
# k8s-exec-lock-complete (binding) + k8s-exec-lock-present: bound with Audit, which lets exec through.
namespace_baseline(AUDITED, deny="Deny" if FIXED else "Audit")
deployment("audited-web", namespace=AUDITED)

# The hardened workload the patches below target.
deployment("web")

# k8s-no-in-place-patch + what the patch sets (privileged, a tag). Fix: no patch; the change
# ships as a new release of the declared Deployment.
if not FIXED:
    k8s.apps.v1.DeploymentPatch(
        "patch-web",
        metadata={"name": "web", "namespace": NS},
        spec={"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                    "securityContext": {"privileged": True}}]}}},
        opts=opts)
    # k8s-no-in-place-patch: config edited under running pods.
    k8s.core.v1.ConfigMapPatch("patch-config", metadata={"name": "web-config", "namespace": NS},
                               data={"LOG": "debug"}, opts=opts)
else:
    k8s.core.v1.ConfigMap(f"web-config-{RELEASE}", metadata={"name": f"web-config-{RELEASE}", "namespace": NS},
                          data={"LOG": "debug"}, immutable=True, opts=opts)
# A metadata-only patch is not an in-place change of what runs: allowed in both variants.
k8s.apps.v1.DeploymentPatch("annotate-web", metadata={"name": "web", "namespace": NS,
                                                      "annotations": {"team": "shop"}}, opts=opts)

# k8s-pod-security-restricted: privileged. The message asks for privileged: false AND
# allowPrivilegeEscalation: false (Kubernetes refuses the latter alone next to privileged).
privileged = {"privileged": False, "allowPrivilegeEscalation": False} if FIXED else {"privileged": True}
deployment("privileged", spec=pod_spec("privileged", containers=[container("privileged", securityContext={
    "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}, **privileged})]))

# k8s-no-service-account-token: a projected token despite automountServiceAccountToken: false.
projected = [] if FIXED else [{"name": "token", "projected": {"sources": [
    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}]
deployment("projected-token", spec=pod_spec("projected-token", volumes=projected))

# k8s-no-service-account-token: a ServiceAccount that automounts by default.
k8s.core.v1.ServiceAccount("sa", metadata={"name": "web", "namespace": NS},
                           automount_service_account_token=False if FIXED else None, opts=opts)

# k8s-namespace-network-policy: an allow-all policy undoes default deny. Fix: name the peers and ports.
ingress = ([{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}}], "ports": [{"port": 8080}]}]
           if FIXED else [{}])
k8s.networking.v1.NetworkPolicy("allow-all", metadata={"name": "allow-web", "namespace": NS},
                                spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": ingress}, opts=opts)

# k8s-no-plaintext-secret: a password in an env value. Fix: a Secret mounted as a file.
if FIXED:
    k8s.core.v1.Secret(f"db-{RELEASE}", metadata={"name": f"db-{RELEASE}", "namespace": NS},
                       string_data={"password": "hunter2"}, immutable=True, opts=opts)
    secret_spec = pod_spec("password-env", containers=[container(
        "password-env", volumeMounts=[{"name": "db", "mountPath": "/var/run/secrets/app", "readOnly": True}])],
        volumes=[{"name": "db", "secret": {"secretName": f"db-{RELEASE}"}}])
else:
    secret_spec = pod_spec("password-env", containers=[container(
        "password-env", env=[{"name": "DB_PASSWORD", "value": "hunter2"}])])
deployment("password-env", spec=secret_spec)

# k8s-service-exposure: a LoadBalancer without an opt-out. Fix: ClusterIP.
k8s.core.v1.Service("lb", metadata={"name": "web", "namespace": NS},
                    spec={"type": "ClusterIP" if FIXED else "LoadBalancer", "selector": {"app.kubernetes.io/name": "web"},
                          "ports": [{"port": 80, "targetPort": 8080}]}, opts=opts)

# k8s-no-workload-admin: the workload's service account bound to cluster-admin. Fix: a Role
# listing only what it uses.
subject = {"kind": "ServiceAccount", "name": "web", "namespace": NS}
if FIXED:
    k8s.rbac.v1.Role("reader", metadata={"name": "config-reader", "namespace": NS},
                     rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}], opts=opts)
    k8s.rbac.v1.RoleBinding("admin-binding", metadata={"name": "web-config-reader", "namespace": NS},
                            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "config-reader"},
                            subjects=[subject], opts=opts)
else:
    k8s.rbac.v1.ClusterRoleBinding("admin-binding", metadata={"name": "web-admin"},
                                   role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                             "name": "cluster-admin"},
                                   subjects=[subject], opts=opts)

# k8s-replaced-by-rollout: a bare Pod. Fix: a Deployment.
if FIXED:
    deployment("bare-pod")
else:
    k8s.core.v1.Pod("bare-pod", metadata={"name": "bare-pod", "namespace": NS, "labels": labels("bare-pod")},
                    spec=pod_spec("bare-pod"), opts=opts)

# k8s-replaced-by-rollout: a DaemonSet with OnDelete. Fix: RollingUpdate.
k8s.apps.v1.DaemonSet(
    "on-delete",
    metadata={"name": "agent", "namespace": NS, "labels": labels("agent")},
    spec={"selector": {"matchLabels": labels("agent")},
          "updateStrategy": {"type": "RollingUpdate" if FIXED else "OnDelete"},
          "template": {"metadata": {"labels": labels("agent")}, "spec": pod_spec("agent")}},
    opts=opts)

# k8s-replaced-by-rollout: a StatefulSet partition leaves pods on the old spec. Fix: no partition.
rolling = {"type": "RollingUpdate"} if FIXED else {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
k8s.apps.v1.StatefulSet(
    "partitioned",
    metadata={"name": "db", "namespace": NS, "labels": labels("db")},
    spec={"serviceName": "db", "replicas": 2, "selector": {"matchLabels": labels("db")}, "updateStrategy": rolling,
          "template": {"metadata": {"labels": labels("db")}, "spec": pod_spec("db")}},
    opts=opts)

# k8s-opt-out-reason (+ k8s-image-digest, which the junk opt-out does not lift): a reason of 10 x.
# Fix: a real reason; the opt-out then lifts k8s-image-digest and stack-opt-outs lists it.
reason = "nightly builds are tagged, never promoted (OPS-12)" if FIXED else "x" * 10
deployment("junk-opt-out", spec=pod_spec("junk-opt-out", containers=[container("junk-opt-out", image="nginx:1.27")]),
           template_meta={"labels": {**labels("junk-opt-out"), "immutable.dev/opt-out-mutable-image-tag": "true"},
                          "annotations": {"immutable.dev/opt-out-reason-mutable_image_tag": reason}})

# k8s-no-default-namespace + k8s-namespace-network-policy (whose advice is to move, not to add
# a NetworkPolicy to 'default'). Fix: the namespace of the stack.
deployment("in-default", namespace=NS if FIXED else "default")
