"""ServiceNamespace + two ContainerServices, rendered to YAML (no cluster needed).

    pulumi config set --secret db-password <value>
    pulumi up            # manifests land in build/manifests/ (git-ignored: Secrets too)
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
provider = k8s.Provider("render", render_yaml_to_directory=config.get("render-dir") or "build/manifests")
deploy_shop(config, pulumi.ResourceOptions(providers=[provider]))
