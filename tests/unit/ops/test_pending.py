"""What a killed update's pending operations become before the next one (components/ops/pending.py).

The real kill is in tests/engine/test_killed_up.py (render) and tests/cluster/test_real_node.py
test_6 (real node); here, the decision per kind of object and the commands it turns into.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from immutable_infra.ops import pending

STACK_URN = "urn:pulumi:dev::shop::pulumi:pulumi:Stack::shop-dev"


def op(kind: str, type_: str, logical: str, **inputs: Any) -> dict[str, Any]:
    return {"type": kind, "resource": {"urn": f"urn:pulumi:dev::shop::{type_}::{logical}", "type": type_,
                                       "custom": True, "inputs": inputs}}


DEPLOYMENT = {"pending_operations": [
    op("creating", "pulumi:pulumi:Stack", "shop-dev"),
    op("creating", "kubernetes:apps/v1:Deployment", "web-1a2b3c4d"),
    op("creating", "docker:index/container:Container", "made", name="local-apps-web-1a2b3c4d-0"),
    op("creating", "docker:index/container:Container", "never-made", name="local-apps-web-1a2b3c4d-1"),
    op("creating", "docker:index/network:Network", "net", name="local-apps"),
    op("updating", "kubernetes:core/v1:Service", "web"),
    op("deleting", "kubernetes:apps/v1:Deployment", "web-0f0f0f0f"),
]}
LIVE = {"local-apps-web-1a2b3c4d-0": "4f9e0c", "local-apps": "net-77"}


def test_what_exists_under_a_fixed_docker_name_is_imported_the_rest_cleared() -> None:
    asked: list[str] = []

    def lookup(resource: Any) -> str | None:
        asked.append(resource["inputs"]["name"])
        return LIVE.get(resource["inputs"]["name"])

    decided = pending.plan(DEPLOYMENT, lookup)
    assert decided.imports == [("urn:pulumi:dev::shop::docker:index/container:Container::made", "4f9e0c"),
                               ("urn:pulumi:dev::shop::docker:index/network:Network::net", "net-77")]
    # Kubernetes creates by server-side apply (adopts what the killed update made): cleared, as
    # are components and whatever Docker never made.
    assert [u.rsplit("::", 1)[-1] for u in decided.clear] == ["shop-dev", "web-1a2b3c4d", "never-made"]
    assert decided.others == 2  # pending updates and deletes: the engine drops them itself
    assert sorted(asked) == ["local-apps", "local-apps-web-1a2b3c4d-0", "local-apps-web-1a2b3c4d-1"]


def test_nothing_pending_is_nothing_to_do() -> None:
    assert not pending.plan({"pending_operations": [op("updating", "kubernetes:core/v1:Service", "web")]},
                            lambda r: "x")
    assert not pending.plan({}, lambda r: "x")


class FakeProject:
    """The engine's calls, recorded; ``stack import`` keeps what it was given."""

    def __init__(self, deployment: dict[str, Any]) -> None:
        self.state = {"version": 3, "deployment": deployment}
        self.calls: list[list[str]] = []
        self.env: dict[str, str] = {}

    def export_state(self, stack: str) -> dict[str, Any]:
        self.calls.append(["stack", "export", "--stack", stack])
        return json.loads(json.dumps(self.state))

    def run(self, args: list[str]) -> tuple[int, str, str]:
        self.calls.append(list(args))
        if args[:2] == ["stack", "export"]:
            return 0, json.dumps(self.state), ""
        if args[:2] == ["stack", "import"]:
            self.state = json.loads(Path(args[args.index("--file") + 1]).read_text())
        return 0, "", ""


def test_settle_clears_through_the_state_and_imports_through_a_refresh() -> None:
    project = FakeProject(json.loads(json.dumps(DEPLOYMENT)))
    pending.settle(project, "dev", project.export_state("dev"),  # type: ignore[arg-type]
                   lookup=lambda r: LIVE.get(r["inputs"]["name"]))
    left = project.state["deployment"]["pending_operations"]
    # Only the imports' pending creates stay for the refresh to resolve, plus what the engine drops.
    assert [(o["type"], o["resource"]["urn"].rsplit("::", 1)[-1]) for o in left] == [
        ("creating", "made"), ("creating", "net"), ("updating", "web"), ("deleting", "web-0f0f0f0f")]
    refresh = next(c for c in project.calls if c[0] == "refresh")
    assert refresh[refresh.index("--import-pending-creates") + 1:][:2] == [
        "urn:pulumi:dev::shop::docker:index/container:Container::made", "4f9e0c"]
    assert refresh.count("--import-pending-creates") == 2


def test_settle_touches_nothing_when_nothing_is_pending() -> None:
    project = FakeProject({"resources": []})
    assert not pending.settle(project, "dev", project.export_state("dev"), lookup=lambda r: None)  # type: ignore[arg-type]
    assert project.calls == [["stack", "export", "--stack", "dev"]]  # the caller's export only
