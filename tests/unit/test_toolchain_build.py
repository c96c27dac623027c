"""toolchain/build.py --unless-cached: what a stack does not use is not built on a fresh machine
(scripts/deploy.sh), but a cached entry is linked and installed as usual."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("toolchain_build_under_test", ROOT / "toolchain" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[ModuleType, dict[str, Any]]:
    module = _build_module()
    seen: dict[str, Any] = {"built": [], "linked": [], "installed": [], "cached": set()}

    def ensure_entry(name: str, spec: dict[str, Any], adopt: bool, timings: list[Any]) -> Path:
        seen["built"].append(name)
        return tmp_path / name

    monkeypatch.setattr(module, "ensure_entry", ensure_entry)
    monkeypatch.setattr(module, "entry_complete", lambda entry, name, spec: name in seen["cached"])
    monkeypatch.setattr(module, "link_into_bin", lambda entries, versions, timings: seen["linked"].extend(entries))
    monkeypatch.setattr(module, "install_plugins",
                        lambda entries, versions, home, timings: seen["installed"].extend(entries))
    monkeypatch.setattr(module, "check_python_pins", lambda versions: None)
    monkeypatch.setattr(module.shutil, "which", lambda name: "/usr/bin/go")
    return module, seen


def test_a_binary_not_cached_is_left_for_later(build: tuple[ModuleType, dict[str, Any]]) -> None:
    module, seen = build
    assert module.main(["--unless-cached", "pulumi-resource-docker", "--unless-cached", "pulumi-language-yaml"]) == 0
    assert "pulumi-resource-docker" not in seen["built"] and "pulumi-language-yaml" not in seen["built"]
    assert {"pulumi", "pulumi-language-python", "pulumi-resource-kubernetes"} <= set(seen["built"])
    assert seen["linked"] == seen["built"] == seen["installed"]


def test_a_cached_binary_is_linked_and_installed_as_usual(build: tuple[ModuleType, dict[str, Any]]) -> None:
    module, seen = build
    seen["cached"].add("pulumi-resource-docker")
    assert module.main(["--unless-cached", "pulumi-resource-docker"]) == 0
    assert "pulumi-resource-docker" in seen["built"] and "pulumi-resource-docker" in seen["installed"]


def test_without_the_flag_everything_is_built(build: tuple[ModuleType, dict[str, Any]]) -> None:
    module, seen = build
    assert module.main([]) == 0
    assert set(seen["built"]) == set(module.build_order(module.load_versions()))


def test_an_unknown_name_is_refused(build: tuple[ModuleType, dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    module, seen = build
    assert module.main(["--unless-cached", "pulumi-resource-nope"]) == 1
    assert "--unless-cached pulumi-resource-nope: not in versions.json" in capsys.readouterr().err
    assert seen["built"] == []


def test_the_main_job_leaves_what_its_stack_does_not_run() -> None:
    deploy = (ROOT / "scripts" / "deploy.sh").read_text()
    assert "ensure_toolchain --unless-cached pulumi-resource-docker --unless-cached pulumi-language-yaml" in deploy
    # cluster/local.py start refuses to start without a binary its node mode runs: deferring one
    # broke the main job on a fresh machine once (kwok, which serves Ingress addresses beside a
    # real node). So every group stays, for every node mode.
    assert re.findall(r"ensure_cluster_binaries[^\n]*", deploy) == ["ensure_cluster_binaries"]
    test_command = (ROOT / "scripts" / "test.sh").read_text()
    assert "\nensure_toolchain\n" in test_command and "\nensure_cluster_binaries\n" in test_command


def test_every_binary_a_local_cluster_runs_is_built_by_the_cluster_build() -> None:
    """What cluster/local.py checks before it starts (per node mode) is what cluster/build.py
    builds with no argument, the main job's call."""
    sys.path.insert(0, str(ROOT / "cluster"))  # local.py's own imports (node, monitoring, ...)
    modules = {}
    for name in ("build", "local"):  # by path: "build" is toolchain/build.py's name on sys.path too
        spec = importlib.util.spec_from_file_location(f"cluster_{name}_under_test", ROOT / "cluster" / f"{name}.py")
        assert spec and spec.loader
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    cluster_build, local = modules["build"], modules["local"]
    built = {b for name in cluster_build.BUILD_ORDER
             for b in json.loads(cluster_build.VERSIONS.read_text())["binaries"][name]["packages"]}
    for mode, needed in local.BINARIES.items():
        assert set(needed) <= built, (mode, set(needed) - built)
