"""Shared, engine-free helpers: plain data, unknown values, labels, tags, opt-outs.

Every check in this package takes plain Python data (``dict``/``list``/``str``/numbers),
exactly the shape the Pulumi engine hands a policy pack: the resource's *inputs* with
camelCase keys. Two quirks of that shape are handled here once:

- Values that are not known during ``pulumi preview`` (an output of another resource) are
  replaced by :data:`UNKNOWN`. A check never fails on an unknown value: the same policy runs
  again at ``pulumi up`` time, when the value is known.
- Numbers arrive as floats (protobuf ``Struct``), booleans sometimes as strings
  (``"true"`` in AWS launch templates): :func:`as_int` and :func:`truthy` normalise them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .shared import opt_out_reason_problem

RELEASE_KEY = "immutable.dev/release"
"""Label/tag key carrying the release id (8 hex characters)."""
ROLE_KEY = "immutable.dev/role"
"""Label/tag key saying whether a release is ``active`` or ``kept`` (for rollback)."""
OPT_OUT_PREFIX = "immutable.dev/opt-out-"
"""``immutable.dev/opt-out-<name-with-dashes>: "true"`` records an explicit opt-out."""
OPT_OUT_REASON_PREFIX = "immutable.dev/opt-out-reason-"
"""``immutable.dev/opt-out-reason-<name_with_underscores>: <reason>`` says why."""
OPT_OUT_TAG_PREFIX = "immutable.dev/opt-out/"
"""AWS form (ServerGroup): one tag ``immutable.dev/opt-out/<name>: <reason>``."""

RELEASE_ID = re.compile(r"[0-9a-f]{8}")


class _Unknown:
    """The value of a property that is not known yet (during preview)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()
"""Sentinel for a value that is not known during preview."""

# pulumi-policy's sentinels for unknown values (pulumi_policy/proxy.py), by type.
UNKNOWN_SENTINELS = frozenset({
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
    "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
    "e48ece36-62e2-4504-bad9-02848725956a",  # archive
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
})


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def plain(value: Any) -> Any:
    """Plain data from pulumi-policy's proxies, with unknown values replaced by :data:`UNKNOWN`.

    The proxies raise on *access* to an unknown value, which would abort a whole policy; the
    checks here prefer to skip only the part that cannot be decided yet.
    """
    if isinstance(value, Mapping):
        target = _proxy_target(value)
        if target is not None:
            return plain(target)
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        target = _proxy_target(value)
        if target is not None:
            return plain(target)
        return [plain(v) for v in value]
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return UNKNOWN
    return value


def _proxy_target(value: Any) -> Any:
    # pulumi-policy's _DictProxy/_ListProxy return their raw target for the key "__target".
    if type(value).__name__ not in ("_DictProxy", "_ListProxy", "_DictSecretsProxy", "_ListSecretsProxy"):
        return None
    return value["__target"]


def get(data: Any, *path: str | int, default: Any = None) -> Any:
    """``data[path[0]][path[1]]...``, or ``default`` when a step is missing or not a container.

    An unknown value on the way is returned as :data:`UNKNOWN` (not ``default``).
    """
    current = data
    for step in path:
        if current is UNKNOWN:
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return default
            current = current[step]
        else:
            if not isinstance(current, Mapping) or step not in current:
                return default
            current = current[step]
    return default if current is None else current


def as_list(value: Any) -> list[Any]:
    """A list property, treating a missing (or unknown) one as empty."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    """A map property, treating a missing (or unknown) one as empty."""
    return dict(value) if isinstance(value, Mapping) else {}


def as_int(value: Any) -> int | None:
    """Numbers arrive as floats (or numeric strings); ``None`` when absent or not a number."""
    if isinstance(value, bool) or value is None or value is UNKNOWN:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def truthy(value: Any) -> bool:
    """``True``/``"true"`` (any case): AWS launch templates type their booleans as strings."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def falsy(value: Any) -> bool:
    """Explicitly false (``False``/``"false"``), not merely absent."""
    if isinstance(value, bool):
        return not value
    return isinstance(value, str) and value.strip().lower() == "false"


# --- resource types ----------------------------------------------------------------

_K8S_TYPE = re.compile(r"kubernetes:(?P<group>[^/:]+)/(?P<version>[^:]+):(?P<kind>[A-Za-z0-9]+)")


class K8sKind(NamedTuple):
    group: str
    """API group, ``""`` for the core group (Pulumi writes it ``core``)."""
    kind: str


def k8s_kind(resource_type: str) -> K8sKind | None:
    """``kubernetes:apps/v1:Deployment`` -> ``("apps", "Deployment")``; ``None`` otherwise."""
    match = _K8S_TYPE.fullmatch(resource_type)
    if not match:
        return None
    group = match["group"]
    return K8sKind("" if group == "core" else group, match["kind"])


# Groups whose kinds moved to another group (the same object under an older API version).
_LEGACY_GROUPS = {("extensions", "Deployment"): "apps", ("extensions", "DaemonSet"): "apps",
                  ("extensions", "ReplicaSet"): "apps", ("extensions", "NetworkPolicy"): "networking.k8s.io"}


class K8sTarget(NamedTuple):
    kind: K8sKind
    """The kind of the object (``DeploymentPatch`` -> ``("apps", "Deployment")``)."""
    patch: bool
    """A ``*Patch`` resource: a server-side apply patch of an existing object, holding only
    the fields it sets (checks then report what it sets, never what it leaves out)."""


def k8s_target(resource_type: str) -> K8sTarget | None:
    """The object a Kubernetes resource declares or patches, ``None`` for other resources."""
    kind = k8s_kind(resource_type)
    if kind is None:
        return None
    patch = kind.kind.endswith("Patch") and len(kind.kind) > len("Patch")
    name = kind.kind.removesuffix("Patch") if patch else kind.kind
    group = _LEGACY_GROUPS.get((kind.group, name), kind.group)
    return K8sTarget(K8sKind(group, name), patch)


# --- labels, tags and opt-outs -----------------------------------------------------


def tags_map(value: Any) -> dict[str, Any]:
    """Tags as a map, from any of the shapes providers use.

    - AWS resources: ``{"Key": "value"}``;
    - auto scaling groups: ``[{"key": ..., "value": ..., "propagateAtLaunch": ...}]``;
    - Docker containers: ``[{"label": ..., "value": ...}]``.
    """
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    out: dict[str, Any] = {}
    for item in as_list(value):
        if not isinstance(item, Mapping):
            continue
        key = item.get("key", item.get("label"))
        if isinstance(key, str):
            out[key] = item.get("value")
    return out


def valid_release(value: Any) -> bool:
    return isinstance(value, str) and bool(RELEASE_ID.fullmatch(value))


def opt_out_label(name: str) -> str:
    """``exec_lock`` -> ``immutable.dev/opt-out-exec-lock``."""
    return OPT_OUT_PREFIX + name.replace("_", "-")


def opt_out_reason_keys(name: str) -> tuple[str, ...]:
    """Where the reason of opt-out ``name`` may be written (components use the underscore form)."""
    underscore, dash = name.replace("-", "_"), name.replace("_", "-")
    return tuple(dict.fromkeys((OPT_OUT_REASON_PREFIX + underscore, OPT_OUT_REASON_PREFIX + dash)))


@dataclass(frozen=True)
class OptOutRecord:
    name: str
    """Normalised with underscores: ``exec_lock``."""
    label: str
    """The label/tag key that declares it."""
    reason: str | None
    """The recorded reason, ``None`` when there is none."""

    @property
    def problem(self) -> str | None:
        """Why this opt-out lifts nothing (``None``: it is valid). Reasons are judged by the
        components' own rule (:func:`immutable_infra.rules.opt_out_reason_problem`)."""
        if self.reason is None:
            return "it has no reason"
        problem: str | None = opt_out_reason_problem(self.reason)
        return problem

    @property
    def valid(self) -> bool:
        return self.problem is None


def opt_outs(labels: Mapping[str, Any], annotations: Mapping[str, Any] | None = None) -> list[OptOutRecord]:
    """Every opt-out declared in ``labels``, with its reason if any. Two forms:

    - ``immutable.dev/opt-out-<name>: "true"`` (Kubernetes and Docker components), the reason in
      ``immutable.dev/opt-out-reason-<name>``, looked up in ``annotations`` first (Kubernetes label
      values cannot hold a sentence), then in ``labels`` (Docker labels can);
    - ``immutable.dev/opt-out/<name>: <reason>`` (AWS tags of the ServerGroup component).
    """
    records: list[OptOutRecord] = []
    for key, value in labels.items():
        if key.startswith(OPT_OUT_TAG_PREFIX):
            name = key[len(OPT_OUT_TAG_PREFIX):].replace("-", "_")
            records.append(OptOutRecord(name, key, value if isinstance(value, str) and value.strip() else None))
            continue
        if not key.startswith(OPT_OUT_PREFIX) or key.startswith(OPT_OUT_REASON_PREFIX):
            continue
        if not truthy(value):
            continue
        name = key[len(OPT_OUT_PREFIX):].replace("-", "_")
        reason = None
        for source in (annotations or {}, labels):
            for reason_key in opt_out_reason_keys(name):
                candidate = source.get(reason_key)
                if isinstance(candidate, str) and candidate.strip():
                    reason = candidate
                    break
            if reason is not None:
                break
        records.append(OptOutRecord(name, key, reason))
    return records


def valid_opt_outs(labels: Mapping[str, Any], annotations: Mapping[str, Any] | None = None) -> set[str]:
    """Names of the opt-outs that are declared *with* a reason (only those exempt anything)."""
    return {record.name for record in opt_outs(labels, annotations) if record.valid}


# --- check context ---------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What a resource check may need besides the resource's own type and inputs."""

    config: Mapping[str, Any] = field(default_factory=dict)
    """This policy's configuration (defaults from its schema, then ``--policy-pack-config``)."""
    provider: Mapping[str, Any] = field(default_factory=dict)
    """Inputs of the resource's provider (Kubernetes default namespace, AWS default tags)."""
    ignore_changes: tuple[str, ...] = ()
    """The resource's ``ignore_changes`` option."""


NO_CONTEXT = Context()


def config_value(ctx: Context, key: str, default: Any) -> Any:
    value = ctx.config.get(key, default)
    return default if value is None else value


def iter_dicts(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(index, item)`` for the items of a list property that are maps."""
    for index, item in enumerate(as_list(value)):
        if isinstance(item, Mapping):
            yield index, dict(item)
