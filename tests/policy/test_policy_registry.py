"""The policy list itself: names, levels, config schemas, test coverage and the README table."""

from __future__ import annotations

import re

import pytest
from immutable_policy.registry import POLICIES, markdown_table

from . import POLICY_DIR
from .policy_cases import CASES
from .test_policy_stack import STACK_POLICIES

JSON_TYPES = {"integer": int, "boolean": bool, "array": list, "string": str}


def test_names_are_unique_prefixed_and_never_all() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"(k8s|aws|docker|stack)-[a-z0-9-]+", name), name


def test_every_resource_policy_has_a_known_good_and_a_known_bad_case() -> None:
    for policy in POLICIES:
        if policy.is_stack:
            continue
        cases = [c for c in CASES if c.policy == policy.name]
        assert any(c.good for c in cases), f"{policy.name}: no known-good case"
        assert any(not c.good for c in cases), f"{policy.name}: no known-bad case"
    assert {c.policy for c in CASES} <= {p.name for p in POLICIES}


def test_every_stack_policy_is_tested_good_and_bad() -> None:
    assert {p.name for p in POLICIES if p.is_stack} == set(STACK_POLICIES)


def test_at_least_thirty_known_bad_cases() -> None:
    assert sum(not c.good for c in CASES) >= 30


def test_security_rules_default_to_mandatory() -> None:
    mandatory = {p.name for p in POLICIES if p.level == "mandatory"}
    for name in ("k8s-image-digest", "k8s-pod-security-restricted", "k8s-config-immutable", "aws-imdsv2",
                 "aws-no-ssh", "aws-no-open-ingress", "aws-no-mutable-instance", "docker-no-privileged",
                 "stack-release-membership", "k8s-no-in-place-patch", "k8s-replaced-by-rollout",
                 "k8s-no-plaintext-secret", "k8s-service-exposure", "k8s-no-workload-admin"):
        assert name in mandatory
    assert {p.name for p in POLICIES if p.level == "advisory"} == {
        "k8s-non-root-ids", "k8s-probes", "k8s-secrets-as-files", "k8s-exec-lock-present",
        "aws-asg-elb-health-check", "aws-release-tags", "docker-resource-limits", "docker-healthcheck",
        "stack-max-kept-releases", "stack-opt-outs"}


@pytest.mark.parametrize("policy", [p for p in POLICIES if p.config], ids=lambda p: p.name)
def test_config_defaults_match_their_schema(policy) -> None:  # type: ignore[no-untyped-def]
    for key, schema in policy.config.items():
        assert key != "enforcementLevel"
        assert isinstance(schema["default"], JSON_TYPES[schema["type"]]), key
        assert schema.get("description"), key


def test_readme_policy_table_is_generated_from_the_registry() -> None:
    readme = (POLICY_DIR / "README.md").read_text()
    start, end = "<!-- policy-table:start -->", "<!-- policy-table:end -->"
    assert start in readme and end in readme
    table = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert table == markdown_table(), (
        "policy/README.md is out of date: regenerate the table with "
        "`.venv/bin/python -c 'import sys; sys.path.insert(0, \"policy\"); "
        "from immutable_policy.registry import markdown_table; print(markdown_table())'`")


def coverage_row() -> str:
    """The pure-check row of policy/README.md's coverage table, counted from the case list."""
    from immutable_policy.registry import BY_NAME

    blocked = sum(1 for c in CASES if not c.good and BY_NAME[c.policy].level == "mandatory")
    advisory = sum(1 for c in CASES if not c.good and BY_NAME[c.policy].level == "advisory")
    good = sum(1 for c in CASES if c.good)
    return f"| pure checks, one input each (`policy_cases.py`) | {blocked} | {advisory} | {good} |"


def test_readme_coverage_totals_match_the_case_list() -> None:
    readme = (POLICY_DIR / "README.md").read_text()
    table = readme.split("<!-- coverage:start -->", 1)[1].split("<!-- coverage:end -->", 1)[0]
    assert coverage_row() in table, f"policy/README.md coverage is stale; the row is now:\n{coverage_row()}"
