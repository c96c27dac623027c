"""A killed ``pulumi up`` leaves pending creates in the state; the main job's step before the
next update (``immutable-ops converge STACK before``, which ``scripts/deploy.sh`` runs) settles
them, so the next update runs clean and no pending operation is left (render target here; the
real node's in tests/cluster/test_real_node.py test_6, Docker's plan in tests/unit/ops).

The kill is real: the CLI is SIGKILLed while a create is in flight. To hold a render-mode create
in flight (it is a file write, over in a millisecond), the Deployment's manifest path is a named
pipe with no reader: the provider's write blocks there, as on a stalled disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.kube import kill_plugins_left_in

from .harness import PULUMI, Workspace, resource_type, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]


def state_file(ws: Workspace, stack: str = "dev") -> Path:
    backend = Path(ws.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    found = list((backend / ".pulumi" / "stacks").rglob(f"{stack}.json"))
    assert len(found) == 1, found
    return found[0]


def pending_in(path: Path) -> list[dict[str, Any]]:
    """The pending operations of the stack's latest checkpoint, as the file backend holds it."""
    try:
        latest = json.loads(path.read_text()).get("checkpoint", {}).get("latest") or {}
    except (OSError, ValueError):  # being rewritten
        return []
    return list(latest.get("pending_operations") or [])


def deployment_in_flight(path: Path) -> bool:
    return any(op["type"] == "creating" and op["resource"]["type"] == "kubernetes:apps/v1:Deployment"
               for op in pending_in(path))


def deployment_path(ws: Workspace) -> Path:
    """Where render mode writes the Deployment the next update creates (the provider's own naming:
    ``<apiVersion>-<kind>-<namespace>-<name>.yaml`` under ``1-manifest``)."""
    step = next(s for s in ws.preview_steps()
                if s["op"] == "create" and resource_type(s["urn"]) == "kubernetes:apps/v1:Deployment")
    meta = step["newState"]["inputs"]["metadata"]
    return ws.dir / "build" / "manifests" / "dev" / "1-manifest" / f"apps_v1-deployment-{meta['namespace']}-{meta['name']}.yaml"


def test_a_killed_up_leaves_no_pending_operation_after_the_next_deploy(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path)
    ws.init_stack()
    ws.record()
    blocked = deployment_path(ws)
    blocked.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(blocked)
    proc = subprocess.Popen([str(PULUMI), "up", "--yes", "--skip-preview", "-s", "dev", "--non-interactive"],
                            cwd=ws.dir, env=ws.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:  # killed once the state records the Deployment's create in flight
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not deployment_in_flight(state_file(ws)):
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        output = proc.communicate(timeout=30)[0]
        kill_plugins_left_in(ws.dir)
        blocked.unlink()
    assert proc.returncode == -signal.SIGKILL, output
    assert deployment_in_flight(state_file(ws)), pending_in(state_file(ws))
    creates = [op for op in pending_in(state_file(ws)) if op["type"] == "creating"]

    # The main job's steps: the killed update's lock, then the step before `up`.
    locked = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(ws.dir), "stale-lock", "dev"],
                            cwd=ws.dir, env=ws.env, capture_output=True, text=True, timeout=120)
    assert locked.returncode == 0, locked.stdout + locked.stderr  # the lock is the killed update's
    ws.pulumi("cancel", "--yes", "-s", "dev")
    settled = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(ws.dir), "converge", "dev", "before"],
                             env=ws.env, capture_output=True, text=True, timeout=300)
    assert settled.returncode == 0, settled.stdout + settled.stderr
    for op in creates:
        assert f"cleared {op['resource']['urn'].rsplit('::', 1)[-1]}" in settled.stderr, settled.stderr
    assert pending_in(state_file(ws)) == []

    up = ws.pulumi("up", "--yes", "-s", "dev")
    assert "pending operations" not in up.stdout + up.stderr
    assert pending_in(state_file(ws)) == [] and blocked.is_file()
    assert ws.pulumi("preview", "--expect-no-changes", "-s", "dev", check=False).returncode == 0
