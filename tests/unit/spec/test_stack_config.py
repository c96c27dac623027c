"""Stack config: the example stacks validate; every bad key is reported naming the
Pulumi.<env>.yaml key; environments differ only in allowed knobs."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pytest
import yaml
from immutable_infra import SpecError
from immutable_infra.environment import load_stack_config
from immutable_infra.ledger import WorkloadLedger
from immutable_infra.records import SecretStore

from stacks import program, topology

from ..k8s_harness import run_program

ROOT = pathlib.Path(__file__).resolve().parents[3]
SECRETS = SecretStore(versions={"api-db-password": {"v1": "example-db-password"}})


def stack_config(stack: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {k.split(":", 1)[1]: v for k, v in data.items() if k.startswith("immutable:")}


@pytest.mark.parametrize("stack", ["dev", "test", "prod"])
def test_example_stacks_validate(stack: str) -> None:
    plan = program.plan(stack, stack_config(stack), SECRETS)
    assert set(plan.services) == set(topology.SERVICES)


def test_environments_share_every_release() -> None:
    """Same artifacts, same topology: dev, test and prod run identical releases; only knobs differ.
    (dev's ledger names the apps built on this machine, test's and prod's their promoted
    artifacts: each stack is planned here with one ledger, test's, as today's code makes it:
    its entries without their recorded ids, which must be the ids today's code computes.)"""
    recorded = stack_config("test")["ledger"]
    ledger = {n: {"releases": [{k: v for k, v in e.items() if k != "release"} for e in w["releases"]]}
              for n, w in recorded.items()}
    releases = {s: {n: a.release for n, (a, _) in program.plan(
        s, {**stack_config(s), "ledger": ledger}, SECRETS).services.items()} for s in ("dev", "test", "prod")}
    assert releases["dev"] == releases["test"] == releases["prod"]
    assert releases["test"] == {n: recorded[n]["releases"][-1]["release"] for n in releases["test"]}


def _with(stack: str, path: list[str], value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(stack_config(stack))
    node = raw
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return raw


BAD_CONFIGS: list[tuple[str, str, list[str], Any, str]] = [
    ("unknown top-level key", "dev", ["enviroment"], {}, "Pulumi.dev.yaml: immutable:enviroment"),
    ("unknown environment knob", "dev", ["environment", "replicas"], 3, "Pulumi.dev.yaml: immutable:environment.replicas"),
    ("wrong type", "dev", ["environment", "services", "web", "replicas"], "three",
     "Pulumi.dev.yaml: immutable:environment.services.web.replicas"),
    ("unknown service knob", "dev", ["environment", "services", "web", "image"], "nginx",
     "Pulumi.dev.yaml: immutable:environment.services.web.image"),
    ("unknown service", "dev", ["environment", "services", "db"], {"replicas": 1},
     "Pulumi.dev.yaml: immutable:environment.services.db"),
    ("bad target", "dev", ["environment", "target"], "mars", "Pulumi.dev.yaml: immutable:environment.target"),
    ("prod mutable tags", "prod", ["environment", "allow_mutable_image_tags"], True,
     "Pulumi.prod.yaml: immutable:environment.allow_mutable_image_tags"),
    ("prod break glass", "prod", ["environment", "exec_break_glass"], True,
     "Pulumi.prod.yaml: immutable:environment.exec_break_glass"),
    ("prod on local target", "prod", ["environment", "target"], "render", "Pulumi.prod.yaml: immutable:environment.target"),
    ("name mismatch", "test", ["environment", "name"], "prod", "Pulumi.test.yaml: immutable:environment.name"),
    ("negative replicas", "dev", ["environment", "services", "api", "replicas"], -1,
     "Pulumi.dev.yaml: immutable:environment.services.api.replicas"),
    ("bad hostname", "dev", ["environment", "services", "web", "hostname"], "web_dev",
     "Pulumi.dev.yaml: immutable:environment.services.web.hostname"),
    ("ledger for unknown workload", "dev", ["ledger", "db"], {"releases": [{"artifact": "x"}]},
     "Pulumi.dev.yaml: immutable:ledger.db"),
    ("empty ledger", "dev", ["ledger", "web", "releases"], [], "Pulumi.dev.yaml: immutable:ledger.web.releases"),
    ("active not listed", "dev", ["ledger", "web", "active"], "registry.example.com/other@sha256:" + "1" * 64,
     "Pulumi.dev.yaml: immutable:ledger.web.active"),
]


@pytest.mark.parametrize(("stack", "path", "value", "expected"), [b[1:] for b in BAD_CONFIGS],
                         ids=[b[0] for b in BAD_CONFIGS])
def test_bad_stack_config_names_the_yaml_key(stack: str, path: list[str], value: Any, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        program.plan(stack, _with(stack, path, value), SECRETS)
    assert expected in caught.value.paths, caught.value.paths
    assert all(p.fix for p in caught.value.problems)


def test_mutable_tag_in_ledger_is_refused_with_service_path() -> None:
    raw = _with("test", ["ledger", "web", "releases"], [{"artifact": "registry.example.com/acme/web:latest"}])
    with pytest.raises(SpecError) as caught:
        program.plan("test", raw, SECRETS)
    assert caught.value.paths == ["Pulumi.test.yaml: immutable:ledger.web.releases[0].artifact"]


def test_missing_secret_names_the_config_key() -> None:
    def run() -> None:
        with pytest.raises(SpecError) as caught:
            program.read_secrets("test")
        assert caught.value.paths == ["Pulumi.test.yaml: immutable:secrets.api-db-password"]

    run_program(run, stack="test")


def test_invalid_stack_config_registers_nothing() -> None:
    def run() -> None:
        with pytest.raises(SpecError):
            program.deploy("dev", _with("dev", ["environment", "services", "web", "replicas"], -5), SECRETS, str(ROOT))

    assert run_program(run).resources == []


def test_dev_stack_registers_topology_through_render_provider() -> None:
    raw = _with("dev", ["environment", "target"], "render")
    result = run_program(lambda: program.deploy("dev", raw, SECRETS, str(ROOT)))
    provider = result.named("render")
    assert provider.inputs["renderYamlToDirectory"] == f"{ROOT}/build/manifests/dev"
    assert {r.name for r in result.of_type("immutable:kubernetes:ContainerService")} == set(topology.SERVICES)
    assert result.named("apps-ns").inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_ledger_previous_and_rollback() -> None:
    ledger = WorkloadLedger.model_validate({"releases": [{"artifact": a} for a in "abcd"]})
    assert ledger.active_artifact == "d" and ledger.previous(2) == ["c", "b"]
    rolled = ledger.pointed_at("b")
    assert rolled.active_artifact == "b" and rolled.previous(2) == ["d", "c"]
    assert ledger.appended("e").previous(1) == ["d"]


def test_load_stack_config_without_environment_defaults_to_render() -> None:
    config = load_stack_config("dev", {})
    assert config.environment.target == "render" and config.environment.name == "dev"


def test_server_group_is_validated_everywhere_and_deployed_only_with_an_aws_target() -> None:
    result = run_program(lambda: program.deploy("dev", stack_config("dev"), SECRETS, str(ROOT)))
    assert not result.of_type("immutable:aws:ServerGroup")
    with_aws = _with("prod", ["environment", "aws"], {
        "region": "eu-west-1", "vpc_id": "vpc-0123456789abcdef0",
        "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
        "load_balancer_subnet_ids": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"],
        "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef"})
    result = run_program(lambda: program.deploy("prod", with_aws, SECRETS, str(ROOT)), stack="prod")
    (group,) = result.of_type("immutable:aws:ServerGroup")
    assert group.name == "legacy"
    assert result.named("aws").inputs["region"] == "eu-west-1"
    plan = program.plan("prod", with_aws, SECRETS)
    active, history = plan.server_groups["legacy"]
    assert active.ami_id == "ami-0f9e8d7c6b5a40312" and [h.ami_id for h in history] == ["ami-0a1b2c3d4e5f60718"]
    assert any(r.type == "aws:autoscaling/group:Group" and active.release in r.name for r in result.resources)


def test_server_group_scale_knobs_keep_the_release() -> None:
    dev = program.plan("dev", stack_config("dev"), SECRETS).server_groups["legacy"][0]
    prod = program.plan("prod", stack_config("prod"), SECRETS).server_groups["legacy"][0]
    assert (dev.scaling.desired_capacity, prod.scaling.desired_capacity) == (1, 3)
    assert dev.release == prod.release


def test_local_docker_target_needs_no_change_in_stacks(edge_proxy_stand_in: pathlib.Path) -> None:
    raw = _with("dev", ["environment", "target"], "local-docker")
    result = run_program(lambda: program.deploy("dev", raw, SECRETS, str(ROOT)))
    assert {r.name for r in result.of_type("immutable:docker:ContainerService")} == set(topology.SERVICES)
    assert result.of_type("pulumi:providers:docker") and not result.of_type("pulumi:providers:kubernetes")
    assert not result.of_type("immutable:kubernetes:ContainerService")


def test_dev_defaults_to_the_local_cluster() -> None:
    result = run_program(lambda: program.deploy("dev", stack_config("dev"), SECRETS, str(ROOT)))
    assert result.named("cluster").inputs["kubeconfig"] == f"{ROOT}/.state/cluster/kubeconfig"
