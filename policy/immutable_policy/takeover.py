"""Deploys that take over or rewrite running objects in place, and pods that run extra containers.

``k8s-no-takeover`` refuses what lets a ``pulumi up`` change objects it did not create, or
leave an old release running where nobody manages it:

- ``pulumi.com/patchForce: "true"`` on a ``*Patch`` resource: server-side apply then takes the
  fields of an object some other manager owns (the components set it on objects they create
  themselves, which is not a takeover);
- a ``*Patch`` of a Service (its selector moves live traffic to other pods), a NetworkPolicy,
  an admission policy or webhook, or an RBAC object, beyond its metadata: the running isolation,
  lock or rights are rewritten in place (workload and config patches: ``k8s-no-in-place-patch``);
- ``pulumi.com/deletionPropagationPolicy: orphan`` and ``helm.sh/resource-policy: keep``: when the
  object is deleted (an old release retired) its pods or the object itself keep running,
  unmanaged;
- a MutatingWebhookConfiguration or MutatingAdmissionPolicy that matches pods or workloads: it
  rewrites what runs after the program (and this pack) saw it.

Opt-out ``in_place_update`` on the object's own metadata.

``k8s-no-extra-containers`` refuses pod-template fields that exist to run more in a live pod:
``ephemeralContainers`` (debug containers, added to a running pod) and
``shareProcessNamespace: true`` (every container sees the others' processes, their memory and
root filesystems through ``/proc``). Opt-out ``exec_lock`` (the same break-glass).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import NO_CONTEXT, Context, as_dict, as_list, get, iter_dicts, k8s_target, truthy, valid_opt_outs
from .kubernetes import IN_PLACE_OPT_OUT, RUNNING_KINDS, _leaf_paths, _object_name, _under, pod_template

PATCH_FORCE = "pulumi.com/patchForce"
ORPHANING = {"pulumi.com/deletionPropagationPolicy": ("orphan",), "helm.sh/resource-policy": ("keep",)}
ADMISSION = "admissionregistration.k8s.io"
LIVE_KINDS = frozenset({
    ("", "Service"), ("networking.k8s.io", "NetworkPolicy"), (ADMISSION, "ValidatingAdmissionPolicy"),
    (ADMISSION, "ValidatingAdmissionPolicyBinding"), (ADMISSION, "ValidatingWebhookConfiguration"),
    (ADMISSION, "MutatingWebhookConfiguration"), (ADMISSION, "MutatingAdmissionPolicy"),
    (ADMISSION, "MutatingAdmissionPolicyBinding"), ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
})
"""Objects whose content is live isolation, traffic or rights: a patch rewrites them in place."""
POD_RESOURCES = frozenset({"pods", "pods/*", "*", "deployments", "statefulsets", "daemonsets", "replicasets",
                           "jobs", "cronjobs", "replicationcontrollers"})
EXTRA_CONTAINERS_OPT_OUT = "exec_lock"


def _own_opt_outs(props: Mapping[str, Any]) -> set[str]:
    meta = as_dict(props.get("metadata"))
    return valid_opt_outs(as_dict(meta.get("labels")), as_dict(meta.get("annotations")))


def _mutates_pods(props: Mapping[str, Any], kind: str) -> bool:
    if kind == "MutatingWebhookConfiguration":
        rules = [r for _, hook in iter_dicts(props.get("webhooks")) for _, r in iter_dicts(hook.get("rules"))]
    else:
        rules = [r for _, r in iter_dicts(get(props, "spec", "matchConstraints", "resourceRules"))]
    return any({str(x) for x in as_list(rule.get("resources"))} & POD_RESOURCES for rule in rules)


def check_no_takeover(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No deploy that takes over, rewrites in place, or orphans running objects (see the module)."""
    target = k8s_target(resource_type)
    if target is None or IN_PLACE_OPT_OUT in _own_opt_outs(props):
        return []
    name = f"{target.kind.kind} {_object_name(props)}"
    annotations = as_dict(get(props, "metadata", "annotations"))
    out = []
    if target.patch and truthy(annotations.get(PATCH_FORCE)):
        out.append(f"{target.kind.kind}Patch of {_object_name(props)} sets {PATCH_FORCE}: it takes over the fields "
                   "another manager owns on a running object; remove the annotation and declare the object in this "
                   "program")
    if target.patch and target.kind in LIVE_KINDS:
        changed = [path for path in _leaf_paths(props) if not _under(path, ("metadata",))]
        if changed:
            shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
            out.append(f"{target.kind.kind}Patch of {_object_name(props)} rewrites a running object in place "
                       f"({shown}); declare the {target.kind.kind} in this program and change it there")
    for key, values in ORPHANING.items():
        value = annotations.get(key)
        if isinstance(value, str) and value.lower() in values:
            what = "its pods keep running" if target.kind in RUNNING_KINDS else "the object stays in the cluster"
            out.append(f"{name} has {key}: {value}: when it is deleted (a release retired) {what}, unmanaged; remove "
                       "the annotation")
    if not target.patch and target.kind in ((ADMISSION, "MutatingWebhookConfiguration"),
                                            (ADMISSION, "MutatingAdmissionPolicy")) \
            and _mutates_pods(props, target.kind.kind):
        out.append(f"{name} mutates pods or workloads at admission: what runs would differ from what this program "
                   "declares (and from the release id); remove it, or record an in_place_update opt-out with a reason")
    return out


def check_no_extra_containers(resource_type: str, props: Mapping[str, Any], ctx: Context = NO_CONTEXT) -> list[str]:
    """No ephemeral containers in a pod template, no shared process namespace (see the module)."""
    pod = pod_template(resource_type, props)
    if pod is None or EXTRA_CONTAINERS_OPT_OUT in pod.opted_out():
        return []
    out = []
    if as_list(pod.spec.get("ephemeralContainers")):
        out.append(f"{pod.path}.ephemeralContainers runs debug containers inside the pod, beside the release's "
                   "own; remove them (or record an exec_lock opt-out with a reason)")
    if truthy(pod.spec.get("shareProcessNamespace")):
        out.append(f"{pod.path}.shareProcessNamespace is true: every container sees the others' processes, memory "
                   "and root filesystems (/proc/<pid>/root); remove it")
    return out


__all__ = ["check_no_extra_containers", "check_no_takeover"]
