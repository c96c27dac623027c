from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.cluster.kube import Cluster, cluster_missing


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
        c.stop()


# The real node's fixtures, `real` and `netns`, are in tests/conftest.py: the delivery loop's test
# (tests/ops/test_workflows_run.py) deploys dev on the same node, and a session fixture defined
# twice would start a second node, which the machine-wide lock refuses.
