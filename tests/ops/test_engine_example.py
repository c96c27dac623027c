"""``immutable-ops`` on the example project through the real engine (render-mode dev stack,
test and prod previewed without a cluster), on a throwaway local backend.

One module-scoped story, each step done once and only when a test needs it, in this
order: previews of every stack before anything is deployed -> fresh deploy of dev -> a
pull request's ledger change (new web and api digests) -> its deploy -> a rollback of web
-> a failed update and its repair -> a promotion of dev's artifacts to test. The commands
run as their own process (``python -m immutable_infra.ops``), exactly as CI runs them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..engine.harness import DEV_SECRET, Workspace, artifacts_only
from .support import UPDATE_GOLDEN, check_golden, explain, run_ops, save_fixture, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]

STACKS = ("dev", "test", "prod")
NEW_WEB = "registry.example.com/acme/web@sha256:" + hashlib.sha256(b"web-1.6.0").hexdigest()
NEW_API = "registry.example.com/acme/api@sha256:" + hashlib.sha256(b"api-2.2.0").hexdigest()
LEDGER = "immutable:ledger"


@dataclass
class Story:
    ws: Workspace
    done: dict[str, Any] = field(default_factory=dict)

    def ops(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_ops(self.ws.dir, self.ws.env, *args)

    def ops_json(self, *args: str) -> Any:
        proc = self.ops(*args, "--format", "json")
        assert proc.returncode == 0, explain(proc)
        return json.loads(proc.stdout)

    def file(self, stack: str) -> bytes:
        return (self.ws.dir / f"Pulumi.{stack}.yaml").read_bytes()

    def updates(self, stack: str = "dev") -> int:
        return len(json.loads(self.ws.pulumi("stack", "history", "--json", "-s", stack).stdout))

    def outputs(self, stack: str = "dev") -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ws.pulumi("stack", "output", "--json", "-s", stack).stdout)
        return data

    def step(self, name: str) -> Any:
        if name not in self.done:
            self.done[name] = getattr(self, f"_{name}")()
        return self.done[name]

    # --- the story, in order ---------------------------------------------------------------

    def _initial_previews(self) -> dict[str, Any]:
        saved = self.ws.dir.parent / "previews-initial"
        proc = self.ops("guard", *STACKS, "--save-dir", str(saved))
        return {"proc": proc, "dir": saved}

    def _fresh_deploy(self) -> float:
        self.step("initial_previews")
        start = time.monotonic()
        self.ws.pulumi("up", "--yes", "-s", "dev")
        return time.monotonic() - start

    def _release_swap(self) -> dict[str, Any]:
        """A pull request appends new web and api digests to dev's ledger."""
        self.step("fresh_deploy")
        before = self.outputs()
        data = self.ws.config("dev")
        data["config"][LEDGER]["web"]["releases"].append({"artifact": NEW_WEB, "note": "web 1.6.0"})
        data["config"][LEDGER]["api"]["releases"].append({"artifact": NEW_API, "note": "api 2.2.0"})
        data["config"]["immutable:environment"]["services"]["worker"]["replicas"] = 2  # and a scale knob
        self.ws.write_config(data, "dev")
        saved = self.ws.dir.parent / "previews-swap"
        guard = self.ops("guard", "dev", "--save-dir", str(saved))
        comment = self.ops("comment", "dev", "--preview-json", str(saved / "dev.json"))
        return {"before": before, "guard": guard, "comment": comment, "dir": saved}

    def _deployed_v2(self) -> dict[str, Any]:
        self.step("release_swap")
        recorded = self.ops("record", "dev")  # an update runs only recorded releases
        assert recorded.returncode == 0, explain(recorded)
        self.ws.pulumi("up", "--yes", "-s", "dev", "-m", "deploy web 1.6.0 and api 2.2.0")
        return self.outputs()

    def _rollback_preview(self) -> dict[str, Any]:
        """A pull request pointing web's ledger back at its kept release (previewed, not deployed)."""
        v2 = self.step("deployed_v2")
        original = self.file("dev")
        data = self.ws.config("dev")
        data["config"][LEDGER]["web"]["active"] = v2["web_images"][v2["web_kept_releases"][0]]
        self.ws.write_config(data, "dev")
        saved = self.ws.dir.parent / "previews-rollback"
        try:
            guard = self.ops("guard", "dev", "--save-dir", str(saved))
            comment = self.ops("comment", "dev", "--preview-json", str(saved / "dev.json"))
        finally:
            (self.ws.dir / "Pulumi.dev.yaml").write_bytes(original)
        return {"v2": v2, "guard": guard, "comment": comment, "dir": saved}

    def _rolled_back(self) -> dict[str, Any]:
        self.step("rollback_preview")
        v2 = self.step("deployed_v2")
        ledger_before = self.file("dev")
        proc = self.ops("rollback", "dev", "--service", "web", "--format", "json")
        assert proc.returncode == 0, explain(proc)
        return {"v2": v2, "result": json.loads(proc.stdout), "after": self.outputs(), "ledger_before": ledger_before}

    def _failed_and_restored(self) -> dict[str, Any]:
        self.step("rolled_back")
        good = self.ws.config("dev")
        bad = copy.deepcopy(good)
        bad["config"][LEDGER]["worker"]["releases"].append({"artifact": "registry.example.com/acme/worker:latest"})
        self.ws.write_config(bad, "dev")
        # --skip-preview: the update itself runs (and fails), so history records a failed update
        failed = self.ws.pulumi("up", "--yes", "--skip-preview", "-s", "dev", check=False)
        self.ws.write_config(good, "dev")
        self.ws.pulumi("up", "--yes", "-s", "dev", "-m", "restore after the failed worker deploy")
        return {"failed": failed}

    def _promoted(self) -> dict[str, Any]:
        self.step("failed_and_restored")
        before = self.ws.config("test")
        proc = self.ops("promote", "dev", "test", "--format", "json")
        return {"proc": proc, "before": before, "after": self.ws.config("test")}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    ws = Workspace.create(tmp_path_factory.mktemp("ops-example"))
    # The story starts where a promotion flow does: dev runs the artifacts test has (the committed
    # dev ledger names the example apps built on this machine instead, docs/real-node.md).
    dev = ws.config("dev")
    dev["config"][LEDGER].update({w: artifacts_only(ws.config("test")["config"][LEDGER][w]) for w in ("web", "api", "worker")})
    ws.write_config(dev, "dev")
    for stack in STACKS:
        ws.init_stack(stack)
    yield Story(ws)


def _preview_data(directory: Path, stack: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / f"{stack}.json").read_text())
    return data


# --- guard and the PR comment ----------------------------------------------------------------

def test_guard_passes_on_every_stack_before_the_first_deploy(story: Story) -> None:
    initial = story.step("initial_previews")
    proc = initial["proc"]
    assert proc.returncode == 0, explain(proc)
    for stack in STACKS:
        assert f"✓ {stack}: 0 in-place compute changes" in proc.stdout
        data = _preview_data(initial["dir"], stack)
        assert data["changeSummary"].get("create", 0) > 20, data["changeSummary"]
    if UPDATE_GOLDEN:
        save_fixture("preview-dev-initial", _preview_data(initial["dir"], "dev"))
        save_fixture("preview-prod-initial", _preview_data(initial["dir"], "prod"))


def test_comment_on_the_first_deploy_matches_its_golden_file(story: Story) -> None:
    initial = story.step("initial_previews")
    proc = story.ops("comment", "dev", "--preview-json", str(initial["dir"] / "dev.json"))
    assert proc.returncode == 0, explain(proc)
    first = proc.stdout.splitlines()[0]
    assert first.startswith("`dev` · api: ∅ → ") and "(first release)" in first, first
    assert first.endswith(", 0 in-place compute changes"), first
    check_golden("comment-dev-initial", proc.stdout)


def test_guard_and_comment_on_a_release_swap(story: Story) -> None:
    swap = story.step("release_swap")
    assert swap["guard"].returncode == 0, explain(swap["guard"])
    assert "✓ dev: 0 in-place compute changes" in swap["guard"].stdout
    comment = swap["comment"]
    assert comment.returncode == 0, explain(comment)
    first = comment.stdout.splitlines()[0]
    before = swap["before"]
    # The old releases are the deployed ones; the new ids come from the preview itself.
    assert f"api: {before['api_release']} → " in first and "(rolling)" in first, first
    assert f"web: {before['web_release']} → " in first and "(blue-green)" in first, first
    assert first.endswith(", 0 in-place compute changes"), first
    assert "| + | `worker-pdb` | PodDisruptionBudget |" in comment.stdout  # the scale knob, no replacement
    assert "<details><summary>Full diff:" in comment.stdout and comment.stdout.rstrip().endswith(
        "<!-- immutable-ops:preview:dev -->")
    assert len(comment.stdout) < 6000, "keep comments short"
    if UPDATE_GOLDEN:
        save_fixture("preview-dev-release-swap", _preview_data(swap["dir"], "dev"))
    check_golden("comment-dev-release-swap", comment.stdout)


def test_guard_and_comment_on_a_rollback_pull_request(story: Story) -> None:
    preview = story.step("rollback_preview")
    v2 = preview["v2"]
    assert preview["guard"].returncode == 0, explain(preview["guard"])
    first = preview["comment"].stdout.splitlines()[0]
    kept = v2["web_kept_releases"][0]
    assert first == f"`dev` · web: {v2['web_release']} → {kept} (blue-green, kept), 0 in-place compute changes", first
    if UPDATE_GOLDEN:
        save_fixture("preview-dev-rollback", _preview_data(preview["dir"], "dev"))
    check_golden("comment-dev-rollback", preview["comment"].stdout)


def test_fixtures_hold_no_secret(story: Story) -> None:
    directories = [story.step(s)["dir"] for s in ("initial_previews", "release_swap", "rollback_preview")]
    for directory in directories:
        for path in directory.glob("*.json"):
            assert DEV_SECRET not in path.read_text(), path


# --- history ---------------------------------------------------------------------------------

def test_history_lists_each_release_with_its_update(story: Story) -> None:
    v2 = story.step("deployed_v2")
    data = story.ops_json("history", "dev")
    rows = data["releases"]
    first = {r["workload"]: r for r in rows if r["update"] == 1}
    assert set(first) >= {"web", "api", "worker"} and all(r["change"] == "deployed" for r in first.values())
    web = [r for r in rows if r["workload"] == "web" and r["release"] == v2["web_release"]]
    assert len(web) == 1, rows
    assert web[0]["artifact"] == NEW_WEB and web[0]["note"] == "web 1.6.0"
    assert web[0]["message"] == "deploy web 1.6.0 and api 2.2.0" and web[0]["result"] == "succeeded"
    assert web[0]["previous"] == story.step("release_swap")["before"]["web_release"]
    assert data["current"]["web"]["release"] == v2["web_release"]
    markdown = story.ops("history", "dev", "--format", "markdown")
    assert markdown.returncode == 0 and "| # | when (UTC) | workload |" in markdown.stdout, explain(markdown)
    assert f"web@sha256:{NEW_WEB.split(':')[-1][:8]}" in markdown.stdout


# --- rollback --------------------------------------------------------------------------------

def test_rollback_points_the_ledger_at_the_kept_release_and_deploys(story: Story) -> None:
    fresh = story.step("fresh_deploy")
    done = story.step("rolled_back")
    v2, result, after = done["v2"], done["result"], done["after"]
    kept = v2["web_kept_releases"][0]
    assert result["from"] == v2["web_release"] and result["to"] == kept
    assert after["web_release"] == kept
    assert after["web_kept_releases"] == [v2["web_release"]]  # the release rolled back from is kept
    assert after["api_release"] == v2["api_release"]  # nothing else moved
    assert result["changes"].get("create", 0) == 0, result  # the kept release was still there
    ledger = story.ws.config("dev")["config"][LEDGER]["web"]
    # A rollback is an event in the serving order: the kept release's entry moved to the end and
    # runs exactly as recorded (image, config, env, secrets); the one rolled back from is kept first.
    assert "active" not in ledger and ledger["releases"][-1]["release"] == kept
    assert ledger["releases"][-1]["event"] == "rollback" and ledger["releases"][-2]["release"] == v2["web_release"]
    ratio = result["up_seconds"] / fresh
    print(f"\nrollback of web: {result['seconds']:.1f}s (pulumi up {result['up_seconds']:.1f}s) vs fresh deploy "
          f"of dev {fresh:.1f}s: ratio {ratio:.2f}")
    history = story.ops_json("history", "dev")["releases"]
    assert any(r["change"] == "rolled back" and r["release"] == kept for r in history), history


def test_rollback_refuses_bad_input_and_changes_nothing(story: Story) -> None:
    story.step("rolled_back")
    before, updates = story.file("dev"), story.updates()
    oldest_web = story.step("release_swap")["before"]["web_kept_releases"][0]  # kept at first, not any more
    cases = {
        ("rollback", "dev", "--to", "deadbeef"): "unknown release 'deadbeef'",
        ("rollback", "dev", "--to", oldest_web): f"release {oldest_web} of web is not kept",
        ("rollback", "dev", "--to", story.outputs()["web_release"]): "is already the active release",
        ("rollback", "staging"): "unknown stack 'staging'",
        ("rollback", "dev", "--service", "nope"): "unknown workload 'nope'",
        ("rollback", "dev"): "several workloads",
    }
    for args, message in cases.items():
        proc = story.ops(*args)
        assert proc.returncode == 3, f"{args}: {explain(proc)}"
        assert message in proc.stderr, f"{args}: {explain(proc)}"
    assert story.file("dev") == before and story.updates() == updates


# --- report ----------------------------------------------------------------------------------

def test_report_measures_the_story(story: Story) -> None:
    done = story.step("failed_and_restored")
    assert done["failed"].returncode != 0
    render_dir = story.ws.dir / "build" / "manifests" / "dev" / "1-manifest"
    stray = render_dir / "apps_v1-deployment-apps-hand-made.yaml"
    stray.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hand-made\n  namespace: apps\n")
    try:
        data = story.ops_json("report", "dev")
    finally:
        stray.unlink()
    (dev,) = data["stacks"]
    assert dev["deploys"] == 2 and dev["rollbacks"] == 1 and dev["failed_updates"] == 1, dev
    # 1 failed update + 1 deploy rolled back, out of 2 deploys + 1 failed attempt
    assert dev["change_failure_rate_percent"] == pytest.approx(66.7, abs=0.1), dev
    assert dev["time_to_restore_seconds"]["max"] is not None, dev  # failed update -> repair; deploy -> rollback
    assert dev["rollback_seconds"]["last"] is not None and dev["first_deploy_seconds"] is not None, dev
    assert dev["drift_percent"] is None and "render mode" in dev["drift_note"], dev
    coverage = dev["coverage"]
    assert coverage["unmanaged"] == ["Deployment/apps/hand-made"], coverage
    assert coverage["matched"] == coverage["found"] - 1 and coverage["managed"] >= coverage["matched"], coverage
    table = story.ops("report", "dev")
    assert table.returncode == 0 and "change failure rate" in table.stdout and "IaC coverage" in table.stdout, explain(table)
    shown = {k: dev[k] for k in ("deploys", "change_failure_rate_percent", "rollback_vs_fresh_deploy")}
    print(f"\nreport dev: {json.dumps(shown)}")


# --- promote ---------------------------------------------------------------------------------

def test_promote_copies_the_exact_tested_artifact_and_previews(story: Story) -> None:
    done = story.step("promoted")
    proc, before, after = done["proc"], done["before"], done["after"]
    assert proc.returncode == 0, explain(proc)
    data = json.loads(proc.stdout)
    dev = story.outputs()
    promoted = {p["workload"]: p for p in data["promoted"]}
    # dev runs the new api (tested there); web, worker and legacy run the releases test runs too
    # (test's committed entries are recorded with the same ids): nothing to promote for them.
    assert set(promoted) == {"api"}, promoted
    assert promoted["api"]["artifact"] == dev["api_images"][dev["api_release"]] == NEW_API
    ledger = after["config"][LEDGER]["api"]
    # The exact record, a promotion event at the end of test's serving order: same release id as dev.
    assert ledger["releases"][-1] == {"artifact": NEW_API, "release": dev["api_release"], "note": "api 2.2.0",
                                      "event": "promotion"}
    assert "active" not in ledger
    assert after["config"][LEDGER]["web"] == before["config"][LEDGER]["web"]
    assert before["config"][LEDGER]["web"]["releases"][-1]["release"] == dev["web_release"]
    records = story.ws.dir / "releases" / "test.yaml"
    assert dev["api_release"] in records.read_text()
    assert data["preview"].startswith("`test` · ") and data["preview"].endswith("0 in-place compute changes")
    assert not data["deployed"]


def test_promote_refuses_bad_input_and_changes_nothing(story: Story) -> None:
    story.step("promoted")
    before = story.file("test")
    cases = {
        ("promote", "dev", "staging"): "unknown stack 'staging'",
        ("promote", "dev", "test", "--service", "nope"): "unknown workload(s) 'nope'",
        ("promote", "dev", "dev"): "to itself",
    }
    for args, message in cases.items():
        proc = story.ops(*args)
        assert proc.returncode == 3, f"{args}: {explain(proc)}"
        assert message in proc.stderr, f"{args}: {explain(proc)}"
    nothing = story.ops("promote", "dev", "test")
    assert nothing.returncode == 0 and "nothing to promote" in nothing.stdout, explain(nothing)
    assert story.file("test") == before


# --- drift on a render-mode stack ------------------------------------------------------------

def test_drift_says_render_mode_cannot_be_refreshed(story: Story) -> None:
    story.step("fresh_deploy")
    before = story.updates()
    proc = story.ops("drift", "dev")
    assert proc.returncode == 6, explain(proc)
    assert "render mode" in proc.stderr and "refresh does not work" in proc.stderr, explain(proc)
    assert story.updates() == before


# --- parity ----------------------------------------------------------------------------------

def test_parity_of_the_example_stacks(story: Story) -> None:
    story.step("promoted")
    data = story.ops_json("parity")
    assert data["ok"], json.dumps(data["errors"], indent=1)
    allowed = {(d["where"], d["allowed_by"]) for d in data["allowed"]}
    assert ("immutable:environment.services.web.hostname", "EnvironmentConfig.services") in allowed, allowed
    assert any(where.startswith("web-pdb") and by == "services.web.replicas" for where, by in allowed), allowed


def test_parity_names_a_difference_outside_the_knobs(story: Story) -> None:
    story.step("promoted")
    topology = story.ws.dir / "stacks" / "topology.py"
    original = topology.read_text()
    prod = story.file("prod")
    marker = ("def service_spec(name: str, image: str, env: EnvironmentConfig,\n"
              "                 secrets: SecretStore | Mapping[str, str]) -> ContainerServiceSpec:\n")
    assert marker in original, "stacks/topology.py changed shape: update this test"
    patched = original.replace(marker, marker + (
        '    if env.name == "prod" and name == "api":  # a prod-only setting: exactly what parity must catch\n'
        '        template = _apply_knobs(service_templates(secrets)[name], env.services.get(name), env)\n'
        '        template["env"] = {**template["env"], "FEATURE_X": "on"}\n'
        '        return validate_spec(ContainerServiceSpec, {**template, "image": image}, subject=name)\n'))
    try:
        topology.write_text(patched)
        config = story.ws.config("prod")
        config["config"]["immutable-example:debug"] = "true"  # a prod-only config key
        story.ws.write_config(config, "prod")
        proc = story.ops("parity", "dev", "prod", "--format", "json")
    finally:
        topology.write_text(original)
        (story.ws.dir / "Pulumi.prod.yaml").write_bytes(prod)
    assert proc.returncode == 7, explain(proc)
    errors = json.loads(proc.stdout)["errors"]
    wheres = {(e["where"], e["what"]) for e in errors}
    assert ("immutable-example:debug", "config key not in every stack") in wheres, errors
    env_diffs = [e for e in errors if e["where"].startswith("api-deploy") and "env" in e["what"]]
    assert env_diffs and any("FEATURE_X" in str(e["values"]) for e in env_diffs), errors

