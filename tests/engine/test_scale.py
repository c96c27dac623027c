"""bench/bench_scale.py at CI size (N=100, render mode) on the real engine: correctness only.

Every service is rendered (its Deployment, Service, ConfigMap, PDB, NetworkPolicy and
ServiceAccount manifests exist, with the namespace's one exec lock), and a second ``pulumi up``
changes nothing. Times and memory are printed by the benchmark, never asserted here.
PULUMI_SKIP_CHECKPOINTS keeps it short (the file backend's per-step state rewrite costs
~75 s of CLI CPU at this size and does not change what is deployed).
"""

from __future__ import annotations

import json
import pathlib
from collections import Counter

import pytest
import yaml

from bench import bench_scale
from tests.engine.harness import toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.slow,
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]

N = 100


def test_a_hundred_services_all_rendered_and_a_no_op_is_a_no_op(tmp_path: pathlib.Path) -> None:
    results, project = bench_scale.run_size(tmp_path, "render", N, kubeconfig=None, parallel=None, keep=True,
                                            json_previews=False, skip_checkpoints=True)
    by_step = {r.step: r for r in results}
    kinds: Counter[str] = Counter()
    services: dict[str, set[str]] = {}
    for path in (project.dir / "build" / "manifests").rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            kinds[doc["kind"]] += 1
            name = doc["metadata"].get("labels", {}).get("app.kubernetes.io/name")
            if name:
                services.setdefault(name, set()).add(doc["kind"])
    assert set(services) == {f"svc{i}" for i in range(N)}
    wanted = {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"}
    assert all(kinds_of == wanted for kinds_of in services.values()), \
        {s: wanted - k for s, k in services.items() if k != wanted}
    assert kinds["ValidatingAdmissionPolicy"] == kinds["ValidatingAdmissionPolicyBinding"] == 1
    assert kinds["Deployment"] == N
    # first up: everything created; no-op up: nothing but "same" (one component + 6 objects per
    # service, the namespace component with its 4 children, the provider and the stack).
    created = by_step["first up"].resources
    assert set(created) == {"create"} and created["create"] == 7 * N + 5 + 2, created
    assert by_step["no-op up"].resources == {"same": created["create"]}, by_step["no-op up"].resources


# Appended to the benchmark's program: counts the outputs the SDK's end-of-program wait rescans
# (``asyncio.wait(pending outputs, FIRST_COMPLETED)``, once per completion) and writes the total.
_COUNT_RESCANS = '''
import asyncio, atexit, os, pathlib
_rescanned = [0]
_wait = asyncio.wait
async def _counting_wait(fs, *args, **kwargs):
    _rescanned[0] += len(fs)
    return await _wait(fs, *args, **kwargs)
asyncio.wait = _counting_wait
atexit.register(lambda: pathlib.Path(os.environ["RESCANS_FILE"]).write_text(str(_rescanned[0])))
'''

# Put before the program's last lines: an entry point of the user's own, which awaits something.
_USERS_ENTRY_POINT = '''
async def _users_main():
    return {"users_entry_point": await pulumi.Output.from_input("ran").future()}
pulumi.run(_users_main)
'''
_LAST_LINES = 'if config.get_bool("start_registrations", True):'


def test_start_registrations_spares_the_sdk_rescanning_every_pending_output(tmp_path: pathlib.Path) -> None:
    """``immutable_infra.start_registrations()`` (the last line of the example's and the benchmark's
    programs): without it the SDK re-arms a callback on every pending output each time one
    resolves, quadratic in the stack's size; with it, it waits for the registrations in turn."""
    n = 30
    project = bench_scale.make_project(tmp_path, n, None, skip_checkpoints=True)
    (project.dir / "__main__.py").write_text(bench_scale.PROGRAM + _COUNT_RESCANS)
    rescans = tmp_path / "rescans"
    project.env["RESCANS_FILE"] = str(rescans)
    counted = {}
    for start in ("false", "true"):
        project.pulumi("config", "set", "start_registrations", start, "-s", "bench")
        project.pulumi("preview", "-s", "bench")
        counted[start] = int(rescans.read_text())
    print("outputs rescanned by the SDK's wait, without and with:", counted)
    # Without it, every output of the 7 resources per service is rescanned at least once.
    assert counted["false"] > 7 * n * 5, counted
    assert counted["true"] * 10 < counted["false"], counted
    # A program with an entry point of its own: start_registrations() adds none (pulumi.run may be
    # called once), the program runs, and the user's entry point is what runs.
    assert bench_scale.PROGRAM.count(_LAST_LINES) == 1
    program = bench_scale.PROGRAM.replace(_LAST_LINES, _USERS_ENTRY_POINT + _LAST_LINES)
    (project.dir / "__main__.py").write_text(program + _COUNT_RESCANS)
    project.pulumi("up", "--yes", "--skip-preview", "-s", "bench")
    _, _, proc = project.pulumi("stack", "output", "--json", "-s", "bench")
    assert json.loads(proc.stdout)["users_entry_point"] == "ran"


def test_provider_option_runs_the_given_plugin_binary(tmp_path: pathlib.Path) -> None:
    """``bench_scale --provider PATH`` (the A/B against a build with a fix meant for upstream,
    bench/UPSTREAM.md) runs that binary, not the plugin installed in PULUMI_HOME."""
    marker = tmp_path / "ran"
    other = tmp_path / "other-build"
    other.write_text(f'#!/bin/sh\necho "$@" >> "{marker}"\nexec "{bench_scale.KUBERNETES_PLUGIN}" "$@"\n')
    other.chmod(0o755)
    project = bench_scale.make_project(tmp_path, 2, None, skip_checkpoints=True, provider=other)
    project.pulumi("preview", "-s", "bench")
    assert marker.is_file(), "the CLI ran the installed plugin, not --provider's"
    without = bench_scale.make_project(tmp_path, 2, None, skip_checkpoints=True)
    marker.unlink()
    without.pulumi("preview", "-s", "bench")
    assert not marker.exists()
