"""The pack agrees with the components: what they register (under Pulumi mocks) has 0 violations.

The components are the reference implementation of the rules; a team that uses them must
never be blocked by the pack, and an opt-out a component records (with its reason) must be
honoured. The resources come from the unit tests' own mock harnesses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from immutable_policy.registry import POLICIES, run_resource_policy, run_stack_policy

# The project's own harnesses: a broken import must fail these tests, never skip them.
from tests.unit import aws_mocks, fixtures, k8s_harness


def violations(resources: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Every violation of every policy, by policy name, for ``{"type", "props", "urn"}`` resources."""
    resources = list(resources)
    found: dict[str, list[str]] = {}
    for policy in POLICIES:
        if policy.is_stack:
            messages = [f.message for f in run_stack_policy(policy, resources)]
        else:
            messages = [f"{r['urn']}: {m}" for r in resources
                        for m in run_resource_policy(policy, r["type"], r["props"])]
        if messages:
            found[policy.name] = messages
    return found


def server_group(spec: dict[str, Any], history: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    from immutable_infra.aws import ServerGroup

    program = aws_mocks.run(lambda: ServerGroup("web", {"spec": spec, "previous": (history or [])[::-1], **aws_mocks.WIRING}))
    return [{"type": r.type, "props": r.inputs, "urn": r.urn, "name": r.name} for r in program.resources]


def container_service(spec: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    from immutable_infra.kubernetes import ContainerService, ServiceNamespace

    def build() -> None:
        ServiceNamespace("apps", {"spec": {"name": "apps"}})
        ContainerService("web", {"spec": spec, **kwargs})

    result = k8s_harness.run_program(build)
    return [{"type": r.type, "props": r.inputs, "urn": f"urn:pulumi:dev::p::{r.type}::{r.name}", "name": r.name}
            for r in result.resources]


def test_server_group_defaults_pass_every_policy() -> None:
    resources = server_group(aws_mocks.server_group_spec())
    assert {r["type"] for r in resources} >= {aws_mocks.ASG, aws_mocks.LAUNCH_TEMPLATE, aws_mocks.INGRESS_RULE}
    assert violations(resources) == {}


def test_server_group_with_kept_groups_passes_every_policy() -> None:
    a, b, c = (aws_mocks.server_group_spec(ami_id=ami, keep_previous=2)
               for ami in (aws_mocks.AMI_A, aws_mocks.AMI_B, aws_mocks.AMI_C))
    resources = server_group(c, history=[a, b])
    assert len([r for r in resources if r["type"] == aws_mocks.ASG]) == 3
    assert violations(resources) == {}


def test_server_group_opt_outs_with_reasons_are_honoured() -> None:
    spec = aws_mocks.server_group_spec(security={
        "associate_public_ip": True, "metadata_hop_limit": 2,
        "opt_outs": {"public_ip": {"reason": "legacy agent, ticket OPS-1"},
                     "imds_hop_limit": {"reason": "docker on the host needs IMDS (OPS-2)"}}})
    resources = server_group(spec)
    found = violations(resources)
    reported = found.pop("stack-opt-outs")  # shown to the reviewer, with the reason, as advisory lines
    assert found == {}
    assert any("opts out of public_ip (lifts aws-no-public-ip, aws-no-public-exposure); reason: 'legacy agent" in m
               for m in reported)
    assert any("opts out of imds_hop_limit (lifts aws-imdsv2)" in m for m in reported)
    # The same settings without the opt-out tags are violations.
    stripped = [{**r, "props": _without_opt_out_tags(r["props"])} for r in resources]
    found = violations(stripped)
    assert set(found) - {"stack-opt-outs"} == {"aws-imdsv2", "aws-no-public-ip"}


def _without_opt_out_tags(props: dict[str, Any]) -> dict[str, Any]:
    tags = props.get("tags")
    if isinstance(tags, dict):
        return {**props, "tags": {k: v for k, v in tags.items() if not k.startswith("immutable.dev/opt-out/")}}
    return props


def test_container_service_passes_every_policy() -> None:
    assert violations(container_service(fixtures.service())) == {}


def test_container_service_blue_green_with_kept_releases_passes() -> None:
    spec = fixtures.service(strategy="blue-green", keep_previous=2)
    kept = [fixtures.service(strategy="blue-green", keep_previous=2, image=image)
            for image in (fixtures.IMAGE_B, fixtures.IMAGE_C)]
    resources = container_service(spec, previous=kept)
    assert violations(resources) == {}
    # ...and more kept releases than a stack allows is reported.
    limit = next(p for p in POLICIES if p.name == "stack-max-kept-releases")
    assert run_stack_policy(limit, resources, {"maxKeptReleases": 1})


def test_container_service_opt_outs_with_reasons_are_honoured() -> None:
    spec = fixtures.service(image="registry.example.com/acme/web:1.5", security={"opt_outs": {
        "mutable_image_tag": {"reason": "dev builds are tagged, never promoted"},
        "exec_lock": {"reason": "debugging a crash loop, INC-7"}}})
    found = violations(container_service(spec))
    reported = found.pop("stack-opt-outs")
    assert found == {}
    assert sorted(m.split(" opts out of ")[1] for m in reported) == [
        "exec_lock (lifts k8s-exec-lock-present, k8s-no-extra-containers); reason: 'debugging a crash loop, INC-7'",
        "mutable_image_tag (lifts k8s-image-digest); reason: 'dev builds are tagged, never promoted'"]


def test_container_service_break_glass_is_recorded_as_an_opt_out() -> None:
    found = violations(container_service(fixtures.service(), exec_break_glass=True))
    assert [m.split(" opts out of ")[1] for m in found.pop("stack-opt-outs")] == [
        "exec_lock (lifts k8s-exec-lock-present, k8s-no-extra-containers); "
        "reason: 'exec_break_glass set in the environment config'"]
    assert found == {}


def test_container_service_ingress_passes_with_tls_and_lists_its_plain_http_opt_out() -> None:
    """What ContainerService refuses (an ingress without TLS) the pack refuses too (k8s-ingress-tls);
    the component's own opt-out travels on the Ingress, so the pack lists it instead of refusing it."""
    tls = fixtures.service(expose={"ingress": {"hostname": "web.example.com", "tls_secret": "web-tls"}})
    resources = container_service(tls)
    assert any(r["type"].endswith(":Ingress") for r in resources)
    assert violations(resources) == {}
    plain = fixtures.service(expose={"ingress": {"hostname": "web.example.com"}}, security={"opt_outs": {
        "plain_http_ingress": {"reason": "TLS ends at the corporate proxy in front, NET-9"}}})
    found = violations(container_service(plain))
    listed = found.pop("stack-opt-outs")
    assert found == {}
    assert any("opts out of plain_http_ingress (lifts k8s-ingress-tls); reason: 'TLS ends at the corporate proxy"
               in m for m in listed), listed
    # Without the component's record on the Ingress, the same object would be refused.
    bare = [r for r in container_service(plain) if r["type"].endswith(":Ingress")]
    for r in bare:
        r["props"]["metadata"] = {k: v for k, v in r["props"]["metadata"].items() if k not in ("labels", "annotations")}
    assert "k8s-ingress-tls" in violations(bare)
