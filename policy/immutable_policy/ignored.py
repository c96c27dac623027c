"""``ignore_changes`` on release-defining fields, for every provider the pack knows.

Pulumi's ``ignore_changes`` option keeps the old value of a field in the cloud while the
program (and its release id) moves on: the new release is recorded, and never reaches what
runs. For each resource type, the fields that define what runs (or how it is isolated) may not
be ignored; ``*`` (everything) may not be ignored on any resource of these providers.
Kubernetes pod templates are judged by ``k8s-replaced-by-rollout`` and EC2 instance user data
by ``aws-no-mutable-instance``; this module covers the rest.

Paths are compared after normalising the forms the SDKs send (``spec.selector``,
``spec["selector"]``, ``user_data`` and ``userData``): an ignored path that is a field, a part
of it, or a parent of it counts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import aws, docker
from .common import NO_CONTEXT, Context, falsy, k8s_target
from .kubernetes import WORKLOAD_KINDS

K8S_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "ConfigMap"): ("data", "binaryData", "immutable"),
    ("", "Secret"): ("data", "binaryData", "stringData", "immutable", "type"),
    ("", "Service"): ("spec.selector", "spec.type", "spec.externalName", "spec.externalIPs", "spec.ports"),
    ("", "Namespace"): ("metadata.labels",),
    ("", "ServiceAccount"): ("automountServiceAccountToken",),
    ("networking.k8s.io", "NetworkPolicy"): ("spec",),
    ("networking.k8s.io", "Ingress"): ("spec.tls", "spec.rules", "spec.defaultBackend"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): ("spec",),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): ("spec",),
    ("rbac.authorization.k8s.io", "Role"): ("rules",),
    ("rbac.authorization.k8s.io", "ClusterRole"): ("rules", "aggregationRule", "metadata.labels"),
    ("rbac.authorization.k8s.io", "RoleBinding"): ("subjects", "roleRef"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): ("subjects", "roleRef"),
}
"""Kubernetes kinds (other than workloads) -> the fields that define them."""

AWS_FIELDS: dict[str, tuple[str, ...]] = {
    # networkInterfaces is left out on purpose: ServerGroup ignores it on the templates of running
    # releases (a field added by a later library version), which changes nothing that runs.
    aws.LAUNCH_TEMPLATE: ("imageId", "userData", "instanceType", "metadataOptions", "blockDeviceMappings",
                          "iamInstanceProfile", "vpcSecurityGroupIds", "keyName"),
    aws.AUTOSCALING_GROUP: ("launchTemplate", "mixedInstancesPolicy", "launchConfiguration"),
    aws.INSTANCE: ("ami", "instanceType", "launchTemplate", "metadataOptions", "rootBlockDevice", "ebsBlockDevices",
                   "iamInstanceProfile", "vpcSecurityGroupIds", "keyName", "associatePublicIpAddress"),
    aws.SECURITY_GROUP: ("ingress", "egress"),
    aws.SECURITY_GROUP_RULE: ("cidrBlocks", "ipv6CidrBlocks", "fromPort", "toPort", "protocol"),
    aws.INGRESS_RULE: ("cidrIpv4", "cidrIpv6", "fromPort", "toPort", "ipProtocol"),
}
"""AWS resource types -> the fields that define what runs or how it is reached."""

DOCKER_FIELDS: dict[str, tuple[str, ...]] = {
    docker.CONTAINER: ("image", "envs", "command", "entrypoints", "user", "mounts", "volumes", "securityOpts",
                       "capabilities", "privileged", "readOnly", "networkMode", "ports", "devices", "labels",
                       "uploads", "tmpfs"),
}


def _normalise(path: str) -> str:
    """``spec["selector"]``/``spec[0].x``/``user_data`` -> ``spec.selector``/``spec.x``/``userData``."""
    text = re.sub(r"\[\"?([^\]\"]*)\"?\]", r".\1", str(path))
    parts = [p for p in text.split(".") if p and not p.isdigit()]
    return ".".join(re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), p) for p in parts)


def _hits(ignored: tuple[str, ...], fields: tuple[str, ...]) -> list[str]:
    out = []
    for raw in ignored:
        path = _normalise(raw)
        if path == "*" or any(path == f or path.startswith(f + ".") or f.startswith(path + ".") for f in fields):
            out.append(raw)
    return out


def _message(hits: list[str], what: str) -> list[str]:
    if not hits:
        return []
    return [f"ignore_changes on {', '.join(hits)} keeps the running {what} as it was while the program and its "
            "release id move on; remove those paths from ignore_changes (ship the change as a new release)"]


def check_k8s(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Kubernetes objects (not workloads: ``k8s-replaced-by-rollout``)."""
    target = k8s_target(resource_type)
    if target is None or not ctx.ignore_changes:
        return []
    fields = K8S_FIELDS.get(target.kind)
    if fields is None:
        if target.kind in WORKLOAD_KINDS:
            return []  # their pod template: k8s-replaced-by-rollout
        fields = ()
    return _message(_hits(ctx.ignore_changes, fields), f"{target.kind.kind}")


def check_aws(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    if not resource_type.startswith("aws:") or not ctx.ignore_changes:
        return []
    return _message(_hits(ctx.ignore_changes, AWS_FIELDS.get(resource_type, ())), resource_type.rsplit(":", 1)[-1])


def check_docker(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    if not resource_type.startswith("docker:") or not ctx.ignore_changes:
        return []
    if resource_type == docker.CONTAINER and falsy(props.get("start")):
        return []  # never started (a volume seed): nothing of it runs
    return _message(_hits(ctx.ignore_changes, DOCKER_FIELDS.get(resource_type, ())), "container")
