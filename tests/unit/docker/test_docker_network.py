"""StackNetwork and the Docker way of "only declared services may talk": one internal
network per pair declared on both sides, a loopback-only publication for an Ingress, and a
refusal (or an explicit, recorded acceptance) for what Docker cannot filter."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from immutable_infra import ContainerServiceSpec, SpecError
from immutable_infra.docker import DockerContainerService, Link, StackNetwork
from immutable_infra.docker import network as dn
from immutable_infra.docker import run_options as ro

from ..fixtures import service
from ..k8s_harness import Result, run_program
from .test_docker_container_service import CONTAINER, NETWORK, SCOPE, containers, deploy, labels

API = service(name="api", ports=[{"name": "http", "container_port": 8080}],
              network={"ingress_from": [{"service": "web"}, {"service": "worker"}]})
WEB = service(name="web", network={"ingress_from": [{"ingress_controller": True}],
                                   "egress_to": [{"service": "api", "ports": [8080]}]},
              expose={"ingress": {"hostname": "web.example.com", "tls_secret": "web-tls"}})
WORKER = service(name="worker", ports=[], monitoring={"scrape": False},
                 probes={"liveness": {"exec_command": ["/bin/true"]}, "readiness": {"exec_command": ["/bin/true"]}},
                 network={"egress_to": [{"service": "api"}]})
LONER = service(name="loner", ports=[], monitoring={"scrape": False},
                probes={"liveness": {"exec_command": ["/bin/true"]}, "readiness": {"exec_command": ["/bin/true"]}})
TOPOLOGY = {"api": API, "web": WEB, "worker": WORKER, "loner": LONER}


def stack(specs: dict[str, dict[str, Any]] = TOPOLOGY) -> Result:
    def program() -> dict[str, Any]:
        net = StackNetwork("apps", {"services": list(specs.values())})
        for name, spec in specs.items():
            DockerContainerService(name, {"spec": spec, "network": net, "exec_break_glass": True})
        return {"links": net.links, "half": net.half_declared, "networks": net.networks}

    return run_program(program)


def networks_of(result: Result, service_name: str) -> set[str]:
    return {n["name"] for c in containers(result) if labels(c)[ro.LABEL_NAME] == service_name
            for n in c.inputs.get("networksAdvanced", [])}


def test_one_internal_network_per_pair_declared_on_both_sides() -> None:
    result = stack()
    pairs = [n for n in result.of_type(NETWORK) if n.parent == "apps"]
    assert sorted(n.name for n in pairs) == ["apps-web-to-api", "apps-worker-to-api"]
    assert all(n.inputs["internal"] is True and n.inputs["driver"] == "bridge" for n in pairs)
    assert result.outputs["links"] == ["web->api", "worker->api"]
    assert result.outputs["networks"] == {"web-to-api": f"{SCOPE}-apps-web-to-api",
                                          "worker-to-api": f"{SCOPE}-apps-worker-to-api"}


def test_only_declared_services_share_a_network() -> None:
    """Two services can talk iff they share a network; they do iff the pair is declared."""
    result = stack()
    declared = {frozenset(("web", "api")), frozenset(("worker", "api"))}
    for a, b in itertools.combinations(TOPOLOGY, 2):
        shared = networks_of(result, a) & networks_of(result, b)
        assert bool(shared) == (frozenset((a, b)) in declared), (a, b, shared)


def test_a_service_without_peers_has_no_network_at_all() -> None:
    result = stack()
    for c in containers(result):
        if labels(c)[ro.LABEL_NAME] == "loner":
            assert c.inputs["networkMode"] == "none" and "networksAdvanced" not in c.inputs


def test_half_declared_pairs_are_not_connected_and_are_reported() -> None:
    lonely_api = service(name="api", ports=[{"name": "http", "container_port": 8080}])
    result = stack({"api": lonely_api, "web": WEB})
    assert result.outputs["links"] == []
    assert result.outputs["half"] == ["web -> api: api does not list web in network.ingress_from"]
    assert not networks_of(result, "api") & networks_of(result, "web")


def test_links_are_pure_and_symmetric_in_declaration() -> None:
    specs = [ContainerServiceSpec.model_validate(s) for s in TOPOLOGY.values()]
    pairs, half = dn.links(specs)
    assert pairs == [Link("web", "api"), Link("worker", "api")] and half == []


def test_only_the_server_side_answers_to_the_service_names() -> None:
    result = stack()
    for c in containers(result):
        for attached in c.inputs.get("networksAdvanced", []):
            service_name = labels(c)[ro.LABEL_NAME]
            server = attached["name"].endswith(f"-to-{service_name}")
            assert bool(attached["aliases"]) == server
            if server:
                assert f"{service_name}.apps.svc.cluster.local" in attached["aliases"]


def test_stack_network_validates_before_registering() -> None:
    with pytest.raises(SpecError) as err:
        StackNetwork("apps", {"services": [API, {**WEB, "namespace": "other"}, {**API, "image": "nginx:latest"}]})
    assert err.value.paths == ["services[2].image", "services"]
    with pytest.raises(SpecError) as dup:
        StackNetwork("apps", {"services": [API, API]})
    assert dup.value.paths == ["services[0].name"]


def test_the_service_must_be_one_the_network_was_built_from() -> None:
    def program() -> dict[str, Any]:
        net = StackNetwork("apps", {"services": [API, WEB]})
        for spec in (WORKER, {**WEB, "network": {"egress_to": [{"service": "worker"}]}}):
            with pytest.raises(SpecError) as err:
                DockerContainerService("x", {"spec": spec, "network": net, "exec_break_glass": True})
            assert err.value.paths == ["network"]
        return {}

    run_program(program)


def test_declared_peers_need_a_stack_network() -> None:
    with pytest.raises(SpecError) as err:
        DockerContainerService("web", {"spec": WEB, "exec_break_glass": True})
    assert err.value.paths == ["network"] and "StackNetwork" in str(err.value)


# --- ingress -----------------------------------------------------------------------------------


def test_ingress_is_published_on_loopback_only_through_a_bridge_without_masquerade() -> None:
    result = deploy(WEB, peers=[API, WORKER])
    (edge,) = [n for n in result.of_type(NETWORK) if n.name.startswith("web-edge")]
    assert edge.name == "web-edge-loopback" and edge.inputs["internal"] is False
    assert edge.inputs["options"] == {"com.docker.network.bridge.enable_icc": "false",
                                      "com.docker.network.bridge.enable_ip_masquerade": "false"}
    for c in containers(result):
        assert c.inputs["ports"] == [{"internal": 8080, "ip": "127.0.0.1", "protocol": "tcp"}]
        assert c.inputs["networksAdvanced"][0]["name"] == f"{SCOPE}-apps-web-edge-loopback"
    assert result.outputs["published"] == "http://127.0.0.1:32768"
    assert "no TLS" in result.outputs["adaptations"]["expose.ingress"]


def test_no_published_port_without_an_ingress_or_without_the_ingress_controller_peer() -> None:
    for spec in (service(), {**WEB, "network": {"egress_to": [{"service": "api"}]}}):
        result = deploy(spec, peers=[API, WORKER])
        assert all("ports" not in c.inputs for c in result.of_type(CONTAINER))
        assert not [n for n in result.of_type(NETWORK) if "edge" in n.name]
        assert result.outputs["published"] is None


def test_published_endpoint_formatting() -> None:
    assert ro.published_endpoint(None) == ""
    assert ro.published_endpoint([{"internal": 8080, "ip": "127.0.0.1"}]) == ""
    assert ro.published_endpoint([{"internal": 8080, "ip": "127.0.0.1", "external": 49153.0}]) == \
        "http://127.0.0.1:49153"


# --- what Docker cannot filter -----------------------------------------------------------------


def test_cidr_egress_is_refused_unless_accepted_by_name() -> None:
    spec = service(network={"egress_to": [{"cidr": "10.0.0.0/8", "ports": [5432]}]})
    with pytest.raises(SpecError) as err:
        deploy(spec)
    assert err.value.paths == ["network.egress_to[0].cidr"]
    assert "allow_unfiltered_egress=True" in str(err.value)


def test_accepted_cidr_egress_is_an_outbound_bridge_and_a_recorded_opt_out() -> None:
    result = deploy(service(network={"egress_to": [{"cidr": "10.0.0.0/8", "ports": [5432]}]}),
                    allow_unfiltered_egress=True)
    (edge,) = result.of_type(NETWORK)
    assert edge.name == "web-edge-outbound" and edge.inputs["internal"] is False
    assert "com.docker.network.bridge.enable_ip_masquerade" not in edge.inputs["options"]
    assert result.outputs["opt_outs"] == ["exec_lock", "unfiltered_egress"]
    for c in containers(result):
        assert labels(c)["immutable.dev/opt-out-unfiltered-egress"] == "true"
        assert "ports" not in c.inputs  # outbound does not mean published
    assert "network.egress_to" in result.outputs["adaptations"]


def test_accepting_unfiltered_egress_changes_nothing_for_a_service_without_cidr_rules() -> None:
    result = deploy(service(), allow_unfiltered_egress=True)
    assert not result.of_type(NETWORK) and result.outputs["opt_outs"] == ["exec_lock"]


REFUSED = {
    "namespace peer": ({"network": {"ingress_from": [{"namespace": "other"}]}}, "network.ingress_from[0].namespace"),
    "namespace egress": ({"network": {"egress_to": [{"namespace": "other"}]}}, "network.egress_to[0].namespace"),
    "no dns": ({"network": {"allow_dns": False}}, "network.allow_dns"),
    "network_policy opt-out": ({"security": {"opt_outs": {"network_policy": {"reason": "legacy peer discovery"}}}},
                               "security.opt_outs.network_policy"),
    "warm kept blue-green": ({"strategy": "blue-green", "keep_mode": "warm"}, "keep_mode"),
    "service port for service peers": ({"network": {"ingress_from": [{"service": "api"}]}}, "ports[0].service_port"),
}


@pytest.mark.parametrize(("override", "path"), REFUSED.values(), ids=REFUSED.keys())
def test_what_docker_cannot_honour_is_refused_with_the_field_and_a_fix(override: dict[str, Any], path: str) -> None:
    with pytest.raises(SpecError) as err:
        DockerContainerService("web", {"spec": service(**override), "exec_break_glass": True})
    problem = err.value.problem_at(path)
    assert problem.message and problem.fix
    assert err.value.paths[0] == path  # (a service peer without a StackNetwork is reported too)


def test_rolling_ignores_keep_mode_as_on_kubernetes() -> None:
    assert deploy(service(strategy="rolling", keep_mode="warm")).outputs["release"]
