"""Upgrading the Pulumi toolchain: a stack deployed by the previous toolchain and code is
updated by today's with 0 replaces, 0 deletes and the same release ids.

The previous toolchain and code are this repository's own, at ``PREVIOUS`` (the last commit
before the move to Pulumi 3.277.0): its ``toolchain/build.py`` builds its CLI and language host
from its own ``versions.json`` into this checkout's ``.toolchain/cache`` (entries are keyed by
name, version and a hash of the wrapper module, so the two toolchains live side by side, and a
machine builds the old one once: ~10 min cold, see docs/measurements.md). The old Python SDK
(``PREVIOUS_SDK``) is installed once into a cache entry as well and put first on PYTHONPATH.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import DEV_SECRET, PULUMI, ROOT, Workspace, changed, resource_name, resource_type

pytestmark = [pytest.mark.engine, pytest.mark.slow]

PREVIOUS = "517cefc"
"""main's HEAD before the move from Pulumi 3.259.0 to 3.277.0 (CLI) / 3.272.0 (Python SDK)."""
PREVIOUS_CLI = "3.259.0"
PREVIOUS_SDK = "3.259.0"
CACHE = ROOT / ".toolchain" / "cache"
WORKLOADS = ("web", "api", "worker")
REPLACING_OR_DELETING = ("delete", "replace", "create-replacement", "delete-replaced", "discard")


def _previous_tree(into: Path) -> Path:
    """The toolchain, library and example program at PREVIOUS, with ``.toolchain/cache`` shared."""
    paths = ["toolchain", "components", "stacks", "releases", "__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml"]
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS, *paths],
                             capture_output=True, check=False, timeout=120)
    assert archive.returncode == 0, f"git archive {PREVIOUS} failed (a full clone is needed): {archive.stderr.decode()}"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    (into / ".toolchain").mkdir()
    CACHE.mkdir(parents=True, exist_ok=True)
    os.symlink(CACHE, into / ".toolchain" / "cache")
    # The old library must win over this checkout's editable install: a package dir on PYTHONPATH.
    (into / "lib").mkdir()
    os.symlink(into / "components", into / "lib" / "immutable_infra")
    return into


def _build_previous_toolchain(old: Path) -> Path:
    """The old CLI and language host, by the old build.py (a cache hit after the first run)."""
    proc = subprocess.run([sys.executable, str(old / "toolchain" / "build.py"), "--only", "pulumi",
                           "--only", "pulumi-language-python", "--no-plugin-install"],
                          cwd=old, capture_output=True, text=True, timeout=3600, check=False)
    assert proc.returncode == 0, f"building the toolchain of {PREVIOUS} failed:\n{proc.stdout}\n{proc.stderr}"
    cli = old / ".toolchain" / "bin" / "pulumi"
    version = subprocess.run([str(cli), "version"], capture_output=True, text=True, check=True).stdout.strip()
    assert version == f"v{PREVIOUS_CLI}", version
    return cli


def _previous_sdk() -> Path:
    """The Python SDK the previous toolchain pinned, installed once (no dependencies: the venv's
    grpcio, protobuf, dill... serve both SDKs) into a cache entry keyed by its version."""
    target = CACHE / f"python-pulumi-{PREVIOUS_SDK}"
    if not (target / "pulumi" / "__init__.py").is_file():
        tmp = CACHE / f".tmp-python-pulumi-{PREVIOUS_SDK}"
        shutil.rmtree(tmp, ignore_errors=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(tmp),
                               f"pulumi=={PREVIOUS_SDK}"], capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, f"pip install pulumi=={PREVIOUS_SDK} failed:\n{proc.stdout}\n{proc.stderr}"
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


def _releases(outputs: dict[str, Any]) -> dict[str, Any]:
    return {w: (outputs[f"{w}_release"], outputs[f"{w}_kept_releases"]) for w in WORKLOADS}


def test_a_stack_deployed_by_the_previous_toolchain_upgrades_without_replacing_or_deleting(tmp_path: Path) -> None:
    old = _previous_tree(tmp_path / "old")
    old_cli = _build_previous_toolchain(old)
    ws = Workspace.create(tmp_path)
    # The workspace runs the *previous* program, ledger and config first (render target).
    for name in ("stacks", "releases"):
        shutil.rmtree(ws.dir / name, ignore_errors=True)
        shutil.copytree(old / name, ws.dir / name)
    shutil.copy(old / "__main__.py", ws.dir / "__main__.py")
    dev = yaml.safe_load((old / "Pulumi.dev.yaml").read_text())
    dev["config"]["immutable:environment"]["target"] = "render"
    ws.write_config(dev)
    # The old CLI with its own language host (found next to it), the old SDK and library first
    # on PYTHONPATH; the same backend and PULUMI_HOME (the Kubernetes plugin is 4.25.0 in both).
    old_env = {**ws.env, "PATH": f"{old_cli.parent}{os.pathsep}{ws.env['PATH']}",
               "PYTHONPATH": f"{_previous_sdk()}{os.pathsep}{old / 'lib'}"}

    def run_old(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(old_cli), *args, "--non-interactive"], cwd=ws.dir, env=old_env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"pulumi {PREVIOUS_CLI} {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    run_old("stack", "init", "dev", "--secrets-provider", "passphrase")
    secrets = (ws.config()["config"] or {}).get("immutable:secrets") or {}
    if "api-db-password" not in secrets:
        run_old("config", "set", "--secret", "--path", "immutable:secrets.api-db-password.v1", DEV_SECRET, "-s", "dev")
    run_old("up", "--yes", "-s", "dev")
    state = json.loads(run_old("stack", "export", "-s", "dev").stdout)
    assert state["deployment"]["manifest"]["version"] == f"v{PREVIOUS_CLI}", state["deployment"]["manifest"]
    before = json.loads(run_old("stack", "output", "--json", "-s", "dev").stdout)
    urns_before = {r["urn"] for r in state["deployment"]["resources"]}
    assert all(before[f"{w}_release"] for w in WORKLOADS), before

    # Upgrade: today's CLI, SDK, library and program on the state the old toolchain wrote.
    assert PULUMI.resolve() != old_cli.resolve()
    shutil.rmtree(ws.dir / "stacks")
    shutil.copytree(ROOT / "stacks", ws.dir / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "__main__.py", ws.dir / "__main__.py")
    steps = ws.preview_steps()
    bad = [(s["op"], resource_type(s["urn"]), resource_name(s["urn"])) for s in steps if s["op"] in REPLACING_OR_DELETING]
    assert bad == [], f"upgrading from the toolchain of {PREVIOUS} would {bad}"
    ws.pulumi("up", "--yes", "-s", "dev")
    upgraded = ws.export()["deployment"]
    assert upgraded["manifest"]["version"] != f"v{PREVIOUS_CLI}", upgraded["manifest"]
    assert urns_before <= {r["urn"] for r in upgraded["resources"]}  # nothing deleted
    after = json.loads(ws.pulumi("stack", "output", "--json", "-s", "dev").stdout)
    assert _releases(after) == _releases(before)
    no_changes = ws.pulumi("preview", "--expect-no-changes", "-s", "dev", check=False)
    assert no_changes.returncode == 0, [(s["op"], s["urn"]) for s in changed(ws.preview_steps())]
