"""No Pulumi process outlives the CLI: ten YAML and ten Python commands, then count what is left.

Before the language host had its engine health check, every YAML ``preview``/``up``/``destroy``
left one ``pulumi-language-python`` running (one run left 18 of them, 515 MiB). Each command here
runs with a marker in its environment, which every process it starts inherits; after the CLI
exits, the processes still carrying the marker are counted. Other helpers' and developers'
Pulumi processes on the machine never carry it, so they are not counted.

The host checks its engine once a second and exits within 10 s of losing it, so each count is
taken after a grace of at most ``GRACE`` seconds; the figure printed is how many were still
there the moment the CLI exited (not asserted: it depends on the machine's load).
"""

from __future__ import annotations

import json
import os
import pathlib
import time
import uuid

import pytest

from .harness import Workspace, toolchain_missing
from .test_yaml_example import EXAMPLE, TWIN, YAML_HOST, _init, _without_secrets, _workspace, yaml_specs

MARK = "IMMUTABLE_TEST_PROCESS_MARK"
GRACE = 20.0
# No `refresh`: the render-mode Kubernetes provider cannot read back what it wrote (no cluster).
COMMANDS = (("preview",), ("up", "--yes"), ("preview",), ("up", "--yes"), ("preview", "--diff"), ("preview",),
            ("up", "--yes"), ("preview",), ("destroy", "--yes"), ("preview",))


def _missing() -> str | None:
    return toolchain_missing() or (None if YAML_HOST.exists() else f"{YAML_HOST} is missing: run python3 toolchain/build.py")


pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.skipif(_missing() is not None, reason=_missing() or "")]


def marked_processes(mark: str) -> list[str]:
    """The command lines of the live processes whose environment carries ``MARK=mark``."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            state = next((line for line in (proc / "status").read_text().splitlines() if line.startswith("State:")), "")
            if "Z" in state.split()[1:2]:  # a zombie has exited; only its parent's wait is missing
                continue
            found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def _run_and_count(ws: Workspace, stack: str, label: str) -> tuple[list[int], list[str]]:
    """Run COMMANDS; return the count left at each CLI exit and what was left after the grace."""
    at_exit: list[int] = []
    left: list[str] = []
    for command in COMMANDS:
        mark = uuid.uuid4().hex
        ws.env[MARK] = mark
        ws.pulumi(*command, "-s", stack)
        at_exit.append(len(marked_processes(mark)))
        deadline = time.monotonic() + GRACE
        while (remaining := marked_processes(mark)) and time.monotonic() < deadline:
            time.sleep(0.5)
        left += [f"after {label} pulumi {' '.join(command)}: {p}" for p in remaining]
    print(f"{label}: pulumi-* processes alive at each CLI exit {at_exit}; left after {GRACE:.0f}s: {len(left)}")
    return at_exit, left


def test_ten_yaml_commands_leave_no_process(tmp_path: pathlib.Path) -> None:
    ws = _workspace(tmp_path, EXAMPLE)
    _init(ws, "render", "immutable-yaml-example")
    _, left = _run_and_count(ws, "render", "YAML")
    assert left == []


def test_ten_python_commands_leave_no_process(tmp_path: pathlib.Path) -> None:
    ws = _workspace(tmp_path, TWIN)
    _init(ws, "twin", "immutable-twin")
    ws.pulumi("config", "set", "immutable-twin:renderDir", "build/manifests", "-s", "twin")
    ws.pulumi("config", "set", "immutable-twin:specs", json.dumps(_without_secrets(yaml_specs())), "-s", "twin")
    _, left = _run_and_count(ws, "twin", "Python")
    assert left == []
