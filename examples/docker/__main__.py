"""Two services on a developer's Docker engine: one internal network per declared pair.

    pulumi config set --secret db-password <value>
    pulumi up            # DOCKER_HOST or the default socket
"""

import pulumi
from immutable_infra.docker import DockerContainerService, StackNetwork

config = pulumi.Config()
RESOURCES = {"cpu_request": "50m", "cpu_limit": "250m", "memory_request": "64Mi", "memory_limit": "128Mi"}
PROBES = {"liveness": {"http_get": {"path": "/healthz"}}, "readiness": {"http_get": {"path": "/ready"}}}
DIGEST = "sha256:3bd05339d5f20e1fe378e58d6f3431a75ee11b47d4266506a4a424d7dd3f06e4"

api_spec = {
    "name": "api", "image": f"registry.example.com/acme/api@{DIGEST}",
    "ports": [{"name": "http", "container_port": 8080}], "replicas": 1,
    "resources": RESOURCES, "probes": PROBES,
    "network": {"ingress_from": [{"service": "web"}]},
    "secrets": [{"name": "db-password", "value": config.require_secret("db-password"), "version": "1"}],
}
web_spec = {
    "name": "web", "image": f"registry.example.com/acme/web@{DIGEST}",
    "ports": [{"name": "http", "container_port": 8080}], "replicas": 1,
    "resources": RESOURCES, "probes": PROBES,
    "network": {"egress_to": [{"service": "api", "ports": [8080]}], "ingress_from": [{"ingress_controller": True}]},
    "expose": {"ingress": {"hostname": "web.localhost", "tls_secret": "web-tls"}},
}
network = StackNetwork("apps", {"services": [api_spec, web_spec]})
# Docker cannot refuse `docker exec`: a local target accepts it, and it is recorded as an opt-out.
api = DockerContainerService("api", {"spec": api_spec, "network": network, "exec_break_glass": True})
# An Output endpoint is pinned by its version (bump it when the api's address changes).
web = DockerContainerService("web", {"spec": {**web_spec, "state": {"endpoints": [
    {"name": "API_URL", "url": api.endpoint, "version": "api-v1"}]}},
                                     "network": network, "exec_break_glass": True})

pulumi.export("api_endpoint", api.endpoint)
pulumi.export("web_published", web.published_endpoint)
pulumi.export("web_networks", web.network_names)
