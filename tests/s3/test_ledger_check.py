"""The ledger must name every release the stack runs (``ledger_check.py``), and two pull
requests that append to one ledger conflict in git (no engine needed; the engine version is
in test_engine_s3.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from immutable_infra.ledger import WorkloadLedger
from immutable_infra.ops.errors import ExitCode, OpsError
from immutable_infra.ops.ledger_check import ledger_ids, missing_from_ledger, require_covered

A0, A1, B1 = "reg/web@sha256:" + "0" * 64, "reg/web@sha256:" + "1" * 64, "reg/web@sha256:" + "b" * 64
OUTPUTS = {"web_release": "r1", "web_kept_releases": ["r0"], "web_images": {"r1": A1, "r0": A0},
           "db_release": "d0", "db_kept_releases": [], "db_images": {"d0": "reg/db@sha256:" + "d" * 64}}
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}


def _ledger(*artifacts: str) -> WorkloadLedger:
    return WorkloadLedger.model_validate({"releases": [{"artifact": a} for a in artifacts]})


def test_a_ledger_naming_every_running_release_passes() -> None:
    ledgers = {"web": _ledger(A0, A1), "db": _ledger("reg/db@sha256:" + "d" * 64)}
    assert missing_from_ledger(OUTPUTS, ledger_ids(ledgers)) == []
    require_covered("dev", OUTPUTS, ledgers)


def test_a_dropped_entry_is_named_with_its_role_and_refused() -> None:
    ledgers = {"web": _ledger(A0, B1), "db": _ledger("reg/db@sha256:" + "d" * 64)}  # A1 lost in a merge
    missing = missing_from_ledger(OUTPUTS, ledger_ids(ledgers))
    assert [(m.workload, m.release, m.role, m.artifact) for m in missing] == [("web", "r1", "active", A1)]
    with pytest.raises(OpsError) as caught:
        require_covered("dev", OUTPUTS, ledgers)
    assert caught.value.code == ExitCode.BAD_INPUT
    assert "Pulumi.dev.yaml does not contain what stack 'dev' runs: web r1" in caught.value.message
    assert "git log -p -- Pulumi.dev.yaml" in (caught.value.hint or "")
    kept_lost = missing_from_ledger(OUTPUTS, ledger_ids({"web": _ledger(A1), "db": ledgers["db"]}))
    assert [(m.release, m.role) for m in kept_lost] == [("r0", "kept")]


def test_release_ids_in_the_ledger_count_too() -> None:
    """Ledgers whose entries carry the release id (and outputs without images) are matched by id."""
    outputs = {"web_release": "r1", "web_kept_releases": ["r0"]}
    ids = ledger_ids({"web": {"releases": [{"release": "r0", "artifact": A0}, {"release": "r1", "artifact": A1}]}})
    assert ids == {"web": {"r0", "r1", A0, A1}}
    assert missing_from_ledger(outputs, ids) == []
    assert [m.release for m in missing_from_ledger(outputs, {"web": {"r1"}})] == ["r0"]


def test_a_stack_without_a_ledger_or_without_state_is_not_checked() -> None:
    require_covered("dev", OUTPUTS, {})
    require_covered("dev", {}, {"web": _ledger(A0)})


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True,
                          timeout=60)


def test_two_appends_to_one_ledger_conflict_in_git(tmp_path: Path) -> None:
    """Both pull requests add their entry at the end of the same list: git cannot merge the
    second silently, whichever order they land in."""
    base = "config:\n  immutable:ledger:\n    web:\n      releases:\n        - artifact: {a0}\n"
    repo = tmp_path / "repo"
    repo.mkdir()
    assert _git(repo, "init", "-q", "-b", "main").returncode == 0
    (repo / "Pulumi.dev.yaml").write_text(base.format(a0=A0))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    for branch, art in (("pr-a", A1), ("pr-b", B1)):
        _git(repo, "checkout", "-q", "-b", branch, "main")
        with (repo / "Pulumi.dev.yaml").open("a") as fh:
            fh.write(f"        - artifact: {art}\n")
        _git(repo, "commit", "-q", "-am", branch)
    _git(repo, "checkout", "-q", "main")
    assert _git(repo, "merge", "-q", "--no-ff", "-m", "a", "pr-a").returncode == 0
    second = _git(repo, "merge", "--no-ff", "-m", "b", "pr-b")
    assert second.returncode != 0 and "CONFLICT (content): Merge conflict in Pulumi.dev.yaml" in second.stdout
    _git(repo, "merge", "--abort")
    _git(repo, "checkout", "-q", "pr-b")
    rebased = _git(repo, "rebase", "main")
    assert rebased.returncode != 0 and "Pulumi.dev.yaml" in rebased.stdout + rebased.stderr
