"""The test command after the main job: `bash scripts/deploy.sh dev` leaves dev's cluster running
with the machine's one real node, which the cluster tier needs for itself. scripts/test.sh calls
`stop_dev_real_node` (scripts/lib.sh) before pytest; these tests run that function against a
stand-in `cluster/local.py` that records how it was called."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "lib.sh", tmp_path / "scripts" / "lib.sh")
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "local.py").write_text(
        "import pathlib, sys\n"
        "pathlib.Path(__file__).with_name('calls').open('a').write(' '.join(sys.argv[1:]) + '\\n')\n")
    return tmp_path


def _run(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", f'source "{project}/scripts/lib.sh" && stop_dev_real_node'],
                          capture_output=True, text=True, timeout=30)


def _calls(project: Path) -> list[str]:
    calls = project / "cluster" / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_a_dev_cluster_with_the_real_node_is_stopped_and_the_user_is_told(project: Path) -> None:
    (project / ".state" / "cluster").mkdir(parents=True)
    (project / ".state" / "cluster" / "mode.json").write_text('{"nodes": "real"}\n')
    proc = _run(project)
    assert proc.returncode == 0, proc.stderr
    assert _calls(project) == ["stop"]
    assert "the tests need the machine's one real node" in proc.stderr
    assert "bash scripts/deploy.sh dev brings dev back" in proc.stderr


@pytest.mark.parametrize("mode", [None, '{"nodes": "kwok"}\n'])
def test_no_cluster_or_a_kwok_cluster_is_left_alone(project: Path, mode: str | None) -> None:
    if mode is not None:
        (project / ".state" / "cluster").mkdir(parents=True)
        (project / ".state" / "cluster" / "mode.json").write_text(mode)
    proc = _run(project)
    assert proc.returncode == 0, proc.stderr
    assert _calls(project) == []


def test_the_test_command_calls_it_before_pytest() -> None:
    text = (ROOT / "scripts" / "test.sh").read_text()
    assert text.index("stop_dev_real_node") < text.index('"$VENV/bin/python" -m pytest')
