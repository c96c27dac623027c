"""The README's first command and its Tour, run as written on the session's real node.

A copy of the project (its .venv and .toolchain linked, its own .state: backend and PULUMI_HOME)
runs ``bash scripts/deploy.sh dev``: the apps are built from source, pushed to the session's
registry, deployed on real pods, and the job checks the address itself. Then every line of the
README's "Tour" block runs in bash, unchanged, and each answer is checked: a new web release
with the old one kept, the new text at the address, the rollback, the old text again. The copy's
ledger starts without the apps' entries (they name 127.0.0.1:5000, the machine-wide registry),
so the main job builds them into the session's registry (a private port); nothing else differs
from a user's checkout. Measurements go to the session's real-node measurements.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml
from immutable_infra import yaml_text

from tests.cluster.kube import ROOT, Cluster
from tests.cluster.realnode import M
from tests.engine.harness import toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]

ADDRESS = "http://127.0.0.1:30080/"
APPS = ("web", "api", "worker")
GREETING = "Hello from web, built from source in this repository."
IGNORE = shutil.ignore_patterns(".state", ".venv", ".toolchain", ".git", "build", "__pycache__", ".pytest_cache",
                                ".mypy_cache", ".ruff_cache", "*.egg-info")


def tour_lines() -> list[str]:
    section = (ROOT / "README.md").read_text().split("\n## Tour\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@dataclass
class Copy:
    dir: pathlib.Path
    env: dict[str, str]

    def bash(self, line: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", line], cwd=self.dir, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def outputs(self) -> dict[str, object]:
        proc = self.bash("source toolchain/env.sh && pulumi stack output --json -s dev", timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def copy(real: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Copy]:
    project = tmp_path_factory.mktemp("tour") / "immutable-infra"
    shutil.copytree(ROOT, project, ignore=IGNORE, symlinks=True)
    for name in (".venv", ".toolchain"):
        (project / name).symlink_to((ROOT / name).resolve())
    real.images()  # the session's registry runs (a private port, as every test's)
    # The committed ledger and records name 127.0.0.1:5000, the machine-wide registry that tests
    # leave alone; a record's id is the hash of its image, so the copy cannot rename them. The
    # copy drops the apps' entries instead: the main job builds them into the session's registry
    # and records them, as on a checkout whose apps have never been built.
    config = project / "Pulumi.dev.yaml"
    data = yaml.safe_load(config.read_text())
    for app in APPS:
        del data["config"]["immutable:ledger"][app]
    config.write_text(yaml_text.dump(data, sort_keys=False))
    env = {k: v for k, v in real.env().items() if not k.startswith(("PULUMI_", "VIRTUAL_ENV"))}
    env["IMMUTABLE_APPS_CACHE"] = str(project / ".state" / "apps")
    c = Copy(project, env)
    try:
        yield c
    finally:
        c.bash("source toolchain/env.sh && PULUMI_CONFIG_PASSPHRASE=immutable-dev-only-passphrase "
               "pulumi destroy --yes --non-interactive -s dev", timeout=600)


def answer(url: str = ADDRESS) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def test_the_main_job_ends_with_an_address_that_answers(copy: Copy, real: Cluster) -> None:
    t0 = time.monotonic()
    proc = copy.bash("bash scripts/deploy.sh dev")
    M["tour_first_deploy_seconds"] = round(time.monotonic() - t0, 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-6000:]
    assert f"dev answers at {ADDRESS}" in proc.stderr
    out = copy.outputs()
    page = answer()
    assert GREETING in page and f"web release {out['web_release']} version 1.0.0" in page
    assert f"api release {out['api_release']} version 1.0.0" in page and "config and secret sha256" in page
    # api proves its config and secret are mounted with a digest; the secret itself never shows.
    assert "dev-only-db-password" not in page
    # Pods run on the real node, pulled by digest from the local registry.
    pods = real.get("pods", "-n", "apps")
    running = {p["metadata"]["labels"].get("app.kubernetes.io/name") for p in pods["items"]
               if p["spec"].get("nodeName") == "immutable-node" and p["status"].get("phase") == "Running"}
    assert {"web", "api", "worker"} <= running, running


def test_a_second_run_changes_nothing(copy: Copy) -> None:
    t0 = time.monotonic()
    proc = copy.bash("bash scripts/deploy.sh dev")
    M["tour_noop_deploy_seconds"] = round(time.monotonic() - t0, 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert "apps: nothing changed" in proc.stderr
    summary = proc.stdout[proc.stdout.rfind("Resources:"):]
    assert re.search(r"\d+ unchanged", summary) and not re.search(r"to (create|update|delete|replace)|created|"
                                                                  r"updated|deleted|replaced", summary), summary


def test_the_readme_tour_as_written(copy: Copy) -> None:
    lines = tour_lines()
    assert len(lines) == 6 and lines[2] == "bash scripts/deploy.sh dev", lines
    before = copy.outputs()
    results = []
    for line in lines:
        t0 = time.monotonic()
        proc = copy.bash(line)
        results.append(proc)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr[-4000:]}"
        if line.startswith("bash scripts/deploy.sh"):
            M["tour_change_deploy_seconds"] = round(time.monotonic() - t0, 1)
            changed = copy.outputs()
        elif "rollback" in line:
            M["tour_rollback_seconds"] = round(time.monotonic() - t0, 1)
    old, new = before["web_release"], changed["web_release"]
    # 0: the page as deployed; 2: only web was built, one new web release, the old one kept.
    assert GREETING in results[0].stdout and f"web release {old} " in results[0].stdout
    assert "building web" in results[2].stderr and "building api" not in results[2].stderr
    assert "building worker" not in results[2].stderr
    assert new != old and changed["web_kept_releases"] == [old]
    assert (changed["api_release"], changed["worker_release"]) == (before["api_release"], before["worker_release"])
    # 3: the new text from the new release; 5: after the rollback, the old text from the old one.
    assert "Hello from web, changed in the tour." in results[3].stdout and f"web release {new} " in results[3].stdout
    assert GREETING in results[5].stdout and f"web release {old} " in results[5].stdout
    assert copy.outputs()["web_release"] == old
    print(f"\ntour measurements: {json.dumps({k: v for k, v in M.items() if k.startswith('tour_')})}")
    assert os.path.exists(copy.dir / "releases" / "dev.yaml")
