"""A node process that dies while the cluster starts: the error names the process and points at
its log file with its last lines (what `scripts/deploy.sh dev` shows before "ERROR in step
cluster"). Plain unit test: a stand-in process, no root, no cluster."""

from __future__ import annotations

import importlib.util
import pathlib
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_local(state: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("IMMUTABLE_CLUSTER_STATE", str(state))
    spec = importlib.util.spec_from_file_location("cluster_local_under_test", ROOT / "cluster" / "local.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_node_process_that_dies_is_named_with_its_log(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = load_local(tmp_path / "cluster", monkeypatch)
    local.spawn("kubelet", ["-c", "echo 'E1205 kubelet: failed to run Kubelet: boom' >&2; exit 1"], binary="/bin/sh")
    with pytest.raises(local.ClusterError) as err:
        local.wait_for("real nodes Ready", lambda: False, 20, ("kubelet",))
    message = str(err.value)
    assert message.startswith("kubelet exited while waiting for real nodes Ready")
    assert f"== {tmp_path / 'cluster' / 'logs' / 'kubelet.log'}" in message
    assert "failed to run Kubelet: boom" in message
    deploy_fail = (ROOT / "scripts" / "lib.sh").read_text()
    assert 'fail "cluster" "cluster/local.py start --nodes $nodes failed (logs: .state/cluster/logs/)"' in deploy_fail
