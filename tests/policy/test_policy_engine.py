"""The policy pack through the real engine: ``pulumi preview --policy-pack policy/``.

- a deliberately bad raw program (``programs/bad_raw``: plain pulumi_kubernetes, render mode,
  no cluster) fails the preview with the named violations;
- a raw program that keeps every rule (``programs/good_raw``) passes with 0 violations;
- ``--policy-pack-config`` changes levels and settings per stack;
- every example stack (``Pulumi.<stack>.yaml`` of the example project) passes with 0 violations.

Violations are read from the engine's event stream (``PULUMI_ENABLE_STREAMING_JSON_PREVIEW``
with ``--json``): one ``policyEvent`` per violation, with the policy's name and level.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from immutable_policy.registry import POLICIES

from . import POLICY_DIR

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".toolchain" / "bin"
PULUMI = BIN / "pulumi"
PROGRAMS = Path(__file__).resolve().parent / "programs"
PASSPHRASE = "policy-engine-test-only"
EXAMPLE_STACKS = ("dev", "test", "prod")


def _toolchain_missing() -> str | None:
    for binary in ("pulumi", "pulumi-language-python", "pulumi-language-python-exec"):
        if not (BIN / binary).exists():
            return f"{BIN / binary} is missing: build the toolchain with `python3 toolchain/build.py`"
    if not (ROOT / "toolchain" / "pulumi_env.py").exists():
        return "toolchain/pulumi_env.py is missing"
    return None


pytestmark = [pytest.mark.engine,
              pytest.mark.skipif(_toolchain_missing() is not None, reason=_toolchain_missing() or "")]


def _pulumi_env(backend: Path) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("_policy_pulumi_env", ROOT / "toolchain" / "pulumi_env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    env: dict[str, str] = module.pulumi_env(ROOT, backend_url=backend.as_uri())
    env["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    # The pack runs in the virtualenv the CLI runs in (the language host's fallback for a
    # policy pack that names none): this checkout's venv, which has pulumi-policy.
    env["VIRTUAL_ENV"] = sys.prefix
    env["PULUMI_ENABLE_STREAMING_JSON_PREVIEW"] = "true"
    return env


@dataclass
class Violation:
    policy: str
    level: str
    resource: str
    """Resource name from the URN (the stack's name for stack-wide findings)."""
    message: str


@dataclass
class Preview:
    returncode: int
    events: list[dict[str, Any]]
    output: str

    @property
    def violations(self) -> list[Violation]:
        out = []
        for event in self.events:
            policy = event.get("policyEvent")
            if policy:
                urn = policy.get("resourceUrn") or "::(stack)"
                out.append(Violation(policy["policyName"], policy["enforcementLevel"], urn.rsplit("::", 1)[-1],
                                     policy["message"]))
        return out

    def by_policy(self) -> dict[str, set[tuple[str, str]]]:
        found: dict[str, set[tuple[str, str]]] = {}
        for v in self.violations:
            found.setdefault(v.policy, set()).add((v.level, v.resource))
        return found

    def passed(self) -> set[str]:
        """Policies that ran and passed on at least one resource (or on the stack)."""
        names: set[str] = set()
        for event in self.events:
            for kind in ("policyAnalyzeSummaryEvent", "policyAnalyzeStackSummaryEvent"):
                names |= set(event.get(kind, {}).get("passed", []))
        return names

    def explain(self) -> str:
        return f"exit code {self.returncode}\n{self.output[-6000:]}"


def _parse_events(stdout: str) -> list[dict[str, Any]]:
    events = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def run_preview(cwd: Path, env: dict[str, str], *args: str) -> Preview:
    command = [str(PULUMI), "preview", "--json", "--non-interactive", "--policy-pack", str(POLICY_DIR), *args]
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return Preview(proc.returncode, _parse_events(proc.stdout), proc.stdout + proc.stderr)


def preview_program(name: str, tmp: Path, config: dict[str, Any] | None = None, variant: str | None = None,
                    extra_env: dict[str, str] | None = None) -> Preview:
    """Copy ``programs/<name>`` to ``tmp``, make a stack on a throwaway backend, preview it
    (``variant``: the program's ``POLICY_TEST_VARIANT``, e.g. ``bad`` or ``fixed``; ``extra_env``:
    more of the program's settings)."""
    project = tmp / name
    shutil.copytree(PROGRAMS / name, project, ignore=shutil.ignore_patterns("__pycache__", "build"))
    backend = tmp / "backend"
    backend.mkdir(exist_ok=True)
    env = _pulumi_env(backend)
    env["POLICY_TEST_RENDER_DIR"] = str(tmp / "rendered")
    if variant is not None:
        env["POLICY_TEST_VARIANT"] = variant
    env.update(extra_env or {})
    init = subprocess.run([str(PULUMI), "stack", "init", "test", "--non-interactive"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    args: list[str] = []
    if config is not None:
        path = tmp / "policy-config.json"
        path.write_text(json.dumps(config))
        args = ["--policy-pack-config", str(path)]
    return run_preview(project, env, *args)


def _ran(preview: Preview) -> None:
    """Fail with the engine's own words when the pack did not run at all."""
    if not any("policyLoadEvent" in e for e in preview.events):
        pytest.fail("the policy pack did not load; the engine said:\n" + preview.explain())


# What programs/bad_raw breaks: policy -> (level, resource names); "(stack)" is stack-wide.
STACK = "policy-bad-raw-test"
EXPECTED_BAD: dict[str, tuple[str, set[str]]] = {
    "k8s-image-digest": ("mandatory", {"web"}),
    "k8s-pod-security-restricted": ("mandatory", {"web"}),
    "k8s-read-only-root-filesystem": ("mandatory", {"web"}),
    "k8s-non-root-ids": ("advisory", {"web"}),
    "k8s-resources": ("mandatory", {"web"}),
    "k8s-probes": ("advisory", {"web"}),
    "k8s-no-service-account-token": ("mandatory", {"web"}),
    "k8s-no-default-namespace": ("mandatory", {"settings"}),
    "k8s-config-immutable": ("mandatory", {"settings"}),
    "k8s-namespace-pod-security": ("mandatory", {"team"}),
    "k8s-opt-out-reason": ("mandatory", {"web"}),
    "k8s-exec-lock-complete": ("mandatory", {"lock"}),
    "k8s-exec-lock-bound": ("mandatory", {"lock"}),
    "k8s-secrets-as-files": ("advisory", {"web"}),
    "k8s-namespace-network-policy": ("mandatory", {"team"}),
    "k8s-exec-lock-present": ("advisory", {"web", "jobs-00000001", "jobs-00000002", "jobs-00000003"}),
    "stack-release-membership": ("mandatory", {"web"}),
    "stack-max-kept-releases": ("advisory", {STACK}),
}


@pytest.fixture(scope="module")
def bad_preview(tmp_path_factory: pytest.TempPathFactory) -> Preview:
    preview = preview_program("bad_raw", tmp_path_factory.mktemp("bad"))
    _ran(preview)
    return preview


def test_bad_raw_program_fails_the_preview(bad_preview: Preview) -> None:
    assert bad_preview.returncode != 0, bad_preview.explain()
    assert "preview failed" in bad_preview.output


def test_bad_raw_program_reports_the_named_violations(bad_preview: Preview) -> None:
    found = bad_preview.by_policy()
    assert set(found) == set(EXPECTED_BAD), bad_preview.explain()
    for policy, (level, resources) in EXPECTED_BAD.items():
        assert found[policy] == {(level, r) for r in resources}, policy


def test_bad_raw_messages_name_the_field_and_the_fix(bad_preview: Preview) -> None:
    messages = {v.policy: v.message for v in bad_preview.violations}
    assert "image 'nginx:1.27' is not pinned by digest; use repo@sha256:" in messages["k8s-image-digest"]
    assert "namespace 'team' has no NetworkPolicy" in messages["k8s-namespace-network-policy"]
    assert "opts out of exec_lock but has no reason" in messages["k8s-opt-out-reason"]
    assert "service team/jobs keeps 3 releases" in messages["stack-max-kept-releases"]


def test_good_raw_program_passes_with_zero_violations(tmp_path: Path) -> None:
    preview = preview_program("good_raw", tmp_path)
    _ran(preview)
    assert preview.returncode == 0, preview.explain()
    assert preview.violations == [], preview.explain()
    ran = preview.passed()
    expected = {p.name for p in POLICIES if p.platform in ("k8s", "stack")}
    assert expected <= ran, f"did not run: {sorted(expected - ran)}"


def test_policy_pack_config_sets_levels_and_settings_per_stack(tmp_path: Path) -> None:
    config = {
        "all": "advisory",
        "k8s-probes": "disabled",
        "stack-max-kept-releases": {"maxKeptReleases": 3},
        "k8s-resources": {"enforcementLevel": "mandatory", "requireCpuLimit": False},
    }
    preview = preview_program("bad_raw", tmp_path, config)
    _ran(preview)
    levels = {policy: {level for level, _ in found} for policy, found in preview.by_policy().items()}
    assert "k8s-probes" not in levels and "stack-max-kept-releases" not in levels
    assert levels.pop("k8s-resources") == {"mandatory"}
    assert set(levels) == set(EXPECTED_BAD) - {"k8s-probes", "stack-max-kept-releases", "k8s-resources"}
    assert all(found == {"advisory"} for found in levels.values()), levels
    assert preview.returncode != 0  # k8s-resources is still mandatory
    config["k8s-resources"] = "advisory"
    preview = preview_program("bad_raw", tmp_path / "all-advisory", config)
    assert preview.returncode == 0, preview.explain()
    assert preview.violations, "advisory violations are still reported"


def _harness() -> Any:
    # The project's own engine harness: a broken import fails the test, never skips it.
    from ..engine import harness

    return harness


DECLARED_OPT_OUTS = {"dev": {("stack-opt-outs", "advisory", "web-svc")}}
"""The opt-outs each example stack declares (dev: web's node port, with its reason): the pack lists
each one for the reviewer, as an advisory finding on the object that carries it; nothing else."""


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_example_stack_passes_with_zero_violations(stack: str, tmp_path: Path) -> None:
    harness = _harness()
    if not (ROOT / f"Pulumi.{stack}.yaml").exists():
        pytest.skip(f"Pulumi.{stack}.yaml is not in the example project")
    ws = harness.Workspace.create(tmp_path)
    ws.env["VIRTUAL_ENV"] = sys.prefix
    ws.env["PULUMI_ENABLE_STREAMING_JSON_PREVIEW"] = "true"
    ws.init_stack(stack)
    preview = run_preview(ws.dir, ws.env, "-s", stack)
    _ran(preview)
    assert preview.returncode == 0, preview.explain()
    found = [(v.policy, v.level, v.resource) for v in preview.violations]
    assert sorted(found) == sorted(DECLARED_OPT_OUTS.get(stack, set())), preview.explain()
    ran = preview.passed() | {v.policy for v in preview.violations}  # a policy that reported ran
    expected = {p.name for p in POLICIES if p.platform in ("k8s", "stack")}
    assert expected <= ran, f"did not run: {sorted(expected - ran)}"


# --- issue 18: the bypasses a reviewer tries first, bad and fixed (programs/gaps) --------------

GAPS_STACK = "policy-gaps-test"
# What programs/gaps (POLICY_TEST_VARIANT=bad) breaks: policy -> (level, resource names).
EXPECTED_GAPS: dict[str, tuple[str, set[str]]] = {
    "k8s-no-in-place-patch": ("mandatory", {"patch-web", "patch-config"}),
    "k8s-pod-security-restricted": ("mandatory", {"patch-web", "privileged"}),
    "k8s-image-digest": ("mandatory", {"patch-web", "junk-opt-out"}),
    "k8s-no-service-account-token": ("mandatory", {"projected-token", "sa"}),
    "k8s-namespace-network-policy": ("mandatory", {"allow-all", "in-default"}),
    "k8s-no-plaintext-secret": ("mandatory", {"password-env"}),
    "k8s-service-exposure": ("mandatory", {"lb"}),
    "k8s-no-workload-admin": ("mandatory", {"admin-binding"}),
    "k8s-replaced-by-rollout": ("mandatory", {"bare-pod", "on-delete", "partitioned"}),
    "k8s-opt-out-reason": ("mandatory", {"junk-opt-out"}),
    "k8s-exec-lock-complete": ("mandatory", {"audited-lock-binding"}),
    "k8s-exec-lock-bound": ("mandatory", {"audited-lock"}),
    "k8s-exec-lock-present": ("advisory", {"audited-web", "in-default"}),
    "k8s-no-default-namespace": ("mandatory", {"in-default"}),
}
# The fix each message gives, which the fixed variant applies to the same resource.
GAPS_FIXES: dict[tuple[str, str], str] = {
    ("k8s-no-in-place-patch", "patch-web"): "declare the Deployment in this program and ship the change as a new "
                                            "release",
    ("k8s-no-in-place-patch", "patch-config"): "create a new immutable ConfigMap named by its content hash",
    ("k8s-pod-security-restricted", "privileged"): "set privileged: false and allowPrivilegeEscalation: false",
    ("k8s-no-service-account-token", "projected-token"): "projects a service-account token "
                                                         "(projected.sources[0].serviceAccountToken) into the pod, "
                                                         "whatever automountServiceAccountToken says; remove that source",
    ("k8s-no-service-account-token", "sa"): "set automountServiceAccountToken: false",
    ("k8s-namespace-network-policy", "allow-all"): "allows all ingress traffic (a rule with no ports whose peers cover "
                                                   "everyone: none listed",
    ("k8s-namespace-network-policy", "in-default"): "move it to a namespace of your own",
    ("k8s-no-plaintext-secret", "password-env"): "env[0] ('DB_PASSWORD') looks like a secret and has its value in "
                                                 "clear in the spec (and in the state); move it to a Secret mounted "
                                                 "as a file",
    ("k8s-service-exposure", "lb"): "has type LoadBalancer: it is reachable from outside the cluster through an "
                                    "external load balancer; set type: ClusterIP",
    ("k8s-no-workload-admin", "admin-binding"): "grants ServiceAccount gaps/web the built-in ClusterRole "
                                                "'cluster-admin' (full control of every object in the cluster): a "
                                                "compromised pod would control what it can reach; bind a Role",
    ("k8s-replaced-by-rollout", "bare-pod"): "is a bare pod: nothing replaces it when it changes or fails; run it "
                                             "from a Deployment",
    ("k8s-replaced-by-rollout", "on-delete"): "set updateStrategy.type: RollingUpdate",
    ("k8s-replaced-by-rollout", "partitioned"): "partition 1: pods with an ordinal below 1 keep the old spec; "
                                                "remove partition",
    ("k8s-opt-out-reason", "junk-opt-out"): "with a reason that is not one (the reason is 10 characters, at least "
                                            "20 are needed), so it lifts nothing",
    ("k8s-exec-lock-complete", "audited-lock-binding"): "has validationActions ['Audit']: it records each exec in "
                                                        "the audit log but lets it through; set validationActions: "
                                                        "[Deny]",
    ("k8s-exec-lock-present", "audited-web"): "runs without an exec lock: the binding of exec lock "
                                              "'audited-exec-lock' has validationActions ['Audit']",
    ("k8s-no-default-namespace", "in-default"): "set metadata.namespace to a namespace of your own",
}


@pytest.fixture(scope="module")
def gaps_bad(tmp_path_factory: pytest.TempPathFactory) -> Preview:
    preview = preview_program("gaps", tmp_path_factory.mktemp("gaps-bad"), variant="bad")
    _ran(preview)
    return preview


def test_gaps_bad_variant_fails_with_the_named_violations(gaps_bad: Preview) -> None:
    assert gaps_bad.returncode != 0, gaps_bad.explain()
    found = gaps_bad.by_policy()
    assert set(found) == set(EXPECTED_GAPS), gaps_bad.explain()
    for policy, (level, resources) in EXPECTED_GAPS.items():
        assert found[policy] == {(level, r) for r in resources}, policy


def test_gaps_messages_say_what_was_seen_and_the_fix(gaps_bad: Preview) -> None:
    messages: dict[tuple[str, str], list[str]] = {}
    for v in gaps_bad.violations:
        messages.setdefault((v.policy, v.resource), []).append(v.message)
    for (policy, resource), fix in GAPS_FIXES.items():
        assert any(fix in m for m in messages.get((policy, resource), [])), (policy, resource, messages.get(
            (policy, resource)))
    # A privileged container is never told to set allowPrivilegeEscalation: false on its own.
    privileged = messages[("k8s-pod-security-restricted", "privileged")]
    assert not any(m.rstrip().endswith("allowPrivilegeEscalation is not set (the default allows it); set it to false")
                   for m in privileged), privileged
    # No advice to put a NetworkPolicy (or an exec lock) into 'default'.
    for policy in ("k8s-namespace-network-policy", "k8s-exec-lock-present"):
        assert not any("add a default-deny" in m or "add 'default'" in m
                       for m in messages[(policy, "in-default")]), messages[(policy, "in-default")]
    # The plaintext value is never echoed.
    assert not any("hunter2" in v.message for v in gaps_bad.violations)


def test_gaps_fixed_variant_passes_and_lists_its_opt_out(tmp_path: Path) -> None:
    """Applying exactly the fix each message gives makes the same program pass."""
    preview = preview_program("gaps", tmp_path, variant="fixed")
    _ran(preview)
    assert preview.returncode == 0, preview.explain()
    assert [(v.policy, v.level, v.resource) for v in preview.violations] == [
        ("stack-opt-outs", "advisory", "junk-opt-out")], preview.explain()
    (listed,) = preview.violations
    assert listed.message.rstrip().endswith("opts out of mutable_image_tag (lifts k8s-image-digest); reason: "
                                   "'nightly builds are tagged, never promoted (OPS-12)'")
