"""In CI a skipped engine/cluster/checkov/actionlint test fails the run (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).resolve().parents[1] / "conftest.py").read_text()
TESTS = '''
import pytest

@pytest.mark.engine
@pytest.mark.skipif(True, reason="toolchain missing")
def test_engine():
    pass

@pytest.mark.cluster
def test_cluster():
    pytest.skip("cluster binaries missing")

@pytest.mark.skipif(True, reason="checkov not installed")
def test_iac_scan():
    pass

@pytest.mark.skipif(True, reason="bin/actionlint is missing")
def test_workflows():
    pass

@pytest.mark.skipif(True, reason="only on Windows")
def test_unrelated():
    pass

@pytest.mark.engine
def test_engine_that_runs():
    pass
'''


def _run(pytester: pytest.Pytester, ci: str | None) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    engine: e\n    cluster: c\n")
    pytester.makepyfile(test_tiers=TESTS)
    if ci is None:
        pytester._monkeypatch.delenv("CI", raising=False)
    else:
        pytester._monkeypatch.setenv("CI", ci)
    return pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")


def test_in_ci_a_skipped_tier_fails(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "true")
    # A skip during setup (skipif) becomes a setup error, one in the test body a failure: both fail the run.
    result.assert_outcomes(failed=1, errors=3, skipped=1, passed=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*skipped in CI: *toolchain missing*"])


def test_outside_ci_they_skip(pytester: pytest.Pytester) -> None:
    _run(pytester, None).assert_outcomes(skipped=5, passed=1)
