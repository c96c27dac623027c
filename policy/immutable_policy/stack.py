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
    k8s_target,
    tags_map,
    valid_opt_outs,
    valid_release,
)
from .kubernetes import (
    WORKLOAD_KINDS,
    binding_gaps,
    binding_message,
    exec_lock_gaps,
    is_exec_lock,
    pod_template,
    resolve_namespace,
)
from .shared import rules

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


def _deny_all(spec: Mapping[str, Any], direction: str) -> bool:
    """The policy selects every pod and allows nothing in ``direction`` (Ingress/Egress)."""
    selector = spec.get("podSelector")
    if not isinstance(selector, Mapping) or any(selector.get(k) for k in ("matchLabels", "matchExpressions")):
        return False
    types = [str(t) for t in as_list(spec.get("policyTypes"))]
    if not types:  # Kubernetes' default: Ingress, plus Egress when egress rules are given
        types = ["Ingress"] + (["Egress"] if spec.get("egress") is not None else [])
    return direction in types and not as_list(spec.get(direction.lower()))


def _allows_everything(rule: Mapping[str, Any], peers_key: str) -> bool:
    """An ingress/egress rule that opens every port to every peer (an "allow all")."""
    if as_list(rule.get("ports")):
        return False
    peers = rule.get(peers_key)
    if not as_list(peers):
        return True  # no peers: all sources/destinations
    for _, peer in iter_dicts(peers):
        namespaces, pods = peer.get("namespaceSelector"), peer.get("podSelector")
        if isinstance(namespaces, Mapping) and not namespaces and not (isinstance(pods, Mapping) and pods):
            return True  # every pod of every namespace
        cidr = get(peer, "ipBlock", "cidr")
        if cidr in ("0.0.0.0/0", "::/0") and not as_list(get(peer, "ipBlock", "except")):
            return True
    # An open range written as several smaller ones (0.0.0.0/1 + 128.0.0.0/1), or a wide public one.
    open_ranges = [get(peer, "ipBlock", "cidr") for _, peer in iter_dicts(peers)
                   if isinstance(get(peer, "ipBlock", "cidr"), str) and not as_list(get(peer, "ipBlock", "except"))]
    return rules.open_to_internet(open_ranges) is not None


def network_policy_opens_all(spec: Mapping[str, Any]) -> list[str]:
    """The directions (``ingress``/``egress``) a NetworkPolicy opens to everything."""
    out = []
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        if any(_allows_everything(rule, peers_key) for _, rule in iter_dicts(spec.get(direction))):
            out.append(direction)
    return out


def check_namespace_network_policy(resources: Sequence[StackResource],
                                   config: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every namespace the stack creates or runs workloads in is default deny (CKV2_K8S_6): a
    NetworkPolicy in the stack selects every pod (``podSelector: {}``) and allows nothing for
    both Ingress and Egress, and no policy there opens everything again (an allow-all rule
    undoes the deny, since policies add up). The services' own allowances come on top."""
    declared: dict[str, StackResource] = {}
    used: dict[str, StackResource] = {}
    deny: dict[str, set[str]] = defaultdict(set)
    with_policy: set[str] = set()
    open_all: dict[str, list[tuple[StackResource, list[str]]]] = defaultdict(list)
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
            spec = props.get("spec")
            if namespace is None or is_unknown(spec):
                undecidable = True
                continue
            spec = as_dict(spec)
            with_policy.add(namespace)
            for direction in ("Ingress", "Egress"):
                if _deny_all(spec, direction):
                    deny[namespace].add(direction)
            opened = network_policy_opens_all(spec)
            if opened:
                open_all[namespace].append((resource, opened))
        elif kind in WORKLOAD_KINDS and not _workload_opted_out(resource, "network_policy"):
            namespace, _ = resolve_namespace(props, _provider(resource))
            if namespace is not None:
                used.setdefault(namespace, resource)
    if undecidable:
        return []  # a NetworkPolicy's namespace or spec is not known until the update
    out = []
    for namespace in sorted(set(declared) | set(used)):
        resource = declared.get(namespace) or used[namespace]
        if namespace == "default":
            # No advice to add a policy there: k8s-no-default-namespace refuses anything placed in it.
            out.append(Finding(f"{_label(resource)} runs in namespace 'default', which has no default-deny "
                               "NetworkPolicy; move it to a namespace of your own (set metadata.namespace) and "
                               "give that namespace a default-deny policy", _urn(resource)))
            continue
        for policy, opened in open_all.get(namespace, []):
            out.append(Finding(f"NetworkPolicy {get(_props(policy), 'metadata', 'name')!r} in namespace "
                               f"{namespace!r} allows all {' and all '.join(opened)} traffic (a rule with no "
                               "ports whose peers cover everyone: none listed, every namespace, or the whole "
                               "internet in one or several ranges), which undoes default deny; list the peers (podSelector, "
                               "namespaceSelector) and ports that are needed", _urn(policy)))
        missing = {"Ingress", "Egress"} - deny.get(namespace, set())
        if missing:
            what = ("has no NetworkPolicy in this stack" if namespace not in with_policy
                    else f"has no default-deny NetworkPolicy for {' and '.join(sorted(missing))}")
            out.append(Finding(f"namespace {namespace!r} {what}; add a default-deny policy (podSelector: {{}}, "
                               "policyTypes: [Ingress, Egress], no rules) and the allowances the services need",
                               _urn(resource)))
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
    bound with ``Deny``, that covers their namespace; or an ``exec_lock`` opt-out with a reason.

    When a lock is there but does not hold, the message says why (not bound, bound with Audit
    or Warn only, incomplete, or another namespace) instead of claiming there is none.
    """
    locks: dict[str, tuple[set[str] | None, list[str]]] = {}  # name -> (namespaces or None: all, gaps)
    bindings: dict[str, list[Binding]] = defaultdict(list)  # policy name -> its bindings
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
            elif isinstance(name, str) and is_exec_lock(props):
                namespaces = _selector_namespaces(get(props, "spec", "matchConstraints", "namespaceSelector"))
                locks[name] = (namespaces, exec_lock_gaps(as_dict(props.get("spec"))))
        elif kind == ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"):
            policy = get(props, "spec", "policyName")
            if is_unknown(policy):
                undecidable = True
            elif isinstance(policy, str):
                spec = as_dict(props.get("spec"))
                bindings[policy].append(Binding(get(props, "spec", "validationActions"),
                                                _selector_namespaces(get(spec, "matchResources", "namespaceSelector")),
                                                binding_gaps(spec)))
        elif kind in WORKLOAD_KINDS and not _workload_opted_out(resource, "exec_lock"):
            namespace, _ = resolve_namespace(props, _provider(resource))
            if namespace is not None:
                workloads.append((namespace, resource))
    if undecidable:
        return []

    out = []
    for namespace, resource in workloads:
        covering = [name for name, (namespaces, _) in locks.items() if namespaces is None or namespace in namespaces]
        if any(not locks[name][1] and _denies(bindings, name, namespace) for name in covering):
            continue
        out.append(Finding(f"{_label(resource)} in namespace {namespace!r} runs without an exec lock: "
                           f"{_why_no_lock(namespace, covering, locks, bindings)}", _urn(resource)))
    return out


class Binding(NamedTuple):
    """What a ValidatingAdmissionPolicyBinding of a lock does."""

    actions: Any
    """Its validationActions (maybe unknown)."""
    namespaces: set[str] | None
    """The namespaces its matchResources pins by name, ``None``: it does not narrow."""
    gaps: list[str]
    """How it narrows the lock to nothing (an objectSelector, excluded exec rules)."""

    def denies_in(self, namespace: str | None) -> bool:
        deny = is_unknown(self.actions) or "Deny" in as_list(self.actions)
        return deny and not self.gaps and (namespace is None or self.namespaces is None or namespace in self.namespaces)


def _denies(bindings: Mapping[str, list[Binding]], name: str, namespace: str | None = None) -> bool:
    return any(b.denies_in(namespace) for b in bindings.get(name, []))


def _why_no_lock(namespace: str, covering: list[str], locks: Mapping[str, tuple[set[str] | None, list[str]]],
                 bindings: Mapping[str, list[Binding]]) -> str:
    """The one reason the locks of the stack do not hold for ``namespace``, with its fix."""
    if namespace == "default":  # k8s-no-default-namespace refuses it there: no advice to lock 'default'
        return "move it to a namespace of your own (set metadata.namespace) that an exec lock covers"
    for name in covering:
        gaps = locks[name][1]
        if gaps:
            return f"exec lock {name!r} is incomplete ({'; '.join(gaps)})"
    for name in covering:
        if not bindings.get(name):
            return (f"exec lock {name!r} is not bound; add a ValidatingAdmissionPolicyBinding with policyName "
                    f"{name!r} and validationActions: [Deny]")
        if not _denies(bindings, name):
            first = bindings[name][0]
            return first.gaps[0] if first.gaps else binding_message(name, first.actions)
        if not _denies(bindings, name, namespace):
            return (f"the bindings of exec lock {name!r} narrow it to other namespaces (spec.matchResources."
                    f"namespaceSelector); add {namespace!r} to a binding's namespaceSelector or remove it")
    if locks:
        shown = ", ".join(f"{name!r} ({', '.join(sorted(ns or []))})" for name, (ns, _) in sorted(locks.items()))
        return (f"the exec locks of this stack cover other namespaces only: {shown}; add {namespace!r} to a lock's "
                "namespaceSelector (kubernetes.io/metadata.name)")
    return (f"the stack has no exec lock; add a ValidatingAdmissionPolicy named '{namespace}.exec-lock' (what a "
            "ServiceNamespace creates: one for the whole namespace) that refuses exec, attach, port-forward and "
            "ephemeral containers there, bound with validationActions: [Deny] (or record an exec_lock opt-out "
            "with a reason)")


def check_exec_lock_bound(resources: Sequence[StackResource],
                          config: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every exec lock of the stack is bound with Deny where it applies: joins each lock (a
    ValidatingAdmissionPolicy that matches exec, whatever its name) to its bindings. A lock with
    no binding, bound only with Audit or Warn, by bindings that narrow it to nothing (an
    objectSelector, excluded exec rules) or to namespaces the lock does not select, covers no pod."""
    locks: list[tuple[StackResource, str, set[str] | None]] = []
    bindings: dict[str, list[Binding]] = defaultdict(list)
    for resource in resources:
        target = k8s_target(_type(resource))
        if target is None or target.patch:
            continue
        props = _props(resource)
        if target.kind == ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"):
            name = get(props, "metadata", "name")
            if is_unknown(name) or is_unknown(props.get("spec")):
                return []
            if isinstance(name, str) and is_exec_lock(props):
                locks.append((resource, name, _selector_namespaces(
                    get(props, "spec", "matchConstraints", "namespaceSelector"))))
        elif target.kind == ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"):
            policy = get(props, "spec", "policyName")
            if is_unknown(policy) or is_unknown(props.get("spec")):
                return []
            if isinstance(policy, str):
                spec = as_dict(props.get("spec"))
                bindings[policy].append(Binding(spec.get("validationActions"),
                                                _selector_namespaces(get(spec, "matchResources", "namespaceSelector")),
                                                binding_gaps(spec)))
    out = []
    for resource, name, namespaces in locks:
        own = bindings.get(name, [])
        holding = [b for b in own if b.denies_in(None) and (
            namespaces is None or b.namespaces is None or namespaces & b.namespaces)]
        if holding:
            continue
        if not own:
            why = "no binding in this stack names it, so it refuses nothing"
        elif not any(b.denies_in(None) for b in own):
            first = own[0]
            why = first.gaps[0] if first.gaps else binding_message(name, first.actions)
        else:
            why = (f"its bindings apply it only to namespaces it does not select ({', '.join(sorted(namespaces or []))}); "
                   "align the binding's matchResources.namespaceSelector with the lock's")
        out.append(Finding(f"exec lock {name!r} covers no pod: {why}; bind it with validationActions: [Deny] "
                           f"(a ValidatingAdmissionPolicyBinding with policyName {name!r})", _urn(resource)))
    return out
