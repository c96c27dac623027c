"""The CLI's automatic logs are off in the homes toolchain/pulumi_env.py makes, and come back
with IMMUTABLE_PULUMI_AUTOMATIC_LOGS=on (why: pulumi_env.automatic_logs; the figure: docs/measurements.md
"Measurements"). The engine tests run the pinned CLI, so a CLI upgrade that finds another
place for those logs fails here rather than silently costing every `up` again."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from tests.engine.harness import PULUMI, ROOT, toolchain_missing

sys.path.insert(0, str(ROOT / "toolchain"))
from pulumi_env import AUTOMATIC_LOGS_VAR, automatic_logs, pulumi_env

pytestmark = [pytest.mark.engine]


def _cli(home: pathlib.Path, tmp: pathlib.Path, *, keep: bool) -> subprocess.CompletedProcess[str]:
    """A CLI command that loads a stack (where the CLI would start its log) on a file backend."""
    base = {"PATH": "/usr/bin:/bin", AUTOMATIC_LOGS_VAR: "on" if keep else ""}
    env = pulumi_env(ROOT, pulumi_home=home, backend_url=(tmp / "backend").as_uri(), base=base)
    env["PULUMI_CONFIG_PASSPHRASE"] = "automatic-logs-test-only"
    project = tmp / "project"
    project.mkdir(exist_ok=True)
    (project / "Pulumi.yaml").write_text("name: logs\nruntime: yaml\n")
    subprocess.run([str(PULUMI), "stack", "init", "dev", "--non-interactive"], cwd=project, env=env,
                   capture_output=True, text=True, timeout=120)
    return subprocess.run([str(PULUMI), "stack", "ls", "--non-interactive"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)


def _written_logs(home: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in home.rglob("*.log") if p.is_file())


def test_the_cli_writes_no_automatic_log_by_default_and_still_works(tmp_path: pathlib.Path) -> None:
    if reason := toolchain_missing():
        pytest.skip(reason)
    home = tmp_path / "home"
    proc = _cli(home, tmp_path, keep=False)
    assert proc.returncode == 0, proc.stderr
    assert "dev" in proc.stdout and proc.stderr == ""
    assert (home / "logs").is_file() and _written_logs(home) == []


def test_on_brings_the_clis_automatic_logs_back(tmp_path: pathlib.Path) -> None:
    if reason := toolchain_missing():
        pytest.skip(reason)
    home = tmp_path / "home"
    automatic_logs(home)  # off first, as in every checkout: `on` has to undo it
    proc = _cli(home, tmp_path, keep=True)
    assert proc.returncode == 0, proc.stderr
    assert (home / "logs").is_dir() and _written_logs(home), "the CLI wrote no automatic log: did it move them?"
    # Off again: the CLI's own logs go, the placeholder is back.
    assert automatic_logs(home) is False and (home / "logs").is_file()


def test_an_old_log_directory_is_replaced_only_when_it_holds_nothing_but_the_clis_logs(tmp_path: pathlib.Path) -> None:
    home = tmp_path / "home"
    logs = home / "logs"
    logs.mkdir(parents=True)
    (logs / "pulumi-20261201T060009-23371-version.log").write_bytes(b"\x1f\x8b")
    (logs / "organization+p+dev-20261201T060010-up.log").write_bytes(b"\x1f\x8b")
    assert automatic_logs(home) is False and logs.is_file()
    assert "IMMUTABLE_PULUMI_AUTOMATIC_LOGS=on" in logs.read_text()

    other = tmp_path / "other"
    (other / "logs").mkdir(parents=True)
    (other / "logs" / "notes.txt").write_text("mine")
    (other / "logs" / "pulumi-20261201T060009-1-version.log").write_bytes(b"")
    assert automatic_logs(other) is True  # somebody else's file: nothing deleted, the logs stay on
    assert sorted(p.name for p in (other / "logs").iterdir()) == ["notes.txt", "pulumi-20261201T060009-1-version.log"]


def test_on_leaves_a_file_that_is_not_the_placeholder(tmp_path: pathlib.Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "logs").write_text("a user's file")
    assert automatic_logs(home, keep=True) is False
    assert (home / "logs").read_text() == "a user's file"


def test_env_sh_writes_the_same_placeholder_and_honours_on(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "checkout"
    (root / "toolchain").mkdir(parents=True)
    (root / "toolchain" / "env.sh").write_text((ROOT / "toolchain" / "env.sh").read_text())
    home = root / ".state" / "pulumi-home"
    sh = ["bash", "-c", f'. "{root}/toolchain/env.sh"']
    subprocess.run(sh, env={"PATH": "/usr/bin:/bin"}, check=True, capture_output=True)
    python_home = tmp_path / "python-home"
    automatic_logs(python_home)
    assert (home / "logs").read_text() == (python_home / "logs").read_text()
    subprocess.run(sh, env={"PATH": "/usr/bin:/bin", AUTOMATIC_LOGS_VAR: "on"}, check=True, capture_output=True)
    assert not (home / "logs").exists()
    # As in Python, `on` removes only the placeholder: a user's file naming the variable stays.
    (home / "logs").write_text("mine; IMMUTABLE_PULUMI_AUTOMATIC_LOGS noted here\n")
    subprocess.run(sh, env={"PATH": "/usr/bin:/bin", AUTOMATIC_LOGS_VAR: "on"}, check=True, capture_output=True)
    assert (home / "logs").read_text() == "mine; IMMUTABLE_PULUMI_AUTOMATIC_LOGS noted here\n"
