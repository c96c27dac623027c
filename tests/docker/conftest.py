from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.docker.harness import Edge, Engine, Registry, missing


def _unavailable(reason: str) -> None:
    # CI must run these tests: a missing engine or binary is a failure there, not a skip.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Docker engine tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    reason = missing()
    if reason:
        _unavailable(reason)
    # A short state path: the engine's unix sockets live in it (108-byte limit).
    e = Engine(tmp_path_factory.mktemp("dk") / "s")
    start = time.monotonic()
    proc = e.ctl("start")
    e.start_seconds = time.monotonic() - start
    assert proc.returncode == 0, f"docker/engine.py start failed:\n{proc.stdout}\n{proc.stderr}"
    e.host = proc.stdout.strip().splitlines()[-1]
    assert e.host == f"unix://{e.state / 'docker.sock'}"
    try:
        yield e
    finally:
        stop = e.ctl("stop", "--purge")
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert not e.state.exists()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[Registry]:
    r = Registry(tmp_path_factory.mktemp("registry") / "state")
    proc = r.ctl("start")
    assert proc.returncode == 0, f"registry/local.py start failed:\n{proc.stdout}\n{proc.stderr}"
    try:
        push = r.ctl("push-images")
        assert push.returncode == 0, f"registry/local.py push-images failed:\n{push.stdout}\n{push.stderr}"
        import json
        recorded = json.loads((r.state / "images.json").read_text())
        r.address, r.images = recorded["address"], recorded["images"]
        assert r.address.startswith("127.0.0.1:")
        yield r
    finally:
        r.ctl("stop", "--purge")


@pytest.fixture(scope="session")
def edge(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[Edge]:
    """The edge proxy, started as scripts/deploy.sh starts it (docker/edge.py start), on the session's engine."""
    e = Edge(tmp_path_factory.mktemp("edge") / "s", engine)
    proc = e.ctl("start")
    assert proc.returncode == 0, f"docker/edge.py start failed:\n{proc.stdout}\n{proc.stderr}"
    try:
        yield e
    finally:
        stop = e.ctl("stop", "--purge")
        assert stop.returncode == 0, stop.stdout + stop.stderr
