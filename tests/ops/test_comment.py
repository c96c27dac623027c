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
    short = comment.render("dev", preview, [], max_chars=800)
    assert len(short) <= 800 < len(full)
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


def _thousand_service_swap(n: int = 1000, findings: int = 0) -> dict[str, object]:
    """A preview where every one of ``n`` blue-green services swaps release (a base-image bump),
    shaped like the engine's JSON: a new active Deployment, the old one kept at 0 replicas, the
    Service moved; ``findings`` of them also patch their immutable ConfigMap in place."""
    urn = "urn:pulumi:dev::p::{}::{}"
    outputs = {f"svc{i:04d}_release": f"old{i:05d}" for i in range(n)}
    steps: list[dict[str, object]] = [{"op": "same", "urn": urn.format("pulumi:pulumi:Stack", "p-dev"),
                                       "oldState": {"outputs": outputs, "custom": False}, "newState": {"custom": False}}]

    def deployment(i: int, release: str, role: str, replicas: int) -> dict[str, object]:
        labels = {"app.kubernetes.io/name": f"svc{i:04d}", "immutable.dev/release": release, "immutable.dev/role": role}
        return {"metadata": {"name": f"svc{i:04d}-{release}", "namespace": "apps", "labels": labels},
                "spec": {"replicas": replicas, "template": {"metadata": {"labels": labels}}}}

    for i in range(n):
        dep = "kubernetes:apps/v1:Deployment"
        steps.append({"op": "create", "urn": urn.format(dep, f"svc{i:04d}-new{i:05d}"),
                      "newState": {"inputs": deployment(i, f"new{i:05d}", "active", 2)}})
        steps.append({"op": "update", "urn": urn.format(dep, f"svc{i:04d}-old{i:05d}"),
                      "oldState": {"inputs": deployment(i, f"old{i:05d}", "active", 2)},
                      "newState": {"inputs": deployment(i, f"old{i:05d}", "kept", 0)},
                      "detailedDiff": {"spec.replicas": {"kind": "update"},
                                       'metadata.labels["immutable.dev/role"]': {"kind": "update"}}})
        if i < findings:
            cm = {"metadata": {"name": f"svc{i:04d}-config", "namespace": "apps"}, "immutable": True}
            steps.append({"op": "update", "urn": urn.format("kubernetes:core/v1:ConfigMap", f"svc{i:04d}-config"),
                          "oldState": {"inputs": {**cm, "data": {"a": "1"}}},
                          "newState": {"inputs": {**cm, "data": {"a": "2"}}},
                          "detailedDiff": {'data["a"]': {"kind": "update"}}})
    return {"steps": steps, "changeSummary": {"create": n, "update": n + findings, "same": 1}}


@pytest.mark.parametrize("findings", [0, 1000])
def test_a_thousand_services_fit_githubs_limit_summarised_then_folded(findings: int) -> None:
    preview = parse_preview(_thousand_service_swap(1000, findings))
    found = guard.check(preview)
    assert len(found) == findings
    text = comment.render("dev", preview, found)
    assert len(text) <= 65_536 and len(text) <= comment.MAX_CHARS
    first = text.splitlines()[0]
    assert first.startswith("`dev` · 1000 releases swapped (1000 blue-green), ") and len(first) < 200
    assert first.endswith(f"{findings} in-place compute changes" + (" (guard fails)" if findings else ""))
    assert "<details><summary>Releases: 1000 swapped, 1000 kept, 0 retired</summary>" in text
    assert "- svc0000: old00000 → new00000 (blue-green)" in text
    assert text.count("<details>") == text.count("</details>") == (3 if findings else 2)
    if findings:
        assert "<details><summary>1000 in-place changes</summary>" in text
        assert "`svc0000-config` (config-patched)" in text and "run `immutable-ops guard` for all of them" in text
    assert text.rstrip().endswith("<!-- immutable-ops:preview:dev -->")
