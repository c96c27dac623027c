"""The immutability guard: which preview steps would modify running compute in place.

Pure: a parsed ``pulumi preview --json`` in, findings in plain words out. Replacing is
fine (a new pod, instance, group or config object beside the old one); changing what runs
*inside* an existing one is not:

- ``pod-patched``: a Pod updated in its spec (tolerations, deadlines...): the running pod changes.
- ``pods-not-replaced``: a pod template changes where the controller will not replace the pods
  (StatefulSet/DaemonSet with ``OnDelete``, a bare ReplicaSet or ReplicationController, a
  paused Deployment).
- ``release-patched``: a workload carrying a release id changes its pod template while the id
  stays, or a blue-green release's own Deployment (``<service>-<release>``) changes its pod
  template at all: the release itself would be modified.
- ``config-patched``: a ConfigMap or Secret whose content (or ``immutable`` flag) is updated in
  place under running pods.
- ``instance-patched``: a VM (EC2, GCE, Azure) or Docker container updated in place, beyond
  its tags.
- ``launch-template-without-refresh``: a launch template changes while no auto scaling group
  using it is replaced or refreshed (a mixed fleet).
- ``group-template-without-refresh``: an auto scaling group moves to another template version
  without an instance refresh.

Metadata-only updates (labels, annotations, tags), scale changes (``spec.replicas``, group
sizes) and Deployment rollouts (which replace pods) pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .steps import RELEASE_LABEL, Preview, Step, get_path, labels_of, path_under, pod_template_labels


@dataclass(frozen=True)
class Finding:
    rule: str
    urn: str
    type: str
    name: str
    message: str
    """One sentence in plain words: what would change in place and why that is refused."""
    paths: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


POD = "kubernetes:core/v1:Pod"
TEMPLATE_CONTROLLERS = {
    "kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet", "kubernetes:core/v1:ReplicationController",
}
NEVER_ROLLING = {"kubernetes:apps/v1:ReplicaSet", "kubernetes:core/v1:ReplicationController"}
CONFIG_OBJECTS = {"kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Secret"}
CONFIG_CONTENT = ("data", "binaryData", "stringData", "immutable", "type")
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
GROUP_TEMPLATE_PATHS = ("launchTemplate", "mixedInstancesPolicy", "launchConfiguration")

VM_BENIGN_PATHS: dict[str, tuple[str, ...]] = {
    "aws:ec2/instance:Instance": ("tags", "tagsAll", "volumeTags"),
    "aws:ec2/spotInstanceRequest:SpotInstanceRequest": ("tags", "tagsAll", "volumeTags"),
    "gcp:compute/instance:Instance": ("labels", "effectiveLabels", "terraformLabels", "description"),
    "azure-native:compute:VirtualMachine": ("tags",),
    "azure:compute/linuxVirtualMachine:LinuxVirtualMachine": ("tags",),
    "azure:compute/windowsVirtualMachine:WindowsVirtualMachine": ("tags",),
    "docker:index/container:Container": (),
}
"""Compute that runs in place, and the paths whose update leaves what runs untouched."""

METADATA_ONLY = ("metadata.labels", "metadata.annotations")


def check(preview: Preview) -> list[Finding]:
    """Every step of ``preview`` that would modify running compute in place."""
    findings: list[Finding] = []
    steps = preview.steps
    for step in steps:
        if step.op != "update":
            continue
        paths = step.changed_paths()
        if step.type == POD:
            findings += _pod(step, paths)
        elif step.type in TEMPLATE_CONTROLLERS:
            findings += _controller(step, paths)
        elif step.type in CONFIG_OBJECTS:
            findings += _config(step, paths)
        elif step.type in VM_BENIGN_PATHS:
            findings += _vm(step, paths)
        elif step.type == LAUNCH_TEMPLATE:
            findings += _launch_template(step, paths, steps)
        elif step.type == AUTOSCALING_GROUP:
            findings += _group(step, paths)
    return sorted(findings, key=lambda f: (f.name, f.urn, f.rule))  # the engine's step order varies


def _where(step: Step) -> str:
    namespace = get_path(step.inputs(), "metadata", "namespace")
    name = get_path(step.inputs(), "metadata", "name") or step.name
    return f"{namespace}/{name}" if namespace else str(name)


def _shown(paths: Sequence[str], limit: int = 4) -> str:
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(paths[:limit]) + more


def _finding(step: Step, rule: str, message: str, paths: Iterable[str]) -> Finding:
    return Finding(rule, step.urn, step.type, step.name, message, tuple(paths))


def _pod(step: Step, paths: Sequence[str]) -> list[Finding]:
    running = [p for p in paths if not path_under(p, METADATA_ONLY)]
    if not running:
        return []
    return [_finding(step, "pod-patched",
                     f"Pod {_where(step)} would be changed in place ({_shown(running)}): a running pod is "
                     "modified instead of replaced; create a new pod (a new release) instead",
                     running)]


def _controller(step: Step, paths: Sequence[str]) -> list[Finding]:
    template = [p for p in paths if path_under(p, ("spec.template",))]
    if not template:
        return []
    kind = step.kind
    new = step.new_inputs
    if step.type in NEVER_ROLLING:
        return [_finding(step, "pods-not-replaced",
                         f"{kind} {_where(step)} changes its pod template ({_shown(template)}) but a {kind} never "
                         "replaces running pods: they keep the old spec; use a Deployment", template)]
    strategy = get_path(new, "spec", "updateStrategy", "type")
    if kind in ("StatefulSet", "DaemonSet") and strategy == "OnDelete":
        return [_finding(step, "pods-not-replaced",
                         f"{kind} {_where(step)} changes its pod template ({_shown(template)}) with updateStrategy "
                         "OnDelete: running pods are not replaced and keep the old spec; use RollingUpdate", template)]
    if kind == "Deployment" and get_path(new, "spec", "paused") is True:
        return [_finding(step, "pods-not-replaced",
                         f"Deployment {_where(step)} changes its pod template ({_shown(template)}) while paused: "
                         "running pods keep the old spec", template)]
    old_release = _release_label(step.old_inputs)
    new_release = _release_label(new)
    if old_release and old_release == new_release:
        return [_finding(step, "release-patched",
                         f"{kind} {_where(step)} of release {new_release} changes its pod template "
                         f"({_shown(template)}) without a new release id: the release itself would be modified; "
                         "a change to what runs must make a new release", template)]
    blue_green = _blue_green_release(step) if kind == "Deployment" else None
    if blue_green:
        # A blue-green release's own Deployment (named <service>-<release>) never changes what it
        # runs, whatever its pod template's labels say (edited, or missing in the old state).
        return [_finding(step, "release-patched",
                         f"Deployment {_where(step)} is blue-green release {blue_green}'s own and changes its pod "
                         f"template ({_shown(template)}) in place: the release itself would be modified; a change "
                         "to what runs must make a new release", template)]
    return []


def _blue_green_release(step: Step) -> str | None:
    """The release id when ``step`` is a blue-green release's Deployment: its name is
    ``<service>-<release>`` with the release id it carries (in its labels or its pod template's)."""
    for inputs in (step.old_inputs, step.new_inputs):
        name = get_path(inputs, "metadata", "name")
        release = labels_of(inputs).get(RELEASE_LABEL) or _release_label(inputs)
        if isinstance(name, str) and release and name.endswith(f"-{release}"):
            return release
    return None


def _release_label(inputs: Mapping[str, Any]) -> str | None:
    return pod_template_labels(inputs).get(RELEASE_LABEL)


def _config(step: Step, paths: Sequence[str]) -> list[Finding]:
    content = [p for p in paths if path_under(p, CONFIG_CONTENT)]
    if not content:
        return []
    was_immutable = step.old_inputs.get("immutable") is True
    what = "immutable " if was_immutable else ""
    return [_finding(step, "config-patched",
                     f"{what}{step.kind} {_where(step)} would be patched in place ({_shown(content)}): running pods "
                     "read changed config without a new release; make a new object named by its content hash",
                     content)]


def _vm(step: Step, paths: Sequence[str]) -> list[Finding]:
    benign = VM_BENIGN_PATHS[step.type]
    running = [p for p in paths if not path_under(p, benign)]
    if not running:
        return []
    name = step.old_outputs.get("id") or step.name
    return [_finding(step, "instance-patched",
                     f"{step.kind} {name} would be modified in place ({_shown(running)}): a running machine is "
                     "changed instead of replaced; build a new image and replace the instance", running)]


def _references(group: Step, template: Step) -> bool:
    ids = {v for v in (template.old_outputs.get("id"), template.old_outputs.get("name"),
                       template.old_inputs.get("name"), template.new_inputs.get("name")) if isinstance(v, str) and v}
    inputs = group.inputs()
    refs = {
        get_path(inputs, "launchTemplate", "id"),
        get_path(inputs, "launchTemplate", "name"),
        get_path(inputs, "mixedInstancesPolicy", "launchTemplate", "launchTemplateSpecification", "launchTemplateId"),
        get_path(inputs, "mixedInstancesPolicy", "launchTemplate", "launchTemplateSpecification", "launchTemplateName"),
    }
    return bool(ids & {r for r in refs if isinstance(r, str)})


def _refreshes(group: Step) -> bool:
    """The group is replaced, or moves to the new template version with an instance refresh."""
    if group.op in ("create", "replace", "create-replacement"):
        return True
    moves = group.op == "update" and any(path_under(p, GROUP_TEMPLATE_PATHS) for p in group.changed_paths())
    return moves and bool(group.new_inputs.get("instanceRefresh"))


def _launch_template(step: Step, paths: Sequence[str], steps: Sequence[Step]) -> list[Finding]:
    changed = [p for p in paths if not path_under(p, ("tags", "tagsAll", "description"))]
    if not changed:
        return []
    groups = [s for s in steps if s.type == AUTOSCALING_GROUP and s.op != "delete" and _references(s, step)]
    if any(_refreshes(g) for g in groups):
        return []
    why = ("no auto scaling group uses it in this preview" if not groups else
           f"group(s) {', '.join(g.name for g in groups)} are neither replaced nor refreshed")
    return [_finding(step, "launch-template-without-refresh",
                     f"LaunchTemplate {step.name} changes ({_shown(changed)}) but {why}: running instances keep the "
                     "old template (a mixed fleet); replace the group or set instance_refresh", changed)]


def _group(step: Step, paths: Sequence[str]) -> list[Finding]:
    moved = [p for p in paths if path_under(p, GROUP_TEMPLATE_PATHS)]
    if not moved or step.new_inputs.get("instanceRefresh"):
        return []
    return [_finding(step, "group-template-without-refresh",
                     f"auto scaling group {step.name} moves to another launch template ({_shown(moved)}) without an "
                     "instance refresh: running instances keep the old one (a mixed fleet)", moved)]


def summary(findings: Sequence[Finding]) -> str:
    n = len(findings)
    return f"{n} in-place compute change{'' if n == 1 else 's'}"

