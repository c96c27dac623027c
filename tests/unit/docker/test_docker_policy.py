"""The policy pack agrees with the Docker component: what it registers (under Pulumi
mocks) breaks no mandatory policy, and the opt-outs it records (seeds, break glass,
unfiltered egress) carry the reasons the pack asks for.

One advisory finding is expected and kept: the seed containers (created, never started,
only to receive uploads) have no health check, because a check that never runs would
only pretend. The pack could skip containers with ``start: false``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..fixtures import service
from .test_docker_container_service import CONTAINER, deploy
from .test_docker_topology import run as run_topology

POLICY_DIR = Path(__file__).resolve().parents[3] / "policy"
if str(POLICY_DIR) not in sys.path:
    sys.path.insert(0, str(POLICY_DIR))
# The project's own policy pack: a broken import must fail these tests, never skip them.
from immutable_policy import registry  # noqa: E402


def violations(resources: list[Any]) -> dict[str, list[str]]:
    props = [{"type": r.type, "props": r.inputs, "urn": f"urn:pulumi:dev::p::{r.type}::{r.name}", "name": r.name}
             for r in resources]
    found: dict[str, list[str]] = {}
    for policy in registry.POLICIES:
        if policy.is_stack:
            messages = [f.message for f in registry.run_stack_policy(policy, props)]
        else:
            messages = [f"{r['name']}: {m}" for r in props
                        for m in registry.run_resource_policy(policy, r["type"], r["props"])]
        if messages:
            found[policy.name] = messages
    return found


def without_seed_health_advice(found: dict[str, list[str]]) -> dict[str, list[str]]:
    advice = found.pop("docker-healthcheck", [])
    assert all(message.split(":")[0].endswith("-seed") for message in advice), advice
    # The pack lists every opt-out in use with its reason (advisory, for the reviewer).
    listed = found.pop("stack-opt-outs", [])
    assert all(" opts out of " in message and "; reason: '" in message for message in listed), listed
    return found


def test_a_default_service_passes_every_policy() -> None:
    result = deploy(service())
    assert len(result.of_type(CONTAINER)) == 4  # two replicas, two seeds
    assert without_seed_health_advice(violations(result.resources)) == {}


def test_opt_outs_with_reasons_pass_and_are_needed() -> None:
    result = deploy(service(security={"run_as_user": 0, "run_as_group": 0, "opt_outs": {
        "run_as_root": {"reason": "legacy image needs root"},
        "writable_root_filesystem": {"reason": "writes its pid file to /run"},
        "privilege_escalation": {"reason": "uses a setuid helper binary"}}}))
    assert without_seed_health_advice(violations(result.resources)) == {}
    stripped = list(result.resources)
    for r in stripped:
        if r.type == CONTAINER:
            r.inputs = {**r.inputs, "labels": [x for x in r.inputs["labels"]
                                                if not x["label"].startswith("immutable.dev/opt-out")]}
    assert {"docker-non-root", "docker-read-only-rootfs", "docker-no-new-privileges"} <= set(violations(stripped))


def test_the_example_topology_on_docker_passes_every_policy() -> None:
    assert without_seed_health_advice(violations(run_topology().resources)) == {}


def test_the_pack_knows_where_the_probe_binary_is_mounted() -> None:
    # The pack lets through exactly one bind mount, the read-only probe binary at this target:
    # if the component moved it, every HTTP- or TCP-probed service would break the pack.
    from immutable_infra.docker import run_options as ro
    from immutable_policy import docker as policy_docker

    assert policy_docker.PROBE_TARGET == ro.PROBE_PATH
