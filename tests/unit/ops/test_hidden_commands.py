"""The hidden commands scripts/lib.sh and scripts/deploy.sh call (they replaced the ``python -m``
side entrances): ``backend-url``, ``stale-lock`` and ``check-ledger``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*Click 9\.0.*", category=DeprecationWarning)
    from immutable_infra.ops.cli import app
    from typer.testing import CliRunner

runner = CliRunner()


def test_the_side_entrances_are_hidden_from_help() -> None:
    shown = runner.invoke(app, ["--help"]).output
    assert "guard" in shown
    for hidden in ("backend-url", "stale-lock", "check-ledger"):
        assert hidden not in shown


def test_backend_url_masks_the_password(tmp_path: Path) -> None:
    env = {"PULUMI_BACKEND_URL": "postgres://app:hunter2@db/state", "PULUMI_HOME": str(tmp_path)}
    result = runner.invoke(app, ["backend-url"], env=env)
    assert result.exit_code == 0 and result.output == "postgres://app:****@db/state\n"


def test_backend_url_reads_the_login_and_says_none_without_one(tmp_path: Path) -> None:
    assert runner.invoke(app, ["backend-url"], env={"PULUMI_BACKEND_URL": "", "PULUMI_HOME": str(tmp_path)}).output == "none\n"
    (tmp_path / "credentials.json").write_text(json.dumps({"current": "s3://team-state?region=eu-west-1"}))
    result = runner.invoke(app, ["backend-url"], env={"PULUMI_BACKEND_URL": "", "PULUMI_HOME": str(tmp_path)})
    assert result.output == "s3://team-state?region=eu-west-1\n"


def _project_with_lock(tmp_path: Path, pid: int) -> tuple[Path, dict[str, str]]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: shop\nruntime: python\n")
    backend = tmp_path / "backend"
    lock = backend / ".pulumi" / "locks" / "organization" / "shop" / "dev" / "a1b2.json"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": pid, "hostname": socket.gethostname(), "username": "u", "timestamp": "t"}))
    # The CLI's file backend writes each object's metadata beside it (tests/engine/test_killed_up.py
    # takes a real killed update's lock): a sidecar, not a second lock.
    lock.with_name(lock.name + ".attrs").write_text(json.dumps({"user.cache_control": "", "content_type": "application/json"}))
    return project, {"PULUMI_BACKEND_URL": backend.as_uri(), "PULUMI_HOME": str(tmp_path / "home")}


def test_stale_lock_names_a_killed_updates_lock(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    project, env = _project_with_lock(tmp_path, gone.pid)
    result = runner.invoke(app, ["-C", str(project), "stale-lock", "dev"], env=env)
    assert result.exit_code == 0, result.output
    assert f"pid {gone.pid} on {socket.gethostname()} (gone)" in result.output


def test_stale_lock_removes_the_empty_sidecar_a_killed_checkpoint_write_left(tmp_path: Path) -> None:
    """Killed while writing a checkpoint, the CLI can leave ``dev.json.attrs`` empty; every later
    command then fails with ``failed to load checkpoint: EOF`` until it is gone."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    project, env = _project_with_lock(tmp_path, gone.pid)
    stacks = tmp_path / "backend" / ".pulumi" / "stacks" / "shop"
    stacks.mkdir(parents=True)
    (stacks / "dev.json").write_text("{}")
    (stacks / "dev.json.attrs").write_text("")
    (stacks / "dev.json.bak.attrs").write_text('{"content_type": "application/json"}')
    result = runner.invoke(app, ["-C", str(project), "stale-lock", "dev"], env=env)
    assert result.exit_code == 0, result.output
    assert not (stacks / "dev.json.attrs").exists() and (stacks / "dev.json.bak.attrs").read_text()
    assert (stacks / "dev.json").exists()


def test_stale_lock_leaves_a_live_update_and_other_stacks_alone(tmp_path: Path) -> None:
    project, env = _project_with_lock(tmp_path, os.getpid())
    assert runner.invoke(app, ["-C", str(project), "stale-lock", "dev"], env=env).exit_code == 1
    assert runner.invoke(app, ["-C", str(project), "stale-lock", "prod"], env=env).exit_code == 1


@pytest.mark.parametrize("args", [["check-ledger"], ["stale-lock"]])
def test_the_hidden_commands_want_a_stack(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 2
