"""A ledger-driven fleet in a stand-in cloud (a JSON file), small enough for fast engine runs.

Per workload of the ``immutable:ledger`` config, the active release and one kept release
(keep_previous 1, the library's rule: after a rollback the release rolled back from is kept)
each get a server; the stack exports what ``immutable-ops`` reads: ``<w>_release``,
``<w>_kept_releases`` (newest first) and ``<w>_images`` (release -> artifact). A release id
is a hash of workload and artifact. ``fleet:token`` is a secret that reaches the state
(a server input and a stack output), so the tests can look for it in the bucket.
``FLEET_SLEEP`` (seconds) holds the update (and so its lock) open for the locking tests.
Used by tests/s3/test_engine_s3.py; keep it small.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

PRIVATE = ("world", "token")


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
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


def _save(path: str, world: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(world, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _public(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k not in PRIVATE and not k.startswith("__")}


class WorldProvider(ResourceProvider):
    """Every property is part of what runs: a change replaces the server (immutable)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        rid = f"server-{uuid.uuid4().hex[:8]}"
        with _locked(props["world"]):
            world = _load(props["world"])
            world[rid] = _public(props)
            _save(props["world"], world)
        return CreateResult(rid, dict(props))

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        world = _load(props["world"])
        if id not in world:
            return ReadResult(None, {})
        return ReadResult(id, {**world[id], **{k: props[k] for k in PRIVATE if k in props}})

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = sorted(k for k in set(olds) | set(news) if k != "__provider" and olds.get(k) != news.get(k))
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        raise RuntimeError("fleet servers are immutable: they are replaced, never updated")

    def delete(self, id: str, props: dict[str, Any]) -> None:
        with _locked(props["world"]):
            world = _load(props["world"])
            world.pop(id, None)
            _save(props["world"], world)


class Server(Resource, module="compute", name="Server"):
    def __init__(self, name: str, props: dict[str, Any]) -> None:
        super().__init__(WorldProvider(), name, props)


def release_id(workload: str, artifact: str) -> str:
    return hashlib.sha256(f"{workload}|{artifact}".encode()).hexdigest()[:8]


config = pulumi.Config("fleet")
world_file = os.path.abspath(config.require("world"))
token = config.require_secret("token")
if float(os.environ.get("FLEET_SLEEP", "0") or 0) > 0:
    time.sleep(float(os.environ["FLEET_SLEEP"]))

ledger: dict[str, Any] = pulumi.Config("immutable").get_object("ledger") or {}
for workload, entries in sorted(ledger.items()):
    artifacts = [str(e["artifact"]) for e in entries["releases"]]
    active = str(entries.get("active") or artifacts[-1])
    index = artifacts.index(active)
    kept = ([*reversed(artifacts[index + 1:]), *reversed(artifacts[:index])])[:1]
    for artifact in [active, *kept]:
        Server(f"{workload}-{release_id(workload, artifact)}",
               {"world": world_file, "image": artifact, "token": token})
    pulumi.export(f"{workload}_release", release_id(workload, active))
    pulumi.export(f"{workload}_kept_releases", [release_id(workload, a) for a in kept])
    pulumi.export(f"{workload}_images", {release_id(workload, a): a for a in [active, *kept]})
pulumi.export("token", token)
