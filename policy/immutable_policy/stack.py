"""Stack-level checks: they need to see every resource of the stack at once.

Each ``check_*`` takes the stack's resources as plain mappings
``{"type": ..., "props": {...}, "urn": ..., "provider": {...provider inputs...}}`` and a
config mapping, and returns :class:`Finding` s (a message and the URN it is about, ``None``
for the stack as a whole).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from . import aws, docker
from .common import (
    RELEASE_KEY,
    ROLE_KEY,
    UNKNOWN,
    as_dict,
    as_list,
    get,
    is_unknown,
    iter_dicts,
    k8s_kind,
    tags_map,
    valid_opt_outs,
    valid_release,
)
from .kubernetes import (
    EXEC_LOCK_MARK,
    WORKLOAD_KINDS,
    exec_lock_gaps,
    pod_template,
    resolve_namespace,
)

StackResource = Mapping[str, Any]
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
DEFAULT_SERVICE_LABELS = ("app.kubernetes.io/name", "immutable.dev/app", "immutable.dev/service", "app")


class Finding(NamedTuple):
    message: str
    urn: str | None


def _type(resource: StackResource) -> str:
    return str(resource.get("type", ""))


def _props(resource: StackResource) -> dict[str, Any]:
    return as_dict(resource.get("props"))


def _urn(resource: StackResource) -> str | None:
    urn = resource.get("urn")
    return urn if isinstance(urn, str) and urn else None


def _provider(resource: StackResource) -> dict[str, Any]:
    return as_dict(resource.get("provider"))


def _label(resource: StackResource) -> str:
    name = resource.get("name")
    return f"{_type(resource)} {name!r}" if name else _type(resource)


def release_labels(resource: StackResource) -> list[dict[str, Any]]:
    """The label/tag maps of a compute resource where a release id may be recorded.

    ``[]`` when the resource is not compute; a map may hold :data:`UNKNOWN` values.
    """
    rtype, props = _type(resource), _props(resource)
    kind = k8s_kind(rtype)
    if kind is not None:
        if kind not in WORKLOAD_KINDS:
            return []
        maps = [_label_map(get(props, "metadata", "labels"))]
        pod = pod_template(rtype, props)
        if pod is not None:
            maps.append(_label_map(pod.metadata.get("labels")))
        return maps
    if rtype == aws.AUTOSCALING_GROUP:
        return [_label_map(props.get("tags"))]
    if rtype in aws.COMPUTE_TYPES:
        if is_unknown(props.get("tags")):
            return [_label_map(UNKNOWN)]
        return [aws.resource_tags(props, _provider(resource))]
    if rtype in docker.COMPUTE_TYPES:
        return [_label_map(props.get("labels"))]
    return []


def _label_map(value: Any) -> dict[str, Any]:
    """Labels/tags as a map; a map that is unknown during preview may hold anything."""
    if is_unknown(value):
        return {RELEASE_KEY: UNKNOWN, ROLE_KEY: UNKNOWN}
    return tags_map(value)


def is_compute(resource: StackResource) -> bool:
    rtype = _type(resource)
    kind = k8s_kind(rtype)
    if kind is not None:
        return kind in WORKLOAD_KINDS
    return rtype in aws.COMPUTE_TYPES or rtype in docker.COMPUTE_TYPES


def release_of(resource: StackResource) -> tuple[str | None, bool]:
    """``(release id, known)``: the first valid id in the resource's labels/tags."""
    unknown = False
    for labels in release_labels(resource):
        value = labels.get(RELEASE_KEY)
        if is_unknown(value):
            unknown = True
        elif valid_release(value):
            return value, True
    return None, not unknown


def check_release_membership(resources: Sequence[StackResource],
                             config: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every compute resource belongs to a release: it carries ``immutable.dev/release``
    (8 hex characters) as a label (Kubernetes workloads, on the object or its pod template),
    tag (AWS launch templates, groups, instances; provider default tags count) or Docker label."""
    out = []
    for resource in resources:
        if not is_compute(resource):
            continue
        release, known = release_of(resource)
        if release is None and known:
            found = [labels.get(RELEASE_KEY) for labels in release_labels(resource) if RELEASE_KEY in labels]
            problem = f"has {RELEASE_KEY}={found[0]!r}, not 8 hex characters" if found else f"has no {RELEASE_KEY}"
            out.append(Finding(f"{_label(resource)} {problem}; label/tag every compute resource with the "
                               "release id (the content hash of what it runs) so it can be traced, "
                               "swapped and rolled back as one release", _urn(resource)))
    return out


def _service_key(resource: StackResource, labels: Mapping[str, Any], keys: Sequence[str]) -> str:
    kind = k8s_kind(_type(resource))
    prefix = ""
    if kind is not None:
        namespace, _ = resolve_namespace(_props(resource), _provider(resource))
        prefix = f"{namespace}/" if namespace else ""
    for key in keys:
        value = labels.get(key)
        if isinstance(value, str) and value:
            return prefix + value
    return prefix + "(no service label)"


def check_max_kept_releases(resources: Sequence[StackResource],
                            config: Mapping[str, Any] | None = None) -> list[Finding]:
    """No service keeps more than ``maxKeptReleases`` releases labelled ``immutable.dev/role: kept``.

    Services are told apart by the first of ``serviceLabels`` present (and, on Kubernetes,
    by namespace).
    """
    config = config or {}
    limit = int(config.get("maxKeptReleases", 2))
    keys = [str(k) for k in as_list(config.get("serviceLabels"))] or list(DEFAULT_SERVICE_LABELS)
    kept: dict[str, dict[str, str | None]] = defaultdict(dict)
    for resource in resources:
        label_maps = release_labels(resource)
        merged: dict[str, Any] = {}
        for labels in reversed(label_maps):  # the resource's own labels win over its pod template's
            merged.update({k: v for k, v in labels.items() if not is_unknown(v)})
        if merged.get(ROLE_KEY) != "kept":
            continue
        release = merged.get(RELEASE_KEY)
        if not valid_release(release):
            continue
        kept[_service_key(resource, merged, keys)].setdefault(str(release), _urn(resource))
    out = []
    for service, releases in sorted(kept.items()):
        if len(releases) > limit:
            ids = sorted(releases)
            out.append(Finding(f"service {service} keeps {len(ids)} releases ({', '.join(ids)}); at most "
                               f"{limit} may be kept (remove the oldest or raise maxKeptReleases)", None))
    return out


def _workload_opted_out(resource: StackResource, name: str) -> bool:
    pod = pod_template(_type(resource), _props(resource))
    return pod is not None and name in pod.opted_out()


def check_namespace_network_policy(resources: Sequence[StackResource],
                                   config: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every namespace the stack creates or runs workloads in has a NetworkPolicy in the stack
    (CKV2_K8S_6): start from default deny, then allow what the service declares."""
    declared: dict[str, StackResource] = {}
    used: dict[str, StackResource] = {}
    covered: set[str] = set()
    undecidable = False
    for resource in resources:
        kind = k8s_kind(_type(resource))
        if kind is None:
            continue
        props = _props(resource)
        if kind == ("", "Namespace"):
            name = get(props, "metadata", "name")
            meta = as_dict(props.get("metadata"))
            exempt = valid_opt_outs(as_dict(meta.get("labels")), as_dict(meta.get("annotations")))
            if isinstance(name, str) and name and "network_policy" not in exempt:
                declared.setdefault(name, resource)
        elif kind == ("networking.k8s.io", "NetworkPolicy"):
            namespace, _ = resolve_namespace(props, _provider(resource))
            if namespace is None:
                undecidable = True
            else:
                covered.add(namespace)
        elif kind in WORKLOAD_KINDS and not _workload_opted_out(resource, "network_policy"):
            namespace, _ = resolve_namespace(props, _provider(resource))
            if namespace is not None:
                used.setdefault(namespace, resource)
    if undecidable:
        return []  # a NetworkPolicy's namespace is not known until the update
    out = []
    for namespace in sorted(set(declared) | set(used)):
        if namespace in covered:
            continue
        resource = declared.get(namespace) or used[namespace]
        out.append(Finding(f"namespace {namespace!r} has no NetworkPolicy in this stack; add a default-deny "
                           "policy (podSelector: {}, policyTypes: [Ingress, Egress]) and the allowances the "
                           "services need", _urn(resource)))
    return out


def _selector_namespaces(selector: Any) -> set[str] | None:
    """Namespaces a namespaceSelector pins by name; ``None`` when it does not pin (all match)."""
    if not isinstance(selector, Mapping) or not selector:
        return None
    names: set[str] = set()
    pinned = False
    value = get(selector, "matchLabels", NAMESPACE_LABEL)
    if isinstance(value, str):
        names.add(value)
        pinned = True
    for _, expr in iter_dicts(selector.get("matchExpressions")):
        if expr.get("key") == NAMESPACE_LABEL and expr.get("operator") == "In":
            names |= {str(v) for v in as_list(expr.get("values"))}
            pinned = True
    return names if pinned else None


def check_exec_lock_present(resources: Sequence[StackResource],
                            config: Mapping[str, Any] | None = None) -> list[Finding]:
    """Workloads run under an exec lock: a complete ``*exec-lock*`` ValidatingAdmissionPolicy,
    bound with ``Deny``, that covers their namespace; or an ``exec_lock`` opt-out with a reason."""
    locks: dict[str, set[str] | None] = {}  # policy name -> namespaces (None: all)
    bound: set[str] = set()
    workloads: list[tuple[str, StackResource]] = []
    undecidable = False
    for resource in resources:
        kind = k8s_kind(_type(resource))
        if kind is None:
            continue
        props = _props(resource)
        if kind == ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"):
            name = get(props, "metadata", "name")
            if is_unknown(name):
                undecidable = True
            elif isinstance(name, str) and EXEC_LOCK_MARK in name and not exec_lock_gaps(as_dict(props.get("spec"))):
                locks[name] = _selector_namespaces(get(props, "spec", "matchConstraints", "namespaceSelector"))
        elif kind == ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"):
            policy = get(props, "spec", "policyName")
            actions = get(props, "spec", "validationActions")
            if is_unknown(policy):
                undecidable = True
            elif isinstance(policy, str) and (is_unknown(actions) or "Deny" in as_list(actions)):
                bound.add(policy)
        elif kind in WORKLOAD_KINDS and not _workload_opted_out(resource, "exec_lock"):
            namespace, _ = resolve_namespace(props, _provider(resource))
            if namespace is not None:
                workloads.append((namespace, resource))
    if undecidable:
        return []
    active = {name: namespaces for name, namespaces in locks.items() if name in bound}
    out = []
    for namespace, resource in workloads:
        if any(namespaces is None or namespace in namespaces for namespaces in active.values()):
            continue
        out.append(Finding(f"{_label(resource)} in namespace {namespace!r} runs without an exec lock: no "
                           "bound ValidatingAdmissionPolicy named '<service>-exec-lock' refuses exec, attach, "
                           "port-forward and ephemeral containers there (or record an exec_lock opt-out "
                           "with a reason)", _urn(resource)))
    return out
