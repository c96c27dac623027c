"""Read ``pulumi preview --json`` output: steps, their types, names and changed paths.

Pure functions over the JSON the CLI prints (``{"steps": [...], "changeSummary": ...}``);
used by the guard, the PR comment and the parity check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import OpsError

RELEASE_LABEL = "immutable.dev/release"
"""Label (Kubernetes) and tag (AWS) on everything a release owns."""
ACTIVE_RELEASE_TAG = "immutable.dev/active-release"
"""Tag on shared AWS resources (load balancer, target group): the release they serve."""
ROLE_LABEL = "immutable.dev/role"
"""``active`` or ``kept`` on release-owned Kubernetes workloads."""
APP_LABELS = ("app.kubernetes.io/name", "immutable.dev/app")

CHANGING_OPS = frozenset({"create", "update", "delete", "replace", "create-replacement", "delete-replaced",
                          "import", "import-replacement", "discard", "discard-replaced", "remove-pending-replace"})


@dataclass(frozen=True)
class Step:
    """One resource step of a preview."""

    op: str
    urn: str
    old_inputs: Mapping[str, Any] = field(default_factory=dict)
    new_inputs: Mapping[str, Any] = field(default_factory=dict)
    old_outputs: Mapping[str, Any] = field(default_factory=dict)
    detailed_diff: Mapping[str, Any] | None = None
    diff_reasons: Sequence[str] = ()
    replace_reasons: Sequence[str] = ()
    has_old: bool = False
    has_new: bool = False
    custom: bool = True
    """A real resource (not a component or the stack)."""

    @property
    def type(self) -> str:
        return urn_type(self.urn)

    @property
    def name(self) -> str:
        return urn_name(self.urn)

    @property
    def kind(self) -> str:
        """Short type: ``Deployment`` for ``kubernetes:apps/v1:Deployment``."""
        return self.type.rsplit(":", 1)[-1]

    @property
    def changes(self) -> bool:
        return self.op in CHANGING_OPS

    def inputs(self) -> Mapping[str, Any]:
        """New inputs when the step has them, else old ones (deletes)."""
        return self.new_inputs if self.has_new else self.old_inputs

    def changed_paths(self) -> list[str]:
        """Property paths this step changes, in Pulumi's path syntax (``spec.replicas``,
        ``metadata.labels["immutable.dev/release"]``): the provider's detailed diff when it
        gives one, else the diff reasons, else a diff of old and new inputs."""
        if self.detailed_diff:
            return sorted(self.detailed_diff)
        if self.diff_reasons:
            return sorted(self.diff_reasons)
        return diff_paths(self.old_inputs, self.new_inputs)


@dataclass(frozen=True)
class Preview:
    steps: tuple[Step, ...]
    change_summary: Mapping[str, int]
    diagnostics: tuple[Mapping[str, Any], ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    """The stack config the preview ran with (secrets shown as ``[secret]``)."""

    @property
    def stack(self) -> str | None:
        for step in self.steps:
            if step.type == "pulumi:pulumi:Stack":
                return urn_stack(step.urn)
        return urn_stack(self.steps[0].urn) if self.steps else None

    def stack_step(self) -> Step | None:
        return next((s for s in self.steps if s.type == "pulumi:pulumi:Stack"), None)

    def changing(self) -> list[Step]:
        return [s for s in self.steps if s.changes]

    def errors(self) -> list[str]:
        return [str(d.get("message", "")).strip() for d in self.diagnostics if d.get("severity") == "error"]


def parse_preview(data: Mapping[str, Any], *, source: str = "preview") -> Preview:
    """Parse the JSON object ``pulumi preview --json`` prints."""
    if not isinstance(data, Mapping) or not isinstance(data.get("steps", []), list):
        raise OpsError(f"{source} is not the output of `pulumi preview --json` (no `steps` list)",
                       hint="capture it with: pulumi preview --json -s <stack> > preview.json")
    steps = []
    for raw in data.get("steps") or []:
        if not isinstance(raw, Mapping) or "urn" not in raw or "op" not in raw:
            raise OpsError(f"{source}: a step without `op` and `urn`: {json.dumps(raw)[:200]}")
        old = raw.get("oldState") or {}
        new = raw.get("newState") or {}
        steps.append(Step(
            op=str(raw["op"]),
            urn=str(raw["urn"]),
            old_inputs=old.get("inputs") or {},
            new_inputs=new.get("inputs") or {},
            old_outputs=old.get("outputs") or {},
            detailed_diff=raw.get("detailedDiff"),
            diff_reasons=tuple(raw.get("diffReasons") or ()),
            replace_reasons=tuple(raw.get("replaceReasons") or ()),
            has_old=bool(old),
            has_new=bool(new),
            custom=bool((new or old).get("custom", True)),
        ))
    return Preview(tuple(steps), dict(data.get("changeSummary") or {}), tuple(data.get("diagnostics") or ()),
                   dict(data.get("config") or {}))


def load_preview(path: Path) -> Preview:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OpsError(f"cannot read preview file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise OpsError(f"{path} is not JSON ({exc})",
                       hint="capture it with: pulumi preview --json -s <stack> > preview.json") from None
    return parse_preview(data, source=str(path))


# --- URNs ------------------------------------------------------------------------------------

def urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def urn_type(urn: str) -> str:
    """The resource's own type (the last one of a ``parent$child`` chain)."""
    return urn.rsplit("::", 2)[-2].rsplit("$", 1)[-1]


def urn_stack(urn: str) -> str:
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


# --- property paths ------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]+")


def path_join(prefix: str, key: str | int) -> str:
    """Pulumi's property-path syntax: ``a.b``, ``a[0]``, ``a["x.y/z"]``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    if _PLAIN_KEY.fullmatch(key):
        return f"{prefix}.{key}" if prefix else key
    quoted = key.replace('"', '\\"')
    return f'{prefix}["{quoted}"]'


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a JSON value by property path (empty maps and lists are leaves)."""
    out: dict[str, Any] = {}
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            out.update(flatten(item, path_join(prefix, str(key))))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            out.update(flatten(item, path_join(prefix, index)))
    else:
        out[prefix] = value
    return out


def diff_paths(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Leaf paths whose values differ (internal ``__`` keys ignored)."""
    a = {k: v for k, v in flatten(dict(old)).items() if not k.startswith("__")}
    b = {k: v for k, v in flatten(dict(new)).items() if not k.startswith("__")}
    return sorted(p for p in set(a) | set(b) if a.get(p, _MISSING) != b.get(p, _MISSING))


_MISSING = object()


def path_under(path: str, prefixes: Sequence[str]) -> bool:
    """``spec.template.spec`` is under ``spec.template``; ``spec.templates`` is not."""
    return any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in prefixes)


def get_path(obj: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(key, int):
            if not isinstance(obj, list) or key >= len(obj):
                return None
        elif not isinstance(obj, Mapping):
            return None
        obj = obj[key] if isinstance(key, int) else obj.get(key)
    return obj


# --- labels and tags -------------------------------------------------------------------------

def labels_of(inputs: Mapping[str, Any]) -> dict[str, str]:
    """Kubernetes ``metadata.labels`` or AWS ``tags`` (a map, or the list form of an auto
    scaling group), as one flat map."""
    out: dict[str, str] = {}
    meta_labels = get_path(inputs, "metadata", "labels")
    if isinstance(meta_labels, Mapping):
        out.update({str(k): str(v) for k, v in meta_labels.items()})
    tags = inputs.get("tags")
    if isinstance(tags, Mapping):
        out.update({str(k): str(v) for k, v in tags.items()})
    elif isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, Mapping) and "key" in tag:
                out[str(tag["key"])] = str(tag.get("value", ""))
    return out


def pod_template_labels(inputs: Mapping[str, Any]) -> dict[str, str]:
    labels = get_path(inputs, "spec", "template", "metadata", "labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def release_of(inputs: Mapping[str, Any]) -> str | None:
    labels = labels_of(inputs)
    return labels.get(RELEASE_LABEL) or pod_template_labels(inputs).get(RELEASE_LABEL)


def app_of(inputs: Mapping[str, Any]) -> str | None:
    labels = labels_of(inputs)
    for key in APP_LABELS:
        if labels.get(key):
            return labels[key]
    return None


def iter_custom(steps: Sequence[Step]) -> Iterator[Step]:
    """Steps of real resources (no stack, no component, no provider)."""
    for step in steps:
        if step.custom and not step.type.startswith("pulumi:"):
            yield step
