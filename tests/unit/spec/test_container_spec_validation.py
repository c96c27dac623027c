"""Every invalid ContainerServiceSpec is refused with the field, the value and a fix,
before anything is registered; secret values never appear in the message."""

from __future__ import annotations

from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec, SpecError, validate_spec
from immutable_infra.kubernetes import ContainerService

from ..fixtures import SECRET_VALUE, service
from ..k8s_harness import run_program

_OK_PROBES = {"liveness": {"http_get": {"path": "/healthz"}}, "readiness": {"http_get": {"path": "/ready"}}}
_RES = {"cpu_request": "100m", "cpu_limit": "500m", "memory_request": "64Mi", "memory_limit": "128Mi"}

# (case id, overrides, the field path the error must name)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("mutable tag", {"image": "registry.example.com/acme/web:latest"}, "image"),
    ("bare image name", {"image": "nginx"}, "image"),
    ("garbage image", {"image": "Not An Image!"}, "image"),
    ("short digest", {"image": "registry.example.com/web@sha256:abc"}, "image"),
    ("bad service name", {"name": "Web_Service"}, "name"),
    ("name too long", {"name": "w" * 64}, "name"),
    ("default namespace", {"namespace": "default"}, "namespace"),
    ("kube-system namespace", {"namespace": "kube-system"}, "namespace"),
    ("missing probes", {"probes": None}, "probes"),
    ("missing readiness", {"probes": {"liveness": {"http_get": {}}}}, "probes.readiness"),
    ("probe with two handlers", {"probes": {**_OK_PROBES, "liveness": {"http_get": {}, "tcp_port": 80}}},
     "probes.liveness.http_get"),
    ("probe with no handler", {"probes": {**_OK_PROBES, "readiness": {}}}, "probes.readiness.http_get"),
    ("probe on undeclared port", {"probes": {**_OK_PROBES, "readiness": {"http_get": {"port": "admin"}}}},
     "probes.readiness.http_get.port"),
    ("root user", {"security": {"run_as_user": 0}}, "security.run_as_user"),
    ("low gid", {"security": {"run_as_group": 1000}}, "security.run_as_group"),
    ("secret in plain env", {"env": {"DB_PASSWORD": SECRET_VALUE}}, "env.DB_PASSWORD"),
    ("token in plain env", {"env": {"GITHUB_TOKEN": SECRET_VALUE}}, "env.GITHUB_TOKEN"),
    ("bad env name", {"env": {"1BAD": "x"}}, "env.1BAD"),
    ("reserved env prefix", {"env": {"KUBERNETES_SERVICE_HOST": "x"}}, "env.KUBERNETES_SERVICE_HOST"),
    ("bad cpu quantity", {"resources": {**_RES, "cpu_limit": "lots"}}, "resources.cpu_limit"),
    ("bad memory quantity", {"resources": {**_RES, "memory_limit": "128MB"}}, "resources.memory_limit"),
    ("tiny memory", {"resources": {**_RES, "memory_request": "1Ki"}}, "resources.memory_request"),
    ("request above limit", {"resources": {**_RES, "cpu_request": "2"}}, "resources.cpu_request"),
    ("memory request above limit", {"resources": {**_RES, "memory_request": "1Gi"}}, "resources.memory_request"),
    ("missing resources", {"resources": None}, "resources"),
    ("port clash", {"ports": [{"name": "http", "container_port": 8080}, {"name": "http", "container_port": 9090}]},
     "ports[1].name"),
    ("same container port", {"ports": [{"name": "a", "container_port": 8080}, {"name": "b", "container_port": 8080}]},
     "ports[1].container_port"),
    ("port out of range", {"ports": [{"name": "http", "container_port": 70000}]}, "ports[0].container_port"),
    ("unknown opt-out", {"security": {"opt_outs": {"root_please": {"reason": "because we really need it"}}}},
     "security.opt_outs.root_please"),
    ("opt-out without reason", {"security": {"opt_outs": {"run_as_root": {"reason": "x"}}}},
     "security.opt_outs.run_as_root.reason"),
    ("unknown field", {"replcas": 3}, "replcas"),
    ("negative replicas", {"replicas": -1}, "replicas"),
    ("bad strategy", {"strategy": "canary"}, "strategy"),
    ("too many kept", {"keep_previous": 50}, "keep_previous"),
    ("ingress without tls", {"expose": {"ingress": {"hostname": "web.example.com"}}}, "expose.ingress.tls_secret"),
    ("bad hostname", {"expose": {"ingress": {"hostname": "not a host", "tls_secret": "tls"}}},
     "expose.ingress.hostname"),
    ("egress everywhere", {"network": {"egress_to": [{"cidr": "0.0.0.0/0"}]}}, "network.egress_to[0].ports"),
    ("bad cidr", {"network": {"egress_to": [{"cidr": "10.0.0.1/8", "ports": [443]}]}}, "network.egress_to[0].cidr"),
    ("peer with two kinds", {"network": {"ingress_from": [{"service": "api", "namespace": "x"}]}},
     "network.ingress_from[0].service"),
    ("relative config dir", {"config_dir": "etc/app"}, "config_dir"),
    ("duplicate config file", {"config_files": [{"name": "a", "content": "1"}, {"name": "a", "content": "2"}]},
     "config_files[1].name"),
    ("config file with slash", {"config_files": [{"name": "../etc/passwd", "content": "x"}]}, "config_files[0].name"),
    ("duplicate secret", {"secrets": [{"name": "s", "value": "v1"}, {"name": "s", "value": "v2"}]}, "secrets[1].name"),
    ("mounts overlap", {"secrets_dir": "/etc/app"}, "secrets_dir"),
    ("credentials in endpoint url", {"state": {"endpoints": [{"name": "DB", "url": "postgres://u:p@db/x"}]}},
     "state.endpoints[0].url"),
    ("blue-green with no replicas", {"strategy": "blue-green", "replicas": 0}, "replicas"),
    ("reserved label", {"labels": {"immutable.dev/release": "x"}}, "labels.immutable.dev/release"),
]


@pytest.mark.parametrize(("overrides", "path"), [(o, p) for _, o, p in INVALID], ids=[c for c, _, _ in INVALID])
def test_invalid_spec_names_field_value_and_fix(overrides: dict[str, Any], path: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_spec(ContainerServiceSpec, service(**overrides))
    problem = caught.value.problem_at(path)
    assert problem.fix and problem.message and problem.value
    assert SECRET_VALUE not in str(caught.value)


def test_at_least_thirty_invalid_cases() -> None:
    assert len(INVALID) >= 30


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SpecError) as caught:
        validate_spec(ContainerServiceSpec, service(name="Bad_Name", namespace="default", replicas=-2, strategy="x"))
    assert set(caught.value.paths) >= {"name", "namespace", "replicas", "strategy"}


def test_secret_values_are_masked_even_when_the_key_is_wrong() -> None:
    data = service()
    data["secrets"] = [{"name": "db-password", "value": SECRET_VALUE, "bogus": SECRET_VALUE}]
    with pytest.raises(SpecError) as caught:
        validate_spec(ContainerServiceSpec, data)
    assert SECRET_VALUE not in str(caught.value)
    assert "***" in str(caught.value)


def test_mutable_tag_allowed_with_explicit_opt_out() -> None:
    spec = validate_spec(ContainerServiceSpec, service(
        image="registry.example.com/acme/web:1.2",
        security={"opt_outs": {"mutable_image_tag": {"reason": "local development image"}}}))
    assert spec.security.opt_outs.names() == ["mutable_image_tag"]


def test_invalid_spec_registers_nothing() -> None:
    def program() -> None:
        with pytest.raises(SpecError):
            ContainerService("web", {"spec": service(image="nginx:latest")})
        with pytest.raises(SpecError):
            ContainerService("api", {"spec": service(name="api"), "previous": [service(name="api", replicas=-1)]})

    assert run_program(program).resources == []


def test_invalid_kept_release_is_reported_with_its_index() -> None:
    with pytest.raises(SpecError) as caught:
        run_program(lambda: ContainerService("web", {"spec": service(), "previous": [service(image="nginx")]}) and None)
    assert "previous[0].image" in caught.value.paths
