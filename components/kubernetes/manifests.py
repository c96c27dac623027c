"""Pure builders for the Kubernetes objects of a ContainerService release.

No Pulumi here: every function takes a validated spec and returns plain dicts, so the
security-relevant fields are testable (and rendered identically) without an engine.
Docs behind the choices:
- Pod Security "restricted": https://kubernetes.io/docs/concepts/security/pod-security-standards/
- Immutable ConfigMaps/Secrets: https://kubernetes.io/docs/concepts/configuration/configmap/#configmap-immutable
- ValidatingAdmissionPolicy: https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/
"""

from __future__ import annotations

from typing import Any

from .. import MANAGED_BY as MANAGED_BY
from ..container_spec import ContainerServiceSpec, Probe, Security, port_number
from ..fields import parse_image
from ..release import content_hash, release_name

LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RELEASE = "immutable.dev/release"
RELEASE_ENV = "IMMUTABLE_RELEASE"
"""The release id in the container's environment with ``release_env`` (the pod's LABEL_RELEASE)."""
LABEL_ROLE = "immutable.dev/role"
LABEL_OPT_OUT_PREFIX = "immutable.dev/opt-out-"
ANNOTATION_OPT_OUT_REASON_PREFIX = "immutable.dev/opt-out-reason-"
CONFIG_VOLUME = "config"
SECRETS_VOLUME = "secrets"
DEFAULT_BREAK_GLASS_GROUP: str = Security.model_fields["break_glass_group"].default

Manifest = dict[str, Any]


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
    # Opt-in (part of the release): a release deployed without it keeps its pod template.
    # IMMUTABLE_ is reserved, so no user env collides.
    if spec.release_env:
        env.append({"name": RELEASE_ENV, "value": release})
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
            "prometheus.io/port": str(port_number(spec, spec.monitoring.port)),
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


SKIP_AWAIT = "pulumi.com/skipAwait"
PATCH_FORCE = {"pulumi.com/patchForce": "true"}
"""On every object the components create: the program is the only writer of its objects, so on
a server-side-apply field conflict its value wins. Needed after a killed ``pulumi up``: an
object whose create was interrupted keeps the field manager of that run (a random name never
saved in state), so without this every later change to it fails with a field conflict until
someone edits managedFields by hand (seen on a real node: tests/cluster test_6b). Metadata only:
no pod restarts, no release id changes."""


def await_annotations(*, is_active: bool, replicas: int) -> dict[str, str]:
    """``pulumi.com/skipAwait`` on a kept release scaled to zero, and on nothing else.

    Nothing waits on such a Deployment: no pods to become ready, the traffic already moved
    (its scale-down is ordered after the Service), and deleting it (retiring) has no pods to
    drain. Without the annotation the provider still watches each one until its rollout to
    zero settles (old pods terminated: up to their grace period), once per kept service per
    swap. The active release, and warm kept releases, keep the full await: a rollback makes a
    kept release active again, which drops the annotation, so its readiness is awaited before
    the Service moves back."""
    return {SKIP_AWAIT: "true"} if not is_active and replicas == 0 else {}


SERVICE_AWAIT_ANNOTATIONS = {SKIP_AWAIT: "true"}
"""On the Service: the provider's Service await only re-checks what the component already
guarantees (the selector moves after the Deployment it points at is ready, by dependency), and
it ends with a fixed 10 s settle sleep per update (pulumi-kubernetes ``pkg/await/service.go``):
measured on a real node, 10 of the 15 s of a rollback and of the 18 s of a swap. Skipping it
moves no traffic earlier; readiness is still awaited on the Deployment."""


def service_ports(spec: ContainerServiceSpec, node_port: bool = True) -> list[Manifest]:
    """The Service's ports. ``node_port=False`` for a ClusterIP Service beside the main one (the
    analysis's release-scoped Service): the API server refuses a nodePort on a ClusterIP Service."""
    ports: list[Manifest] = [{"name": p.name, "port": p.service_port or p.container_port, "targetPort": p.name,
                              "protocol": p.protocol} for p in spec.ports]
    if node_port and spec.expose.node_port is not None and ports:
        ports[0]["nodePort"] = spec.expose.node_port.port
    return ports


EXPOSED_SERVICE = "exposed_service"
"""The opt-out a NodePort Service carries (the policy pack's name for an exposed Service)."""


def service_type_and_metadata(spec: ContainerServiceSpec) -> tuple[str, dict[str, str], dict[str, str]]:
    """The Service's type, and the opt-out label and reason that make a NodePort visible to reviews and policies."""
    node_port = spec.expose.node_port
    if node_port is None:
        return "ClusterIP", {}, {}
    return ("NodePort", {f"{LABEL_OPT_OUT_PREFIX}{EXPOSED_SERVICE.replace('_', '-')}": "true"},
            {f"{ANNOTATION_OPT_OUT_REASON_PREFIX}{EXPOSED_SERVICE}": node_port.reason})


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
    "immutable-infra exec lock: pods in namespace {namespace} are immutable; exec, attach, cp, port-forward "
    "and ephemeral containers are refused (break-glass group: {group})"
)
EXEC_LOCK_RULES: list[Manifest] = [
    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
     "resources": ["pods/exec", "pods/attach", "pods/portforward"]},
    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
     "resources": ["pods/ephemeralcontainers"]},
]
# Pods get ``generateName`` = "<replicaset>-"; the API server cuts that base to 58 characters
# (63 minus 5 random ones), so a longer prefix would never match.
_POD_NAME_BASE_MAX = 58


def exec_lock_name(namespace: str) -> str:
    """The namespace lock's object name (cluster-scoped). The dot keeps it apart from the old
    per-service ``<namespace>-<service>-exec-lock`` names, so an upgrade never collides."""
    return f"{namespace}.exec-lock"


def pod_name_prefix(spec: ContainerServiceSpec) -> str:
    """What every pod name of this service starts with, whatever its release: the Deployment
    name without the release id (blue-green names are shortened to fit), then "-", cut where
    the API server cuts generated names."""
    rolling = spec.strategy == "rolling"
    base = f"{spec.name}-" if rolling else deployment_name(spec, spec.release).removesuffix(spec.release)
    return base[:_POD_NAME_BASE_MAX]


def _cel_list(values: list[str]) -> str:
    return "[" + ", ".join(_cel_str(v) for v in values) + "]"


def _cel_str(value: str) -> str:
    """``value`` as a CEL string literal. Names are DNS labels and groups a validated grammar;
    escape anyway, every character that is not printable ASCII too: this is code."""
    out = []
    for ch in value:
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "'" + "".join(out) + "'"


def _in_group(group: str) -> str:
    return f"request.userInfo.groups.exists(g, g == {_cel_str(group)})"


def exec_lock_policy_spec(namespace: str, services: list[ContainerServiceSpec], *,
                          default_group: str = DEFAULT_BREAK_GLASS_GROUP) -> Manifest:
    """One ValidatingAdmissionPolicy that refuses interactive access to every pod of ``namespace``.

    The whole namespace is locked, not a list of services: a service added later, or a pod
    nobody declared, is locked without any change here. ``services`` (those running in the
    namespace) only carry the exceptions:

    - a service with an ``exec_lock`` opt-out is exempt. CONNECT requests (exec, attach,
      port-forward) carry the pod's *name* only, not its labels, so the exemption is by the
      service's pod-name prefix; a locked service whose prefix extends it (``api`` exempt,
      ``api-gateway`` locked) stays locked. Ephemeral-container updates carry the pod, so
      there the exemption is by its name label, exactly.
    - a service with its own ``break_glass_group`` needs that group (not the namespace's
      default) for pods whose name starts with its prefix.
    """
    exempt = sorted({s.name for s in services if s.security.opt_outs.exec_lock is not None})
    exempt_prefixes = sorted({pod_name_prefix(s) for s in services if s.name in exempt})
    locked_prefixes = sorted({pod_name_prefix(s) for s in services if s.name not in exempt})
    shadowing = sorted(p for p in locked_prefixes if any(p != e and p.startswith(e) for e in exempt_prefixes))
    own_groups = {pod_name_prefix(s): s.security.break_glass_group for s in services
                  if s.name not in exempt and s.security.break_glass_group != default_group}
    variables: list[Manifest] = []
    if exempt:
        by_label = (f"has(object.metadata.labels) && '{LABEL_NAME}' in object.metadata.labels "
                    f"&& object.metadata.labels['{LABEL_NAME}'] in {_cel_list(exempt)}")
        by_name = f"{_cel_list(exempt_prefixes)}.exists(p, request.name.startsWith(p))"
        if shadowing:
            by_name += f" && !{_cel_list(shadowing)}.exists(p, request.name.startsWith(p))"
        variables.append({"name": "exempt",
                          "expression": f"request.subResource == 'ephemeralcontainers' ? ({by_label}) : ({by_name})"})
    allowed = _in_group(default_group)
    if own_groups:
        pairs = ", ".join(f"{_cel_str(p)}: {_cel_str(g)}" for p, g in sorted(own_groups.items()))
        variables.append({"name": "own_groups", "expression": "{" + pairs + "}"})
        variables.append({"name": "own",
                          "expression": "variables.own_groups.filter(p, request.name.startsWith(p))"})
        allowed = (f"(variables.own.size() == 0 ? {allowed} : variables.own.all(p, "
                   f"request.userInfo.groups.exists(g, g == variables.own_groups[p])))")
    expression = f"variables.exempt || {allowed}" if exempt else allowed
    out: Manifest = {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "resourceRules": [{**rule} for rule in EXEC_LOCK_RULES],
        },
        "validations": [{
            "expression": expression,
            "message": EXEC_LOCK_MESSAGE.format(namespace=namespace, group=default_group),
            "reason": "Forbidden",
        }],
    }
    if variables:
        out["variables"] = variables
    return out


EXEC_LOCK_EXEMPT_PREFIX = "exec-lock-exempt.immutable.dev/"


def exec_lock_annotations(services: list[ContainerServiceSpec]) -> dict[str, str]:
    """The exemptions with their reasons, on the lock itself (``exec-lock-exempt.immutable.dev/<service>``):
    an opt-out shows up in the preview as a change of the namespace's lock, not only of the service."""
    return {f"{EXEC_LOCK_EXEMPT_PREFIX}{s.name}": opt_out.reason
            for s in services if (opt_out := s.security.opt_outs.exec_lock) is not None}


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
