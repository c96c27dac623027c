"""Reading a DIY backend's objects (``backend.py``): the gocloud URL options mapped to boto3,
the file store, and which locks count as stale (no engine; the S3 side runs against
moto_server in test_engine_s3.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

from immutable_infra.ops.backend import FileStore, open_store, s3_client_options, stack_locks


def test_gocloud_s3_query_options_become_boto3_options() -> None:
    url = "s3://state/team?endpoint=127.0.0.1:9000&disable_https=true&s3ForcePathStyle=true&region=eu-west-1&profile=ops"
    assert s3_client_options(url) == {"region_name": "eu-west-1", "endpoint_url": "http://127.0.0.1:9000",
                                      "addressing_style": "path", "profile": "ops"}
    assert s3_client_options("s3://b?endpoint=minio.internal:9000&use_path_style=true") == {
        "endpoint_url": "https://minio.internal:9000", "addressing_style": "path"}
    assert s3_client_options("s3://b?endpoint=http://127.0.0.1:1") == {"endpoint_url": "http://127.0.0.1:1"}
    assert s3_client_options("s3://b") == {}


def test_open_store_by_scheme(tmp_path: Path) -> None:
    store = open_store(tmp_path.as_uri(), {})
    assert isinstance(store, FileStore) and store.root == tmp_path
    s3 = open_store("s3://bucket/prefix?endpoint=http://127.0.0.1:1&region=us-east-1", {"AWS_ACCESS_KEY_ID": "x",
                                                                                         "AWS_SECRET_ACCESS_KEY": "y"})
    assert s3 is not None and (getattr(s3, "bucket"), getattr(s3, "prefix")) == ("bucket", "prefix")  # noqa: B009
    for other in ("gs://b", "azblob://c", "https://api.pulumi.com", None):
        assert open_store(other, {}) is None


def _lock(root: Path, project: str, stack: str, name: str, pid: int, host: str) -> None:
    path = root / ".pulumi" / "locks" / "organization" / project / stack / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "username": "u", "hostname": host, "timestamp": "2026-01-01T00:00:00Z"}))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_only_a_gone_process_on_this_host_is_stale(tmp_path: Path) -> None:
    store = FileStore(tmp_path.as_uri(), tmp_path)
    here = socket.gethostname()
    _lock(tmp_path, "p", "dev", "a", _dead_pid(), here)
    _lock(tmp_path, "p", "dev", "b", os.getpid(), here)
    _lock(tmp_path, "p", "dev", "c", _dead_pid(), "another-runner")
    _lock(tmp_path, "p", "test", "d", _dead_pid(), here)
    locks = {lock.key.rsplit("/", 1)[-1]: lock for lock in stack_locks(store, "dev")}
    assert sorted(locks) == ["a.json", "b.json", "c.json"]
    assert locks["a.json"].stale_here and not locks["b.json"].stale_here and not locks["c.json"].stale_here
    assert [lock.key for lock in stack_locks(store, "test", project="other")] == []
