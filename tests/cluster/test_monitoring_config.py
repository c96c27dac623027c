"""The local Prometheus's discovery and relabelling (cluster/pod_sd.py, cluster/monitoring.py),
checked without a cluster: the target file carries kubernetes_sd's meta labels, and the real
Prometheus 2.42 (promtool) accepts the configuration and relabels a target as documented."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "cluster"))
import monitoring
import pod_sd

POD = {"metadata": {"name": "web-abcd1234-x", "namespace": "apps",
                    "labels": {"app.kubernetes.io/name": "web", "immutable.dev/release": "abcd1234"},
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080",
                                    "prometheus.io/path": "/metrics"}},
       "status": {"podIP": "10.89.1.7", "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
       "spec": {"nodeName": "immutable-node",
                "containers": [{"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}]}}


def test_targets_carry_the_meta_labels_kubernetes_sd_would() -> None:
    pending = {**POD, "status": {"phase": "Pending"}}  # no IP yet: no target
    [group] = pod_sd.targets([POD, pending])
    assert group["targets"] == ["10.89.1.7:8080"]
    labels = group["labels"]
    assert labels["__meta_kubernetes_pod_label_immutable_dev_release"] == "abcd1234"
    assert labels["__meta_kubernetes_pod_label_app_kubernetes_io_name"] == "web"
    assert labels["__meta_kubernetes_pod_annotation_prometheus_io_port"] == "8080"
    assert labels["__meta_kubernetes_pod_phase"] == "Running" and labels["__meta_kubernetes_pod_ready"] == "true"
    assert labels["__meta_kubernetes_namespace"] == "apps"


def test_write_if_changed_is_atomic_and_idempotent(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "targets.json"
    assert pod_sd.write_if_changed(out, pod_sd.targets([POD])) is True
    assert pod_sd.write_if_changed(out, pod_sd.targets([POD])) is False
    assert json.loads(out.read_text())[0]["targets"] == ["10.89.1.7:8080"]


def test_prometheus_accepts_the_config_and_relabels_service_release_environment(tmp_path: pathlib.Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        reason = "promtool missing (Debian package prometheus: bash -c 'source scripts/lib.sh; ensure_prometheus')"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    targets = tmp_path / "targets.json"
    pod_sd.write_if_changed(targets, pod_sd.targets([POD]))
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps(monitoring.config(targets, "staging")))
    check = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    # The relabelling, applied by Prometheus's own code to the discovered labels.
    proc = subprocess.run([promtool, "check", "service-discovery", "--timeout=3s", str(config), "pods"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [target] = json.loads(proc.stdout)
    assert target["labels"] == {"__address__": "10.89.1.7:8080", "__metrics_path__": "/metrics", "__scheme__": "http",
                                "__scrape_interval__": "5s", "__scrape_timeout__": "4s", "job": "pods",
                                "instance": "10.89.1.7:8080",
                                "service": "web", "release": "abcd1234", "environment": "staging",
                                "namespace": "apps", "pod": "web-abcd1234-x"}
