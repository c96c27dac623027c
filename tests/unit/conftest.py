"""Unit-tier hooks: the probe binary DockerContainerService mounts must exist; under mocks any
executable file stands in for it (the real one, docker/probe, is tested in tests/docker)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def probe_binary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("probe") / "probe"
    path.write_text("#!/bin/false\n")
    path.chmod(0o755)
    old = os.environ.get("IMMUTABLE_PROBE_BINARY")
    os.environ["IMMUTABLE_PROBE_BINARY"] = str(path)
    yield path
    if old is None:
        os.environ.pop("IMMUTABLE_PROBE_BINARY", None)
    else:
        os.environ["IMMUTABLE_PROBE_BINARY"] = old


@pytest.fixture
def edge_proxy_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """What the components check of a running edge proxy (docker/edge.py): a fresh route-sync
    heartbeat and an admin socket that accepts; IMMUTABLE_EDGE_STATE names it. The real proxy
    runs in tests/docker."""
    state = tmp_path / "edge"
    state.mkdir()
    (state / "sync.json").write_text(json.dumps({"time": time.time(), "routes": {}}))
    monkeypatch.setenv("IMMUTABLE_EDGE_STATE", str(state))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as admin:
        admin.bind(str(state / "admin.sock"))
        admin.listen(64)  # never accepted: the check only connects
        yield state
