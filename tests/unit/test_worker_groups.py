"""The test command's two workers (pytest-xdist, ``--dist loadgroup``): every test of a machine
singleton's tier runs on one worker. Run for real: pytest with two workers on a small tree whose
conftest is the project's grouping hook; each test writes the worker it ran on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = f'''
import importlib.util, pytest
spec = importlib.util.spec_from_file_location("project_conftest", {str(ROOT / "tests" / "conftest.py")!r})
project = importlib.util.module_from_spec(spec)
spec.loader.exec_module(project)
pytest_collection_modifyitems = project.pytest_collection_modifyitems

def pytest_configure(config):
    for marker in project.MACHINE_SINGLETONS:
        config.addinivalue_line("markers", marker)

@pytest.fixture
def real():
    return None

@pytest.fixture
def cluster():
    return None
'''

GROUP_DUMP = '''
import json, os, pathlib, pytest

@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    if os.environ.get("PYTEST_XDIST_WORKER") != "gw0":
        return
    groups = {item.name: item.get_closest_marker("xdist_group").kwargs.get("name") or
              item.get_closest_marker("xdist_group").args[0]
              for item in items if item.get_closest_marker("xdist_group")}
    pathlib.Path(os.environ["GROUP_LOG"]).write_text(json.dumps(groups))
'''

MARK = '''
import os, pathlib, time

def _mark(name):
    time.sleep(0.2)
    out = pathlib.Path(os.environ["WORKER_LOG"]) / name
    out.write_text(os.environ.get("PYTEST_XDIST_WORKER", "none"))
'''

KWOK_TESTS = '''
import pytest
from marks import _mark

STATE = []

@pytest.mark.cluster
def test_kwok_step_1(cluster): STATE.append(1); _mark("kwok_1")
@pytest.mark.cluster
def test_kwok_step_2(): assert STATE == [1]; _mark("kwok_2")  # module state: with its module
'''

TESTS = '''
import pytest
from marks import _mark

@pytest.mark.cluster
def test_cluster_1(): _mark("cluster_1")
@pytest.mark.cluster
def test_cluster_2(): _mark("cluster_2")
@pytest.mark.cluster
def test_cluster_3(): _mark("cluster_3")
def test_on_the_real_node(real): _mark("realnode_4")
@pytest.mark.workflows
def test_workflow_step_on_the_real_node(real): _mark("realnode_5")  # another singleton's marker
@pytest.mark.workflows
def test_workflow_step(): _mark("workflows_1")
@pytest.mark.docker
def test_docker_1(): _mark("docker_1")
@pytest.mark.docker
def test_docker_2(): _mark("docker_2")
@pytest.mark.parametrize("n", range(8))
def test_free(n): _mark(f"free_{n}")
'''


def test_a_singleton_tier_runs_whole_on_one_worker(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "conftest.py").write_text(CONFTEST)
    (tree / "test_tiers.py").write_text(TESTS)
    (tree / "test_kwok.py").write_text(KWOK_TESTS)
    (tree / "groupdump.py").write_text(GROUP_DUMP)
    (tree / "marks.py").write_text(MARK)
    log = tmp_path / "log"
    log.mkdir()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                           "--dist", "loadgroup", "-p", "groupdump", "-c", str(tree / "conftest.py"),
                           "--rootdir", str(tree), str(tree)],
                          capture_output=True, text=True, timeout=120, cwd=tree,
                          env={**os.environ, "WORKER_LOG": str(log), "GROUP_LOG": str(tmp_path / "groups.json"),
                               "PYTHONPATH": str(tree)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = {p.name: p.read_text() for p in log.iterdir()}
    assert len(ran) == 18, ran
    groups: dict[str, set[str]] = {}
    for name, worker in ran.items():
        groups.setdefault(name.rsplit("_", 1)[0], set()).add(worker)
    assert len(groups["cluster"] | groups["realnode"]) == 1, ran  # the real node's tier: one worker
    assert len(groups["docker"]) == 1, ran
    assert len(groups["workflows"]) == 1, ran
    assert len(groups["kwok"]) == 1, ran
    # A module whose tests use kwok's control plane (and not the real node) is its own group,
    # whole (its steps share module state); the real node's group keeps the rest of the tier.
    assigned = json.loads((tmp_path / "groups.json").read_text())
    assert assigned["test_kwok_step_1"] == assigned["test_kwok_step_2"] == "kwok", assigned
    assert assigned["test_workflow_step_on_the_real_node"] == assigned["test_cluster_1"] == "realnode", assigned
    assert assigned["test_workflow_step"] == "workflows", assigned
    assert groups["free"] <= {"gw0", "gw1"}, json.dumps(ran)
