"""The guard through the real engine on a deliberately mutating raw program.

``programs/mutating`` is plain ``pulumi_kubernetes`` in render mode: generation 1 is
deployed, generation 2 is previewed. The Kubernetes provider *updates* (does not replace)
a Pod's tolerations, an OnDelete StatefulSet's template, a mutable ConfigMap and a
release-labelled Deployment's template; the guard must name every one and exit 4. (That our
own stacks pass is tested in test_engine_example.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import UPDATE_GOLDEN, RawProgram, check_golden, explain, save_fixture, toolchain_missing

pytestmark = [pytest.mark.engine, pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]


@pytest.fixture(scope="module")
def mutated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RawProgram, Path]]:
    tmp = tmp_path_factory.mktemp("ops-guard")
    program = RawProgram.create("mutating", tmp, config={"generation": "1", "render_dir": str(tmp / "rendered")})
    program.up()
    program.set("generation", "2")
    yield program, tmp / "previews"


def test_guard_fails_on_in_place_changes_and_names_them(mutated: tuple[RawProgram, Path]) -> None:
    program, saved = mutated
    proc = program.ops("guard", "--save-dir", str(saved))
    assert proc.returncode == 4, explain(proc)
    out = " ".join(proc.stdout.split())  # the table wraps long messages
    for words in ("Pod jobs/batch-runner would be changed in place", "with updateStrategy OnDelete",
                  "immutable ConfigMap jobs/settings would be patched in place",
                  "of release 1a2b3c4d changes its pod template"):
        assert words in out, f"{words!r} missing:\n{proc.stdout}"
    assert "✗ ops: 4 in-place compute changes" in proc.stdout
    if UPDATE_GOLDEN:
        save_fixture("preview-mutating", json.loads((saved / "ops.json").read_text()))


def test_guard_json_lists_every_rule(mutated: tuple[RawProgram, Path]) -> None:
    program, saved = mutated
    if not (saved / "ops.json").exists():
        program.ops("guard", "--save-dir", str(saved))
    proc = program.ops("guard", "--preview-json", str(saved / "ops.json"), "--format", "json")
    assert proc.returncode == 4, explain(proc)
    data = json.loads(proc.stdout)
    assert data["ok"] is False
    findings = data["stacks"]["ops"]["findings"]
    assert sorted((f["name"], f["rule"]) for f in findings) == [
        ("api-1a2b3c4d", "release-patched"), ("batch-runner", "pod-patched"),
        ("cache", "pods-not-replaced"), ("settings", "config-patched")]


def test_comment_shows_the_guard_failure_first(mutated: tuple[RawProgram, Path]) -> None:
    program, saved = mutated
    if not (saved / "ops.json").exists():
        program.ops("guard", "--save-dir", str(saved))
    proc = program.ops("comment", "ops", "--preview-json", str(saved / "ops.json"))
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout.splitlines()[0] == (
        "`ops` · no release swapped (4 other changes), ⚠️ 4 in-place compute changes (guard fails)")
    check_golden("comment-mutating", proc.stdout)
