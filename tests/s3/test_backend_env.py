"""The backend is the user's choice (PULUMI_BACKEND_URL or `pulumi login`), the local file
backend is the default, the Pulumi Cloud is reached only when chosen, and ``immutable-ops``
never executes code found near the project (no engine needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from immutable_infra.ops.errors import OpsError
from immutable_infra.ops.workspace import Project, effective_backend, find_project_dir, project_env

from ..ops.support import ROOT

sys.path.insert(0, str(ROOT / "toolchain"))
from pulumi_env import check_backend, current_backend, pulumi_env

S3 = "s3://team-state?endpoint=http%3A%2F%2F127.0.0.1%3A9000&s3ForcePathStyle=true&region=eu-west-1"
TRAP = "import pathlib\npathlib.Path({marker!r}).write_text('executed')\n"


def _project(tmp: Path) -> Path:
    project = tmp / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    return project


def _login(home: Path, url: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "credentials.json").write_text(json.dumps({"current": url, "accessTokens": {url: "tok"}}))


def test_ops_never_executes_pulumi_env_from_a_parent_or_the_project(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "toolchain").mkdir()
    (tmp_path / "toolchain" / "pulumi_env.py").write_text(TRAP.format(marker=str(marker)))
    project = _project(tmp_path)
    (project / "toolchain").mkdir()
    (project / "toolchain" / "pulumi_env.py").write_text(TRAP.format(marker=str(marker)))
    (project / "sub").mkdir()
    found = find_project_dir(project / "sub")
    assert found == project.resolve()
    env = project_env(found, {"PATH": "/usr/bin", "PULUMI_BACKEND_URL": "file:///x"})
    assert not marker.exists()
    assert env["PULUMI_BACKEND_URL"] == "file:///x" and env["PATH"] == "/usr/bin"


def test_ops_as_a_process_in_a_subdirectory_does_not_run_the_parent_file(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "toolchain").mkdir()
    (tmp_path / "toolchain" / "pulumi_env.py").write_text(TRAP.format(marker=str(marker)))
    project = _project(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env["PULUMI_BACKEND_URL"] = (tmp_path / "backend").as_uri()
    proc = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(project), "history", "nope"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr  # unknown stack: a clean refusal
    assert not marker.exists()


def test_pinned_layout_is_read_as_data_and_defaults_to_the_local_file_backend(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / ".toolchain" / "bin").mkdir(parents=True)
    (project / ".toolchain" / "bin" / "pulumi").write_text("#!/bin/sh\n")
    env = project_env(project, {"PATH": "/usr/bin", "PULUMI_BACKEND_URL": "", "PULUMI_ACCESS_TOKEN": "t"})
    assert env["PATH"].split(os.pathsep)[0] == str(project / ".toolchain" / "bin")
    assert env["PULUMI_HOME"] == str(project / ".state" / "pulumi-home")
    assert env["PULUMI_BACKEND_URL"] == (project / ".state" / "backend").as_uri()
    assert "PULUMI_ACCESS_TOKEN" not in env


def test_a_login_is_honoured_and_an_s3_url_kept(tmp_path: Path) -> None:
    project = _project(tmp_path)
    home = tmp_path / "home"
    _login(home, S3)
    env = project_env(project, {"PULUMI_HOME": str(home), "PULUMI_ACCESS_TOKEN": "t", "PULUMI_API": "x"})
    assert "PULUMI_BACKEND_URL" not in env and effective_backend(env) == S3  # the CLI reads the login itself
    assert "PULUMI_ACCESS_TOKEN" not in env and "PULUMI_API" not in env
    env = project_env(project, {"PULUMI_HOME": str(home), "PULUMI_BACKEND_URL": "gs://other"})
    assert effective_backend(env) == "gs://other"  # the variable wins over the login


def test_the_cloud_only_when_chosen(tmp_path: Path) -> None:
    project = _project(tmp_path)
    env = project_env(project, {"PULUMI_BACKEND_URL": "https://api.pulumi.com", "PULUMI_ACCESS_TOKEN": "t",
                                "PULUMI_HOME": str(tmp_path / "h")})
    assert env["PULUMI_ACCESS_TOKEN"] == "t"
    env = project_env(project, {"PULUMI_HOME": str(tmp_path / "empty"), "PULUMI_ACCESS_TOKEN": "t"})
    assert effective_backend(env) is None and "PULUMI_ACCESS_TOKEN" not in env
    with pytest.raises(OpsError, match="no state backend chosen") as caught:
        _ = Project(project, "p", env).command  # before the CLI would run (and fall back to the cloud)
    assert "PULUMI_BACKEND_URL" in (caught.value.hint or "")


def test_pulumi_env_keeps_the_users_backend_and_logs_in_to_the_file_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = pulumi_env(tmp_path, pulumi_home=home, base={"PATH": "/usr/bin", "PULUMI_BACKEND_URL": S3,
                                                       "PULUMI_ACCESS_TOKEN": "t"})
    assert env["PULUMI_BACKEND_URL"] == S3 and "PULUMI_ACCESS_TOKEN" not in env
    assert current_backend(home) is None  # a chosen backend writes no login
    env = pulumi_env(tmp_path, pulumi_home=home, base={"PATH": "/usr/bin", "PULUMI_BACKEND_URL": ""})
    assert "PULUMI_BACKEND_URL" not in env
    assert current_backend(home) == (tmp_path / ".state" / "backend").as_uri()
    assert (tmp_path / ".state" / "backend").is_dir()
    _login(home, "https://api.pulumi.com")  # `pulumi login` later: honoured, token kept for it
    env = pulumi_env(tmp_path, pulumi_home=home, base={"PATH": "/usr/bin", "PULUMI_ACCESS_TOKEN": "t"})
    assert current_backend(home) == "https://api.pulumi.com" and env["PULUMI_ACCESS_TOKEN"] == "t"


def test_pulumi_env_refuses_what_is_not_a_backend_url() -> None:
    for url in (S3, "file:///tmp/x", "azblob://c", "gs://b", "https://api.pulumi.com"):
        assert check_backend(url) == url
    with pytest.raises(ValueError, match="not a backend URL"):
        check_backend("/tmp/state")
    with pytest.raises(ValueError, match=r"\*\*\*\*") as caught:
        check_backend("mysql://u:secretpw@db/x")
    assert "secretpw" not in str(caught.value)


@pytest.mark.parametrize("chosen", ["", S3])
def test_env_sh_matches_pulumi_env(tmp_path: Path, chosen: str) -> None:
    root = tmp_path / "checkout"
    (root / "toolchain").mkdir(parents=True)
    (root / "toolchain" / "env.sh").write_text((ROOT / "toolchain" / "env.sh").read_text())
    script = f'. "{root}/toolchain/env.sh"; echo "url=${{PULUMI_BACKEND_URL:-}}"; echo "tok=${{PULUMI_ACCESS_TOKEN:-}}"'
    env = {"PATH": "/usr/bin:/bin", "PULUMI_BACKEND_URL": chosen, "PULUMI_ACCESS_TOKEN": "t"}
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert f"url={chosen}\n" in out and "tok=\n" in out
    home = root / ".state" / "pulumi-home"
    assert current_backend(home) == (None if chosen else f"file://{root}/.state/backend")
