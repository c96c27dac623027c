"""The order of ``drift --fix`` (components/ops/repair.py) against a recorded stand-in for the
cluster and the engine: nothing that serves is removed before its clean copy serves, and a copy
that never becomes ready leaves the drifted release untouched. The real node proves the same
with traffic (tests/cluster/test_drift_real.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from components.ops import repair
from components.ops.cutover import Connection
from components.ops.errors import OpsError
from components.ops.live import compare
from components.ops.workspace import UpOutcome

from .test_live_drift import ENV, _deployment_declared, _live, _managed, _service, _target


class FakeCluster:
    def __init__(self, copy_becomes_ready: bool) -> None:
        self.calls: list[str] = []
        self.ready = copy_becomes_ready

    def kubectl(self, connection: Connection, args: Sequence[str], *, stdin: str | None = None,
                timeout: float = 30) -> str:
        self.calls.append(" ".join(args[:2]))
        if args[0] == "get" and args[1] == "endpointslices":
            pods = ["web-1a2b3c4d-repair-6f7d9c8b5-aaaaa", "web-1a2b3c4d-repair-6f7d9c8b5-bbbbb",
                    "web-1a2b3c4d-5d8f7c9b4-ccccc", "web-1a2b3c4d-5d8f7c9b4-ddddd"] if self.ready else []
            return json.dumps({"items": [{"endpoints": [{"conditions": {"ready": True}, "targetRef": {"name": p}}
                                                        for p in pods]}]})
        return ""

    def get(self, connection: Connection, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        self.calls.append(f"get {kind} {name}")
        replicas = 2 if self.ready else 0
        return {"metadata": {"name": name, "generation": 1},
                "spec": {"replicas": 2, "template": {"metadata": {"labels": {"immutable.dev/release": "1a2b3c4d"}}}},
                "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                           "updatedReplicas": replicas, "availableReplicas": replicas}}


class FakeProject:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.dir = Path("/nonexistent")
        self.env: dict[str, str] = {}

    def run(self, args: Sequence[str]) -> tuple[int, str, str]:
        self.calls.append(f"pulumi {args[0]} " + " ".join(a.rsplit("::", 1)[-1] for a in args if a.startswith("urn:")))
        return 0, "", ""

    def up(self, stack: str, message: str, *, replace: Sequence[str] = ()) -> UpOutcome:
        self.calls.append(f"pulumi up ({message})")
        return UpOutcome(1.0, {}, {}, "succeeded")


def _run(monkeypatch: pytest.MonkeyPatch, ready: bool) -> tuple[list[str], dict[str, Any] | OpsError]:
    cluster = FakeCluster(ready)
    monkeypatch.setattr(repair, "_kubectl", cluster.kubectl)
    monkeypatch.setattr(repair, "_get", cluster.get)
    monkeypatch.setattr(repair, "connection_for", lambda *a: Connection("kubectl"))
    monkeypatch.setattr(repair.time, "sleep", lambda s: None)
    active, kept = _deployment_declared("1a2b3c4d"), _deployment_declared("0f0f0f0f")
    drifted = [compare(_target(d), _live(d, [_managed("kubectl-set", ENV)])) for d in (active, kept)]
    for r in drifted:
        assert r.live is not None
        env = r.live["spec"]["template"]["spec"]["containers"][0]["env"]
        env.append({"name": "INJECTED", "value": "1"})
    drifted = [compare(r.target, copy.deepcopy(r.live)) for r in drifted]
    service = _service("1a2b3c4d", extra_label=True)
    plan = repair.plan([*drifted, service])
    job = repair.Repair(FakeProject(cluster.calls), "dev", [], timeout=3 if ready else 0.2, say=lambda s: None)  # type: ignore[arg-type]
    try:
        return cluster.calls, job.run(plan, {"web": service.target})
    except OpsError as exc:
        return cluster.calls, exc


def test_the_active_release_keeps_serving_through_the_repair(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, result = _run(monkeypatch, ready=True)
    assert isinstance(result, dict), result
    first = {c: i for i, c in reversed(list(enumerate(calls)))}
    copy_ready = first["get endpointslices"]
    assert first["apply --server-side"] < copy_ready < first["delete Deployment.v1.apps/web-1a2b3c4d"]
    assert first["delete Deployment.v1.apps/web-1a2b3c4d"] < first["pulumi refresh web-1a2b3c4d web-0f0f0f0f"]
    up = next(i for i, c in enumerate(calls) if c.startswith("pulumi up"))
    assert first["pulumi refresh web-1a2b3c4d web-0f0f0f0f"] < up < first["delete deployment/web-1a2b3c4d-repair"]
    assert "patch Service/web" in calls  # the shared router set back, never deleted
    assert not any(c.startswith("delete Service") for c in calls)
    assert result["copies"] == ["web-1a2b3c4d-repair"]
    assert result["recreated"] == ["web-1a2b3c4d", "web-0f0f0f0f"]


def test_a_copy_that_never_becomes_ready_removes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, result = _run(monkeypatch, ready=False)
    assert isinstance(result, repair.RepairFailed)
    assert "the drifted Deployment web-1a2b3c4d still serves" in result.message
    assert result.code == 5
    assert [c for c in calls if c.startswith(("delete", "pulumi", "patch"))] == ["delete deployment/web-1a2b3c4d-repair"]
