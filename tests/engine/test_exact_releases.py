"""Exact releases on the real engine: a kept release is the release that ran, whatever changed.

One program (tests/ops/programs/releases, public library API only) with a blue-green
``web`` (keep 1) and a rolling ``api`` (keep 2), both with a config file and a secret, deployed
in render mode. Each step changes one thing, records (``immutable-ops record``), reads
``pulumi preview --json`` and asserts the exact creates and deletes and which release ids
appear and disappear; then ``up``. Kept releases' objects are never created, replaced or
deleted while they are kept. Runs in CI (marker ``engine``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from immutable_infra import yaml_text

from ..ops.support import RawProgram, explain

pytestmark = [pytest.mark.engine, pytest.mark.slow]

RELEASE = "immutable.dev/release"


def image(name: str, version: str) -> str:
    return f"registry.example.com/acme/{name}@sha256:" + hashlib.sha256(f"{name}-{version}".encode()).hexdigest()


@dataclass
class Change:
    """What a preview does to the releases of one service."""

    created: dict[str, str] = field(default_factory=dict)
    """Pulumi name -> release label of the objects created."""
    deleted: dict[str, str] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)
    """Pulumi name -> the property paths that change."""


def _labels(state: dict[str, Any] | None) -> dict[str, str]:
    inputs = (state or {}).get("inputs") or {}
    labels: dict[str, str] = (inputs.get("metadata") or {}).get("labels") or {}
    return labels


def changes(steps: list[dict[str, Any]], service: str) -> Change:
    out = Change()
    for step in steps:
        urn = step.get("urn", "")
        name = urn.rsplit("::", 1)[-1]
        if "ContainerService$" not in urn or (f"ContainerService::{service}" not in urn and \
                not urn.rsplit("::", 2)[-2].endswith(f"ContainerService${urn.rsplit('::', 2)[-2].rsplit('$', 1)[-1]}")):
            pass
        if "immutable:kubernetes:ContainerService$" not in urn or not name.startswith(f"{service}-"):
            continue
        op = step.get("op")
        if op == "create":
            out.created[name] = _labels(step.get("newState")).get(RELEASE, "")
        elif op == "delete":
            out.deleted[name] = _labels(step.get("oldState")).get(RELEASE, "")
        elif op in ("replace", "create-replacement", "delete-replaced"):
            out.replaced.append(name)
        elif op == "update":
            out.updated[name] = sorted((step.get("detailedDiff") or {}) or step.get("diffs") or [])
    return out


class Stack:
    def __init__(self, program: RawProgram) -> None:
        self.p = program

    def set_secret(self, key: str, version: str, value: str) -> None:
        self.p.pulumi("config", "set", "--secret", "--path", f"immutable:secrets.{key}.{version}", value, "-s", self.p.stack)

    def template(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.p.dir / "template.yaml").read_text())
        return data

    def edit(self, service: str, **changes: Any) -> None:
        data = self.template()
        data[service].update(changes)
        (self.p.dir / "template.yaml").write_text(yaml_text.dump(data, sort_keys=False))

    def ledger(self) -> dict[str, Any]:
        config = yaml.safe_load((self.p.dir / f"Pulumi.{self.p.stack}.yaml").read_text())["config"]
        ledger: dict[str, Any] = config.get("immutable:ledger") or {}
        return ledger

    def append_artifact(self, service: str, artifact: str) -> None:
        index = len(self.ledger().get(service, {}).get("releases", []))
        self.p.pulumi("config", "set", "--path", f"immutable:ledger.{service}.releases[{index}].artifact", artifact,
                      "-s", self.p.stack)

    def record(self) -> dict[str, Any]:
        proc = self.p.ops("record", self.p.stack, "--format", "json")
        assert proc.returncode == 0, explain(proc)
        data: dict[str, Any] = json.loads(proc.stdout)
        return data

    def preview(self) -> list[dict[str, Any]]:
        proc = self.p.pulumi("preview", "--json", "-s", self.p.stack)
        steps: list[dict[str, Any]] = json.loads(proc.stdout).get("steps", [])
        return steps

    def up(self) -> dict[str, Any]:
        self.p.up()
        outputs: dict[str, Any] = json.loads(self.p.pulumi("stack", "output", "--json", "-s", self.p.stack).stdout)
        return outputs

    def runs(self) -> dict[str, tuple[str, list[str]]]:
        out = json.loads(self.p.pulumi("stack", "output", "--json", "-s", self.p.stack).stdout)
        return {s: (out[f"{s}_release"], out[f"{s}_kept_releases"]) for s in ("web", "api")}

    def manifests(self) -> list[dict[str, Any]]:
        docs = []
        for path in sorted((self.p.dir / "build" / self.p.stack).rglob("*.yaml")):
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
        return docs


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("exact")
    program = RawProgram.create("releases", tmp, stack="dev", config={})
    s = Stack(program)
    program.pulumi("config", "set", "--path", "immutable:environment.name", "dev", "-s", "dev")
    program.pulumi("config", "set", "--path", "immutable:environment.target", "render", "-s", "dev")
    for svc in ("web", "api"):
        s.append_artifact(svc, image(svc, "1"))
    s.set_secret("web-session-key", "v1", "session-key-value-one")
    s.set_secret("api-db-password", "v1", "db-password-value-one")
    recorded = s.record()
    assert {r["workload"] for r in recorded["recorded"]} == {"web", "api"}
    s.up()
    yield s


Runs = dict[str, tuple[str, list[str]]]


def step(stack: Stack, mutate: Any) -> tuple[Runs, dict[str, Change], Runs]:
    """Apply one change, record, preview, up: (before, what the preview does, after)."""
    before = stack.runs()
    mutate()
    stack.record()
    steps = stack.preview()
    found = {svc: changes(steps, svc) for svc in ("web", "api")}
    stack.up()
    return before, found, stack.runs()


def assert_exact(svc: str, before: tuple[str, list[str]], change: Change, after: tuple[str, list[str]], keep: int) -> None:
    """One new release; what ran is kept untouched; only releases beyond keep_previous go."""
    old_active, old_kept = before
    new_active, new_kept = after
    assert new_active not in (old_active, *old_kept), f"{svc}: no new release"
    assert new_kept == [old_active, *old_kept][:keep], f"{svc}: kept {new_kept}, expected the releases that ran"
    retired = set([old_active, *old_kept][keep:])
    assert not change.replaced, f"{svc}: replaced {change.replaced}"
    assert set(change.created.values()) <= {new_active}, f"{svc}: created {change.created}"
    assert set(change.deleted.values()) <= retired, f"{svc}: deleted {change.deleted} (retired: {retired})"
    for kept in new_kept:   # a kept release's objects are neither created nor deleted
        assert kept not in change.created.values() and kept not in change.deleted.values(), (svc, kept, change)
        assert f"{svc}-{kept}" not in change.updated or set(change.updated[f"{svc}-{kept}"]) <= {
            "spec.replicas", "metadata.labels", "metadata.labels[\"immutable.dev/role\"]", "spec",
            "metadata.annotations", "metadata.annotations[\"pulumi.com/skipAwait\"]"}, \
            change.updated  # scaled down (at 0 with skipAwait): its pods untouched


def test_changes_to_everything_but_the_image_make_exactly_one_new_release(stack: Stack) -> None:
    mutations = {
        "image": lambda: [stack.append_artifact(s, image(s, "2")) for s in ("web", "api")],
        "env": lambda: [stack.edit(s, env={"LOG_FORMAT": "json", "FEATURE_X": "on"}) for s in ("web", "api")],
        "resources": lambda: [stack.edit(s, resources={**stack.template()[s]["resources"], "cpu_limit": "300m"})
                              for s in ("web", "api")],
        "probes": lambda: [stack.edit(s, probes={**stack.template()[s]["probes"], "readiness": {
            "http_get": {"path": "/ready", "port": "http"}, "period_seconds": 3}}) for s in ("web", "api")],
        "secret rotation": lambda: [stack.set_secret("web-session-key", "v2", "session-key-value-two"),
                                    stack.set_secret("api-db-password", "v2", "db-password-value-two")],
    }
    for what, mutate in mutations.items():
        before, found, after = step(stack, mutate)
        assert_exact("web", before["web"], found["web"], after["web"], keep=1)
        assert_exact("api", before["api"], found["api"], after["api"], keep=2)
        web_deployments = {n for n in found["web"].created if n.startswith("web-") and n[4:] == after["web"][0]}
        assert web_deployments == {f"web-{after['web'][0]}"}, (what, found["web"].created)


def test_secret_rotation_keeps_the_kept_release_on_its_version(stack: Stack) -> None:
    data = yaml.safe_load((stack.p.dir / "releases" / "dev.yaml").read_text())
    active, kept = stack.runs()["web"]
    fingerprints = {rid: data["web"][rid]["settings"]["secrets"][0]["secret"] for rid in (active, *kept)}
    assert set(fingerprints.values()) <= {"version:web-session-key@v1", "version:web-session-key@v2"}
    text = (stack.p.dir / "releases" / "dev.yaml").read_text() + (stack.p.dir / "Pulumi.dev.yaml").read_text()
    assert "session-key-value" not in text and "db-password-value" not in text
    state = stack.p.pulumi("stack", "export", "-s", "dev").stdout
    assert "session-key-value" not in state and "db-password-value" not in state


def test_scale_is_not_a_release_and_keep_previous_only_retires(stack: Stack) -> None:
    before, found, after = step(stack, lambda: stack.edit("web", replicas=2))
    assert after == before and not found["web"].deleted and not found["web"].replaced
    assert found["web"].created == {"web-pdb": ""}   # above one replica a PodDisruptionBudget, no release object
    assert found["web"].updated == {f"web-{before['web'][0]}": ["spec.replicas"]}
    before, found, after = step(stack, lambda: stack.edit("api", keep_previous=1))
    assert after["api"] == (before["api"][0], before["api"][1][:1])
    assert not found["api"].created and not found["api"].replaced
    assert set(found["api"].deleted.values()) <= set(before["api"][1][1:])


def test_rollback_after_a_config_only_change_runs_the_old_config(stack: Stack) -> None:
    old_content = stack.template()["web"]["config_files"][0]["content"]
    before, found, after = step(stack, lambda: stack.edit("web", config_files=[
        {"name": "web.toml", "content": "greeting = 'bonjour'\n"}]))
    assert_exact("web", before["web"], found["web"], after["web"], keep=1)
    old, new = before["web"][0], after["web"][0]
    assert any(n.startswith("web-config-") for n in found["web"].created)   # the new config object, beside the old one
    proc = stack.p.ops("rollback", "dev", "--service", "web", "--format", "json")
    assert proc.returncode == 0, explain(proc)
    result = json.loads(proc.stdout)
    assert (result["from"], result["to"]) == (new, old)
    assert result["changes"].get("create", 0) == 0 and result["changes"].get("delete", 0) == 0  # nothing rebuilt
    assert stack.runs()["web"] == (old, [new])
    docs = stack.manifests()
    active = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == f"web-{old}")
    cm_name = next(v["configMap"]["name"] for v in active["spec"]["template"]["spec"]["volumes"] if "configMap" in v)
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == cm_name)
    assert cm["data"]["web.toml"] == old_content                       # the old config runs again
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "web")
    assert service["spec"]["selector"][RELEASE] == old
    # The record says what changed between the two releases.
    proc = stack.p.ops("releases", "dev", "--diff", new, old, "--format", "json")
    assert proc.returncode == 0, explain(proc)
    assert [c["setting"] for c in json.loads(proc.stdout)["changes"]] == ["config_files"]


def test_promotion_runs_the_same_release_ids_in_the_target(stack: Stack) -> None:
    p = stack.p
    p.pulumi("stack", "init", "test", "--secrets-provider", "passphrase")
    p.pulumi("config", "set", "--path", "immutable:environment.name", "test", "-s", "test")
    p.pulumi("config", "set", "--path", "immutable:environment.target", "render", "-s", "test")
    for key in ("web-session-key", "api-db-password"):
        for version in ("v1", "v2"):
            p.pulumi("config", "set", "--secret", "--path", f"immutable:secrets.{key}.{version}",
                     f"test-{key}-{version}-value", "-s", "test")
    # test starts from an older release of its own, so there is something to replace
    for svc in ("web", "api"):
        p.pulumi("config", "set", "--path", f"immutable:ledger.{svc}.releases[0].artifact", image(svc, "1"), "-s", "test")
    proc = p.ops("record", "test")
    assert proc.returncode == 0, explain(proc)
    p.pulumi("up", "--yes", "-s", "test")
    source = stack.runs()
    proc = p.ops("promote", "dev", "test", "--deploy", "--format", "json")
    assert proc.returncode == 0, explain(proc)
    out = json.loads(p.pulumi("stack", "output", "--json", "-s", "test").stdout)
    for svc in ("web", "api"):
        assert out[f"{svc}_release"] == source[svc][0]
    dev = yaml.safe_load((p.dir / "releases" / "dev.yaml").read_text())
    test = yaml.safe_load((p.dir / "releases" / "test.yaml").read_text())
    assert test["web"][source["web"][0]] == dev["web"][source["web"][0]]   # the exact record travelled
