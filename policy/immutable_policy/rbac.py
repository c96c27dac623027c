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

from collections.abc import Mapping, Sequence
from typing import Any

from .common import as_dict, as_list, get, is_unknown, iter_dicts, k8s_target, valid_opt_outs
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
    for resource in resources:
        target = k8s_target(_type(resource))
        if target is None or target.kind.group != RBAC:
            continue
        props = _props(resource)
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
