"""Unit-tier hooks: the probe binary DockerContainerService mounts must exist; under mocks any
executable file stands in for it (the real one, docker/probe, is tested in tests/docker)."""

from __future__ import annotations

import os
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
