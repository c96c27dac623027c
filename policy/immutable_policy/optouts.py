"""Every opt-out in use, shown in the policy output with its reason (an advisory line each).

An opt-out lifts (part of) a mandatory rule for one resource; a reviewer must see each one,
with the reason, in every preview: not only in the component's outputs. This stack check
lists every *valid* opt-out (those without a real reason lift nothing and are mandatory
violations of ``*-opt-out-reason``), with the rules it lifts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import aws, docker
from .common import OptOutRecord, as_dict, k8s_kind, opt_outs, tags_map
from .kubernetes import pod_template
from .stack import Finding, StackResource, _label, _props, _provider, _type, _urn

LIFTS: dict[str, tuple[str, ...]] = {
    "mutable_image_tag": ("k8s-image-digest", "docker-image-digest"),
    "run_as_root": ("k8s-pod-security-restricted", "k8s-non-root-ids", "docker-non-root"),
    "privilege_escalation": ("k8s-pod-security-restricted", "docker-no-new-privileges"),
    "writable_root_filesystem": ("k8s-read-only-root-filesystem", "docker-read-only-rootfs"),
    "service_account_token": ("k8s-no-service-account-token",),
    "exec_lock": ("k8s-exec-lock-present", "k8s-no-extra-containers"),
    "network_policy": ("k8s-namespace-network-policy",),
    "in_place_update": ("k8s-no-in-place-patch", "k8s-replaced-by-rollout", "k8s-no-takeover"),
    "exposed_service": ("k8s-service-exposure", "docker-published-ports"),
    "workload_admin": ("k8s-no-workload-admin", "k8s-rbac-no-escalation"),
    "plain_http_ingress": ("k8s-ingress-tls",),
    "imdsv1": ("aws-imdsv2",),
    "imds_hop_limit": ("aws-imdsv2",),
    "unencrypted_volumes": ("aws-encrypted-volumes",),
    "public_ip": ("aws-no-public-ip", "aws-no-public-exposure"),
    "ssh_access": ("aws-no-ssh",),
    "public_ingress": ("aws-no-open-ingress",),
}
"""Opt-out name -> the policies (of every platform) it lifts part of."""


def _records(resource: StackResource) -> list[OptOutRecord]:
    rtype, props = _type(resource), _props(resource)
    if k8s_kind(rtype) is not None:
        metas = [as_dict(props.get("metadata"))]
        pod = pod_template(rtype, props)
        if pod is not None:
            metas.append(pod.metadata)
        return [r for meta in metas for r in opt_outs(as_dict(meta.get("labels")), as_dict(meta.get("annotations")))]
    if rtype in docker.COMPUTE_TYPES:
        return opt_outs(tags_map(props.get("labels")))
    if rtype.startswith("aws:"):
        return opt_outs(aws.resource_tags(props, _provider(resource)))
    return []


def check_opt_outs_reported(resources: Sequence[StackResource],
                            config: Mapping[str, Any] | None = None) -> list[Finding]:
    out = []
    for resource in resources:
        platform = "k8s" if k8s_kind(_type(resource)) else "docker" if _type(resource).startswith("docker:") else "aws"
        seen: set[str] = set()
        for record in _records(resource):
            if not record.valid or record.name in seen:
                continue
            seen.add(record.name)
            lifted = [p for p in LIFTS.get(record.name, ()) if p.startswith(platform + "-")]
            what = f"lifts {', '.join(lifted)}" if lifted else "lifts no rule of this pack"
            if record.name not in LIFTS:
                what = "is not an opt-out this pack knows (check the spelling), so it lifts nothing"
            out.append(Finding(f"{_label(resource)} opts out of {record.name} ({what}); reason: {record.reason!r}",
                               _urn(resource)))
    return out
