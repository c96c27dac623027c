"""The immutability guard on real preview JSON (captured from the engine tests) and on AWS
steps shaped like the engine's (the AWS provider cannot be built here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from immutable_infra.ops import guard
from immutable_infra.ops.errors import ExitCode, OpsError
from immutable_infra.ops.steps import diff_paths, load_preview, parse_preview, path_under

from .support import FIXTURES, fixture

OUR_STACK_FIXTURES = ("preview-dev-initial", "preview-prod-initial", "preview-dev-release-swap", "preview-dev-rollback")


@pytest.mark.parametrize("name", OUR_STACK_FIXTURES)
def test_our_stacks_pass(name: str) -> None:
    preview = parse_preview(fixture(name))
    assert preview.changing(), "the fixture should change something"
    assert guard.check(preview) == []


def test_the_mutating_program_fails_with_every_rule() -> None:
    findings = guard.check(parse_preview(fixture("preview-mutating")))
    assert sorted((f.name, f.rule) for f in findings) == [
        ("api-1a2b3c4d", "release-patched"), ("batch-runner", "pod-patched"),
        ("cache", "pods-not-replaced"), ("settings", "config-patched")]
    pod = next(f for f in findings if f.rule == "pod-patched")
    assert pod.message.startswith("Pod jobs/batch-runner would be changed in place (spec.activeDeadlineSeconds")
    assert "spec.tolerations[0].value" in pod.paths


def test_release_swap_changes_are_replacements_or_metadata() -> None:
    """What the guard lets through in our release swap, and why."""
    preview = parse_preview(fixture("preview-dev-release-swap"))
    updates = {s.name: s.changed_paths() for s in preview.steps if s.op == "update"}
    assert any(all(p.startswith("metadata.labels") for p in paths) for name, paths in updates.items()
               if name.startswith("api-config")), updates  # shared config object: release label only
    rolled = updates["api-deploy"]
    assert "spec.template.spec.containers[0].image" in rolled  # a rollout: pods replaced, release id changed


def test_detailed_diff_paths_use_pulumis_syntax() -> None:
    """Our own diff of old and new inputs names paths exactly as the engine's detailed diff (where
    the engine names a map added whole, e.g. ``metadata.annotations``, we name its leaves)."""
    preview = parse_preview(fixture("preview-dev-release-swap"))
    for step in preview.steps:
        if step.op == "update" and step.detailed_diff:
            ours = diff_paths(step.old_inputs, step.new_inputs)
            for path in step.detailed_diff:
                assert path in ours or any(path_under(p, (path,)) for p in ours), (step.name, path, ours)


def _step(op: str, rtype: str, name: str, old: dict[str, Any] | None = None, new: dict[str, Any] | None = None,
          *, outputs: dict[str, Any] | None = None, diff: list[str] | None = None) -> dict[str, Any]:
    urn = f"urn:pulumi:prod::shop::{rtype}::{name}"
    step: dict[str, Any] = {"op": op, "urn": urn}
    if old is not None:
        step["oldState"] = {"urn": urn, "type": rtype, "custom": True, "inputs": old, "outputs": outputs or old}
    if new is not None:
        step["newState"] = {"urn": urn, "type": rtype, "custom": True, "inputs": new}
    if diff is not None:
        step["detailedDiff"] = {p: {"kind": "update", "inputDiff": True} for p in diff}
    return step


LT = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"
TEMPLATE_OLD = {"name": "legacy-prod", "imageId": "ami-0a1b2c3d4e5f60718"}
TEMPLATE_NEW = {"name": "legacy-prod", "imageId": "ami-0f9e8d7c6b5a40312"}
GROUP = {"launchTemplate": {"id": "lt-0123456789abcdef0", "version": "3"}, "minSize": 2, "maxSize": 4}


def _check(*steps: dict[str, Any]) -> list[guard.Finding]:
    return guard.check(parse_preview({"steps": list(steps)}))


def _template_update() -> dict[str, Any]:
    return _step("update", LT, "legacy-lt", TEMPLATE_OLD, TEMPLATE_NEW, outputs={**TEMPLATE_OLD, "id": "lt-0123456789abcdef0"})


def test_launch_template_changed_without_a_refresh_fails() -> None:
    template = _template_update()
    group_same = _step("same", ASG, "legacy", GROUP, GROUP)
    (finding,) = _check(template, group_same)
    assert finding.rule == "launch-template-without-refresh"
    assert "group(s) legacy are neither replaced nor refreshed" in finding.message
    (alone,) = _check(template)
    assert "no auto scaling group uses it in this preview" in alone.message


def test_launch_template_with_an_instance_refresh_or_a_new_group_passes() -> None:
    template = _template_update()
    refreshed = {**GROUP, "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "4"},
                 "instanceRefresh": {"strategy": "Rolling", "preferences": {"minHealthyPercentage": 90}}}
    assert _check(template, _step("update", ASG, "legacy", GROUP, refreshed)) == []
    assert _check(template, _step("replace", ASG, "legacy", GROUP, GROUP)) == []


def test_group_moved_to_a_new_template_version_without_refresh_fails() -> None:
    moved = {**GROUP, "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "4"}}
    (finding,) = _check(_step("update", ASG, "legacy", GROUP, moved))
    assert finding.rule == "group-template-without-refresh" and "launchTemplate.version" in finding.paths
    scaled = {**GROUP, "minSize": 3}
    assert _check(_step("update", ASG, "legacy", GROUP, scaled)) == []  # scale is a knob


def test_instances_patched_beyond_tags_fail() -> None:
    old = {"instanceType": "t3.small", "tags": {"immutable.dev/release": "1a2b3c4d"}}
    retagged = {**old, "tags": {"immutable.dev/release": "1a2b3c4d", "owner": "team-a"}}
    resized = {**old, "instanceType": "t3.large"}
    ec2 = "aws:ec2/instance:Instance"
    assert _check(_step("update", ec2, "box", old, retagged, outputs={**old, "id": "i-0abc"})) == []
    (finding,) = _check(_step("update", ec2, "box", old, resized, outputs={**old, "id": "i-0abc"}))
    assert finding.rule == "instance-patched" and finding.message.startswith("Instance i-0abc would be modified in place")
    assert _check(_step("replace", ec2, "box", old, resized)) == []


def test_kubernetes_edge_cases() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {"a": "1"}}, "spec": {"containers": [{"image": "x"}]}}
    relabelled = {**pod, "metadata": {**pod["metadata"], "labels": {"a": "2"}}}
    assert _check(_step("update", "kubernetes:core/v1:Pod", "p", pod, relabelled)) == []
    template = {"metadata": {"name": "d", "namespace": "ns"},
                "spec": {"template": {"spec": {"containers": [{"image": "a"}]}}}}
    changed = {**template, "spec": {"template": {"spec": {"containers": [{"image": "b"}]}}}}
    paused = {**changed, "spec": {**changed["spec"], "paused": True}}
    deployment = "kubernetes:apps/v1:Deployment"
    assert _check(_step("update", deployment, "d", template, changed)) == []  # a rollout replaces pods
    (finding,) = _check(_step("update", deployment, "d", template, paused))
    assert finding.rule == "pods-not-replaced" and "while paused" in finding.message
    (rs,) = _check(_step("update", "kubernetes:apps/v1:ReplicaSet", "r", template, changed))
    assert "never replaces running pods" in rs.message
    config = {"metadata": {"name": "c", "namespace": "ns", "labels": {"immutable.dev/release": "1"}}, "data": {"k": "v"}}
    relabel = {**config, "metadata": {**config["metadata"], "labels": {"immutable.dev/release": "2"}}}
    assert _check(_step("update", "kubernetes:core/v1:ConfigMap", "c", config, relabel)) == []
    (patched,) = _check(_step("update", "kubernetes:core/v1:Secret", "c", config, {**config, "data": {"k": "w"}}))
    assert patched.rule == "config-patched" and patched.message.startswith("Secret ns/c would be patched")


def test_a_file_that_is_not_a_preview_is_bad_input(tmp_path: Path) -> None:
    for text, words in (("not json", "is not JSON"), ('{"nope": 1}', "`steps`"), ('{"steps": [{"op": "x"}]}', "without")):
        path = tmp_path / "p.json"
        path.write_text(text if words != "`steps`" else '{"steps": 3}')
        with pytest.raises(OpsError) as caught:
            load_preview(path)
        assert caught.value.code == ExitCode.BAD_INPUT and words in str(caught.value)
    with pytest.raises(OpsError, match="cannot read"):
        load_preview(tmp_path / "missing.json")


def test_fixtures_are_there() -> None:
    for name in (*OUR_STACK_FIXTURES, "preview-mutating"):
        assert (FIXTURES / f"{name}.json").is_file(), name
