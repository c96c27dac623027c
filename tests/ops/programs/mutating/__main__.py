"""Deliberately mutating: generation 2 of this program changes running compute in place.

Plain ``pulumi_kubernetes`` in render mode (manifests written to a directory, no cluster).
Deploy it with ``immutable-ops-mutating:generation`` 1, then preview generation 2: every
resource below is then *updated* (not replaced) by the Kubernetes provider, and
``immutable-ops guard`` must name each one. Used by tests/ops/test_engine_guard.py; do not
"fix" it.
"""

import os

import pulumi
import pulumi_kubernetes as k8s

config = pulumi.Config()
generation = config.get_int("generation") or 1
render_dir = config.get("render_dir") or os.path.join(os.getcwd(), "build", "rendered")
# enable_config_map_mutable: mutable ConfigMaps are patched in place instead of replaced.
provider = k8s.Provider("render", render_yaml_to_directory=render_dir, enable_config_map_mutable=True)
opts = pulumi.ResourceOptions(provider=provider)
image = "registry.example.com/acme/batch@sha256:" + "4" * 64
labels = {"app.kubernetes.io/name": "batch"}

# pod-patched: tolerations and the deadline of a running Pod are updatable in place.
k8s.core.v1.Pod(
    "batch-runner",
    metadata={"name": "batch-runner", "namespace": "jobs", "labels": labels},
    spec={
        "activeDeadlineSeconds": 3600 * generation,
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": f"batch-{generation}", "effect": "NoSchedule"}],
        "containers": [{"name": "batch", "image": image}],
    },
    opts=opts,
)

# pods-not-replaced: an OnDelete StatefulSet changes its template; its pods keep the old one.
k8s.apps.v1.StatefulSet(
    "cache",
    metadata={"name": "cache", "namespace": "jobs"},
    spec={
        "serviceName": "cache",
        "replicas": 2,
        "updateStrategy": {"type": "OnDelete"},
        "selector": {"matchLabels": {"app.kubernetes.io/name": "cache"}},
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "cache"}},
            "spec": {"containers": [{"name": "cache", "image": image,
                                     "env": [{"name": "GENERATION", "value": str(generation)}]}]},
        },
    },
    opts=opts,
)

# config-patched: an immutable ConfigMap made mutable and its content patched.
k8s.core.v1.ConfigMap(
    "settings",
    metadata={"name": "settings", "namespace": "jobs"},
    data={"LOG_LEVEL": "info" if generation == 1 else "debug"},
    immutable=generation == 1,
    opts=opts,
)

# release-patched: a Deployment of release 1a2b3c4d changes what runs under the same release id.
release_labels = {"app.kubernetes.io/name": "api", "immutable.dev/release": "1a2b3c4d"}
k8s.apps.v1.Deployment(
    "api-1a2b3c4d",
    metadata={"name": "api-1a2b3c4d", "namespace": "jobs", "labels": release_labels},
    spec={
        "replicas": 2,
        "selector": {"matchLabels": release_labels},
        "template": {
            "metadata": {"labels": release_labels},
            "spec": {"containers": [{"name": "api", "image": image, "args": [f"--workers={2 * generation}"]}]},
        },
    },
    opts=opts,
)
