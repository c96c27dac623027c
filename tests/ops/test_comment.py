"""The pull-request comment: golden files made from real previews of the engine tests."""

from __future__ import annotations

import json

import pytest
from immutable_infra.ops import comment, guard
from immutable_infra.ops.steps import parse_preview

from .support import fixture, golden

CASES = {
    "comment-dev-initial": ("dev", "preview-dev-initial"),
    "comment-dev-release-swap": ("dev", "preview-dev-release-swap"),
    "comment-dev-rollback": ("dev", "preview-dev-rollback"),
    "comment-mutating": ("ops", "preview-mutating"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_comment_matches_its_golden_file(name: str) -> None:
    stack, source = CASES[name]
    preview = parse_preview(fixture(source))
    assert comment.render(stack, preview, guard.check(preview)) == golden(name)


def test_first_line_says_what_is_swapped_in_and_out() -> None:
    preview = parse_preview(fixture("preview-dev-release-swap"))
    swaps = {s.workload: s for s in comment.swaps(preview)}
    assert set(swaps) == {"api", "web"}
    assert swaps["web"].strategy == "blue-green" and swaps["api"].strategy == "rolling"
    old_outputs = preview.stack_step().old_outputs  # type: ignore[union-attr]
    assert swaps["web"].old == old_outputs["web_release"] and swaps["web"].new != swaps["web"].old
    line = comment.first_line("dev", preview, [])
    assert line.startswith(f"`dev` · api: {old_outputs['api_release']} → {swaps['api'].new} (rolling); web: ")
    assert line.endswith(", 0 in-place compute changes")


def test_rollback_is_a_kept_release_taking_the_traffic_back() -> None:
    preview = parse_preview(fixture("preview-dev-rollback"))
    (swap,) = comment.swaps(preview)
    assert swap.workload == "web" and swap.strategy == "blue-green, kept"
    assert not [s for s in preview.changing() if s.op == "create" and s.kind == "Deployment"], "nothing is created"


def test_long_diffs_are_cut_to_fit() -> None:
    preview = parse_preview(fixture("preview-dev-initial"))
    full = comment.render("dev", preview, [])
    short = comment.render("dev", preview, [], max_chars=1200)
    assert len(short) <= 1200 < len(full)
    assert "more | | see the preview JSON in the workflow's artifacts |" in short
    assert short.splitlines()[0] == full.splitlines()[0]
    assert short.rstrip().endswith("<!-- immutable-ops:preview:dev -->")


def test_no_changes() -> None:
    preview = parse_preview({"steps": [{"op": "same", "urn": "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev",
                                        "oldState": {"outputs": {}}, "newState": {}}], "changeSummary": {"same": 1}})
    text = comment.render("dev", preview, [])
    assert text.splitlines()[0] == "`dev` · no changes, 0 in-place compute changes"
    assert "No resource changes." in text


def test_a_new_artifact_for_a_workload_deployed_nowhere_here_is_still_named() -> None:
    """The legacy server group has no AWS target in dev: its new AMI deploys nothing there,
    but the first line still says that its artifact changes."""
    data = fixture("preview-dev-release-swap")
    ledger = json.loads(data["config"]["immutable:ledger"])
    ledger["legacy"]["releases"].append({"artifact": "ami-0123456789abcdef0"})
    data["config"]["immutable:ledger"] = json.dumps(ledger)
    preview = parse_preview(data)
    old = preview.stack_step().old_outputs["legacy_release"]  # type: ignore[union-attr]
    line = comment.first_line("dev", preview, [])
    assert f"legacy: {old} → ami-0123456789abcdef0 (new artifact, nothing deployed here)" in line
