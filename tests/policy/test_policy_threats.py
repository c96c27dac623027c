"""The threat cases of policy/THREATS.md through the pure checks, as the engine would run them.

The cases (``programs/threats/cases.py``) are the very raw programs the engine test previews:
here every policy of the pack runs on them in-process (resource policies on each resource with
its ``ignore_changes``, stack policies on the whole batch next to the shared baseline), so a
regression shows up without the CLI. Each bad case must be reported by exactly the policies
it names, at their level, and by nothing else; each good case by nothing. Then every value of
every case is replaced, one at a time, by an unknown (preview-time) value: no policy may crash.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from immutable_policy.common import UNKNOWN, Context
from immutable_policy.registry import POLICIES, run_resource_policy, run_stack_policy

from . import POLICY_DIR

PROGRAM = Path(__file__).resolve().parent / "programs" / "threats"
THREATS_DOC = POLICY_DIR / "THREATS.md"


def load_cases() -> Any:
    """``programs/threats/cases.py`` (the program's own module, not a package of the tests)."""
    spec = importlib.util.spec_from_file_location("policy_threat_cases", PROGRAM / "cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


cases = load_cases()
Found = dict[str, set[tuple[str, str]]]
"""case id -> {(policy, level)} reported on its resources."""


def case_of(resource_name: str) -> str:
    return resource_name.split("--", 1)[0]


def analyze(resources: list[Any]) -> tuple[Found, list[tuple[str, str, str]]]:
    """Every policy of the pack on ``resources``: what each case got, and every (policy, resource, message)."""
    found: Found = {}
    messages = []
    for res in resources:
        ctx = Context(ignore_changes=tuple(res.ignore_changes or ()))
        for policy in POLICIES:
            if policy.is_stack:
                continue
            for message in run_resource_policy(policy, res.type, res.props, ctx):
                found.setdefault(case_of(res.name), set()).add((policy.name, policy.level))
                messages.append((policy.name, res.name, message))
    stack = [{"type": r.type, "props": r.props, "urn": f"urn:pulumi:test::policy-threats::{r.type}::{r.name}",
              "name": r.name, "provider": {}} for r in resources]
    for policy in POLICIES:
        if not policy.is_stack:
            continue
        for finding in run_stack_policy(policy, stack):
            name = finding.urn.rsplit("::", 1)[-1] if finding.urn else "(stack)"
            found.setdefault(case_of(name), set()).add((policy.name, policy.level))
            messages.append((policy.name, name, finding.message))
    return found, messages


def batch(platform: str, good: bool) -> list[Any]:
    chosen = [c for c in cases.CASES if c.platform == platform and c.good == good]
    baseline = list(cases.BASELINE) if platform == "k8s" else []
    return baseline + [r for c in chosen for r in c.resources]


BATCHES = [(platform, good) for platform in ("k8s", "docker") for good in (False, True)]


@pytest.fixture(scope="module")
def results() -> dict[tuple[str, bool], tuple[Found, list[tuple[str, str, str]]]]:
    return {key: analyze(batch(*key)) for key in BATCHES}


@pytest.mark.parametrize("case", [c for c in cases.CASES if not c.good], ids=lambda c: c.id)
def test_bad_case_is_reported_by_its_policies_and_nothing_else(case: Any, results: Any) -> None:
    found, messages = results[(case.platform, False)]
    expected = {(policy, level) for policy, level in case.expect.items()}
    assert found.get(case.id, set()) == expected, [m for m in messages if case_of(m[1]) == case.id]


@pytest.mark.parametrize("case", [c for c in cases.CASES if c.good], ids=lambda c: c.id)
def test_good_case_passes_every_policy(case: Any, results: Any) -> None:
    found, messages = results[(case.platform, True)]
    assert case.id not in found, [m for m in messages if case_of(m[1]) == case.id]


def test_the_baseline_passes(results: Any) -> None:
    for key in BATCHES:
        found, messages = results[key]
        assert "base" not in found and "(stack)" not in found, messages


def test_enough_cases_and_every_row_of_threats_md_is_proved() -> None:
    bad = [c for c in cases.CASES if not c.good]
    good = [c for c in cases.CASES if c.good]
    assert len(bad) >= 60 and len(good) >= 15, (len(bad), len(good))
    doc = THREATS_DOC.read_text()
    rows = {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \|(.*)$", doc, re.M)}
    for case in cases.CASES:  # each case is named in the row it proves
        assert f"`cli:{case.id}`" in rows.get(case.row, ""), (case.id, case.row)
    named = set(re.findall(r"`cli:([a-z0-9-]+)`", doc))
    assert named <= set(cases.BY_ID), f"THREATS.md names cases that do not exist: {sorted(named - set(cases.BY_ID))}"


def test_messages_never_echo_the_secret_values(results: Any) -> None:
    _, messages = results[("k8s", False)]
    shown = " ".join(m for _, _, m in messages)
    for secret in (cases.AWS_KEY_ID, cases.GITHUB_TOKEN, cases.JWT, cases.SLACK_HOOK, "hunter2"):
        assert secret not in shown


# --- no policy crashes on unknown (preview-time) values ------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _with_unknown(props: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    out = copy.deepcopy(props)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = UNKNOWN
    return out


@pytest.mark.parametrize("platform", ["k8s", "docker"])
def test_no_policy_crashes_on_unknown_values(platform: str) -> None:
    """Every value of every case (and of the baseline), one at a time, unknown: every policy still runs."""
    resources = batch(platform, False) + batch(platform, True)
    runs = 0
    for index, res in enumerate(resources):
        for path in _paths(res.props):
            changed = copy.copy(res)
            changed.props = _with_unknown(res.props, path)
            ctx = Context(ignore_changes=tuple(res.ignore_changes or ()))
            for policy in POLICIES:
                if not policy.is_stack:
                    run_resource_policy(policy, changed.type, changed.props, ctx)
            # Stack policies see the changed resource next to the rest of its case.
            case = [r for r in resources if case_of(r.name) == case_of(res.name)]
            stack = [{"type": r.type, "props": changed.props if r is res else r.props, "urn": f"urn::{r.name}",
                      "name": r.name, "provider": {}} for r in case]
            for policy in POLICIES:
                if policy.is_stack:
                    run_stack_policy(policy, stack)
            runs += 1
        assert index >= 0
    assert runs > 200


def test_the_readme_gives_the_counts_of_threats_md() -> None:
    readme = (POLICY_DIR.parent / "README.md").read_text()
    doc = THREATS_DOC.read_text()
    families = len(re.findall(r"^\| \d+ \|", doc, re.M))
    out_of_scope = len(re.findall(r"^\| [A-Z]", doc.split("## Out of scope", 1)[1].split("## Limits", 1)[0], re.M))
    bad = sum(not c.good for c in cases.CASES)
    good = sum(c.good for c in cases.CASES)
    advisory = sum(c.advisory_only for c in cases.CASES)
    paragraph = " ".join(readme.split("Threat model: [`policy/THREATS.md`]", 1)[1].split("\n\n", 1)[0].split())
    assert f"attack ({families})" in paragraph and f"and {out_of_scope} families that cannot" in paragraph
    assert f"Its {bad} bad and {good} good raw programs" in paragraph and f"({advisory} are let through" in paragraph


def test_tool_annotations_are_not_taken_for_secrets() -> None:
    """Keys of the components and of Kubernetes tools hold reasons and names, not secrets."""
    from immutable_policy.kubernetes import check_no_plaintext_secret

    props = {"metadata": {"name": "lock", "annotations": {
        "exec-lock-exempt.immutable.dev/token-api": "debugging the token service, INC-12",
        "immutable.dev/opt-out-reason-service_account_token": "the agent reads the API, OPS-3",
        "kubectl.kubernetes.io/last-applied-configuration": '{"password": "x"}'}}}
    assert check_no_plaintext_secret("kubernetes:core/v1:ConfigMap", props) == []
    props["metadata"]["annotations"]["shop.example.com/api-token"] = "x"
    assert check_no_plaintext_secret("kubernetes:core/v1:ConfigMap", props)
