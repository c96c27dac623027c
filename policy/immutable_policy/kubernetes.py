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
holding a real reason, judged by ``immutable_infra.rules.opt_out_reason_problem``) is exempt
from the part of a rule that opt-out names; an opt-out without a real reason exempts nothing
and is itself a violation (``k8s-opt-out-reason``). Every valid opt-out is listed by the
advisory ``stack-opt-outs``.

Patches (``DeploymentPatch``, ``PodPatch``, ... every ``*Patch`` kind) are server-side apply
patches of objects that already exist: they hold only the fields they set. Every check runs
on them too, reporting what a patch *sets* (``privileged: true``, a tag) and never what it
leaves out; ``k8s-no-in-place-patch`` refuses the patch itself when it changes running compute.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .common import (
    NO_CONTEXT,
    Context,
    K8sKind,
    as_dict,
    as_list,
    config_value,
    falsy,
    get,
    is_unknown,
    iter_dicts,
    k8s_kind,
    k8s_target,
    opt_out_reason_keys,
    opt_outs,
    truthy,
    valid_opt_outs,
)
from .shared import IMAGE_FIX, REASON_FIX, credential_kind, looks_like_secret_name, parse_image, rules

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
RUNNING_KINDS = WORKLOAD_KINDS - {("", "PodTemplate")}
"""Kinds whose objects run pods (a PodTemplate is only a template)."""
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
    kind: K8sKind
    partial: bool = False
    """From a ``*Patch``: fields left out are not being set, so they are not violations."""

    def opted_out(self) -> set[str]:
        """Valid opt-outs recorded on the workload or on its pod template."""
        names: set[str] = set()
        for meta in (self.owner_metadata, self.metadata):
            names |= valid_opt_outs(as_dict(meta.get("labels")), as_dict(meta.get("annotations")))
        return names


def pod_template(resource_type: str, props: Mapping[str, Any]) -> PodTemplate | None:
    """The pod template of a workload, ``None`` for other resources (or an unknown spec)."""
    target = k8s_target(resource_type)
    if target is None or target.kind not in _POD_PATHS:
        return None
    spec_path, meta_path = _POD_PATHS[target.kind]
    spec = get(props, *spec_path)
    if not isinstance(spec, Mapping):
        return None
    return PodTemplate(
        path=".".join(spec_path),
        spec=dict(spec),
        metadata=as_dict(get(props, *meta_path)),
        owner_metadata=as_dict(props.get("metadata")),
        kind=target.kind,
        partial=target.patch,
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
        if image is None and pod.partial:
            continue  # the patch leaves the image as it is
        if not isinstance(image, str) or not image:
            out.append(f"{c.label} has no image; give one pinned by digest (repo@sha256:<64 hex>)")
            continue
        problem = image_problem(image)
        if problem:
            out.append(f"{c.label}: image {image!r} {problem}")
    return out


def image_problem(image: str) -> str | None:
    """What is wrong with an image reference, by the components' own grammar
    (:func:`immutable_infra.rules.parse_image`); ``None`` when it is pinned by digest."""
    try:
        ref = parse_image(image)
    except ValueError as exc:
        return f"is not a valid image reference ({exc}); {IMAGE_FIX}"
    if not ref.pinned:
        return "is not pinned by digest; use repo@sha256:<64 hex> (a tag can be moved to other content)"
    return None


def check_pod_security_restricted(resource_type: str, props: Mapping[str, Any],
                                  ctx: Context = NO_CONTEXT) -> list[str]:
    """The fields of Pod Security "restricted" (and "baseline", which it includes).

    Opt-outs: ``run_as_root`` (runAsNonRoot/runAsUser), ``privilege_escalation``. A privileged
    container (or one adding SYS_ADMIN) gets one message asking for both fixes: Kubernetes
    refuses ``allowPrivilegeEscalation: false`` next to either, so asking for it alone would
    be advice that cannot be applied.
    """
    pod = pod_template(resource_type, props)
    if pod is None:
        return []
    exempt = pod.opted_out()
    out: list[str] = []
    spec, p = pod.spec, pod.path
    for host_field in ("hostNetwork", "hostPID", "hostIPC"):
        if truthy(spec.get(host_field)):
            out.append(f"{p}.{host_field} is true (the pod shares the node's namespaces); remove it "
                       "(set it to false)")
    pod_sc = as_dict(spec.get("securityContext"))
    for _, sysctl in iter_dicts(pod_sc.get("sysctls")):
        name = sysctl.get("name")
        if isinstance(name, str) and name not in SAFE_SYSCTLS:
            out.append(f"{p}.securityContext.sysctls sets {name!r}, which is not a safe sysctl; remove it")
    out += _selinux(pod_sc.get("seLinuxOptions"), f"{p}.securityContext")
    if get(pod_sc, "appArmorProfile", "type") == "Unconfined":
        out.append(f"{p}.securityContext.appArmorProfile.type is Unconfined; set it to RuntimeDefault")
    out += _confinement_annotations(pod)
    for index, volume in iter_dicts(spec.get("volumes")):
        kinds = [k for k in volume if k != "name" and volume[k] is not None]
        for kind in kinds:
            if kind not in RESTRICTED_VOLUME_TYPES:
                out.append(f"{p}.volumes[{index}] ({volume.get('name')!r}) is a {kind} volume; "
                           f"use one of {', '.join(sorted(RESTRICTED_VOLUME_TYPES))} (e.g. emptyDir)")

    for c in containers(pod):
        for _, port in iter_dicts(c.data.get("ports")):
            host_port = port.get("hostPort")
            if isinstance(host_port, (int, float)) and not isinstance(host_port, bool) and host_port:
                out.append(f"{c.label} uses hostPort {int(host_port)}; remove hostPort and expose the port "
                           "through a Service")
        if is_unknown(c.data.get("securityContext")):
            continue  # decided at update time, when it is known
        sc = as_dict(c.data.get("securityContext"))
        out += _container_security(pod, c, sc, exempt)
    return out


APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_ANNOTATIONS = ("seccomp.security.alpha.kubernetes.io/pod", "container.seccomp.security.alpha.kubernetes.io/")
CONFINED_ANNOTATION_VALUES = ("runtime/default", "docker/default", "localhost/")


def _confinement_annotations(pod: PodTemplate) -> list[str]:
    """AppArmor and seccomp switched off through the older annotations (still honoured by
    kubelets for AppArmor, and by Pod Security 'restricted' as a violation)."""
    out = []
    annotations = as_dict(pod.metadata.get("annotations"))
    where = pod.path.removesuffix(".spec") + ".metadata" if pod.path != "spec" else "metadata"
    for key, value in annotations.items():
        if not isinstance(value, str) or not (key.startswith(APPARMOR_ANNOTATION) or key.startswith(
                SECCOMP_ANNOTATIONS)):
            continue
        if value == "" or value.startswith(CONFINED_ANNOTATION_VALUES):
            continue
        what, field = ("AppArmor", "appArmorProfile") if key.startswith(APPARMOR_ANNOTATION) else (
            "seccomp", "seccompProfile")
        out.append(f"{where}.annotations[{key!r}] is {value!r}: the container runs without {what} confinement; "
                   f"remove the annotation and set securityContext.{field}.type: RuntimeDefault")
    return out


def _container_security(pod: PodTemplate, c: Container, sc: dict[str, Any], exempt: set[str]) -> list[str]:
    out: list[str] = []
    caps = as_dict(sc.get("capabilities"))
    added = [str(cap) for cap in as_list(caps.get("add")) if isinstance(cap, str)]
    bad_added = [cap for cap in added if cap.upper().removeprefix("CAP_") not in ALLOWED_ADDED_CAPABILITIES]
    privileged = truthy(sc.get("privileged"))
    sys_admin = any(cap.upper().removeprefix("CAP_") == "SYS_ADMIN" for cap in added)
    escalation = sc.get("allowPrivilegeEscalation")
    escalation_ok = falsy(escalation) or is_unknown(escalation) or (pod.partial and escalation is None)
    if privileged:
        also = "" if escalation_ok or "privilege_escalation" in exempt else " and allowPrivilegeEscalation: false"
        out.append(f"{c.label}: securityContext.privileged is true (the container holds every capability of "
                   f"the node); set privileged: false{also}")
    for cap in bad_added:
        also = ("" if escalation_ok or privileged or "privilege_escalation" in exempt or cap.upper().removeprefix(
            "CAP_") != "SYS_ADMIN" else ", then set allowPrivilegeEscalation: false")
        out.append(f"{c.label}: securityContext.capabilities.add includes {cap}; remove it{also} "
                   "(only NET_BIND_SERVICE may be added)")
    if sc.get("procMount") not in (None, "Default") and not is_unknown(sc.get("procMount")):
        out.append(f"{c.label}: securityContext.procMount is {sc.get('procMount')!r}; set it to Default")
    out += _selinux(sc.get("seLinuxOptions"), f"{c.label}: securityContext")
    if get(sc, "appArmorProfile", "type") == "Unconfined":
        out.append(f"{c.label}: securityContext.appArmorProfile.type is Unconfined; set it to RuntimeDefault")
    dropped = caps.get("drop")
    drops_all = "ALL" in [str(d).upper() for d in as_list(dropped)]
    if not is_unknown(dropped) and not (pod.partial and dropped is None) and not drops_all:
        shown = "not set" if dropped is None else repr(as_list(dropped))
        out.append(f"{c.label}: securityContext.capabilities.drop is {shown}; set drop: [ALL]")
    if not escalation_ok and not privileged and not sys_admin and "privilege_escalation" not in exempt:
        shown = "true" if truthy(escalation) else "not set (the default allows it)"
        out.append(f"{c.label}: securityContext.allowPrivilegeEscalation is {shown}; set it to false")
    if "run_as_root" not in exempt:
        out += _run_as_root(pod, c)
    seccomp = _effective(pod, c, "seccompProfile")
    seccomp = get(seccomp, "type") if isinstance(seccomp, Mapping) else seccomp
    if not is_unknown(seccomp) and seccomp not in ALLOWED_SECCOMP and not (pod.partial and seccomp is None):
        shown = "not set" if seccomp is None else repr(seccomp)
        out.append(f"{c.label}: seccompProfile.type is {shown}; set RuntimeDefault "
                   "(pod or container securityContext)")
    return out


def _run_as_root(pod: PodTemplate, c: Container) -> list[str]:
    non_root = _effective(pod, c, "runAsNonRoot")
    uid = _effective(pod, c, "runAsUser")
    uid_zero = isinstance(uid, (int, float)) and not isinstance(uid, bool) and int(uid) == 0
    if is_unknown(non_root) or truthy(non_root) or (pod.partial and non_root is None):
        if uid_zero:  # the kubelet would refuse to start it: say so, with the one fix that works
            return [f"{c.label}: runAsUser is 0 (root) while runAsNonRoot is true; set runAsUser to a non-zero "
                    "UID such as 10001"]
        return []
    shown = "false" if falsy(non_root) else "not set"
    fix = "runAsUser to a non-zero UID such as 10001 and runAsNonRoot: true" if uid_zero else "runAsNonRoot: true"
    user = ", runAsUser is 0 (root)" if uid_zero else ""
    return [f"{c.label}: runAsNonRoot is {shown}{user}; set {fix} (pod or container securityContext)"]


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
        if is_unknown(value) or truthy(value) or (pod.partial and value is None):
            continue
        shown = "false" if falsy(value) else "not set"
        out.append(f"{c.label}: securityContext.readOnlyRootFilesystem is {shown}; set it to true "
                   "(and mount an emptyDir where the process needs to write)")
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
            if is_unknown(value) or (pod.partial and value is None):
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                out.append(f"{c.label}: {key} is not set; set it to {minimum} or more")
            elif int(value) < minimum:
                out.append(f"{c.label}: {key} is {int(value)}; use {minimum} or more")
    return out


def check_resources(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """CPU and memory requests and limits on every container (CKV_K8S_10 to 13)."""
    pod = pod_template(resource_type, props)
    if pod is None or pod.partial:
        return []  # a patch that leaves resources out keeps the object's own
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
            out.append(f"{c.label} has no resources.{', resources.'.join(missing)}; set them (e.g. requests "
                       "cpu '100m', memory '64Mi'; limits cpu '500m', memory '128Mi')")
        out += _quantity_problems(c, resources)
    return out


def _quantity_problems(c: Container, resources: Any) -> list[str]:
    """Amounts Kubernetes would refuse, by the components' own quantity grammar, and requests above limits."""
    out = []
    amounts: dict[tuple[str, str], int] = {}
    for section in ("requests", "limits"):
        for name, convert in (("cpu", rules.cpu_millicores), ("memory", rules.memory_bytes)):
            value = get(resources, section, name)
            if value is None or is_unknown(value):
                continue
            # Numbers arrive as floats (1.0, 0.25): their text is a valid quantity too.
            text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
            try:
                amounts[(section, name)] = convert(text)
            except (ValueError, TypeError) as exc:
                out.append(f"{c.label}: resources.{section}.{name} is {value!r}: {exc}; {rules.QUANTITY_FIX}")
    for name in ("cpu", "memory"):
        request, limit = amounts.get(("requests", name)), amounts.get(("limits", name))
        if request is not None and limit is not None and request > limit:
            out.append(f"{c.label}: resources.requests.{name} ({get(resources, 'requests', name)!r}) is above "
                       f"resources.limits.{name} ({get(resources, 'limits', name)!r}); lower the request to the "
                       "limit or below")
    return out


def check_probes(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Liveness and readiness probes on long-running containers (CKV_K8S_8, CKV_K8S_9)."""
    pod = pod_template(resource_type, props)
    if pod is None or pod.partial or pod.kind in RUN_TO_COMPLETION:
        return []
    out = []
    for c in containers(pod, ("containers",)):
        missing = [probe for probe in ("livenessProbe", "readinessProbe") if c.data.get(probe) is None]
        if missing:
            out.append(f"{c.label} has no {' and no '.join(missing)}; add them (e.g. httpGet on the service's "
                       "health path, or tcpSocket on its port)")
    return out


SA_TOKEN_SECRET = "kubernetes.io/service-account-token"


def check_no_service_account_token(resource_type: str, props: Mapping[str, Any],
                                   ctx: Context = NO_CONTEXT) -> list[str]:
    """No API token reaches a pod, by any of the ways Kubernetes offers (CKV_K8S_38 and more):

    - the automounted token (``automountServiceAccountToken`` on the pod);
    - a ``projected`` volume with a ``serviceAccountToken`` source, which mounts a token even
      when automounting is off;
    - a ServiceAccount that automounts by default (pods that do not say otherwise, including
      ones created outside this stack, get a token);
    - a long-lived token Secret (type ``kubernetes.io/service-account-token``) that any pod
      may mount as a volume or read into its env.

    Opt-out ``service_account_token`` (on the workload, the ServiceAccount or the Secret).
    """
    target = k8s_target(resource_type)
    if target is None:
        return []
    meta = as_dict(props.get("metadata"))
    own_exempt = "service_account_token" in valid_opt_outs(as_dict(meta.get("labels")),
                                                             as_dict(meta.get("annotations")))
    if target.kind == ("", "ServiceAccount"):
        value = props.get("automountServiceAccountToken")
        if own_exempt or is_unknown(value) or falsy(value) or (target.patch and value is None):
            return []
        state = "true" if truthy(value) else "not set (the default mounts it)"
        return [f"ServiceAccount {meta.get('name', '')!r}: automountServiceAccountToken is {state}, so every pod "
                "using it that does not say otherwise gets an API token; set automountServiceAccountToken: false"]
    if target.kind == ("", "Secret"):
        if own_exempt or props.get("type") != SA_TOKEN_SECRET:
            return []
        account = get(meta, "annotations", "kubernetes.io/service-account.name")
        return [f"Secret {meta.get('name', '')!r} is of type {SA_TOKEN_SECRET} (for ServiceAccount {account!r}): "
                "a long-lived API token that never expires and that any pod can mount; remove this Secret"]
    pod = pod_template(resource_type, props)
    if pod is None or "service_account_token" in pod.opted_out():
        return []
    out = []
    value = pod.spec.get("automountServiceAccountToken")
    if not (is_unknown(value) or falsy(value) or (pod.partial and value is None)):
        state = "true" if truthy(value) else "not set (the default mounts it)"
        out.append(f"{pod.path}.automountServiceAccountToken is {state}; set it to false so the pod "
                   "gets no API credentials it does not need")
    for index, volume in iter_dicts(pod.spec.get("volumes")):
        for source_index, source in iter_dicts(get(volume, "projected", "sources")):
            if source.get("serviceAccountToken") is not None:
                out.append(f"{pod.path}.volumes[{index}] ({volume.get('name')!r}) projects a service-account token "
                           f"(projected.sources[{source_index}].serviceAccountToken) into the pod, whatever "
                           "automountServiceAccountToken says; remove that source")
    return out


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
    target = k8s_target(resource_type)
    if target is None or target.kind not in (("", "ConfigMap"), ("", "Secret")):
        return []
    kind = target.kind
    if kind == ("", "Secret") and props.get("type") == SA_TOKEN_SECRET:
        return []  # filled in by the token controller after creation (k8s-no-service-account-token)
    value = props.get("immutable")
    if is_unknown(value) or truthy(value) or (target.patch and value is None):
        return []
    return [f"{kind.kind} is not immutable; set immutable: true and name it by its content hash, "
            "so a change creates a new object (and a new release) instead of editing live config"]


def check_namespace_pod_security(resource_type: str, props: Mapping[str, Any],
                                 ctx: Context = NO_CONTEXT) -> list[str]:
    """Namespaces enforce Pod Security "restricted" in the API server."""
    target = k8s_target(resource_type)
    if target is None or target.kind != ("", "Namespace"):
        return []
    labels = get(props, "metadata", "labels")
    if is_unknown(labels):
        return []
    value = as_dict(labels).get(PSS_ENFORCE_LABEL)
    if is_unknown(value) or value == "restricted" or (target.patch and value is None):
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
            if record.reason is None:
                out.append(f"{where}.labels[{record.label!r}] opts out of {record.name} but has no reason, so it "
                           f"lifts nothing; add the annotation {reason_key!r}: {REASON_FIX}")
            else:
                out.append(f"{where}.labels[{record.label!r}] opts out of {record.name} with a reason that is not "
                           f"one ({record.problem}), so it lifts nothing; in the annotation {reason_key!r}, "
                           f"{REASON_FIX}")
    return out


def check_exec_lock_complete(resource_type: str, props: Mapping[str, Any],
                             ctx: Context = NO_CONTEXT) -> list[str]:
    """An exec lock (a ValidatingAdmissionPolicy named ``*exec-lock*``) refuses exec, attach,
    port-forward and ephemeral containers, fails closed, and is bound with ``Deny``."""
    target = k8s_target(resource_type)
    if target is None:
        return []
    if target.kind == ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"):
        if not is_exec_lock(props):
            return []
        return exec_lock_gaps(as_dict(props.get("spec")), partial=target.patch)
    if target.kind == ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"):
        policy_name = get(props, "spec", "policyName")
        actions = get(props, "spec", "validationActions")
        if target.patch and policy_name is None:
            policy_name = get(props, "metadata", "name")  # a binding patch names its binding, not always the policy
        if not isinstance(policy_name, str) or EXEC_LOCK_MARK not in policy_name:
            return []
        out = binding_gaps(as_dict(props.get("spec")))
        if is_unknown(actions) or "Deny" in as_list(actions) or (target.patch and actions is None):
            return out
        return [binding_message(policy_name, actions), *out]
    return []


def is_exec_lock(props: Mapping[str, Any]) -> bool:
    """A ValidatingAdmissionPolicy that is an exec lock: named ``*exec-lock*``, or matching exec
    (judged by what it matches, so a lock under another name is checked too)."""
    name = get(props, "metadata", "name")
    if isinstance(name, str) and EXEC_LOCK_MARK in name:
        return True
    return bool(_covered(get(props, "spec", "matchConstraints", "resourceRules")))


def _covered(rules_value: Any) -> set[tuple[str, str]]:
    """Which of :data:`EXEC_LOCK_RULES` a list of resource rules matches."""
    covered: set[tuple[str, str]] = set()
    for _, rule in iter_dicts(rules_value):
        operations = [str(o) for o in as_list(rule.get("operations"))]
        resources = [str(r) for r in as_list(rule.get("resources"))]
        groups = as_list(rule.get("apiGroups")) or [""]
        if "" not in groups and "*" not in groups:
            continue
        for operation, resource in EXEC_LOCK_RULES:
            if (operation in operations or "*" in operations) and (
                    resource in resources or "*" in resources or "pods/*" in resources):
                covered.add((operation, resource))
    return covered


def _cel_constant(expression: Any) -> bool | None:
    """The value of a CEL expression that is a boolean constant (``true``, ``!false``, ``1 == 1``),
    ``None`` for anything else (the pack does not evaluate CEL)."""
    if not isinstance(expression, str):
        return None
    text = expression.replace(" ", "").replace("\n", "")
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    negations = len(text) - len(text.lstrip("!"))
    text = text.lstrip("!")
    value: bool | None = None
    if text in ("true", "false"):
        value = text == "true"
    elif "==" in text and text.count("==") == 1:
        left, right = text.split("==")
        if left and left == right:  # anything equals itself
            value = True
    if value is None:
        return None
    return value if negations % 2 == 0 else not value


def _selector_set(selector: Any) -> bool:
    return isinstance(selector, Mapping) and any(as_list(selector.get(k)) or as_dict(selector.get(k))
                                                 for k in ("matchLabels", "matchExpressions"))


def _narrowing(spec: Mapping[str, Any], key: str) -> list[str]:
    """How ``spec[key]`` (a lock's ``matchConstraints``, a binding's ``matchResources``) keeps exec out."""
    out = []
    match = as_dict(spec.get(key))
    if _selector_set(match.get("objectSelector")):
        out.append(f"spec.{key}.objectSelector is set: exec, attach and port-forward requests carry no object "
                   "labels, so the lock never matches them; remove objectSelector (select pods by namespace)")
    excluded = _covered(match.get("excludeResourceRules"))
    if excluded:
        shown = ", ".join(f"{op} {res}" for op, res in EXEC_LOCK_RULES if (op, res) in excluded)
        out.append(f"spec.{key}.excludeResourceRules exclude {shown} from the lock; remove those rules")
    return out


def binding_gaps(spec: Mapping[str, Any]) -> list[str]:
    """What a binding of an exec lock does to narrow the lock to nothing (its ``matchResources``)."""
    return _narrowing(spec, "matchResources")


def binding_message(policy_name: str, actions: Any) -> str:
    """What a binding of an exec lock without ``Deny`` does, and the fix."""
    shown = as_list(actions)
    effect = ("records each exec in the audit log but lets it through" if shown == ["Audit"]
              else "warns but lets the exec through" if "Warn" in shown
              else "lets the exec through")
    return (f"the binding of exec lock {policy_name!r} has validationActions {shown}: it {effect}; "
            "set validationActions: [Deny] (add Audit next to it to keep the record)")


def exec_lock_gaps(spec: Mapping[str, Any], partial: bool = False) -> list[str]:
    """What an exec lock's ValidatingAdmissionPolicy spec fails to refuse (``partial``: a patch,
    judged only on the fields it sets)."""
    out = []
    if spec.get("failurePolicy") == "Ignore":
        out.append("spec.failurePolicy is Ignore (the lock fails open); set failurePolicy: Fail")
    out += _narrowing(spec, "matchConstraints")
    never = [str(c.get("name") or i) for i, c in iter_dicts(spec.get("matchConditions"))
             if _cel_constant(c.get("expression")) is False]
    if never:
        out.append(f"spec.matchConditions {never} are always false, so the lock matches no request; remove them")
    validations_value = spec.get("validations")
    expressions = [v.get("expression") for _, v in iter_dicts(validations_value)]
    if expressions and all(_cel_constant(e) is True for e in expressions):
        out.append("every expression of spec.validations is always true, so the lock refuses nothing; write a "
                   "validation that fails for exec (e.g. expression: 'false', or a break-glass group check)")
    rules = get(spec, "matchConstraints", "resourceRules")
    if is_unknown(rules) or (partial and rules is None):
        return out
    covered = _covered(rules)
    missing = [f"{op} {res}" for op, res in EXEC_LOCK_RULES if (op, res) not in covered]
    if missing:
        out.append(f"spec.matchConstraints.resourceRules do not match {', '.join(missing)}; add a rule for "
                   "them (apiGroups [''], operations CONNECT on pods/exec, pods/attach, pods/portforward and "
                   "UPDATE on pods/ephemeralcontainers)")
    validations = spec.get("validations")
    if not as_list(validations) and not is_unknown(validations) and not (partial and validations is None):
        out.append("spec.validations is empty, so the policy refuses nothing; add a validation such as "
                   "expression: 'false'")
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


# --- in-place changes, replacement, secrets, exposure ------------------------------------

IN_PLACE_OPT_OUT = "in_place_update"
PATCH_BENIGN = ("metadata", "spec.replicas")
"""What a patch of a running workload may set: labels, annotations and the scale."""
CONFIG_CONTENT = ("data", "binaryData", "stringData", "immutable", "type")


def _leaf_paths(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, Mapping) and value:
        out: list[str] = []
        for key, item in value.items():
            if key in ("apiVersion", "kind"):
                continue
            out += _leaf_paths(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    return [prefix] if prefix else []


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root + ".") for root in roots)


def _object_name(props: Mapping[str, Any]) -> str:
    namespace, name = get(props, "metadata", "namespace"), get(props, "metadata", "name")
    name = name if isinstance(name, str) else "?"
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name


def _own_opt_outs(props: Mapping[str, Any]) -> set[str]:
    meta = as_dict(props.get("metadata"))
    return valid_opt_outs(as_dict(meta.get("labels")), as_dict(meta.get("annotations")))


def check_no_in_place_patch(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No ``*Patch`` changes running compute or the config under it in place.

    A patch of a Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
    Job or CronJob (any API version) may set only metadata and ``spec.replicas``; a
    ConfigMapPatch/SecretPatch may not change the content. Anything else edits what a running
    release runs, which is what this project forbids. Opt-out ``in_place_update`` (on the patch).
    """
    target = k8s_target(resource_type)
    if target is None or not target.patch:
        return []
    kind = target.kind
    if kind in RUNNING_KINDS:
        changed = [path for path in _leaf_paths(props) if not _under(path, PATCH_BENIGN)]
        effect = "running compute would be modified instead of replaced"
        fix = (f"declare the {kind.kind} in this program and ship the change as a new release beside the "
               "running one")
    elif kind in (("", "ConfigMap"), ("", "Secret")):
        changed = [path for path in _leaf_paths(props) if _under(path, CONFIG_CONTENT)]
        effect = "running pods would read changed config without a new release"
        fix = f"create a new immutable {kind.kind} named by its content hash and point a new release at it"
    else:
        return []
    if not changed or IN_PLACE_OPT_OUT in _own_opt_outs(props):
        return []
    shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
    return [f"{kind.kind}Patch of {_object_name(props)} changes it in place ({shown}): {effect}; {fix}"]


def check_replaced_by_rollout(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Workloads are replaced by a rollout when their pod template changes.

    Refused: a bare Pod, a ReplicaSet or ReplicationController (never roll), a StatefulSet or
    DaemonSet with ``updateStrategy: OnDelete``, a StatefulSet ``rollingUpdate.partition``
    above 0 (pods below it keep the old spec) and a paused Deployment. A Deployment with
    ``strategy: Recreate`` is replaced (with downtime) and passes. Nor may the resource's
    ``ignore_changes`` option cover the pod template (a new release would never reach the pods).
    Opt-out ``in_place_update``.
    """
    target = k8s_target(resource_type)
    if target is None or target.kind not in RUNNING_KINDS:
        return []
    if IN_PLACE_OPT_OUT in _own_opt_outs(props):
        return []
    kind, patch = target.kind, target.patch
    name = _object_name(props)
    out = []
    if kind == ("", "Pod") and not patch:
        out.append(f"Pod {name} is a bare pod: nothing replaces it when it changes or fails; run it from a "
                   "Deployment (or a Job for a task that finishes)")
    elif kind in (("apps", "ReplicaSet"), ("", "ReplicationController")) and not patch:
        out.append(f"{kind.kind} {name} never replaces its running pods when the template changes; use a "
                   "Deployment")
    if kind in (("apps", "StatefulSet"), ("apps", "DaemonSet")):
        strategy = get(props, "spec", "updateStrategy", "type")
        if strategy == "OnDelete":
            out.append(f"{kind.kind} {name} has spec.updateStrategy.type OnDelete: running pods keep the old "
                       "spec until someone deletes them; set updateStrategy.type: RollingUpdate")
    if kind == ("apps", "StatefulSet"):
        partition = get(props, "spec", "updateStrategy", "rollingUpdate", "partition")
        if isinstance(partition, (int, float)) and not isinstance(partition, bool) and partition > 0:
            out.append(f"StatefulSet {name} has spec.updateStrategy.rollingUpdate.partition {int(partition)}: "
                       f"pods with an ordinal below {int(partition)} keep the old spec; remove partition")
    if kind == ("apps", "Deployment") and truthy(get(props, "spec", "paused")):
        out.append(f"Deployment {name} has spec.paused true: a new pod template is not rolled out; remove "
                   "spec.paused")
    template_root = _POD_PATHS[kind][0][:-1] or ("spec",)  # ("spec", "template"); a Pod's own spec
    ignored = [path for path in ctx.ignore_changes if _hides_template(path, ".".join(template_root))]
    if ignored:
        out.append(f"{kind.kind} {name} has ignore_changes on {', '.join(ignored)}: a new release's pod template "
                   "would never reach the running pods; remove those paths from ignore_changes")
    return out


def _hides_template(path: str, template: str) -> bool:
    """An ignore_changes path that covers (part of) the pod template: ``spec``, ``spec.template...``."""
    normalised = path.replace("[", ".").replace("]", "").replace('"', "").strip(".")
    return normalised in ("*", "spec") or normalised == template or normalised.startswith(template + ".") \
        or template.startswith(normalised + ".")


def _shown_name(name: Any) -> str:
    return repr(name) if isinstance(name, str) else "(unnamed)"


def _credential_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    kind = credential_kind(value)
    return f"holds {kind}" if kind else None


def check_no_plaintext_secret(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No secret in clear where pods read it: env ``value``, command and args of every
    container, and ConfigMap data (what ``envFrom``/``configMap`` volumes load).

    The very rules of the components (``immutable_infra.rules``): a secret-looking name
    (``DB_PASSWORD``) with a plain value, or a value holding a known credential format (an
    AWS key, a private key, a token, a URL with a password). Values are never echoed.
    """
    target = k8s_target(resource_type)
    if target is None:
        return []
    out = _metadata_secrets(props)
    if target.kind == ("", "ConfigMap"):
        for section in ("data", "binaryData"):
            for key, value in as_dict(props.get(section)).items():
                if looks_like_secret_name(key) and isinstance(value, str) and value:
                    out.append(f"ConfigMap {_object_name(props)}: {section}[{key!r}] looks like a secret kept in "
                               "clear in a ConfigMap (which every reader of the namespace sees); move it to an "
                               "immutable Secret mounted as a file")
                    continue
                problem = _credential_problem(_decoded(value) if section == "binaryData" else value)
                if problem:
                    out.append(f"ConfigMap {_object_name(props)}: {section}[{key!r}] {problem} in clear"
                               f"{' (base64 is an encoding, not a protection)' if section == 'binaryData' else ''}; "
                               "move it to an immutable Secret mounted as a file")
        return out
    pod = pod_template(resource_type, props)
    if pod is None:
        return out
    out += _metadata_secrets(pod.metadata, pod.path.removesuffix(".spec") + ".metadata") if pod.path != "spec" else []
    for c in containers(pod):
        for index, env in iter_dicts(c.data.get("env")):
            name, value = env.get("name"), env.get("value")
            source = env.get("valueFrom")
            if isinstance(name, str) and looks_like_secret_name(name) and isinstance(source, Mapping):
                if source.get("configMapKeyRef") is not None:
                    out.append(f"{c.label}: env[{index}] ({name!r}) looks like a secret and is read from a "
                               "ConfigMap (kept in clear, readable by every reader of the namespace); move it to "
                               "a Secret mounted as a file")
                elif "annotations" in str(get(source, "fieldRef", "fieldPath")):
                    out.append(f"{c.label}: env[{index}] ({name!r}) looks like a secret and is read from the pod's "
                               "annotations (kept in clear in the object); move it to a Secret mounted as a file")
            if not isinstance(value, str) or not value:
                continue  # valueFrom (a Secret or ConfigMap reference) or unknown
            if isinstance(name, str) and looks_like_secret_name(name):
                out.append(f"{c.label}: env[{index}] ({name!r}) looks like a secret and has its value in clear "
                           "in the spec (and in the state); move it to a Secret mounted as a file")
            elif problem := _credential_problem(value):
                out.append(f"{c.label}: env[{index}] ({_shown_name(name)}) {problem} in clear; move it to a "
                           "Secret mounted as a file")
        for field in ("command", "args"):
            for index, arg in enumerate(as_list(c.data.get(field))):
                if not isinstance(arg, str):
                    continue
                flag, eq, value = arg.partition("=")
                if eq and value and flag.startswith("-") and looks_like_secret_name(flag):
                    out.append(f"{c.label}: {field}[{index}] passes {flag} with its value in clear; read it "
                               "from a Secret mounted as a file (e.g. a --*-file flag)")
                elif problem := _credential_problem(arg):
                    out.append(f"{c.label}: {field}[{index}] {problem} in clear; read it from a Secret mounted "
                               "as a file")
    return out


SYSTEM_DOMAINS = ("immutable.dev", "pulumi.com", "kubernetes.io", "k8s.io", "helm.sh")
"""Annotation/label key prefixes (and their subdomains) written by tools, never by a user holding a
secret: an opt-out reason ``...-service_account_token``, or ``exec-lock-exempt.immutable.dev/token-api``,
is not a token."""


def _decoded(value: Any) -> Any:
    """A ``binaryData`` value as text (it is base64); the raw value when it does not decode."""
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", errors="replace")
    except ValueError:
        return value


def _metadata_secrets(props: Mapping[str, Any], where: str = "metadata") -> list[str]:
    """Credentials in an object's labels or annotations (stored and shown in clear by every
    ``kubectl get``), and values under secret-looking annotation keys."""
    meta = as_dict(props.get("metadata")) if where == "metadata" else as_dict(props)
    out = []
    for section in ("annotations", "labels"):
        for key, value in as_dict(meta.get(section)).items():
            if not isinstance(value, str) or not value:
                continue
            domain = key.rsplit("/", 1)[0] if "/" in key else ""
            system = any(domain == d or domain.endswith("." + d) for d in SYSTEM_DOMAINS)
            if kind := credential_kind(value):
                out.append(f"{where}.{section}[{key!r}] holds {kind} in clear (every reader of the object sees it); "
                           "move it to a Secret mounted as a file")
            elif section == "annotations" and not system and looks_like_secret_name(key.rsplit("/", 1)[-1]):
                out.append(f"{where}.{section}[{key!r}] looks like a secret kept in clear in an annotation; move it "
                           "to a Secret mounted as a file")
    return out


EXPOSED_TYPES = frozenset({"LoadBalancer", "NodePort"})
EXPOSURE_OPT_OUT = "exposed_service"


def check_service_exposure(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """Services stay inside the cluster: no ``LoadBalancer`` or ``NodePort`` type and no
    ``externalIPs`` without an ``exposed_service`` opt-out (the public entry is an Ingress
    with TLS, or a reviewed exception)."""
    target = k8s_target(resource_type)
    if target is None:
        return []
    if target.kind in (("", "Endpoints"), ("discovery.k8s.io", "EndpointSlice")):
        return _endpoint_aliases(target.kind.kind, props)
    if target.kind != ("", "Service"):
        return []
    external_name = get(props, "spec", "externalName")
    if isinstance(external_name, str) and (reached := rules.metadata_address(external_name)):
        return [f"Service {_object_name(props)} aliases {reached}: every caller of the Service (an Ingress "
                "included) would reach it; remove the Service (no opt-out lifts this)"]
    if EXPOSURE_OPT_OUT in _own_opt_outs(props):
        return []
    out = []
    service_type = get(props, "spec", "type")
    if service_type == "ExternalName" or (isinstance(external_name, str) and external_name):
        out.append(f"Service {_object_name(props)} has type ExternalName ({external_name!r}): in-cluster callers are "
                   "sent outside the cluster under an internal name; call the external name directly (an egress "
                   "allowance), or record an exposed_service opt-out with a reason")
    if isinstance(service_type, str) and service_type in EXPOSED_TYPES:
        reach = "on every node's address" if service_type == "NodePort" else "through an external load balancer"
        out.append(f"Service {_object_name(props)} has type {service_type}: it is reachable from outside the "
                   f"cluster {reach}; set type: ClusterIP and publish it through an Ingress with TLS")
    external = get(props, "spec", "externalIPs")
    if as_list(external):
        out.append(f"Service {_object_name(props)} sets spec.externalIPs {as_list(external)}: the nodes accept "
                   "traffic for those addresses; remove externalIPs")
    return out


def _endpoint_aliases(kind: str, props: Mapping[str, Any]) -> list[str]:
    """Endpoints/EndpointSlices that point a Service at the node itself or a cloud metadata service."""
    addresses: list[Any] = []
    if kind == "Endpoints":
        for _, subset in iter_dicts(props.get("subsets")):
            addresses += [a.get("ip") for _, a in iter_dicts(subset.get("addresses"))]
            addresses += [a.get("ip") for _, a in iter_dicts(subset.get("notReadyAddresses"))]
    else:
        for _, endpoint in iter_dicts(props.get("endpoints")):
            addresses += as_list(endpoint.get("addresses"))
    out = []
    for address in addresses:
        if isinstance(address, str) and (reached := rules.metadata_address(address)):
            out.append(f"{kind} {_object_name(props)} points a Service at {reached}; remove the address (no opt-out "
                       "lifts this)")
    return out


PLAIN_HTTP_OPT_OUT = "plain_http_ingress"


def check_ingress_tls(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """An Ingress serves every host it routes over TLS: ``spec.tls`` lists each host of
    ``spec.rules`` (an Ingress with no host is served for every name: it needs a ``tls`` entry
    without hosts). What the ContainerService refuses without ``tls_secret``. Opt-out
    ``plain_http_ingress`` (on the Ingress)."""
    target = k8s_target(resource_type)
    if target is None or target.kind not in (("networking.k8s.io", "Ingress"), ("extensions", "Ingress")):
        return []
    spec = props.get("spec")
    if is_unknown(spec) or PLAIN_HTTP_OPT_OUT in _own_opt_outs(props):
        return []
    tls = as_list(get(props, "spec", "tls"))
    if target.patch and get(props, "spec", "rules") is None and get(props, "spec", "tls") is None:
        return []
    covered: set[str] = set()
    wildcard = False
    for _, entry in iter_dicts(tls):
        hosts = entry.get("hosts")
        if is_unknown(hosts):
            return []
        if not as_list(hosts):
            wildcard = True
        covered |= {str(h) for h in as_list(hosts)}
    hosts = []
    for _, rule in iter_dicts(get(props, "spec", "rules")):
        host = rule.get("host")
        if is_unknown(host):
            continue
        hosts.append(host if isinstance(host, str) and host else "(every host)")
    if get(props, "spec", "defaultBackend") is not None and not hosts:
        hosts.append("(every host)")
    plain = [h for h in hosts if not wildcard and h not in covered
             and not any(c.startswith("*.") and h.endswith(c[1:]) and h.count(".") == c.count(".") for c in covered)]
    if not plain:
        return []
    return [f"Ingress {_object_name(props)} serves {', '.join(dict.fromkeys(plain))} over plain HTTP (no spec.tls entry "
            "for it): credentials and sessions cross the network in clear; add spec.tls with those hosts and a "
            "certificate Secret, or record a plain_http_ingress opt-out with a reason"]
