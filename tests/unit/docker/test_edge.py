"""The edge proxy's routing rule (docker/edge.py) and the refusals before anything registers
(components/docker/edge.py, stacks/program.deploy_on_docker), without an engine or a proxy.

The proxy itself, Caddy and the sync, on a real engine under load: tests/docker/test_story.py.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import time
from typing import Any

import pulumi
import pytest
from immutable_infra import ContainerServiceSpec, SpecError
from immutable_infra.docker import DockerContainerService
from immutable_infra.docker import edge as ed
from immutable_infra.docker import run_options as ro

from tests.unit.fixtures import service

ROOT = pathlib.Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("docker_edge", ROOT / "docker" / "edge.py")
assert _spec is not None and _spec.loader is not None
edge = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(edge)


def container(release: str, host_port: int, *, healthy: bool = True, created: int = 100, replicas: int = 2,
              edge_port: int = 18102, role: str = "active") -> dict[str, Any]:
    return {"Id": f"{release}-{host_port}", "Created": created, "Healthy": healthy,
            "Labels": {ro.LABEL_NAME: "web", ro.LABEL_RELEASE: release, ro.LABEL_ROLE: role,
                       ro.LABEL_EDGE_PORT: str(edge_port), ro.LABEL_EDGE_TARGET: "8080",
                       ro.LABEL_REPLICAS: str(replicas)},
            "Ports": [{"PrivatePort": 8080, "IP": "127.0.0.1", "PublicPort": host_port, "Type": "tcp"}]}


def test_the_labels_the_component_writes_are_the_ones_the_proxy_reads() -> None:
    assert (edge.LABEL_EDGE_PORT, edge.LABEL_EDGE_TARGET, edge.LABEL_REPLICAS, edge.LABEL_RELEASE, edge.LABEL_ROLE,
            edge.LABEL_NAME) == (ro.LABEL_EDGE_PORT, ro.LABEL_EDGE_TARGET, ro.LABEL_REPLICAS, ro.LABEL_RELEASE,
                                 ro.LABEL_ROLE, ro.LABEL_NAME)
    spec = ContainerServiceSpec.model_validate(published(replicas=3))
    labels = ro.container_labels(spec, spec.release, "active", edge_port=18102)
    assert (labels[ro.LABEL_EDGE_PORT], labels[ro.LABEL_EDGE_TARGET], labels[ro.LABEL_REPLICAS]) == ("18102", "8080", "3")
    assert ro.LABEL_EDGE_PORT not in ro.container_labels(spec, spec.release, "active")
    unpublished = ContainerServiceSpec.model_validate(service())
    assert ro.LABEL_EDGE_PORT not in ro.container_labels(unpublished, unpublished.release, "active", edge_port=18102)


def test_the_route_stays_on_the_old_release_until_every_new_replica_is_healthy() -> None:
    old = [container("r1", 32001, created=100), container("r1", 32002, created=100)]
    one_new = [container("r2", 32003, created=200), container("r2", 32004, created=201, healthy=False)]
    assert edge.choose_upstreams(old + one_new)[18102]["release"] == "r1"
    both_new = [container("r2", 32003, created=200), container("r2", 32004, created=201)]
    route = edge.choose_upstreams(old + both_new)[18102]
    assert route == {"service": "web", "release": "r2", "upstreams": ["127.0.0.1:32003", "127.0.0.1:32004"]}


def test_a_never_healthy_release_never_gets_the_route_and_a_rollback_moves_it_back() -> None:
    old = [container("r1", 32001), container("r1", 32002)]
    broken = [container("bad", 32005, created=300, healthy=False), container("bad", 32006, created=301, healthy=False)]
    assert edge.choose_upstreams(old + broken)[18102]["release"] == "r1"
    # Rollback: r1's containers made anew are the newest whole release.
    r2 = [container("r2", 32003, created=200), container("r2", 32004, created=200)]
    r1_again = [container("r1", 32007, created=400), container("r1", 32008, created=400)]
    assert edge.choose_upstreams(r2 + r1_again)[18102]["upstreams"] == ["127.0.0.1:32007", "127.0.0.1:32008"]


def test_when_no_release_is_whole_only_healthy_containers_of_the_newest_get_traffic() -> None:
    rows = [container("r1", 32001), container("r1", 32002, healthy=False), container("seed", 1, role="seed")]
    assert edge.choose_upstreams(rows)[18102]["upstreams"] == ["127.0.0.1:32001"]
    assert edge.choose_upstreams([container("r1", 32001, healthy=False)])[18102] == {
        "service": "web", "release": None, "upstreams": []}


def test_caddy_config_listens_on_loopback_only_and_answers_503_without_a_healthy_container(tmp_path: pathlib.Path) -> None:
    admin = tmp_path / "admin.sock"
    config = edge.caddy_config({18102: {"service": "web", "release": "r1", "upstreams": ["127.0.0.1:32001"]},
                                18454: {"service": "api", "release": None, "upstreams": []}}, admin)
    assert config["admin"]["listen"] == f"unix/{admin}"  # never a TCP admin port
    servers = config["apps"]["http"]["servers"]
    assert servers["web-18102"]["listen"] == ["127.0.0.1:18102"]
    (handler,) = servers["web-18102"]["routes"][0]["handle"]
    assert handler["handler"] == "reverse_proxy" and handler["upstreams"] == [{"dial": "127.0.0.1:32001"}]
    assert servers["api-18454"]["routes"][0]["handle"][0]["status_code"] == 503
    assert all(s["automatic_https"] == {"disable": True} for s in servers.values())
    json.dumps(config)  # what the admin API receives


def published(**overrides: Any) -> dict[str, Any]:
    return service(network={"ingress_from": [{"ingress_controller": True}]},
                   expose={"ingress": {"hostname": "web.example.com", "tls_secret": "web-tls"}}, **overrides)


def test_edge_port_without_a_running_proxy_is_refused_naming_how_to_start_it(tmp_path: pathlib.Path) -> None:
    spec = ContainerServiceSpec.model_validate(published())
    (problem,) = ed.edge_problems(spec, 18102, tmp_path)
    assert problem.path == "edge_port" and "not running" in problem.message
    assert "python3 docker/edge.py start" in problem.fix
    # A stale heartbeat (the sync died) is not running either.
    (tmp_path / "sync.json").write_text(json.dumps({"time": time.time() - 60, "routes": {}}))
    assert "old" in (ed.edge_running(tmp_path) or "")
    with pytest.raises(SpecError, match=r"docker/edge\.py start"):
        ed.require_edge_proxy(str(tmp_path))


def test_a_running_proxy_passes_the_check(edge_proxy_stand_in: pathlib.Path) -> None:
    assert ed.edge_running(edge_proxy_stand_in) is None
    spec = ContainerServiceSpec.model_validate(published())
    assert ed.edge_problems(spec, 18102, edge_proxy_stand_in) == []
    ed.require_edge_proxy(str(edge_proxy_stand_in))
    unpublished = ContainerServiceSpec.model_validate(service())
    assert ed.edge_port_problems(unpublished, 18102)[0].message.startswith("the service is not published")
    assert ed.edge_port_problems(spec, 80)[0].path == "edge_port"
    assert ed.edge_port_problems(spec, True)[0].path == "edge_port"  # type: ignore[arg-type]
    assert ed.edge_port_problems(spec, 18102) == []


def test_a_port_the_proxy_routes_to_another_service_is_refused(edge_proxy_stand_in: pathlib.Path) -> None:
    beat = {"time": time.time(), "routes": {"18102": {"service": "api", "release": "r9", "upstreams": []}}}
    (edge_proxy_stand_in / "sync.json").write_text(json.dumps(beat))
    web = ContainerServiceSpec.model_validate(published())
    (problem,) = ed.edge_problems(web, 18102, edge_proxy_stand_in)
    assert problem.path == "edge_port" and "'api'" in problem.message
    assert ed.edge_problems(web, 18103, edge_proxy_stand_in) == []  # a free port
    api = ContainerServiceSpec.model_validate(published(name="api"))
    assert ed.edge_problems(api, 18102, edge_proxy_stand_in) == []  # its own port, on its next release


def test_a_bad_edge_port_is_reported_with_the_other_problems_before_registering(
        edge_proxy_stand_in: pathlib.Path) -> None:
    bad = published()
    with pytest.raises(SpecError) as caught:
        DockerContainerService("web", {"spec": bad, "edge_port": 80, "exec_break_glass": True,
                                       "probe_binary": "relative/probe"})
    paths = {p.path for p in caught.value.problems}
    assert {"edge_port", "probe_binary"} <= paths, paths


def test_the_component_registers_nothing_without_the_proxy(tmp_path: pathlib.Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ed.EDGE_STATE_ENV, str(tmp_path))
    registered: list[str] = []

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            registered.append(args.typ)
            return args.name, dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            return {}, None

    pulumi.runtime.set_mocks(Mocks(), preview=False)
    with pytest.raises(SpecError, match="edge proxy is not running"):
        DockerContainerService("web", {"spec": published(), "edge_port": 18102, "exec_break_glass": True})
    assert registered == []


def test_the_probe_binary_is_required_for_http_and_tcp_probes(tmp_path: pathlib.Path) -> None:
    spec = ContainerServiceSpec.model_validate(service())
    (missing,) = ed.probe_problems(spec, None)
    assert missing.path == "probes.readiness.http_get" and "cluster/build.py --only probe" in missing.fix
    assert ed.probe_problems(spec, str(tmp_path / "nope"))[0].path == "probe_binary"
    assert ed.probe_problems(spec, "relative/probe")[0].path == "probe_binary"


def test_default_edge_ports_depend_on_the_name_only() -> None:
    ports = {n: ed.default_edge_port(n) for n in ("web", "api", "worker")}
    assert all(ed.EDGE_PORT_BASE <= p < ed.EDGE_PORT_BASE + ed.EDGE_PORT_SPAN for p in ports.values())
    assert len(set(ports.values())) == 3 and ed.default_edge_port("web") == ports["web"]
