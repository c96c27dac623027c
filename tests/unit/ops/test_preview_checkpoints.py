"""``immutable-ops`` previews skip the engine's per-step state serialization; updates keep it.

Pulumi 3.274+ serializes the whole state after every step of a preview too, into a persister
that discards it (quadratic CPU in the stack's size); ``PULUMI_SKIP_CHECKPOINTS`` turns that into
one serialization at the end. An update must keep its checkpoints (crash safety)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from immutable_infra.ops.engine import EngineRunner


@pytest.fixture
def runner(tmp_path: Path) -> EngineRunner:
    bin_dir = tmp_path / "cli" / "bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "pulumi"  # prints what the engine would see
    fake.write_text('#!/bin/sh\necho "skip=${PULUMI_SKIP_CHECKPOINTS:-unset}"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": str(bin_dir), "PULUMI_BACKEND_URL": (tmp_path / "state").as_uri()}
    return EngineRunner(dir=tmp_path, name="p", env=env)


def test_a_preview_runs_without_per_step_checkpoints(runner: EngineRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_SKIP_CHECKPOINTS", raising=False)
    code, out, _ = runner.run(["preview", "--json", "--stack", "dev"])
    assert (code, out) == (0, "skip=true")


def test_an_update_keeps_its_checkpoints(runner: EngineRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_SKIP_CHECKPOINTS", raising=False)
    code, out, _ = runner.run(["up", "--yes", "--stack", "dev"])
    assert (code, out) == (0, "skip=unset")
