"""Kubernetes checks: pods hardened to Pod Security "restricted" and kept immutable.

Each ``check_*`` takes a resource type token (``kubernetes:apps/v1:Deployment``), the
resource's inputs as plain data (camelCase, as the engine sends them) and a
:class:`~immutable_policy.common.Context`, and returns violation messages (empty: compliant).
A check ignores types it is not about, so it can be called on any resource.

Pod templates are found in Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
ReplicationController and PodTemplate. Docs behind the rules:
- Pod Security Standards: https://kubernetes.io/docs/concepts/security/pod-security-standards/
- Immutable ConfigMaps/Secrets: https://kubernetes.io/docs/concepts/configuration/configmap/#configmap-immutable
- ValidatingAdmissionPolicy: https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/

Opt-outs: a workload that records an opt-out the way the components do (label
``immutable.dev/opt-out-<name>: "true"`` plus annotation ``immutable.dev/opt-out-reason-<name>``
of at least 10 characters) is exempt from the part of a rule that opt-out names; an opt-out
without a reason exempts nothing and is itself a violation (``k8s-opt-out-reason``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .common import (
    NO_CONTEXT,
    Context,
    as_dict,
    as_list,
    config_value,
    falsy,
    get,
    is_unknown,
    iter_dicts,
    k8s_kind,
    opt_out_reason_keys,
    opt_outs,
    truthy,
    valid_opt_outs,
)

# (group, kind) -> (path to the pod spec, path to the pod metadata)
_POD_PATHS: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("", "Pod"): (("spec",), ("metadata",)),
    ("", "PodTemplate"): (("template", "spec"), ("template", "metadata")),
    ("", "ReplicationController"): (("spec", "template", "spec"), ("spec", "template", "metadata")),
    ("apps", "Deployment"): (("spec", "template", "spec"), ("spec", "template", "metadata")),
    ("apps", "StatefulSet"): (("spec", "template", "spec"), ("spec", "template", "metadata")),
    ("apps", "DaemonSet"): (("spec", "template", "spec"), ("spec", "template", "metadata")),
    ("apps", "ReplicaSet"): (("spec", "template", "spec"), ("spec", "template", "metadata")),
    ("batch", "Job"): (("spec", "template", "spec"), ("spec", "template", "metadata")),
    ("batch", "CronJob"): (
        ("spec", "jobTemplate", "spec", "template", "spec"),
        ("spec", "jobTemplate", "spec", "template", "metadata"),
    ),
}
WORKLOAD_KINDS = frozenset(_POD_PATHS)
RUN_TO_COMPLETION = frozenset({("batch", "Job"), ("batch", "CronJob")})
"""Workloads whose pods finish: no readiness/liveness probes required."""

# Namespaced kinds checked by k8s-no-default-namespace (cluster-scoped kinds have no namespace).
NAMESPACED_KINDS = WORKLOAD_KINDS | frozenset({
    ("", "ConfigMap"), ("", "Secret"), ("", "Service"), ("", "ServiceAccount"),
    ("", "PersistentVolumeClaim"), ("", "Endpoints"), ("", "LimitRange"), ("", "ResourceQuota"),
    ("networking.k8s.io", "NetworkPolicy"), ("networking.k8s.io", "Ingress"),
    ("policy", "PodDisruptionBudget"), ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"), ("autoscaling", "HorizontalPodAutoscaler"),
})

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")

# Pod Security "restricted" (Kubernetes v1.30 and later).
RESTRICTED_VOLUME_TYPES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})
ALLOWED_SELINUX_TYPES = frozenset({"container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})

PSS_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
EXEC_LOCK_MARK = "exec-lock"
EXEC_LOCK_RULES: tuple[tuple[str, str], ...] = (
    ("CONNECT", "pods/exec"),
    ("CONNECT", "pods/attach"),
    ("CONNECT", "pods/portforward"),
    ("UPDATE", "pods/ephemeralcontainers"),
)
"""What an exec lock must refuse: exec (and so `kubectl cp`), attach, port-forward, debug."""


# --- pod templates -------------------------------------------------------------------


@dataclass(frozen=True)
class PodTemplate:
    """The pod spec of a workload and where it sits in the resource's inputs."""

    path: str
    """Dotted path of the pod spec, for messages: ``spec.template.spec``."""
    spec: dict[str, Any]
    metadata: dict[str, Any]
    """Pod metadata (the template's; the resource's own for a bare Pod)."""
    owner_metadata: dict[str, Any]
    """The workload resource's own metadata."""

    def opted_out(self) -> set[str]:
        """Valid opt-outs recorded on the workload or on its pod template."""
        names: set[str] = set()
        for meta in (self.owner_metadata, self.metadata):
            names |= valid_opt_outs(as_dict(meta.get("labels")), as_dict(meta.get("annotations")))
        return names


def pod_template(resource_type: str, props: Mapping[str, Any]) -> PodTemplate | None:
    """The pod template of a workload, ``None`` for other resources (or an unknown spec)."""
    kind = k8s_kind(resource_type)
    if kind is None or kind not in _POD_PATHS:
        return None
    spec_path, meta_path = _POD_PATHS[kind]
    spec = get(props, *spec_path)
    if not isinstance(spec, Mapping):
        return None
    return PodTemplate(
        path=".".join(spec_path),
        spec=dict(spec),
        metadata=as_dict(get(props, *meta_path)),
        owner_metadata=as_dict(props.get("metadata")),
    )


@dataclass(frozen=True)
class Container:
    path: str
    """``spec.template.spec.containers[0]``."""
    label: str
    """``container 'app' (spec.template.spec.containers[0])`` for messages."""
    data: dict[str, Any]
    group: str
    """``containers``, ``initContainers`` or ``ephemeralContainers``."""


def containers(pod: PodTemplate, groups: tuple[str, ...] = ("containers", "initContainers",
                                                             "ephemeralContainers")) -> Iterator[Container]:
    for group in groups:
        for index, data in iter_dicts(pod.spec.get(group)):
            path = f"{pod.path}.{group}[{index}]"
            name = data.get("name")
            label = f"container {name!r} ({path})" if isinstance(name, str) else f"container {path}"
            yield Container(path, label, data, group)


def _effective(pod: PodTemplate, container: Container, key: str) -> Any:
    """A securityContext field as the kubelet sees it: the container's, else the pod's."""
    own = get(container.data, "securityContext", key)
    if own is not None:
        return own
    return get(pod.spec, "securityContext", key)


# --- checks ----------------------------------------------------------------------------


def check_image_digest(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Every container image pinned by digest (CKV_K8S_43); opt-out ``mutable_image_tag``."""
    pod = pod_template(resource_type, props)
    if pod is None or "mutable_image_tag" in pod.opted_out():
        return []
    out = []
    for c in containers(pod):
        image = c.data.get("image")
        if is_unknown(image):
            continue
        if not isinstance(image, str) or not image:
            out.append(f"{c.label} has no image; give one pinned by digest (repo@sha256:<64 hex>)")
        elif not DIGEST.search(image):
            out.append(f"{c.label}: image {image!r} is not pinned by digest; "
                       "use repo@sha256:<64 hex> (a tag can be moved to other content)")
    return out


def check_pod_security_restricted(resource_type: str, props: Mapping[str, Any],
                                  ctx: Context = NO_CONTEXT) -> list[str]:
    """The fields of Pod Security "restricted" (and "baseline", which it includes).

    Opt-outs: ``run_as_root`` (runAsNonRoot/runAsUser), ``privilege_escalation``.
    """
    pod = pod_template(resource_type, props)
    if pod is None:
        return []
    exempt = pod.opted_out()
    out: list[str] = []
    spec, p = pod.spec, pod.path
    for host_field in ("hostNetwork", "hostPID", "hostIPC"):
        if truthy(spec.get(host_field)):
            out.append(f"{p}.{host_field} is true; pods must not share the node's namespaces")
    pod_sc = as_dict(spec.get("securityContext"))
    for _, sysctl in iter_dicts(pod_sc.get("sysctls")):
        name = sysctl.get("name")
        if isinstance(name, str) and name not in SAFE_SYSCTLS:
            out.append(f"{p}.securityContext.sysctls: {name!r} is not a safe sysctl")
    out += _selinux(pod_sc.get("seLinuxOptions"), f"{p}.securityContext")
    if get(pod_sc, "appArmorProfile", "type") == "Unconfined":
        out.append(f"{p}.securityContext.appArmorProfile.type is Unconfined")
    for index, volume in iter_dicts(spec.get("volumes")):
        kinds = [k for k in volume if k != "name" and volume[k] is not None]
        for kind in kinds:
            if kind not in RESTRICTED_VOLUME_TYPES:
                out.append(f"{p}.volumes[{index}] ({volume.get('name')!r}) is a {kind} volume; "
                           f"restricted allows only {', '.join(sorted(RESTRICTED_VOLUME_TYPES))}")

    for c in containers(pod):
        for _, port in iter_dicts(c.data.get("ports")):
            host_port = port.get("hostPort")
            if isinstance(host_port, (int, float)) and not isinstance(host_port, bool) and host_port:
                out.append(f"{c.label} uses hostPort {int(host_port)}; expose it through a Service")
        if is_unknown(c.data.get("securityContext")):
            continue  # decided at update time, when it is known
        sc = as_dict(c.data.get("securityContext"))
        if truthy(sc.get("privileged")):
            out.append(f"{c.label}: securityContext.privileged is true")
        if sc.get("procMount") not in (None, "Default") and not is_unknown(sc.get("procMount")):
            out.append(f"{c.label}: securityContext.procMount must be Default")
        out += _selinux(sc.get("seLinuxOptions"), f"{c.label}: securityContext")
        if get(sc, "appArmorProfile", "type") == "Unconfined":
            out.append(f"{c.label}: securityContext.appArmorProfile.type is Unconfined")
        caps = as_dict(sc.get("capabilities"))
        added = caps.get("add")
        for cap in as_list(added):
            if isinstance(cap, str) and cap.upper().removeprefix("CAP_") not in ALLOWED_ADDED_CAPABILITIES:
                out.append(f"{c.label} adds capability {cap}; only NET_BIND_SERVICE may be added")
        dropped = caps.get("drop")
        if not is_unknown(dropped) and "ALL" not in [str(d).upper() for d in as_list(dropped)]:
            out.append(f"{c.label}: securityContext.capabilities.drop must include ALL")
        escalation = sc.get("allowPrivilegeEscalation")
        if "privilege_escalation" not in exempt and not is_unknown(escalation) and not falsy(escalation):
            out.append(f"{c.label}: securityContext.allowPrivilegeEscalation must be false")
        if "run_as_root" not in exempt:
            non_root = _effective(pod, c, "runAsNonRoot")
            if not is_unknown(non_root) and not truthy(non_root):
                out.append(f"{c.label}: runAsNonRoot must be true (in the pod or container securityContext)")
            uid = _effective(pod, c, "runAsUser")
            if isinstance(uid, (int, float)) and not isinstance(uid, bool) and int(uid) == 0:
                out.append(f"{c.label}: runAsUser is 0 (root)")
        seccomp = _effective(pod, c, "seccompProfile")
        seccomp = get(seccomp, "type") if isinstance(seccomp, Mapping) else seccomp
        if not is_unknown(seccomp) and seccomp not in ALLOWED_SECCOMP:
            shown = "not set" if seccomp is None else repr(seccomp)
            out.append(f"{c.label}: seccompProfile.type is {shown}; set RuntimeDefault "
                       "(pod or container securityContext)")
    return out


def _selinux(options: Any, where: str) -> list[str]:
    if not isinstance(options, Mapping):
        return []
    out = []
    se_type = options.get("type")
    if isinstance(se_type, str) and se_type and se_type not in ALLOWED_SELINUX_TYPES:
        out.append(f"{where}.seLinuxOptions.type {se_type!r} is not allowed")
    for key in ("user", "role"):
        if isinstance(options.get(key), str) and options[key]:
            out.append(f"{where}.seLinuxOptions.{key} must not be set")
    return out


def check_read_only_root_filesystem(resource_type: str, props: Mapping[str, Any],
                                    ctx: Context = NO_CONTEXT) -> list[str]:
    """readOnlyRootFilesystem (CKV_K8S_22); opt-out ``writable_root_filesystem``."""
    pod = pod_template(resource_type, props)
    if pod is None or "writable_root_filesystem" in pod.opted_out():
        return []
    out = []
    for c in containers(pod, ("containers", "initContainers")):
        value = get(c.data, "securityContext", "readOnlyRootFilesystem")
        if not is_unknown(value) and not truthy(value):
            out.append(f"{c.label}: securityContext.readOnlyRootFilesystem must be true; "
                       "mount an emptyDir where the process needs to write")
    return out


def check_non_root_ids(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """UID and GID of at least ``minId`` (10000, CKV_K8S_40): no clash with host users."""
    pod = pod_template(resource_type, props)
    if pod is None or "run_as_root" in pod.opted_out():
        return []
    minimum = int(config_value(ctx, "minId", 10000))
    out = []
    for c in containers(pod, ("containers", "initContainers")):
        for key in ("runAsUser", "runAsGroup"):
            value = _effective(pod, c, key)
            if is_unknown(value):
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                out.append(f"{c.label}: {key} is not set; set it to {minimum} or more")
            elif int(value) < minimum:
                out.append(f"{c.label}: {key} is {int(value)}; use {minimum} or more")
    return out


def check_resources(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """CPU and memory requests and limits on every container (CKV_K8S_10 to 13)."""
    pod = pod_template(resource_type, props)
    if pod is None:
        return []
    wanted = [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]
    if config_value(ctx, "requireCpuLimit", True):
        wanted.insert(1, ("limits", "cpu"))
    out = []
    for c in containers(pod, ("containers", "initContainers")):
        resources = c.data.get("resources")
        if is_unknown(resources):
            continue
        missing = [f"{section}.{name}" for section, name in wanted
                   if get(resources, section, name) is None]
        if missing:
            out.append(f"{c.label} has no resources.{', resources.'.join(missing)}")
    return out


def check_probes(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Liveness and readiness probes on long-running containers (CKV_K8S_8, CKV_K8S_9)."""
    pod = pod_template(resource_type, props)
    if pod is None or k8s_kind(resource_type) in RUN_TO_COMPLETION:
        return []
    out = []
    for c in containers(pod, ("containers",)):
        missing = [probe for probe in ("livenessProbe", "readinessProbe") if c.data.get(probe) is None]
        if missing:
            out.append(f"{c.label} has no {' and no '.join(missing)}")
    return out


def check_no_service_account_token(resource_type: str, props: Mapping[str, Any],
                                   ctx: Context = NO_CONTEXT) -> list[str]:
    """automountServiceAccountToken: false (CKV_K8S_38); opt-out ``service_account_token``."""
    pod = pod_template(resource_type, props)
    if pod is None or "service_account_token" in pod.opted_out():
        return []
    value = pod.spec.get("automountServiceAccountToken")
    if is_unknown(value) or falsy(value):
        return []
    state = "true" if truthy(value) else "not set (the default mounts it)"
    return [f"{pod.path}.automountServiceAccountToken is {state}; set it to false so the pod "
            "gets no API credentials it does not need"]


def check_no_default_namespace(resource_type: str, props: Mapping[str, Any],
                               ctx: Context = NO_CONTEXT) -> list[str]:
    """Never the ``default`` namespace (CKV_K8S_21); the provider's namespace counts when unset."""
    kind = k8s_kind(resource_type)
    if kind is None or kind not in NAMESPACED_KINDS:
        return []
    namespace, source = resolve_namespace(props, ctx.provider)
    if namespace is None:
        return []
    forbidden = [str(n) for n in as_list(config_value(ctx, "forbiddenNamespaces", ["default"]))]
    if namespace in forbidden:
        return [f"{kind.kind} is placed in namespace {namespace!r} ({source}); "
                "set metadata.namespace to a namespace of your own"]
    return []


def resolve_namespace(props: Mapping[str, Any], provider: Mapping[str, Any]) -> tuple[str | None, str]:
    """The namespace a namespaced object lands in, and where that comes from.

    ``None`` when it is not known yet. Unset everywhere means ``default`` (a kubeconfig
    context namespace is invisible to a policy; set the provider's ``namespace`` instead).
    """
    namespace = get(props, "metadata", "namespace")
    if is_unknown(namespace):
        return None, "unknown"
    if isinstance(namespace, str) and namespace:
        return namespace, "metadata.namespace"
    from_provider = provider.get("namespace") if isinstance(provider, Mapping) else None
    if is_unknown(from_provider):
        return None, "unknown"
    if isinstance(from_provider, str) and from_provider:
        return from_provider, "the provider's namespace"
    return "default", "metadata.namespace is not set"


def check_config_immutable(resource_type: str, props: Mapping[str, Any],
                           ctx: Context = NO_CONTEXT) -> list[str]:
    """ConfigMaps and Secrets are ``immutable: true``: a change makes a new object and a rollout."""
    kind = k8s_kind(resource_type)
    if kind not in (("", "ConfigMap"), ("", "Secret")):
        return []
    if kind == ("", "Secret") and props.get("type") == "kubernetes.io/service-account-token":
        return []  # filled in by the token controller after creation
    value = props.get("immutable")
    if is_unknown(value) or truthy(value):
        return []
    return [f"{kind.kind} is not immutable; set immutable: true and name it by its content hash, "
            "so a change creates a new object (and a new release) instead of editing live config"]


def check_namespace_pod_security(resource_type: str, props: Mapping[str, Any],
                                 ctx: Context = NO_CONTEXT) -> list[str]:
    """Namespaces enforce Pod Security "restricted" in the API server."""
    if k8s_kind(resource_type) != ("", "Namespace"):
        return []
    labels = get(props, "metadata", "labels")
    if is_unknown(labels):
        return []
    value = as_dict(labels).get(PSS_ENFORCE_LABEL)
    if is_unknown(value) or value == "restricted":
        return []
    shown = "missing" if value is None else repr(value)
    return [f"label {PSS_ENFORCE_LABEL} is {shown}; set it to 'restricted' so the API server "
            "refuses pods that are not hardened"]


def check_opt_out_reason(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Every ``immutable.dev/opt-out-*`` label comes with a reason (exec lock included)."""
    if k8s_kind(resource_type) is None:
        return []
    places = [("metadata", as_dict(props.get("metadata")))]
    pod = pod_template(resource_type, props)
    if pod is not None:
        places.append((pod.path.removesuffix(".spec") + ".metadata", pod.metadata))
    out = []
    for where, meta in places:
        for record in opt_outs(as_dict(meta.get("labels")), as_dict(meta.get("annotations"))):
            if record.valid:
                continue
            reason_key = opt_out_reason_keys(record.name)[0]
            problem = "has no reason" if record.reason is None else "has a reason shorter than 10 characters"
            out.append(f"{where}.labels[{record.label!r}] opts out of {record.name} but {problem}; "
                       f"add the annotation {reason_key!r} saying why (or remove the opt-out)")
    return out


def check_exec_lock_complete(resource_type: str, props: Mapping[str, Any],
                             ctx: Context = NO_CONTEXT) -> list[str]:
    """An exec lock (a ValidatingAdmissionPolicy named ``*exec-lock*``) refuses exec, attach,
    port-forward and ephemeral containers, fails closed, and is bound with ``Deny``."""
    kind = k8s_kind(resource_type)
    if kind == ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"):
        name = get(props, "metadata", "name")
        if not isinstance(name, str) or EXEC_LOCK_MARK not in name:
            return []
        return exec_lock_gaps(as_dict(props.get("spec")))
    if kind == ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"):
        policy_name = get(props, "spec", "policyName")
        if not isinstance(policy_name, str) or EXEC_LOCK_MARK not in policy_name:
            return []
        actions = get(props, "spec", "validationActions")
        if is_unknown(actions) or "Deny" in as_list(actions):
            return []
        return [f"binding of exec lock {policy_name!r} has validationActions {as_list(actions)}; "
                "include Deny (Warn or Audit alone lets the exec through)"]
    return []


def exec_lock_gaps(spec: Mapping[str, Any]) -> list[str]:
    """What an exec lock's ValidatingAdmissionPolicy spec fails to refuse."""
    out = []
    if spec.get("failurePolicy") == "Ignore":
        out.append("spec.failurePolicy is Ignore; an exec lock must fail closed (Fail)")
    rules = get(spec, "matchConstraints", "resourceRules")
    if is_unknown(rules):
        return out
    covered: set[tuple[str, str]] = set()
    for _, rule in iter_dicts(rules):
        operations = [str(o) for o in as_list(rule.get("operations"))]
        resources = [str(r) for r in as_list(rule.get("resources"))]
        groups = as_list(rule.get("apiGroups")) or [""]
        if "" not in groups and "*" not in groups:
            continue
        for operation, resource in EXEC_LOCK_RULES:
            if (operation in operations or "*" in operations) and (
                    resource in resources or "*" in resources or "pods/*" in resources):
                covered.add((operation, resource))
    missing = [f"{op} {res}" for op, res in EXEC_LOCK_RULES if (op, res) not in covered]
    if missing:
        out.append(f"spec.matchConstraints.resourceRules do not match {', '.join(missing)}")
    if not as_list(spec.get("validations")) and not is_unknown(spec.get("validations")):
        out.append("spec.validations is empty; the policy refuses nothing")
    return out


def check_secrets_as_files(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Secrets mounted as files, not env vars (CKV_K8S_35): env leaks into crash dumps and logs."""
    pod = pod_template(resource_type, props)
    if pod is None:
        return []
    out = []
    for c in containers(pod):
        for index, env in iter_dicts(c.data.get("env")):
            if get(env, "valueFrom", "secretKeyRef") is not None:
                out.append(f"{c.label}: env[{index}] ({env.get('name')!r}) reads a Secret; "
                           "mount the Secret as a file instead")
        for index, env_from in iter_dicts(c.data.get("envFrom")):
            if env_from.get("secretRef") is not None:
                out.append(f"{c.label}: envFrom[{index}] loads a whole Secret into env; mount it as files")
    return out
