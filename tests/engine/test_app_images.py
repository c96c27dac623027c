"""The example apps' images (testapp/ + registry/apps.py), on the real CLI in render mode with a
private local registry:

- the same source and toolchain give the same digests (another path, another Go cache), and
  they are the digests dev's committed ledger names;
- the image build step through the real CLI: a change to one app's source is exactly one new
  release of that one service; an unchanged app is neither rebuilt nor pushed nor recorded;
- faults: a compile error shows the compiler's error and pushes and records nothing; a registry
  that is not running says how to start it; a ledger digest the registry lacks is named.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.cluster.kube import BIN
from tests.engine.harness import ROOT, Workspace, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.slow]

APPS = ("web", "api", "worker")
APPS_PY = ROOT / "registry" / "apps.py"
GREETING = "Hello from web, built from source in this repository."


def _missing() -> str | None:
    missing = [b for b in ("registry", "imagetool") if not (BIN / b).is_file()]
    reason = toolchain_missing() or (f"{', '.join(missing)} missing in {BIN}: run python3 cluster/build.py"
                                     if missing else None) or (None if shutil.which("go") else "go is not on PATH")
    return reason


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)  # never a silent skip in CI: scripts/test.sh builds everything first
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("apps")
    env = {**os.environ, "IMMUTABLE_REGISTRY_STATE": str(tmp / "registry"), "IMMUTABLE_REGISTRY_PORT": "0",
           "IMMUTABLE_APPS_CACHE": str(tmp / "cache")}
    start = subprocess.run([sys.executable, str(ROOT / "registry" / "local.py"), "start"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert start.returncode == 0, start.stdout + start.stderr
    try:
        yield env
    finally:
        subprocess.run([sys.executable, str(ROOT / "registry" / "local.py"), "stop", "--purge"], env=env,
                       capture_output=True, text=True, timeout=60)


def apps(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, str(APPS_PY), *args], env=env, capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, f"registry/apps.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def source_copy(tmp: pathlib.Path) -> pathlib.Path:
    src = tmp / "src"
    shutil.copytree(ROOT / "testapp", src)
    return src


def registry_address(env: dict[str, str]) -> str:
    return str(json.loads((pathlib.Path(env["IMMUTABLE_REGISTRY_STATE"]) / "registry.json").read_text())["address"])


def tags(env: dict[str, str], app: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://{registry_address(env)}/v2/apps/{app}/tags/list", timeout=5) as resp:
            return sorted(json.loads(resp.read()).get("tags") or [])
    except OSError:
        return []


def test_same_source_and_toolchain_give_the_same_digests(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    first = json.loads(apps(env, "digest", "--json").stdout)
    # Another checkout path and an empty Go build cache: nothing of this machine's state leaks in.
    other = {**env, "GOCACHE": str(tmp_path / "gocache")}
    second = json.loads(apps(other, "digest", "--json", "--source", str(source_copy(tmp_path))).stdout)
    assert {a: first[a]["digest"] for a in APPS} == {a: second[a]["digest"] for a in APPS}
    assert len({first[a]["digest"] for a in APPS}) == 3
    ledger = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]["immutable:ledger"]
    for app in APPS:
        newest = ledger[app]["releases"][-1]["artifact"]
        assert newest == f"127.0.0.1:5000/apps/{app}@{first[app]['digest']}", (
            f"Pulumi.dev.yaml names {newest} for {app}, this source builds {first[app]['digest']}: "
            "run `python3 registry/apps.py build dev` (scripts/deploy.sh dev does) and commit the ledger")


@pytest.fixture(scope="module")
def ws(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w = Workspace.create(tmp_path_factory.mktemp("apps-ws"))
    data = w.config()
    for app in APPS:  # the build step writes these entries, from an empty history
        del data["config"]["immutable:ledger"][app]
    w.write_config(data)
    w.init_stack("dev")
    w.env.update({k: env[k] for k in ("IMMUTABLE_REGISTRY_STATE", "IMMUTABLE_APPS_CACHE")})
    yield w


def build(ws: Workspace, src: pathlib.Path, check: bool = True) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    proc = apps(ws.env, "build", "dev", "--project", str(ws.dir), "--source", str(src), "--json", check=check)
    return (json.loads(proc.stdout) if proc.returncode == 0 else {}), proc


def ledger(ws: Workspace) -> dict[str, Any]:
    return ws.config()["config"]["immutable:ledger"]  # type: ignore[no-any-return]


def outputs(ws: Workspace) -> dict[str, Any]:
    return json.loads(ws.pulumi("stack", "output", "--json", "-s", "dev").stdout)  # type: ignore[no-any-return]


def test_one_change_to_one_app_is_one_new_release_of_that_service(
        env: dict[str, str], ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> None:
    src = source_copy(tmp_path_factory.mktemp("one-change"))
    first, _ = build(ws, src)
    assert sorted(first["pushed"]) == sorted(APPS) and [r["app"] for r in first["recorded"]] == list(APPS)
    addr = registry_address(env)
    for app in APPS:
        [entry] = ledger(ws)[app]["releases"]
        assert entry["artifact"].startswith(f"{addr}/apps/{app}@sha256:")
        assert entry["note"].startswith(f"{app} 1.0.0 (commit ") and float(entry["build_seconds"]) > 0
    ws.pulumi("up", "--yes", "-s", "dev")  # records the three releases, then deploys them (render mode)
    before = outputs(ws)
    archive_before = yaml.safe_load((ws.dir / "releases" / "dev.yaml").read_text())

    # Unchanged source: nothing built, pushed or recorded.
    again, _ = build(ws, src)
    assert again == {"built": {}, "pushed": [], "recorded": [], "unchanged": list(APPS)}

    web_go = src / "web.go"
    web_go.write_text(web_go.read_text().replace(GREETING, "Hello from web, changed once."))
    changed, _ = build(ws, src)
    assert list(changed["built"]) == ["web"] and changed["pushed"] == ["web"]
    assert [r["app"] for r in changed["recorded"]] == ["web"]
    assert [len(ledger(ws)[a]["releases"]) for a in APPS] == [2, 1, 1]
    ws.pulumi("up", "--yes", "-s", "dev")
    after = outputs(ws)
    archive_after = yaml.safe_load((ws.dir / "releases" / "dev.yaml").read_text())
    new = {a: sorted(set(archive_after.get(a) or {}) - set(archive_before.get(a) or {})) for a in APPS}
    assert new == {"web": [after["web_release"]], "api": [], "worker": []}
    assert after["web_release"] != before["web_release"] and after["web_kept_releases"] == [before["web_release"]]
    assert all(after[f"{a}_release"] == before[f"{a}_release"] for a in ("api", "worker"))


def test_a_compile_error_shows_the_compiler_and_pushes_and_records_nothing(
        ws: Workspace, env: dict[str, str], tmp_path: pathlib.Path) -> None:
    src = source_copy(tmp_path)
    (src / "api.go").write_text((src / "api.go").read_text().replace("func apiRoot(", "func apiRoot(,"))
    (src / "web.go").write_text((src / "web.go").read_text().replace(GREETING, "Hello from web, never built."))
    config_before, tags_before = (ws.dir / "Pulumi.dev.yaml").read_bytes(), {a: tags(env, a) for a in APPS}
    _, proc = build(ws, src, check=False)
    assert proc.returncode == 1
    assert "api does not compile (nothing was pushed or recorded)" in proc.stderr
    assert "api.go:" in proc.stderr and "syntax error" in proc.stderr  # the compiler's own message
    assert (ws.dir / "Pulumi.dev.yaml").read_bytes() == config_before  # web built fine, yet nothing recorded
    assert {a: tags(env, a) for a in APPS} == tags_before


def test_a_registry_that_is_not_running_says_how_to_start_it(ws: Workspace, tmp_path: pathlib.Path) -> None:
    down = {**ws.env, "IMMUTABLE_REGISTRY_STATE": str(tmp_path / "no-registry")}
    proc = apps(down, "build", "dev", "--project", str(ws.dir), check=False)
    assert proc.returncode == 1 and "the local registry is not running" in proc.stderr
    assert "python3 registry/local.py start" in proc.stderr


def test_a_ledger_digest_missing_from_the_registry_is_named(ws: Workspace) -> None:
    assert apps(ws.env, "check", "dev", "--project", str(ws.dir)).returncode == 0
    data = ws.config()
    missing = data["config"]["immutable:ledger"]["worker"]["releases"][0]["artifact"][:-64] + "0" * 64
    data["config"]["immutable:ledger"]["worker"]["releases"].append({"artifact": missing})
    ws.write_config(data)
    proc = apps(ws.env, "check", "dev", "--project", str(ws.dir), check=False)
    assert proc.returncode == 1 and f"worker: {missing}" in proc.stderr and "nothing was deployed" in proc.stderr
