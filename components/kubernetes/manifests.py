"""Pure builders for the Kubernetes objects of a ContainerService release.

No Pulumi here: every function takes a validated spec and returns plain dicts, so the
security-relevant fields are testable (and rendered identically) without an engine.
Docs behind the choices:
- Pod Security "restricted": https://kubernetes.io/docs/concepts/security/pod-security-standards/
- Immutable ConfigMaps/Secrets: https://kubernetes.io/docs/concepts/configuration/configmap/#configmap-immutable
- ValidatingAdmissionPolicy: https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import MANAGED_BY as MANAGED_BY
from ..container_spec import ContainerServiceSpec, Probe
from ..fields import parse_image
from ..release import canonical_json, release_name

LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RELEASE = "immutable.dev/release"
LABEL_ROLE = "immutable.dev/role"
LABEL_OPT_OUT_PREFIX = "immutable.dev/opt-out-"
ANNOTATION_OPT_OUT_REASON_PREFIX = "immutable.dev/opt-out-reason-"
CONFIG_VOLUME = "config"
SECRETS_VOLUME = "secrets"

Manifest = dict[str, Any]


def content_hash(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:8]


def config_map_name(spec: ContainerServiceSpec) -> str | None:
    if not spec.config_files:
        return None
    data = {f.name: f.content for f in spec.config_files}
    return release_name(f"{spec.name}-config", content_hash(data), max_length=253)


def secret_name(spec: ContainerServiceSpec) -> str | None:
    """Named by the secrets' fingerprints (version or value digest), never by the values."""
    if not spec.secrets:
        return None
    fingerprints = [s.release_fingerprint() for s in spec.secrets]
    return release_name(f"{spec.name}-secret", content_hash(fingerprints), max_length=253)


def deployment_name(spec: ContainerServiceSpec, release: str) -> str:
    """Rolling: one Deployment named after the service. Blue-green: one per release."""
    return spec.name if spec.strategy == "rolling" else release_name(spec.name, release)


def opt_out_metadata(spec: ContainerServiceSpec) -> tuple[dict[str, str], dict[str, str]]:
    """Labels and annotations that make every opt-out visible in previews and to policies."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for name in spec.security.opt_outs.names():
        opt_out = getattr(spec.security.opt_outs, name)
        labels[f"{LABEL_OPT_OUT_PREFIX}{name.replace('_', '-')}"] = "true"
        annotations[f"{ANNOTATION_OPT_OUT_REASON_PREFIX}{name}"] = opt_out.reason
    return labels, annotations


def selector_labels(spec: ContainerServiceSpec) -> dict[str, str]:
    return {LABEL_NAME: spec.name}


def pod_labels(spec: ContainerServiceSpec, release: str) -> dict[str, str]:
    """Pod template labels. No role label here: moving a kept release back to active must
    not change its pod template (that would roll its pods instead of reusing them)."""
    return {**spec.labels, **selector_labels(spec), LABEL_RELEASE: release}


def _probe(probe: Probe | None) -> Manifest | None:
    if probe is None:
        return None
    out: Manifest = {
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }
    if probe.http_get:
        out["httpGet"] = {"path": probe.http_get.path, "port": probe.http_get.port}
    elif probe.tcp_port:
        out["tcpSocket"] = {"port": probe.tcp_port}
    else:
        out["exec"] = {"command": list(probe.exec_command or [])}
    return out


def _scratch_volume_name(index: int) -> str:
    return f"scratch-{index}"


def pod_template(spec: ContainerServiceSpec, release: str) -> Manifest:
    """The hardened pod template of one release (Pod Security "restricted" and more)."""
    opt = spec.security.opt_outs
    opt_labels, opt_annotations = opt_out_metadata(spec)
    env = [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    env += [{"name": e.name, "value": e.url} for e in spec.state.endpoints]
    mounts: list[Manifest] = []
    volumes: list[Manifest] = []
    if (cm := config_map_name(spec)) is not None:
        volumes.append({"name": CONFIG_VOLUME, "configMap": {"name": cm}})
        mounts.append({"name": CONFIG_VOLUME, "mountPath": spec.config_dir, "readOnly": True})
    if (secret := secret_name(spec)) is not None:
        volumes.append({"name": SECRETS_VOLUME, "secret": {"secretName": secret, "defaultMode": 0o440}})
        mounts.append({"name": SECRETS_VOLUME, "mountPath": spec.secrets_dir, "readOnly": True})
    for index, path in enumerate(spec.security.scratch_dirs):
        volumes.append({"name": _scratch_volume_name(index), "emptyDir": {"sizeLimit": "64Mi"}})
        mounts.append({"name": _scratch_volume_name(index), "mountPath": path})
    for claim in spec.state.volumes:
        volumes.append({"name": f"pvc-{claim.claim_name}",
                        "persistentVolumeClaim": {"claimName": claim.claim_name, "readOnly": claim.read_only}})
        mounts.append({"name": f"pvc-{claim.claim_name}", "mountPath": claim.mount_path,
                       "readOnly": claim.read_only})
    run_as_root = opt.run_as_root is not None and spec.security.run_as_user == 0
    container: Manifest = {
        "name": spec.name,
        "image": spec.image,
        # A digest never changes, so pulling again is pointless; a tag (opt-out) must be re-checked.
        "imagePullPolicy": "IfNotPresent" if parse_image(spec.image).pinned else "Always",
        "ports": [{"name": p.name, "containerPort": p.container_port, "protocol": p.protocol}
                  for p in spec.ports],
        "env": env,
        "resources": {
            "requests": {"cpu": spec.resources.cpu_request, "memory": spec.resources.memory_request},
            "limits": {"cpu": spec.resources.cpu_limit, "memory": spec.resources.memory_limit},
        },
        "livenessProbe": _probe(spec.probes.liveness),
        "readinessProbe": _probe(spec.probes.readiness),
        "volumeMounts": mounts,
        "securityContext": {
            "runAsNonRoot": not run_as_root,
            "runAsUser": spec.security.run_as_user,
            "runAsGroup": spec.security.run_as_group,
            "allowPrivilegeEscalation": opt.privilege_escalation is not None,
            "readOnlyRootFilesystem": opt.writable_root_filesystem is None,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if spec.probes.startup is not None:
        container["startupProbe"] = _probe(spec.probes.startup)
    if spec.command is not None:
        container["command"] = list(spec.command)
    if spec.args is not None:
        container["args"] = list(spec.args)
    annotations = {**opt_annotations, LABEL_RELEASE: release}
    if spec.monitoring.scrape and spec.ports:
        annotations.update({
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(_port_number(spec, spec.monitoring.port)),
            "prometheus.io/path": spec.monitoring.path,
        })
    return {
        "metadata": {"labels": {**pod_labels(spec, release), **opt_labels}, "annotations": annotations},
        "spec": {
            "serviceAccountName": spec.name,
            "automountServiceAccountToken": opt.service_account_token is not None,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": not run_as_root,
                "runAsUser": spec.security.run_as_user,
                "runAsGroup": spec.security.run_as_group,
                "fsGroup": spec.security.run_as_group,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": volumes,
        },
    }


def _port_number(spec: ContainerServiceSpec, port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p.container_port for p in spec.ports if p.name == port)


def deployment_spec(spec: ContainerServiceSpec, release: str, replicas: int, *,
                    progress_deadline_seconds: int = 600) -> Manifest:
    selector = selector_labels(spec)
    if spec.strategy == "blue-green":
        selector = {**selector, LABEL_RELEASE: release}
    return {
        "replicas": replicas,
        "revisionHistoryLimit": max(spec.keep_previous, 1),
        "selector": {"matchLabels": selector},
        # Pods are replaced by the rollout, never patched; no pod goes before its successor is ready.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
        "minReadySeconds": 0,
        "progressDeadlineSeconds": progress_deadline_seconds,
        "template": pod_template(spec, release),
    }


def service_ports(spec: ContainerServiceSpec) -> list[Manifest]:
    return [{"name": p.name, "port": p.service_port or p.container_port, "targetPort": p.name,
             "protocol": p.protocol} for p in spec.ports]


def service_selector(spec: ContainerServiceSpec, active_release: str) -> dict[str, str]:
    """Blue-green: traffic goes to exactly one release. Rolling: to the service's pods."""
    if spec.strategy == "blue-green":
        return {**selector_labels(spec), LABEL_RELEASE: active_release}
    return selector_labels(spec)


def network_policy_spec(spec: ContainerServiceSpec) -> Manifest:
    """Allowances on top of the namespace's default deny."""
    ports = [{"port": p.container_port, "protocol": p.protocol} for p in spec.ports]
    ingress: list[Manifest] = []
    for peer in spec.network.ingress_from:
        if peer.service:
            source: Manifest = {"podSelector": {"matchLabels": {LABEL_NAME: peer.service}}}
        elif peer.namespace:
            source = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": peer.namespace}}}
        else:
            source = {"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": spec.expose.ingress_namespace}}}
        rule: Manifest = {"from": [source]}
        if ports:
            rule["ports"] = ports
        ingress.append(rule)
    egress: list[Manifest] = []
    if spec.network.allow_dns:
        egress.append({
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        })
    for dest in spec.network.egress_to:
        if dest.service:
            to: Manifest = {"podSelector": {"matchLabels": {LABEL_NAME: dest.service}}}
        elif dest.namespace:
            to = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": dest.namespace}}}
        else:
            to = {"ipBlock": {"cidr": dest.cidr}}
        rule = {"to": [to]}
        if dest.ports:
            rule["ports"] = [{"port": p, "protocol": "TCP"} for p in dest.ports]
        egress.append(rule)
    return {
        "podSelector": {"matchLabels": selector_labels(spec)},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": ingress,
        "egress": egress,
    }


EXEC_LOCK_MESSAGE = (
    "immutable-infra exec lock: pods of {service} are immutable; exec, attach, cp, port-forward "
    "and ephemeral containers are refused (break-glass group: {group})"
)


def exec_lock_policy_spec(spec: ContainerServiceSpec, *, namespace: Any = None) -> Manifest:
    """A ValidatingAdmissionPolicy refusing interactive access to this service's pods.

    CONNECT requests (exec/attach/portforward) carry options, not the pod, so they are
    matched by pod name (``<service>-...``); ephemeral-container updates carry the pod
    and are matched by its name label. Only ``break_glass_group`` gets through.
    ``namespace``: the namespace when it is not ``spec.namespace`` (a plain value or an Output).
    """
    group = spec.security.break_glass_group
    prefix = f"{spec.name}-"
    target = (
        f"(request.subResource == 'ephemeralcontainers' "
        f"? (has(object.metadata.labels) && '{LABEL_NAME}' in object.metadata.labels "
        f"&& object.metadata.labels['{LABEL_NAME}'] == '{spec.name}') "
        f": request.name.startsWith('{prefix}'))"
    )
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace or spec.namespace}},
            "resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
                 "resources": ["pods/exec", "pods/attach", "pods/portforward"]},
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                 "resources": ["pods/ephemeralcontainers"]},
            ],
        },
        "validations": [{
            "expression": f"!{target} || request.userInfo.groups.exists(g, g == '{group}')",
            "message": EXEC_LOCK_MESSAGE.format(service=spec.name, group=group),
            "reason": "Forbidden",
        }],
    }


def namespace_labels() -> dict[str, str]:
    """Pod Security "restricted", enforced, audited and warned."""
    return {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
        LABEL_MANAGED_BY: MANAGED_BY,
    }


DEFAULT_DENY_SPEC: Manifest = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
