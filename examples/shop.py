"""The shop both Kubernetes examples deploy: a namespace, an ``api`` with a secret from the
stack's config, and a blue-green ``web`` that reaches the api through its endpoint. The two
examples differ only in their provider (a cluster, or render to YAML), so they share this.
"""

import pulumi
from immutable_infra.kubernetes import ContainerService, ServiceNamespace

RESOURCES = {"cpu_request": "50m", "cpu_limit": "250m", "memory_request": "64Mi", "memory_limit": "128Mi"}
PROBES = {"liveness": {"http_get": {"path": "/healthz"}}, "readiness": {"http_get": {"path": "/ready"}}}
DIGEST = "sha256:3bd05339d5f20e1fe378e58d6f3431a75ee11b47d4266506a4a424d7dd3f06e4"


def deploy_shop(config: pulumi.Config, opts: pulumi.ResourceOptions) -> None:
    """Declare the shop with ``opts`` (its provider) and export what the examples show."""
    ns = ServiceNamespace("shop", {"spec": {"name": "shop"}}, opts=opts)
    api = ContainerService("api", {"namespace": ns.name, "spec": {
        "name": "api", "image": f"registry.example.com/acme/api@{DIGEST}",
        "ports": [{"name": "http", "container_port": 8080, "service_port": 80}],
        "resources": RESOURCES, "probes": PROBES,
        "network": {"ingress_from": [{"service": "web"}]},
        # From the stack's encrypted config: secret end to end; `version` names the release.
        "secrets": [{"name": "db-password", "value": config.require_secret("db-password"), "version": "1"}],
    }}, opts=opts)
    web = ContainerService("web", {"namespace": ns.name, "spec": {
        "name": "web", "image": f"registry.example.com/acme/web@{DIGEST}",
        "ports": [{"name": "http", "container_port": 8080, "service_port": 80}],
        "resources": RESOURCES, "probes": PROBES, "strategy": "blue-green",
        "network": {"egress_to": [{"service": "api", "ports": [8080]}]},
        # An Output endpoint is pinned by its version (bump it when the api's address changes): a new
        # address is then a new release of web, never its running pods changed in place.
        "state": {"endpoints": [{"name": "API_URL", "url": api.endpoint, "version": "api-v1"}]},
    }}, opts=opts)

    pulumi.export("namespace", ns.name)
    pulumi.export("api_endpoint", api.endpoint)
    pulumi.export("web_release", web.release)
    pulumi.export("web_selector", web.selector_labels)
