"""Access to a DIY state backend's objects: a ``file://`` directory or an ``s3://`` bucket.

The CLI cannot export the checkpoints of earlier updates from a DIY backend ("does not
provide the ability to export previous deployments"), and it does not list the lock
objects it leaves; both are plain objects under ``.pulumi/`` in the backend:

    .pulumi/history/<project>/<stack>/<stack>-<time>.{history,checkpoint}.json[.gz]
    .pulumi/locks/organization/<project>/<stack>/<lock id>.json   ({"pid", "hostname", ...})

This module reads them, with the same URL the CLI uses (``s3://bucket/prefix?endpoint=...
&region=...&s3ForcePathStyle=true``, credentials from the usual ``AWS_*`` variables). S3
needs boto3 (``pip install 'immutable-infra[s3]'``); other backends (gs://, azblob://,
postgres://, the Pulumi Cloud) are not read here: callers degrade (history by artifact).

``immutable-ops stale-lock STACK`` (a hidden command) is what ``scripts/lib.sh`` uses to tell
a killed update's lock (this host, process gone) from someone's running update. It makes the one
repair done here: a CLI killed while it wrote a checkpoint can leave the file store's metadata
sidecar (``<object>.attrs``) empty, and every later command then fails with ``failed to load
checkpoint: EOF``; an empty sidecar is removed (the store reads a missing one as "no metadata").
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlparse

from .errors import OpsError

HISTORY = ".pulumi/history"
LOCKS = ".pulumi/locks/organization"


class Store(Protocol):
    url: str

    def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix`` (a ``/``-separated path), sorted."""

    def read(self, key: str) -> bytes: ...


@dataclass
class FileStore:
    url: str
    root: Path

    def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        # ``<key>.attrs`` is the file blob store's metadata beside each object, not an object.
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*")
                      if p.is_file() and not p.name.endswith(".attrs"))

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


@dataclass
class S3Store:
    url: str
    bucket: str
    prefix: str
    client: Any

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def keys(self, prefix: str) -> list[str]:
        out: list[str] = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            out.extend(str(item["Key"])[strip:] for item in page.get("Contents", []))
        return sorted(out)

    def read(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        return body


def _flag(query: Mapping[str, list[str]], *names: str) -> bool:
    return any(query.get(n, ["false"])[0].lower() in ("1", "true", "yes") for n in names)


def s3_client_options(url: str) -> dict[str, Any]:
    """boto3 client options for a gocloud ``s3://`` URL (the options the CLI's driver reads)."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    options: dict[str, Any] = {}
    if query.get("region"):
        options["region_name"] = query["region"][0]
    endpoint = query.get("endpoint", [""])[0]
    if endpoint:
        if "://" not in endpoint:
            endpoint = ("http://" if _flag(query, "disable_https", "disableSSL") else "https://") + endpoint
        options["endpoint_url"] = endpoint
    if _flag(query, "s3ForcePathStyle", "use_path_style"):
        options["addressing_style"] = "path"
    if query.get("profile"):
        options["profile"] = query["profile"][0]
    return options


def open_store(url: str | None, env: Mapping[str, str]) -> Store | None:
    """The store behind a backend URL, or ``None`` for backends this module does not read."""
    if not url:
        return None
    if url.startswith("file://"):
        root = Path(url[len("file://"):]).expanduser() if url.startswith("file://~") else Path(unquote(urlparse(url).path))
        return FileStore(url, root)
    if not url.startswith("s3://"):
        return None
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise OpsError("reading an s3:// backend's history and locks needs boto3", hint="pip install 'immutable-infra[s3]' "
                       "(or pip install boto3)") from None
    options = s3_client_options(url)
    session = boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        region_name=options.pop("region_name", None) or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        profile_name=options.pop("profile", None) or env.get("AWS_PROFILE") or None,
    )
    style = options.pop("addressing_style", None)
    config = Config(s3={"addressing_style": style} if style else {}, retries={"max_attempts": 3},
                    connect_timeout=10, read_timeout=30)
    parsed = urlparse(url)
    return S3Store(url, parsed.netloc, parsed.path.strip("/"), session.client("s3", config=config, **options))


# --- locks -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lock:
    key: str
    pid: int | None
    hostname: str
    username: str
    timestamp: str

    @property
    def stale_here(self) -> bool:
        """Taken on this host by a process that is gone (a killed update). A lock of another
        host can never be told stale from here: it may be a running update."""
        if self.hostname != socket.gethostname() or not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def remove_empty_sidecars(store: Store) -> list[str]:
    """Remove the empty ``.attrs`` sidecars a killed CLI left under ``.pulumi/`` (file stores only);
    returns their keys. A sidecar with content is never touched."""
    if not isinstance(store, FileStore) or not (store.root / ".pulumi").is_dir():
        return []
    removed = []
    for path in sorted((store.root / ".pulumi").rglob("*.attrs")):
        if path.is_file() and path.stat().st_size == 0:
            path.unlink()
            removed.append(path.relative_to(store.root).as_posix())
    return removed


def stack_locks(store: Store, stack: str, project: str | None = None) -> list[Lock]:
    """The lock objects of ``stack`` (in ``project``, or in any project when ``None``)."""
    found = []
    for key in store.keys(LOCKS):
        parts = key[len(LOCKS) + 1:].split("/")
        if len(parts) != 3 or parts[1] != stack or (project is not None and parts[0] != project):
            continue
        try:
            data = json.loads(store.read(key))
        except (OSError, ValueError):
            data = {}
        pid = data.get("pid")
        found.append(Lock(key, int(pid) if isinstance(pid, int) else None, str(data.get("hostname", "")),
                          str(data.get("username", "")), str(data.get("timestamp", ""))))
    return found


def stale_locks(env: Mapping[str, str], url: str | None, stack: str, project: str | None) -> list[Lock]:
    """The locks of ``stack`` when every one is a killed update's on this host (safe to ``pulumi
    cancel``); empty when there is none, when one may be live, or when the backend has no store."""
    store = open_store(url, env)
    if store is None:
        return []
    for key in remove_empty_sidecars(store):
        print(f"removed {key}: an empty metadata sidecar a killed update left", file=sys.stderr)
    locks = stack_locks(store, stack, project)
    return locks if locks and all(lock.stale_here for lock in locks) else []
