"""IaC coverage: resources under management vs resources found in the real world.

"Found" comes from an inventory: the manifests a render-mode stack wrote (what a GitOps
agent would apply), or a JSON file from a scanner (``kubectl get ... -o json``, a cloud
inventory export, a list of ids). Coverage = found resources that a stack manages / all
found resources; the others are unmanaged (created by hand, left over).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import OpsError


@dataclass(frozen=True)
class Coverage:
    source: str
    managed: int
    found: int
    matched: int
    unmanaged: tuple[str, ...]

    @property
    def percent(self) -> float | None:
        return 100.0 * self.matched / self.found if self.found else None

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "managed": self.managed, "found": self.found, "matched": self.matched,
                "coverage_percent": None if self.percent is None else round(self.percent, 1),
                "unmanaged": list(self.unmanaged)}


def _k8s_key(kind: Any, namespace: Any, name: Any) -> str:
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def managed_keys(deployment: Mapping[str, Any]) -> tuple[int, set[str]]:
    """(number of managed resources, keys they can be found by: id and Kubernetes kind/ns/name)."""
    count = 0
    keys: set[str] = set()
    for resource in deployment.get("resources") or []:
        rtype = str(resource.get("type", ""))
        if not resource.get("custom") or rtype.startswith("pulumi:"):
            continue
        count += 1
        if resource.get("id"):
            keys.add(str(resource["id"]))
        if rtype.startswith("kubernetes:"):
            state = resource.get("outputs") or resource.get("inputs") or {}
            meta = state.get("metadata") or {}
            kind = state.get("kind") or rtype.rsplit(":", 1)[-1]
            if meta.get("name"):
                keys.add(_k8s_key(kind, meta.get("namespace"), meta["name"]))
    return count, keys


def _item_key(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        meta = item.get("metadata")
        if isinstance(meta, Mapping) and item.get("kind") and meta.get("name"):
            return _k8s_key(item["kind"], meta.get("namespace"), meta["name"])
        for key in ("id", "arn", "name"):
            if isinstance(item.get(key), str):
                return str(item[key])
    return None


def inventory_keys(data: Any) -> list[str]:
    """Keys of a scanner's JSON: a Kubernetes ``List`` (``items``), a list of ids or objects,
    or an object keyed by id."""
    if isinstance(data, Mapping) and isinstance(data.get("items"), list):
        items: Iterable[Any] = data["items"]
    elif isinstance(data, list):
        items = data
    elif isinstance(data, Mapping):
        return [str(k) for k in data]
    else:
        return []
    return [k for k in (_item_key(i) for i in items) if k]


def read_inventory(path: Path) -> list[str]:
    try:
        return inventory_keys(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise OpsError(f"cannot read inventory {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise OpsError(f"inventory {path} is not JSON: {exc}") from None


def manifest_keys(directory: Path) -> list[str]:
    """Objects in the YAML manifests under ``directory`` (render mode's output)."""
    keys = []
    for path in sorted(directory.rglob("*.y*ml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError):
            continue
        keys += [k for k in (_item_key(d) for d in docs if d) if k]
    return keys


def measure(source: str, deployment: Mapping[str, Any], found: Iterable[str]) -> Coverage:
    count, keys = managed_keys(deployment)
    found_list = sorted(set(found))
    unmanaged = tuple(k for k in found_list if k not in keys)
    return Coverage(source, count, len(found_list), len(found_list) - len(unmanaged), unmanaged)
