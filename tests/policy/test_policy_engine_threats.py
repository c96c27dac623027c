"""The raw programs of policy/THREATS.md through the real CLI: ``pulumi preview --policy-pack policy/``.

``programs/threats`` declares every case of ``programs/threats/cases.py`` with the plain
provider SDKs: one preview per platform (Kubernetes in render mode, Docker for a preview) and
variant (the bad cases, then the good ones), so 89 bad and 19 good programs cost four CLI runs.
Each case is still judged on its own, by the names of its resources (``<case>`` or
``<case>--<part>``): a bad case must be reported by exactly the policies it names, at their
level, and by nothing else (so it is refused for its own reason, or only advised with its
opt-out's reason); a good case by nothing, and the good previews must pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_policy_engine import Preview, _ran, _toolchain_missing, preview_program
from .test_policy_threats import case_of, cases

pytestmark = [pytest.mark.engine,
              pytest.mark.skipif(_toolchain_missing() is not None, reason=_toolchain_missing() or "")]
PREVIEWS: dict[tuple[str, str], Preview] = {}


@pytest.fixture(scope="module")
def previews(tmp_path_factory: pytest.TempPathFactory) -> Any:
    def get(platform: str, variant: str) -> Preview:
        key = (platform, variant)
        if key not in PREVIEWS:
            tmp = tmp_path_factory.mktemp(f"threats-{platform}-{variant}")
            preview = preview_program("threats", tmp, variant=variant, extra_env={"POLICY_TEST_PLATFORM": platform})
            _ran(preview)
            PREVIEWS[key] = preview
        return PREVIEWS[key]

    return get


def engine_errors(preview: Preview) -> list[str]:
    """Errors the engine reported other than the policy failure itself (a missing plugin, a
    refused resource): a bad preview must fail because of the policies, nothing else."""
    out = []
    for event in preview.events:
        diagnostic = event.get("diagnosticEvent") or {}
        message = str(diagnostic.get("message", ""))
        if diagnostic.get("severity") == "error" and "preview failed" not in message:
            out.append(message)
    return out


def found_by_case(preview: Preview) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for violation in preview.violations:
        found.setdefault(case_of(violation.resource), set()).add((violation.policy, violation.level))
    return found


@pytest.mark.parametrize("platform", ["k8s", "docker"])
def test_the_bad_programs_fail_the_preview(platform: str, previews: Any) -> None:
    preview = previews(platform, "bad")
    assert preview.returncode != 0, preview.explain()
    assert engine_errors(preview) == [], preview.explain()
    assert any(v.level == "mandatory" for v in preview.violations), preview.explain()
    assert "base" not in found_by_case(preview), preview.explain()  # the shared baseline is clean


@pytest.mark.parametrize("case", [c for c in cases.CASES if not c.good], ids=lambda c: f"{c.platform}:{c.id}")
def test_each_bad_program_is_refused_for_its_own_reason(case: Any, previews: Any) -> None:
    preview = previews(case.platform, "bad")
    got = found_by_case(preview).get(case.id, set())
    messages = [(v.policy, v.resource, v.message) for v in preview.violations if case_of(v.resource) == case.id]
    assert got == set(case.expect.items()), messages
    if case.advisory_only:  # let through, and shown with the reason of its opt-out
        assert any(cases.REASON in m for _, _, m in messages), messages


@pytest.mark.parametrize("platform", ["k8s", "docker"])
def test_the_good_programs_pass_with_zero_violations(platform: str, previews: Any) -> None:
    preview = previews(platform, "good")
    assert preview.returncode == 0, preview.explain()
    assert [(v.policy, v.resource) for v in preview.violations] == [], preview.explain()


def test_every_resource_of_every_case_reached_the_engine(previews: Any) -> None:
    """Each case's resources are in the preview's events: none was dropped silently."""
    for platform in ("k8s", "docker"):
        for variant in ("bad", "good"):
            events = previews(platform, variant).events
            names = {str(e["resourcePreEvent"]["metadata"]["urn"]).rsplit("::", 1)[-1]
                     for e in events if "resourcePreEvent" in e}
            for case in cases.CASES:
                if case.platform == platform and case.good == (variant == "good"):
                    missing = [r.name for r in case.resources if r.name not in names]
                    assert not missing, (platform, variant, case.id, missing)
