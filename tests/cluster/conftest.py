from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.cluster.kube import Cluster, cluster_missing
from tests.cluster.realnode import make_netns, start_real_node


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = cluster_missing()
    if reason:
        pytest.skip(reason)
    c = Cluster(tmp_path_factory.mktemp("cluster") / "state")
    start = time.monotonic()
    proc = c.local("start", "--nodes", "kwok")  # these tests use made-up images: simulated pods
    c.start_seconds = time.monotonic() - start
    assert proc.returncode == 0, f"cluster/local.py start failed:\n{proc.stdout}\n{proc.stderr}"
    assert str(c.kubeconfig) in proc.stdout
    try:
        yield c
    finally:
        stop = c.local("stop")
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert not c.state.exists()


@pytest.fixture(scope="session")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The one real node of the session (cluster/node.py allows one per machine), shared by every
    module that runs real pods; each module deploys into its own workspace and destroys it."""
    yield from start_real_node(tmp_path_factory)


@pytest.fixture(scope="session")
def netns(real: Cluster) -> Iterator[str]:
    """The load generator's network namespace (tests/cluster/realnode.py)."""
    yield from make_netns(real)
