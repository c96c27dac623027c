"""RBAC: no workload identity gets the keys to the cluster.

A stack check (it needs the Roles of the stack to see what a binding grants): a RoleBinding
or ClusterRoleBinding (or its ``*Patch``) that gives a workload subject (a ServiceAccount,
the ``system:serviceaccounts*`` groups, or everyone: ``system:authenticated`` /
``system:unauthenticated``) a powerful built-in ClusterRole (``cluster-admin``, ``admin``,
``edit``) or a Role/ClusterRole of the stack whose rules use wildcards. A compromised pod
would then own the cluster or the namespace, and an immutable release could be edited from
inside. Human users and groups are not judged here (that is access management, not the
workload's footprint). Opt-out ``workload_admin`` on the binding.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .common import K8sTarget, as_dict, as_list, get, is_unknown, iter_dicts, k8s_target, valid_opt_outs
from .kubernetes import resolve_namespace
from .stack import Finding, StackResource, _label, _props, _provider, _type, _urn

RBAC = "rbac.authorization.k8s.io"
POWERFUL_CLUSTER_ROLES = {
    "cluster-admin": "full control of every object in the cluster",
    "admin": "read and write of everything in the namespace, Secrets, exec into pods and RoleBindings included",
    "edit": "write of workloads and reading of Secrets, exec into pods included",
}
WORKLOAD_GROUPS = ("system:serviceaccounts", "system:authenticated", "system:unauthenticated")
OPT_OUT = "workload_admin"


def _wildcards(rules: Any) -> str | None:
    """What is wildcarded in a role's rules (``verbs '*'``), ``None`` when nothing is."""
    for index, rule in iter_dicts(rules):
        # apiGroups '*' with named resources is common and bounded by the resources: not judged.
        for key in ("verbs", "resources", "nonResourceURLs"):
            if any(str(v) in ("*", "*/*") for v in as_list(rule.get(key))):
                return f"rules[{index}].{key} is '*'"
    return None


def _rbac_objects(resources: Sequence[StackResource]) -> Iterator[tuple[StackResource, K8sTarget, dict[str, Any]]]:
    """The RBAC objects of the stack (roles, bindings and their patches), with their kind and inputs."""
    for resource in resources:
        target = k8s_target(_type(resource))
        if target is not None and target.kind.group == RBAC:
            yield resource, target, _props(resource)


def _workload_subjects(subjects: Any) -> list[str]:
    out = []
    for _, subject in iter_dicts(subjects):
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount":
            namespace = subject.get("namespace")
            out.append(f"ServiceAccount {namespace}/{name}" if namespace else f"ServiceAccount {name}")
        elif kind == "Group" and isinstance(name, str) and name.startswith(WORKLOAD_GROUPS):
            out.append(f"group {name}")
    return out


def check_no_workload_admin(resources: Sequence[StackResource],
                            config: Mapping[str, Any] | None = None) -> list[Finding]:
    """No workload subject is bound to cluster-admin, admin, edit or a wildcard role."""
    roles: dict[tuple[str, str | None, str], str] = {}
    bindings: list[StackResource] = []
    for resource, target, props in _rbac_objects(resources):
        if target.kind.kind in ("Role", "ClusterRole") and not target.patch:
            name = get(props, "metadata", "name")
            wildcard = _wildcards(props.get("rules"))
            if isinstance(name, str) and wildcard:
                namespace = resolve_namespace(props, _provider(resource))[0] if target.kind.kind == "Role" else None
                roles[(target.kind.kind, namespace, name)] = wildcard
        elif target.kind.kind in ("RoleBinding", "ClusterRoleBinding"):
            bindings.append(resource)
    out = []
    for resource in bindings:
        props = _props(resource)
        meta = as_dict(props.get("metadata"))
        if OPT_OUT in valid_opt_outs(as_dict(meta.get("labels")), as_dict(meta.get("annotations"))):
            continue
        subjects = _workload_subjects(props.get("subjects"))
        ref_kind, ref_name = get(props, "roleRef", "kind"), get(props, "roleRef", "name")
        if not subjects or is_unknown(ref_name) or not isinstance(ref_name, str):
            continue
        grants = None
        if ref_kind == "ClusterRole" and ref_name in POWERFUL_CLUSTER_ROLES:
            grants = f"the built-in ClusterRole {ref_name!r} ({POWERFUL_CLUSTER_ROLES[ref_name]})"
        elif ref_kind == "ClusterRole" and ("ClusterRole", None, ref_name) in roles:
            grants = f"ClusterRole {ref_name!r}, whose {roles[('ClusterRole', None, ref_name)]}"
        elif ref_kind == "Role":
            namespace = resolve_namespace(props, _provider(resource))[0]
            if ("Role", namespace, ref_name) in roles:
                grants = f"Role {ref_name!r}, whose {roles[('Role', namespace, ref_name)]}"
        if grants:
            out.append(Finding(f"{_label(resource)} grants {', '.join(subjects)} {grants}: a compromised pod would "
                               "control what it can reach; bind a Role that lists only the verbs and resources the "
                               "workload uses", _urn(resource)))
    return out


# --- escalation and secret-reading paths (k8s-rbac-no-escalation) -----------------------------

READ = frozenset({"get", "list", "watch", "*"})
WRITE = frozenset({"create", "update", "patch", "delete", "deletecollection", "*"})
ANONYMOUS = {("User", "system:anonymous"), ("Group", "system:unauthenticated")}
AGGREGATE_LABEL = "rbac.authorization.k8s.io/aggregate-to-"
ADMISSION = "admissionregistration.k8s.io"
# (api groups, resources, verbs, what it gives): a rule matching all three grants the escalation.
DANGEROUS: tuple[tuple[frozenset[str], frozenset[str], frozenset[str], str], ...] = (
    (frozenset({RBAC}), frozenset({"roles", "clusterroles", "rolebindings", "clusterrolebindings"}),
     frozenset({"escalate", "bind"}), "escalate/bind: grant itself any right"),
    (frozenset({"", RBAC, "authentication.k8s.io"}), frozenset({"users", "groups", "serviceaccounts", "uids",
                                                                "userextras/scopes"}),
     frozenset({"impersonate"}), "impersonate: act as any user, group or service account"),
    (frozenset({RBAC}), frozenset({"roles", "clusterroles", "rolebindings", "clusterrolebindings"}), WRITE,
     "write RBAC: bind itself to any role"),
    (frozenset({""}), frozenset({"secrets"}), READ, "read Secrets: every credential they hold"),
    (frozenset({""}), frozenset({"pods/exec", "pods/attach", "pods/ephemeralcontainers", "pods/portforward"}),
     frozenset({"create", "get", "update", "patch", "*"}), "exec/attach/debug into running pods"),
    (frozenset({""}), frozenset({"nodes/proxy"}), frozenset({"get", "create", "*"}),
     "nodes/proxy: the kubelet API (exec in any pod of the node)"),
    (frozenset({""}), frozenset({"serviceaccounts/token"}), frozenset({"create", "*"}),
     "serviceaccounts/token create: a token of any service account"),
    (frozenset({"certificates.k8s.io"}), frozenset({"certificatesigningrequests/approval", "signers"}),
     frozenset({"update", "patch", "approve", "*"}), "approve certificates: a client certificate of any user"),
    (frozenset({ADMISSION}), frozenset({"validatingadmissionpolicies", "validatingadmissionpolicybindings",
                                        "validatingwebhookconfigurations", "mutatingwebhookconfigurations",
                                        "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"}), WRITE,
     "write admission policies: switch off the exec lock"),
)


def _matches(values: Any, wanted: frozenset[str], star: str = "*") -> bool:
    given = {str(v) for v in as_list(values)}
    return star in given or bool(given & wanted)


def dangerous_rules(rules: Any) -> list[str]:
    """What each rule of a Role/ClusterRole grants that escalates or reads secrets."""
    out = []
    for index, rule in iter_dicts(rules):
        groups = as_list(rule.get("apiGroups"))
        resources = {str(r) for r in as_list(rule.get("resources"))}
        for api_groups, kinds, verbs, what in DANGEROUS:
            if not (_matches(groups, api_groups) and _matches(rule.get("verbs"), verbs)):
                continue
            if "*" in resources or resources & kinds or any(r.endswith("/*") and r[:-2] + "/" in " ".join(kinds)
                                                           for r in resources):
                out.append(f"rules[{index}] ({what})")
                break
    return out


def _subjects(subjects: Any) -> tuple[list[str], list[str]]:
    """(workload subjects, anonymous subjects) of a binding."""
    anonymous = [f"{s.get('kind')} {s.get('name')}" for _, s in iter_dicts(subjects)
                 if (s.get("kind"), s.get("name")) in ANONYMOUS]
    return _workload_subjects(subjects), anonymous


def check_no_rbac_escalation(resources: Sequence[StackResource],
                             config: Mapping[str, Any] | None = None) -> list[Finding]:
    """No escalation or secret-reading path for workloads, and no binding for anonymous users.

    Joins each binding to the Role/ClusterRole of the stack it references: a workload subject
    (service account, ``system:serviceaccounts*``, ``system:authenticated``) may not get a role
    that escalates (``escalate``, ``bind``, ``impersonate``, RBAC or admission writes, tokens,
    certificate approval), reads Secrets, or reaches into pods (``pods/exec``, ``nodes/proxy``).
    ``system:anonymous``/``system:unauthenticated`` may get no role at all. A ClusterRole that
    aggregates such rules into ``view``/``edit``/``admin`` is refused on its own. Opt-out
    ``workload_admin`` on the binding (never for anonymous subjects) or the aggregated role.
    """
    roles: dict[tuple[str, str | None, str], list[str]] = {}
    out = []
    bindings: list[StackResource] = []
    for resource, target, props in _rbac_objects(resources):
        if target.kind.kind in ("Role", "ClusterRole"):
            name = get(props, "metadata", "name")
            found = dangerous_rules(props.get("rules"))
            if isinstance(name, str) and found and not target.patch:
                namespace = resolve_namespace(props, _provider(resource))[0] if target.kind.kind == "Role" else None
                roles[(target.kind.kind, namespace, name)] = found
            labels = as_dict(get(props, "metadata", "labels"))
            aggregated = sorted(k.removeprefix(AGGREGATE_LABEL) for k, v in labels.items()
                                if k.startswith(AGGREGATE_LABEL) and str(v).lower() == "true")
            if found and aggregated and OPT_OUT not in _own(props):
                out.append(Finding(f"{_label(resource)} adds {', '.join(found)} to the built-in role(s) "
                                   f"{', '.join(aggregated)} through aggregation labels: every holder of those "
                                   "roles gains them; remove the aggregate-to-* labels or those rules",
                                   _urn(resource)))
        elif target.kind.kind in ("RoleBinding", "ClusterRoleBinding"):
            bindings.append(resource)
    for resource in bindings:
        props = _props(resource)
        workload, anonymous = _subjects(props.get("subjects"))
        ref_kind, ref_name = get(props, "roleRef", "kind"), get(props, "roleRef", "name")
        if anonymous:
            out.append(Finding(f"{_label(resource)} binds {ref_kind} {ref_name!r} to {', '.join(anonymous)}: anyone who "
                               "reaches the API server gets it without credentials; remove those subjects (no opt-out "
                               "lifts this)", _urn(resource)))
        if not workload or not isinstance(ref_name, str) or OPT_OUT in _own(props):
            continue
        namespace = resolve_namespace(props, _provider(resource))[0] if ref_kind == "Role" else None
        found = roles.get((str(ref_kind), namespace, ref_name))
        if found:
            out.append(Finding(f"{_label(resource)} grants {', '.join(workload)} {ref_kind} {ref_name!r}, whose "
                               f"{'; '.join(found)}: a compromised pod would use it; bind a Role without those "
                               "verbs and resources", _urn(resource)))
    return out


def _own(props: Mapping[str, Any]) -> set[str]:
    meta = as_dict(props.get("metadata"))
    return valid_opt_outs(as_dict(meta.get("labels")), as_dict(meta.get("annotations")))
