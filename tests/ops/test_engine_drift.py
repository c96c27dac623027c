"""``drift`` and ``report`` through the real engine on a program where refresh works.

``programs/realworld`` keeps its "real world" in a JSON file through a Python dynamic
provider; the test edits that file the way someone clicking in a console would: a server
is resized, a DNS record deleted, an unmanaged server added. ``drift`` must name the first
two (exit 5), ``drift --fix`` must replace them (new ids: never patched), after which the
real world matches the release again; ``report`` turns it into drift and IaC coverage.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import RawProgram, explain, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RawProgram, Path]]:
    tmp = tmp_path_factory.mktemp("ops-drift")
    world_file = tmp / "world.json"
    program = RawProgram.create("realworld", tmp, config={"realworld:file": str(world_file)})
    program.up()
    yield program, world_file


def _world(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _history_length(program: RawProgram) -> int:
    return len(json.loads(program.pulumi("stack", "history", "--json", "-s", program.stack).stdout))


def _drift(program: RawProgram) -> subprocess.CompletedProcess[str]:
    return program.ops("drift", program.stack, "--format", "json")


def test_drift_is_found_named_and_fixed_by_replacement(world: tuple[RawProgram, Path]) -> None:
    program, world_file = world
    clean = _drift(program)
    assert clean.returncode == 0, explain(clean)
    assert json.loads(clean.stdout)["drifted"] == []

    real = _world(world_file)
    server_id = next(k for k in real if k.startswith("server-"))
    dns_id = next(k for k in real if k.startswith("dns-"))
    real[server_id]["size"] = "xlarge"  # resized by hand
    del real[dns_id]  # deleted by hand
    real["server-byhand01"] = {"kind": "server", "image": "nginx:latest", "size": "small"}  # never managed
    world_file.write_text(json.dumps(real))
    updates = _history_length(program)

    found = _drift(program)
    assert found.returncode == 5, explain(found)
    report = json.loads(found.stdout)
    drifted = {d["name"]: d for d in report["drifted"]}
    assert set(drifted) == {"app-server", "www"}, report
    assert drifted["app-server"]["state"] == "changed"
    assert drifted["app-server"]["changes"] == [["size", "small", "xlarge"]]
    assert drifted["www"]["state"] == "gone"
    assert report["managed"] == 3 and report["drift_percent"] == pytest.approx(66.7, abs=0.1)
    assert _history_length(program) == updates, "a drift check changes nothing"
    table = program.ops("drift", program.stack)
    assert table.returncode == 5 and "size: small → xlarge" in table.stdout, explain(table)

    fixed = program.ops("drift", program.stack, "--fix", "--format", "json")
    assert fixed.returncode == 0, explain(fixed)
    assert sorted(json.loads(fixed.stdout)["fix"]["replaced"]) == ["app-server", "www"]
    after = _world(world_file)
    assert server_id not in after, "the drifted server was replaced (a new id), not patched"
    servers = {k: v for k, v in after.items() if k.startswith("server-") and k != "server-byhand01"}
    assert [v["size"] for v in servers.values()] == ["small"]
    assert any(k.startswith("dns-") for k in after)
    assert "server-byhand01" in after, "unmanaged resources are reported, never touched"
    assert _drift(program).returncode == 0


def test_report_gives_drift_and_coverage(world: tuple[RawProgram, Path]) -> None:
    program, world_file = world
    real = _world(world_file)
    real.setdefault("server-byhand01", {"kind": "server", "image": "nginx:latest", "size": "small"})
    world_file.write_text(json.dumps(real))  # found by the inventory, not managed by the stack
    proc = program.ops("report", "--inventory", f"{program.stack}={world_file}", "--format", "json")
    assert proc.returncode == 0, explain(proc)
    (stack,) = json.loads(proc.stdout)["stacks"]
    assert stack["drift_percent"] == 0.0
    coverage = stack["coverage"]
    assert coverage["found"] == 4 and coverage["managed"] == 3 and coverage["unmanaged"] == ["server-byhand01"], coverage
    assert stack["iac_coverage_percent"] == pytest.approx(75.0), stack
    assert stack["deploys"] >= 1 and stack["deploy_frequency_per_day"] > 0, stack
    bad = program.ops("report", "--inventory", "nope")
    assert bad.returncode == 3 and "expected STACK=FILE" in bad.stderr, explain(bad)
