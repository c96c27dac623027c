"""The example topology (stacks/topology.py, unchanged) on the ``local-docker`` target:
the dev stack's config with only ``target`` changed, validated by ``stacks.program.plan``
and registered with the calls ``deploy_on_docker`` makes (the wiring for program.py)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from immutable_infra import SpecError
from immutable_infra.docker import DockerContainerService
from immutable_infra.docker import run_options as ro

from stacks import program, topology

from ..k8s_harness import Result, run_program
from ..spec.test_stack_config import SECRETS, stack_config
from .test_docker_container_service import CONTAINER, IMAGE, NETWORK, containers, engine_outputs, labels


def local_docker_plan() -> program.Plan:
    raw = copy.deepcopy(stack_config("dev"))
    raw["environment"]["target"] = "local-docker"
    return program.plan("dev", raw, SECRETS)


def deploy_on_docker(plan: program.Plan, *, accept: bool = True) -> dict[str, DockerContainerService]:
    """What program.deploy does for ``target: local-docker``."""
    return program.deploy_on_docker(plan, accept_docker_gaps=accept, with_edge=False)


def run() -> Result:
    plan = local_docker_plan()

    def fn() -> dict[str, Any]:
        services = deploy_on_docker(plan)
        out: dict[str, Any] = {}
        for name, svc in services.items():
            out |= {f"{name}_release": svc.release, f"{name}_kept": svc.kept_releases,
                    f"{name}_images": svc.images, f"{name}_endpoint": svc.endpoint,
                    f"{name}_published": svc.published_endpoint, f"{name}_opt_outs": svc.opt_outs}
        return out

    with engine_outputs():
        return run_program(fn)


def test_the_dev_config_with_target_local_docker_validates() -> None:
    plan = local_docker_plan()
    assert plan.config.environment.target == "local-docker"
    assert set(plan.services) == set(topology.SERVICES)


def test_every_service_of_the_topology_runs_on_docker_with_the_ledger_release() -> None:
    plan = local_docker_plan()
    result = run()
    for name, (active, kept) in plan.services.items():
        assert result.outputs[f"{name}_release"] == active.release
        assert result.outputs[f"{name}_kept"] == [k.release for k in kept]
        assert result.outputs[f"{name}_images"] == {r.release: r.image for r in (active, *kept)}
        running = [c for c in containers(result) if labels(c)[ro.LABEL_NAME] == name]
        assert len(running) == active.replicas == 1
        assert all(active.release in c.name for c in running)
    assert {i.inputs["name"] for i in result.of_type(IMAGE)} == {
        r.image for active, kept in plan.services.values() for r in (active, *kept)}


def test_only_the_declared_pairs_can_talk() -> None:
    result = run()
    nets = {name: {n["name"] for c in containers(result) if labels(c)[ro.LABEL_NAME] == name
                   for n in c.inputs.get("networksAdvanced", []) if n["name"].endswith(("-to-api", "-to-web",
                                                                                        "-to-worker"))}
            for name in topology.SERVICES}
    talk = {frozenset((a, b)) for a, b in itertools.combinations(topology.SERVICES, 2) if nets[a] & nets[b]}
    assert talk == {frozenset(("web", "api")), frozenset(("worker", "api"))}
    assert all(n.inputs["internal"] for n in result.of_type(NETWORK) if "-to-" in n.name)


def test_urls_in_the_topology_resolve_on_docker() -> None:
    """web's API_URL names api the Kubernetes way; api answers to that name on web's pair network."""
    result = run()
    (web,) = [c for c in containers(result) if labels(c)[ro.LABEL_NAME] == "web"]
    api_url = next(e for e in web.inputs["envs"] if e.startswith("API_URL="))
    host = api_url.split("//", 1)[1].split("/", 1)[0].split(":")[0]
    (api,) = [c for c in containers(result) if labels(c)[ro.LABEL_NAME] == "api"]
    shared = {n["name"] for n in web.inputs["networksAdvanced"]} & {n["name"] for n in api.inputs["networksAdvanced"]}
    (pair,) = shared
    assert host in next(n["aliases"] for n in api.inputs["networksAdvanced"] if n["name"] == pair)


def test_web_is_published_on_loopback_and_api_goes_out_with_a_recorded_opt_out() -> None:
    result = run()
    assert result.outputs["web_published"] == "http://127.0.0.1:32768"
    assert result.outputs["api_published"] is None and result.outputs["worker_published"] is None
    assert result.outputs["api_opt_outs"] == ["exec_lock", "unfiltered_egress"]
    assert result.outputs["web_opt_outs"] == result.outputs["worker_opt_outs"] == ["exec_lock"]
    edges = sorted(n.name for n in result.of_type(NETWORK) if "-edge-" in n.name)
    assert edges == ["api-edge-outbound", "web-edge-loopback"]


def test_every_container_of_the_topology_is_hardened() -> None:
    for c in [c for c in run().of_type(CONTAINER) if labels(c)[ro.LABEL_ROLE] == "active"]:
        i = c.inputs
        assert i["user"] == "10001:10001" and i["readOnly"] is True and i["privileged"] is False
        assert i["securityOpts"] == ["no-new-privileges:true"] and i["capabilities"] == {"drops": ["ALL"]}
        assert i["memory"] > 0 and float(i["cpus"]) > 0 and i["healthcheck"]["tests"]


def test_without_accepting_the_docker_gaps_the_topology_is_refused_before_anything_registers() -> None:
    plan = local_docker_plan()
    caught: list[SpecError] = []

    def fn() -> dict[str, Any]:
        try:
            deploy_on_docker(plan, accept=False)
        except SpecError as exc:
            caught.append(exc)
        return {}

    result = run_program(fn)
    # The StackNetwork registered first (it is valid); no service did.
    assert {r.type for r in result.resources} <= {"immutable:docker:StackNetwork", NETWORK}
    (err,) = caught
    assert err.paths == ["security.opt_outs.exec_lock"]  # web is first; it stops there


@pytest.mark.parametrize("name", topology.SERVICES)
def test_each_service_says_what_it_needs_accepted(name: str) -> None:
    plan = local_docker_plan()
    active, _ = plan.services[name]
    paths = [p.path for p in ro.docker_problems(active)]
    expected = ["security.opt_outs.exec_lock"]
    if name == "api":
        expected = ["network.egress_to[0].cidr", *expected]
    assert paths == expected


def test_every_docker_resource_is_a_child_and_named_in_the_stack_scope() -> None:
    """program.py passes ``providers=[docker.Provider(...)]`` to each component; children
    have ``parent=self``, so they inherit it. Docker names carry ``<project>-<stack>``."""
    result = run()
    for res in result.resources:
        if res.type.startswith("docker:"):
            assert res.parent in (*topology.SERVICES, topology.NAMESPACE)
            if res.type != IMAGE:
                assert res.inputs["name"].startswith("immutable-example-dev-apps-")


def test_with_fixed_addresses_and_no_edge_proxy_nothing_registers(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """program.deploy on local-docker gives web its fixed address; without the proxy running
    it stops before the network or any service registers, naming how to start the proxy."""
    monkeypatch.setenv("IMMUTABLE_EDGE_STATE", str(tmp_path))
    plan = local_docker_plan()

    def fn() -> dict[str, Any]:
        with pytest.raises(SpecError, match=r"docker/edge\.py start") as error:
            program.deploy_on_docker(plan)
        assert "nothing was deployed" in str(error.value)
        return {}

    with engine_outputs():
        result = run_program(fn)
    assert result.resources == [], [r.type for r in result.resources]


@pytest.mark.parametrize("docker_host", [None, "unix:///elsewhere/docker.sock"])
def test_the_provider_reaches_the_project_engine_without_docker_host(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch, docker_host: str | None) -> None:
    """scripts/deploy.sh exports DOCKER_HOST for its own run only; `immutable-ops rollback` from
    a plain shell must still reach the project's engine (.state/docker), never the system socket."""
    monkeypatch.delenv("IMMUTABLE_DOCKER_STATE", raising=False)
    if docker_host is None:
        monkeypatch.delenv("DOCKER_HOST", raising=False)
    else:
        monkeypatch.setenv("DOCKER_HOST", docker_host)

    def fn() -> dict[str, Any]:
        program.docker_provider(str(tmp_path))
        return {}

    result = run_program(fn)
    (provider,) = [r for r in result.resources if r.type == "pulumi:providers:docker"]
    expected = docker_host or f"unix://{tmp_path.resolve() / '.state' / 'docker' / 'docker.sock'}"
    assert provider.inputs["host"] == expected
    monkeypatch.setenv("IMMUTABLE_DOCKER_STATE", str(tmp_path / "moved"))
    if docker_host is None:  # the engine's own override moves the socket with it
        (moved,) = [r for r in run_program(fn).resources if r.type == "pulumi:providers:docker"]
        assert moved.inputs["host"] == f"unix://{tmp_path.resolve() / 'moved' / 'docker.sock'}"
