"""Server-side-apply field sets (``metadata.managedFields[].fieldsV1``), read as paths (pure).

Every field of a live Kubernetes object that someone wrote is recorded in ``managedFields``
with the manager that wrote it: the provider's server-side apply (``pulumi-kubernetes-*``),
``kubectl-set`` for ``kubectl set env``, ``kubectl-edit``, ``kubectl-patch``,
``kube-controller-manager`` for status. A field another manager added (a new env var) is
invisible to the provider's refresh, which compares only the fields the program declared; it
is visible here. Format: https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management

A path is a tuple of steps: ``("f", "spec")`` a field, ``("k", {...})`` a list item picked by
its key fields, ``("v", value)`` a set element, ``("i", n)`` a list index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

Step = tuple[str, Any]
Path = tuple[Step, ...]

_MISSING = object()


def owned_paths(fields: Mapping[str, Any], prefix: Path = ()) -> Iterator[Path]:
    """The paths a field set owns, each at its shallowest whole node: a list item owned as a whole
    (``"."`` in its set, for example an env var added by ``kubectl set env``) is one path, not
    one per sub-field. A map's ``"."`` (the manager created the map) is not a field of its own:
    its keys are listed beside it."""
    for key, sub in fields.items():
        if key == ".":
            continue
        step = _step(key)
        path = (*prefix, step)
        if not isinstance(sub, Mapping) or not sub or ("." in sub and step[0] != "f"):
            yield path
        else:
            yield from owned_paths(sub, path)


def _step(key: str) -> Step:
    kind, _, rest = key.partition(":")
    if kind in ("k", "v"):
        return (kind, json.loads(rest))
    if kind == "i":
        return (kind, int(rest))
    return ("f", rest)


def resolve(obj: Any, path: Path) -> Any:
    """The value at ``path`` in a plain object (live or declared); ``None`` when absent."""
    value = _resolve(obj, path)
    return None if value is _MISSING else value


def has(obj: Any, path: Path) -> bool:
    return _resolve(obj, path) is not _MISSING


def _resolve(obj: Any, path: Path) -> Any:
    for kind, key in path:
        if kind == "f":
            if not isinstance(obj, Mapping) or key not in obj:
                return _MISSING
            obj = obj[key]
        elif kind == "k":
            if not isinstance(obj, Sequence) or isinstance(obj, str):
                return _MISSING
            obj = next((item for item in obj if isinstance(item, Mapping)
                        and all(_same(item.get(k), v) for k, v in key.items())), _MISSING)
            if obj is _MISSING:
                return _MISSING
        elif kind == "v":
            if not isinstance(obj, Sequence) or key not in obj:
                return _MISSING
            obj = key
        else:
            if not isinstance(obj, Sequence) or key >= len(obj):
                return _MISSING
            obj = obj[key]
    return obj


def _same(a: Any, b: Any) -> bool:
    """Key fields compare as the API server does: ``8080`` and ``"8080"`` are one port."""
    return a == b or (a is not None and str(a) == str(b))


def text(path: Path) -> str:
    """``spec.template.spec.containers[name=web].env[name=INJECTED]``."""
    out = ""
    for kind, key in path:
        if kind == "f":
            out += (("." if out else "") + key) if _plain(key) else f"[{json.dumps(key)}]"
        elif kind == "k":
            out += "[" + ",".join(f"{k}={v}" for k, v in key.items()) + "]"
        elif kind == "v":
            out += f"[{json.dumps(key)}]"
        else:
            out += f"[{key}]"
    return out


def _plain(key: str) -> bool:
    return key.replace("_", "a").isalnum()


def starts_with(path: Path, prefix: Sequence[str]) -> bool:
    """Whether ``path`` begins with the plain fields ``prefix``."""
    return len(path) >= len(prefix) and all(step == ("f", name) for step, name in zip(path, prefix, strict=False))


def declared_leaves(obj: Any, prefix: Path = ()) -> Iterator[Path]:
    """The scalar leaves of a declared manifest, list items addressed by ``name`` where they
    have one (as server-side apply keys containers, env, volumes and ports) and by index
    otherwise. Empty strings, empty lists and maps are no leaves: the API server drops them."""
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from declared_leaves(value, (*prefix, ("f", key)))
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                yield from declared_leaves(item, (*prefix, ("k", {"name": item["name"]})))
            elif isinstance(item, Mapping | list):
                yield from declared_leaves(item, (*prefix, ("i", index)))
            elif item is not None:
                yield (*prefix, ("v", item))
    elif obj is not None and obj != "":
        yield prefix
