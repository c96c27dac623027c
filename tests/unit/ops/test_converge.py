"""The main job's cluster check (components/ops/converge.py) without a cluster: a stand-in
kubectl answers which objects exist. tests/cluster/test_drift_real.py runs it on the real node."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

from components.ops.converge import missing

ROOT = Path(__file__).resolve().parents[3]


def _state(kubeconfig: str) -> dict[str, Any]:
    provider = "urn:pulumi:dev::p::pulumi:providers:kubernetes::k8s"

    def obj(kind: str, name: str, namespace: str | None) -> dict[str, Any]:
        meta = {"name": name, **({"namespace": namespace} if namespace else {})}
        return {"urn": f"urn:pulumi:dev::p::{kind}::{name}", "type": kind, "custom": True,
                "provider": f"{provider}::0000", "inputs": {"metadata": meta}, "outputs": {"metadata": meta}}

    return {"resources": [
        {"urn": provider, "type": "pulumi:providers:kubernetes", "custom": True, "inputs": {"kubeconfig": kubeconfig}},
        obj("kubernetes:core/v1:Namespace", "apps", None),
        obj("kubernetes:apps/v1:Deployment", "web-1a2b3c4d", "apps"),
        obj("kubernetes:core/v1:ConfigMap", "api-config-5e6f", "apps"),
    ]}


def test_objects_the_cluster_lacks_are_named(tmp_path: Path) -> None:
    kubectl = tmp_path / "kubectl"
    log = tmp_path / "calls"
    # Only the namespace and the Deployment exist; every call is logged.
    kubectl.write_text(f"""#!/bin/sh
echo "$@" >> {log}
case "$*" in
  *Namespace/apps*) echo namespace/apps ;;
  *) echo deployment.apps/web-1a2b3c4d ;;
esac
""")
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    gone, notes = missing(_state(str(tmp_path / "kubeconfig")), tmp_path, {"IMMUTABLE_KUBECTL": str(kubectl)})
    assert [(t.kind, t.name) for t in gone] == [("ConfigMap", "api-config-5e6f")] and notes == []
    calls = log.read_text().splitlines()
    assert len(calls) == 2  # one lookup per namespace (and one for cluster-scoped objects)
    assert any("Deployment.v1.apps/web-1a2b3c4d ConfigMap/api-config-5e6f" in c and "-n apps" in c for c in calls)


def test_a_render_mode_stack_is_not_checked(tmp_path: Path) -> None:
    state = _state(str(tmp_path / "kubeconfig"))
    state["resources"][0]["inputs"] = {"renderYamlToDirectory": "build/manifests/dev"}
    gone, notes = missing(state, tmp_path, {"IMMUTABLE_KUBECTL": "/nonexistent"})
    assert gone == [] and all("renders manifests" in n for n in notes) and len(notes) == 2


def test_deploy_sh_checks_the_cluster_around_the_update() -> None:
    script = (ROOT / "scripts" / "deploy.sh").read_text()
    steps = r'cluster_truth "\$STACK" before|pulumi up --yes[^\n]*|cluster_truth "\$STACK" after|pulumi stack output'
    order = [m.group(0) for m in re.finditer(steps, script)]
    assert order == ['cluster_truth "$STACK" before', order[1], 'cluster_truth "$STACK" after', "pulumi stack output"], order
