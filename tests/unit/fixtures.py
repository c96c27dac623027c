"""A small valid service spec to vary in tests."""

from __future__ import annotations

import copy
from typing import Any

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64
IMAGE_A = f"registry.example.com/acme/web@{DIGEST_A}"
IMAGE_B = f"registry.example.com/acme/web@{DIGEST_B}"
IMAGE_C = f"registry.example.com/acme/web@{DIGEST_C}"
SECRET_VALUE = "s3cr3t-hunter2-value"


def service(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "web",
        "image": IMAGE_A,
        "namespace": "apps",
        "ports": [{"name": "http", "container_port": 8080, "service_port": 80}],
        "env": {"LOG_FORMAT": "json"},
        "config_files": [{"name": "app.toml", "content": "port = 8080\n"}],
        "secrets": [{"name": "db-password", "value": SECRET_VALUE}],
        "resources": {"cpu_request": "100m", "cpu_limit": "500m", "memory_request": "64Mi",
                      "memory_limit": "128Mi"},
        "probes": {"liveness": {"http_get": {"path": "/healthz"}}, "readiness": {"http_get": {"path": "/ready"}}},
        "replicas": 2,
    }
    out = copy.deepcopy(base)
    out.update(overrides)
    return out
