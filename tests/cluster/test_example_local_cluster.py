"""``examples/kubernetes-local-cluster`` on the real local control plane: the namespace from
``ServiceNamespace``, the secret from ``require_secret`` and the api's endpoint in web's env
arrive in the cluster as the components promised."""

from __future__ import annotations

import pathlib
import sys

import pytest

from tests.cluster.kube import Cluster
from tests.engine.harness import toolchain_missing
from tests.engine.projects import Project, example_files

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]

SECRET = "cluster-example-db-password"


def test_local_cluster_example_deploys_and_wires(cluster: Cluster, tmp_path: pathlib.Path) -> None:
    project = Project.create(tmp_path, example_files("kubernetes-local-cluster"), virtualenv=sys.prefix)
    project.init(secrets={"db-password": SECRET})
    project.pulumi("config", "set", "kubeconfig", str(cluster.kubeconfig), "-s", "dev")
    try:
        project.pulumi("up", "--yes", "--skip-preview", "-s", "dev", timeout=600)
        deployments = cluster.get("deployments", "-n", "shop")["items"]
        web = next(d for d in deployments if d["metadata"]["name"].startswith("web-"))
        env = {e["name"]: e.get("value") for e in web["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["API_URL"] == "http://api.shop.svc.cluster.local:80"
        ready = {d["metadata"]["name"]: d.get("status", {}).get("readyReplicas", 0) for d in deployments}
        assert all(count >= 1 for count in ready.values()), ready
        secrets = [s for s in cluster.get("secrets", "-n", "shop")["items"] if s["metadata"]["name"].startswith("api-secret-")]
        assert len(secrets) == 1 and secrets[0]["immutable"] is True
        assert SECRET not in (project.dir / "Pulumi.dev.yaml").read_text()
    finally:
        project.pulumi("destroy", "--yes", "-s", "dev", check=False, timeout=360)
