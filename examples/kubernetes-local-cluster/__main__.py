"""ServiceNamespace + two ContainerServices on a cluster (default: the local control plane
that ``python3 cluster/local.py start`` runs, kubeconfig ``.state/cluster/kubeconfig``).

    pulumi config set --secret db-password <value>
    pulumi config set kubeconfig /path/to/kubeconfig     # optional
    pulumi up
"""

import pathlib
import sys

import pulumi
import pulumi_kubernetes as k8s

# examples/shop.py, shared by both Kubernetes examples (beside this file in a copied project)
HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from shop import deploy_shop  # noqa: E402

config = pulumi.Config()
provider = k8s.Provider("cluster", kubeconfig=config.get("kubeconfig") or "../../.state/cluster/kubeconfig")
deploy_shop(config, pulumi.ResourceOptions(providers=[provider]))
