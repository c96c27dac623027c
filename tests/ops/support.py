"""Shared helpers of the ops tests: running ``immutable-ops`` as a process, throwaway copies
of the raw test programs, and the recorded preview fixtures and golden comments.

Fixtures (``tests/ops/fixtures/*.json``) are real ``pulumi preview --json --show-sames``
output captured by the engine tests, trimmed of noise (source positions, stack traces);
golden comments (``tests/ops/golden/*.md``) are made from them. Regenerate both after a
topology change with::

    IMMUTABLE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/ops -m engine
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from immutable_infra import yaml_text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROGRAMS = HERE / "programs"
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
PULUMI = ROOT / ".toolchain" / "bin" / "pulumi"
UPDATE_GOLDEN = os.environ.get("IMMUTABLE_UPDATE_GOLDEN") == "1"
REGENERATE = "regenerate with: IMMUTABLE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/ops -m engine"

sys.path.insert(0, str(ROOT / "toolchain"))
from pulumi_env import pulumi_env  # noqa: E402


def toolchain_missing() -> str | None:
    for binary in ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        if not (PULUMI.parent / binary).exists():
            return f"{PULUMI.parent / binary} is missing: build the toolchain with python3 toolchain/build.py"
    return None


def run_ops(cwd: Path, env: dict[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """``immutable-ops -C cwd args...`` as its own process (what CI runs)."""
    # The width a CI log gets (components/ops/output.py), whatever COLUMNS the test process has:
    # under the workers a COLUMNS of 80 wrapped the guard's table inside the words tests look for.
    return subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(cwd), *args],
                          env={**env, "COLUMNS": "160"}, capture_output=True, text=True, timeout=timeout)


def explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@dataclass
class RawProgram:
    """A copy of a program under tests/ops/programs with its own file backend."""

    dir: Path
    env: dict[str, str]
    stack: str

    @classmethod
    def create(cls, name: str, tmp: Path, stack: str = "ops", config: dict[str, str] | None = None) -> RawProgram:
        project = tmp / name
        shutil.copytree(PROGRAMS / name, project, ignore=shutil.ignore_patterns("__pycache__", "build"))
        meta = yaml.safe_load((project / "Pulumi.yaml").read_text())
        meta["runtime"] = {"name": "python", "options": {"virtualenv": sys.prefix}}
        (project / "Pulumi.yaml").write_text(yaml_text.dump(meta, sort_keys=False))
        backend = tmp / f"{name}-backend"
        backend.mkdir()
        env = pulumi_env(ROOT, backend_url=backend.as_uri())
        env["PULUMI_CONFIG_PASSPHRASE"] = "ops-engine-test-only"
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        program = cls(project, env, stack)
        program.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
        for key, value in (config or {}).items():
            program.set(key, value)
        return program

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(PULUMI), *args, "--non-interactive"], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def set(self, key: str, value: str) -> None:
        self.pulumi("config", "set", key, value, "-s", self.stack)

    def up(self) -> None:
        self.pulumi("up", "--yes", "-s", self.stack)

    def ops(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_ops(self.dir, self.env, *args)


NOISE = ("sourcePosition", "stackTrace", "propertyDependencies", "created", "modified")


def trim_preview(data: dict[str, Any]) -> dict[str, Any]:
    """A real preview without what only adds bytes: positions, traces, timestamps, the
    duration, and resource outputs (equal to the inputs in render mode) except the stack's
    and the ids the guard reads."""
    out = {k: v for k, v in data.items() if k != "duration"}
    steps = []
    for step in data.get("steps", []):
        step = dict(step)
        for side in ("oldState", "newState"):
            if isinstance(step.get(side), dict):
                state = {k: v for k, v in step[side].items() if k not in NOISE}
                if state.get("type") != "pulumi:pulumi:Stack" and isinstance(state.get("outputs"), dict):
                    state["outputs"] = {k: v for k, v in state["outputs"].items() if k in ("id", "name", "arn")}
                step[side] = state
        steps.append(step)
    out["steps"] = steps
    return out


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def save_fixture(name: str, data: dict[str, Any]) -> None:
    FIXTURES.mkdir(exist_ok=True)
    (FIXTURES / f"{name}.json").write_text(json.dumps(trim_preview(data), indent=1, sort_keys=True) + "\n")


def golden(name: str) -> str:
    return (GOLDEN / f"{name}.md").read_text()


def save_golden(name: str, text: str) -> None:
    GOLDEN.mkdir(exist_ok=True)
    (GOLDEN / f"{name}.md").write_text(text)


def check_golden(name: str, text: str) -> None:
    """Compare with the golden file (or write it when regenerating)."""
    if UPDATE_GOLDEN:
        save_golden(name, text)
        return
    path = GOLDEN / f"{name}.md"
    assert path.exists(), f"{path} is missing; {REGENERATE}"
    expected = path.read_text()
    assert text == expected, f"comment differs from {path.name}; if the change is intended, {REGENERATE}\n\n{text}"
