"""Test-suite wide hooks.

In CI (``CI=true``) the tiers that prove the real toolchain works must run: a skip of an
engine, cluster, checkov or actionlint test is turned into a failure, so a missing
toolchain, cluster binary or linter can never hide behind a green run. Locally they still
skip with their reason (a developer may not have built the toolchain yet).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

MUST_RUN_MARKERS = ("engine", "cluster", "workflows")
"""Markers of tiers that must not skip in CI."""
MUST_RUN_WORDS = ("checkov", "actionlint")
"""Tests whose name, file or skip reason names one of these tools must not skip in CI."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def must_run(item: pytest.Item, reason: str) -> bool:
    if any(item.get_closest_marker(name) for name in MUST_RUN_MARKERS):
        return True
    text = f"{item.nodeid} {reason}".lower()
    return any(word in text for word in MUST_RUN_WORDS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.skipped or not in_ci() or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    if must_run(item, reason):
        report.outcome = "failed"
        report.longrepr = (f"skipped in CI: {reason}\nEngine, cluster, checkov and actionlint tests must run in CI "
                           "(CI=true); scripts/test.sh builds what they need. Fix the prerequisite, do not skip.")


# --- running the tiers side by side (pytest-xdist, `-n 2 --dist loadgroup` in scripts/test.sh) ---

MACHINE_SINGLETONS = {
    "cluster": "realnode",  # the machine's one real node (its bridge and lock); kwok's control plane: "kwok"
    "docker": "docker",     # the project's Docker engine and the edge proxy's fixed 127.0.0.1 ports
    "s3": "s3",             # one moto_server and the stacks in its bucket
    "workflows": "workflows",  # act's runs share one forge, runner and clusters per module: one worker sets them up once
}
"""Tiers whose tests share something the machine has once: each runs whole on one worker, in
collection order (so a module's numbered steps keep their order), while the other tests go to
the other worker."""


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the node ids (loadgroup)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    per_module: dict[str, set[str]] = {}  # a module's steps share module state: it moves whole
    for item in items:
        per_module.setdefault(item.nodeid.split("::")[0], set()).update(getattr(item, "fixturenames", ()))
    for item in items:
        group = next((g for marker, g in MACHINE_SINGLETONS.items() if item.get_closest_marker(marker)), None)
        module = per_module[item.nodeid.split("::")[0]]
        if "real" in getattr(item, "fixturenames", ()):
            group = "realnode"  # a test of another tier on the real node (the delivery loop's dev)
        elif group == "realnode" and "cluster" in module and "real" not in module:
            group = "kwok"  # the session's simulated-node control plane: its own ports and state, beside the node
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


# --- the machine's one real node, shared by every tier that runs real pods ----------------------

@pytest.fixture(scope="session")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The one real node of the session (cluster/node.py allows one per machine), shared by every
    module that runs real pods (the cluster tier, the delivery loop's dev); each module deploys
    into its own workspace and destroys it. Every test that uses it runs on one worker (the
    ``realnode`` group, above)."""
    from tests.cluster.realnode import start_real_node
    yield from start_real_node(tmp_path_factory)


@pytest.fixture(scope="session")
def netns(real: Any) -> Iterator[str]:
    """The load generator's network namespace (tests/cluster/realnode.py)."""
    from tests.cluster.realnode import make_netns
    yield from make_netns(real)
