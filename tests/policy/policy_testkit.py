"""Known-good resources (inputs as the engine sends them) to vary in the policy tests."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import POLICY_DIR

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["POLICY_DIR", "ROOT"]  # and the builders below

RELEASE = "1a2b3c4d"
OLD_RELEASE = "0f0f0f0f"
DIGEST = "sha256:" + "a" * 64
IMAGE = f"registry.example.com/acme/web@{DIGEST}"

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE = "kubernetes:core/v1:Service"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
VAP_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"
INSTANCE = "aws:ec2/instance:Instance"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
VOLUME = "aws:ebs/volume:Volume"
CONTAINER = "docker:index/container:Container"

OPT_OUT_REASON = "a legacy agent needs it until ticket OPS-42 lands"


def changed(base: Mapping[str, Any], *edits: tuple[str | tuple[str | int, ...], Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with ``("a.b[0].c", value)`` edits; value ``DELETE`` removes the key.

    A path whose keys contain dots (``immutable.dev/...``) is given as a tuple of steps.
    """
    out = copy.deepcopy(dict(base))
    for path, value in edits:
        steps = list(path) if isinstance(path, tuple) else _parse(path)
        target: Any = out
        for step in steps[:-1]:
            target = target[step] if isinstance(step, int) else target.setdefault(step, {})
        last = steps[-1]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return out


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()


def _parse(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            steps.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            steps.append(int(index))
            rest = rest.removeprefix("[")
    return steps


# --- Kubernetes ------------------------------------------------------------------------


def container(name: str = "web") -> dict[str, Any]:
    return {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8080.0, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
        "volumeMounts": [{"name": "scratch-0", "mountPath": "/tmp"}],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001.0,
            "runAsGroup": 10001.0,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def pod_spec() -> dict[str, Any]:
    return {
        "serviceAccountName": "web",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001.0,
            "runAsGroup": 10001.0,
            "fsGroup": 10001.0,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container()],
        "volumes": [
            {"name": "scratch-0", "emptyDir": {"sizeLimit": "64Mi"}},
            {"name": "config", "configMap": {"name": "web-config-12345678"}},
        ],
    }


def labels(release: str = RELEASE, role: str | None = None, **extra: str) -> dict[str, str]:
    out = {"app.kubernetes.io/name": "web", "immutable.dev/release": release, **extra}
    if role:
        out["immutable.dev/role"] = role
    return out


def deployment(release: str = RELEASE, role: str | None = "active", namespace: str = "apps",
               name: str = "web") -> dict[str, Any]:
    """The shape of the Deployment the ContainerService component renders."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(release, role)},
        "spec": {
            "replicas": 2.0,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "template": {"metadata": {"labels": labels(release)}, "spec": pod_spec()},
        },
    }


def pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "apps", "labels": labels()},
            "spec": pod_spec()}


def cron_job() -> dict[str, Any]:
    spec = pod_spec()
    spec["restartPolicy"] = "Never"
    for c in spec["containers"]:
        del c["livenessProbe"], c["readinessProbe"]
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "report", "namespace": "apps", "labels": labels()},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {
            "metadata": {"labels": labels()}, "spec": spec}}}},
    }


def job() -> dict[str, Any]:
    body = cron_job()
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": body["metadata"],
            "spec": body["spec"]["jobTemplate"]["spec"]}


def with_opt_out(props: dict[str, Any], name: str, reason: str | None = OPT_OUT_REASON,
                 where: str = "spec.template.metadata") -> dict[str, Any]:
    """Record an opt-out the way the components do (label + reason annotation)."""
    label = "immutable.dev/opt-out-" + name.replace("_", "-")
    edits: list[tuple[str, Any]] = [(f"{where}.labels", {**_at(props, where).get("labels", {}), label: "true"})]
    if reason is not None:
        annotations = {**_at(props, where).get("annotations", {}), f"immutable.dev/opt-out-reason-{name}": reason}
        edits.append((f"{where}.annotations", annotations))
    return changed(props, *edits)


def _at(props: Mapping[str, Any], where: str) -> dict[str, Any]:
    target: Any = props
    for step in _parse(where):
        target = target[step]
    return dict(target)


def config_map() -> dict[str, Any]:
    return {"metadata": {"name": "web-config-12345678", "namespace": "apps", "labels": labels()},
            "data": {"app.toml": "port = 8080\n"}, "immutable": True}


def namespace(name: str = "apps") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}


def network_policy(ns: str = "apps") -> dict[str, Any]:
    return {"metadata": {"name": "default-deny", "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}


def exec_lock(ns: str = "apps") -> dict[str, Any]:
    return {
        "metadata": {"name": f"{ns}.exec-lock"},  # as ServiceNamespace names it: one per namespace
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
                     "resources": ["pods/exec", "pods/attach", "pods/portforward"]},
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                     "resources": ["pods/ephemeralcontainers"]},
                ],
            },
            "validations": [{"expression": "false", "message": "immutable", "reason": "Forbidden"}],
        },
    }


def exec_lock_binding(ns: str = "apps") -> dict[str, Any]:
    return {"metadata": {"name": f"{ns}.exec-lock"},
            "spec": {"policyName": f"{ns}.exec-lock", "validationActions": ["Deny"]}}


# --- AWS ---------------------------------------------------------------------------------


def release_tags(release: str = RELEASE, role: str | None = None) -> dict[str, str]:
    out = {"Name": "web-prod-" + release, "immutable.dev/release": release}
    if role:
        out["immutable.dev/role"] = role
    return out


def launch_template(release: str = RELEASE) -> dict[str, Any]:
    return {
        "namePrefix": f"web-prod-{release}-",
        "imageId": "ami-0123456789abcdef0",
        "instanceType": "t3.small",
        "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1.0},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda",
                                 "ebs": {"encrypted": "true", "volumeSize": 20.0, "volumeType": "gp3"}}],
        "networkInterfaces": [{"associatePublicIpAddress": "false", "securityGroups": ["sg-0123"]}],
        "tags": release_tags(release),
        "tagSpecifications": [{"resourceType": "instance", "tags": release_tags(release)},
                              {"resourceType": "volume", "tags": release_tags(release)}],
        "userData": "IyEvYmluL3NoCg==",
    }


def asg(release: str = RELEASE, role: str = "active") -> dict[str, Any]:
    return {
        "name": f"web-prod-{release}",
        "minSize": 2.0, "maxSize": 4.0,
        "launchTemplate": {"id": "lt-0123", "version": "3"},
        "healthCheckType": "ELB",
        "healthCheckGracePeriod": 60.0,
        "targetGroupArns": ["arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123"],
        "vpcZoneIdentifiers": ["subnet-0123"],
        "tags": [{"key": k, "value": v, "propagateAtLaunch": True}
                 for k, v in release_tags(release, role).items()],
    }


def instance() -> dict[str, Any]:
    return {
        "ami": "ami-0123456789abcdef0",
        "instanceType": "t3.small",
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0},
        "rootBlockDevice": {"encrypted": True, "volumeSize": 20.0},
        "associatePublicIpAddress": False,
        "userData": "#!/bin/sh\necho hi\n",
        "userDataReplaceOnChange": True,
        "tags": release_tags(),
        "volumeTags": release_tags(),
    }


def security_group() -> dict[str, Any]:
    """A load balancer's group: HTTPS from anywhere, nothing else."""
    return {"vpcId": "vpc-0123", "ingress": [
        {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"],
         "ipv6CidrBlocks": ["::/0"]},
        {"protocol": "tcp", "fromPort": 8080.0, "toPort": 8080.0, "securityGroups": ["sg-lb"]},
    ]}


# --- Docker ---------------------------------------------------------------------------------


def docker_container(release: str = RELEASE, role: str | None = None) -> dict[str, Any]:
    return {
        "name": f"web-{release}",
        "image": IMAGE,
        "user": "10001:10001",
        "readOnly": True,
        "securityOpts": ["no-new-privileges:true"],
        "capabilities": {"drops": ["ALL"]},
        "memory": 256.0,
        "cpus": "0.5",
        "healthcheck": {"tests": ["CMD", "/app", "health"], "interval": "10s"},
        "tmpfs": {"/tmp": "rw,size=64m"},
        "labels": [{"label": k, "value": v} for k, v in labels(release, role).items()],
    }


def docker_labels(props: dict[str, Any], **extra: str) -> dict[str, Any]:
    return changed(props, ("labels", props["labels"] + [{"label": k, "value": v} for k, v in extra.items()]))


# --- more Kubernetes kinds (issue 18) -------------------------------------------------------

REPLICA_SET = "kubernetes:apps/v1:ReplicaSet"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
DEPLOYMENT_PATCH = "kubernetes:apps/v1:DeploymentPatch"
STATEFUL_SET_PATCH = "kubernetes:apps/v1:StatefulSetPatch"
DAEMON_SET_PATCH = "kubernetes:apps/v1:DaemonSetPatch"
POD_PATCH = "kubernetes:core/v1:PodPatch"
CRON_JOB_PATCH = "kubernetes:batch/v1:CronJobPatch"
CONFIG_MAP_PATCH = "kubernetes:core/v1:ConfigMapPatch"
NAMESPACE_PATCH = "kubernetes:core/v1:NamespacePatch"
SERVICE_PATCH = "kubernetes:core/v1:ServicePatch"
VAP_BINDING_PATCH = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBindingPatch"


def stateful_set() -> dict[str, Any]:
    body = changed(deployment(), ("kind", "StatefulSet"))
    body["spec"]["serviceName"] = "web"
    body["spec"]["updateStrategy"] = {"type": "RollingUpdate"}
    return body


def daemon_set() -> dict[str, Any]:
    body = changed(deployment(), ("kind", "DaemonSet"))
    del body["spec"]["replicas"]
    body["spec"]["updateStrategy"] = {"type": "RollingUpdate"}
    return body


def service(kind: str = "ClusterIP") -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "apps", "labels": labels()},
            "spec": {"type": kind, "selector": {"app.kubernetes.io/name": "web"},
                     "ports": [{"port": 80.0, "targetPort": "http"}]}}


def service_account() -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "apps"}, "automountServiceAccountToken": False}


def patch(template: dict[str, Any], name: str = "web", namespace: str = "apps") -> dict[str, Any]:
    """A ``*Patch`` of an existing workload: only metadata and what it sets."""
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"template": template}}


def binding(kind: str, role_kind: str, role: str, subject: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"web-{role}"}
    if kind == "RoleBinding":
        meta["namespace"] = "apps"
    return {"metadata": meta, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [subject]}


WEB_SA = {"kind": "ServiceAccount", "name": "web", "namespace": "apps"}
