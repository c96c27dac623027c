"""tests/unit mirrors the packages: one folder per area of the code (the runtimes are markers)."""

from __future__ import annotations

import pathlib

UNIT = pathlib.Path(__file__).resolve().parent
AREAS = {"kubernetes", "docker", "aws", "spec", "ops", "policy"}
COMPONENTS = UNIT.parents[1] / "components"


def test_every_folder_is_an_area_with_its_package_marker() -> None:
    folders = {p.name for p in UNIT.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))}
    assert folders <= AREAS, folders - AREAS
    assert {"kubernetes", "docker", "aws", "spec", "ops"} <= folders
    assert all((UNIT / f / "__init__.py").is_file() for f in folders)


def test_the_platform_areas_are_the_component_packages() -> None:
    for area in ("kubernetes", "docker", "aws", "ops"):
        assert (COMPONENTS / area / "__init__.py").is_file(), area


def test_no_platform_test_is_left_at_the_top() -> None:
    top = sorted(p.name for p in UNIT.glob("test_*.py"))
    assert not [n for n in top if n.startswith(("test_docker_", "test_server_group", "test_container_service"))], top
