"""The real node's generated configs (cluster/node.py): the settings the spike found necessary.

Plain unit tests (no root, no binaries): they pin the fixes of OFFLINE-TARGETS.md section 6
so a refactor cannot drop one silently.
"""

from __future__ import annotations

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "cluster"))
import node


def test_containerd_keeps_everything_under_the_state_dir_and_clamps_oom_score(tmp_path: pathlib.Path) -> None:
    text = node.containerd_config(tmp_path, "127.0.0.1:5000").read_text()
    assert "restrict_oom_score_adj = true" in text
    assert 'sandbox_image = "127.0.0.1:5000/pause:local"' in text
    assert "SystemdCgroup = false" in text
    paths = [ln for ln in text.splitlines() if ln.strip().split(" = ")[0] in ("root", "state", "address", "Root")
             and ln.strip() != 'address = ""']  # debug and metrics endpoints are off
    assert len(paths) == 5 and all(str(tmp_path) in ln for ln in paths), paths
    assert 'endpoint = ["http://127.0.0.1:5000"]' in text
    conflist = json.loads((tmp_path / "cni" / "net.d" / "10-immutable-node.conflist").read_text())
    bridge = conflist["plugins"][0]
    assert bridge["bridge"] == node.BRIDGE and bridge["ipMasq"] is False
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path))


def test_kubelet_is_authenticated_cgroupfs_under_its_own_root_and_not_on_loopback(tmp_path: pathlib.Path) -> None:
    cfg = json.loads(node.kubelet_config(tmp_path, tmp_path / "pki", 10250, 10248).read_text())
    assert cfg["address"] == node.NODE_IP and not node.NODE_IP.startswith("127.")
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["authentication"]["webhook"]["enabled"] is True and cfg["authorization"]["mode"] == "Webhook"
    assert cfg["readOnlyPort"] == 0
    assert cfg["cgroupDriver"] == "cgroupfs" and cfg["cgroupRoot"] == f"/{node.CGROUP_ROOT}"
    assert cfg["failCgroupV1"] is False and cfg["failSwapOn"] is False
    assert cfg["podLogsDir"].startswith(str(tmp_path))


def test_kube_proxy_serves_node_ports_on_loopback_only_and_leaves_conntrack_alone(tmp_path: pathlib.Path) -> None:
    cfg = json.loads(node.kube_proxy_config(tmp_path, tmp_path / "kc", 1, 2).read_text())
    assert cfg["nodePortAddresses"] == ["127.0.0.0/8"]
    assert cfg["healthzBindAddress"].startswith("127.0.0.1:") and cfg["metricsBindAddress"].startswith("127.0.0.1:")
    assert cfg["conntrack"]["maxPerCore"] == 0 and cfg["conntrack"]["min"] == 0
