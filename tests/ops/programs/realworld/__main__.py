"""A stand-in cloud whose real world is a JSON file, so refresh (and so drift) works here.

The resources are Python dynamic resources (``pulumi.dynamic``): ``create`` writes an entry
into the JSON file named by the ``realworld:file`` config, ``read`` (what ``pulumi refresh``
calls) reads it back, ``delete`` removes it. A test edits the file by hand to create drift,
exactly as someone changing a resource in a cloud console would. Used by
tests/ops/test_engine_drift.py; keep it small.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """The engine runs independent steps in parallel: one writer at a time."""
    with open(f"{path}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _public(props: dict[str, Any]) -> dict[str, Any]:
    """What the real world holds: the properties, without the engine's private ones."""
    return {k: v for k, v in props.items() if k != "world" and not k.startswith("__")}


def _save(path: str, world: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(world, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


class WorldProvider(ResourceProvider):
    """Every property is part of what runs: a change replaces the resource (immutable)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        rid = f"{props['kind']}-{uuid.uuid4().hex[:8]}"
        with _locked(props["world"]):
            world = _load(props["world"])
            world[rid] = _public(props)
            _save(props["world"], world)
        return CreateResult(rid, dict(props))

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        world = _load(props["world"])
        if id not in world:
            return ReadResult(None, {})
        return ReadResult(id, {**world[id], "world": props["world"]})

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = sorted(k for k in set(olds) | set(news) if k != "__provider" and olds.get(k) != news.get(k))
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        raise RuntimeError("realworld resources are immutable: they are replaced, never updated")

    def delete(self, id: str, props: dict[str, Any]) -> None:
        with _locked(props["world"]):
            world = _load(props["world"])
            world.pop(id, None)
            _save(props["world"], world)


class Server(Resource, module="compute", name="Server"):
    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(WorldProvider(), name, {"kind": "server", **props}, opts)


class DnsRecord(Resource, module="dns", name="Record"):
    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(WorldProvider(), name, {"kind": "dns", **props}, opts)


class Bucket(Resource, module="storage", name="Bucket"):
    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(WorldProvider(), name, {"kind": "bucket", **props}, opts)


config = pulumi.Config("realworld")
world_file = os.path.abspath(config.require("file"))
image = config.get("image") or "registry.example.com/acme/app@sha256:" + "1" * 64

server = Server("app-server", {"world": world_file, "image": image, "size": "small"})
DnsRecord("www", {"world": world_file, "target": "app.internal", "ttl": 300})
Bucket("assets", {"world": world_file, "versioning": True})
pulumi.export("server_id", server.id)
