"""The README's promises: two set-up commands first, .ci/run calls the test command,
and the spec reference is generated from the models (fails when it drifts)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None and text.index("```bash") < text.index("## ")
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["bash scripts/deploy.sh dev", "bash scripts/test.sh"]


def test_ci_runs_the_readme_test_command() -> None:
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_reference_tables_match_the_models() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_reference.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def documents() -> list[pathlib.Path]:
    """The README, docs/ and every other Markdown file the repository ships (tracked by git)."""
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.split()]


LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE = re.compile(r"(?<![\w.])\.\./shared\b|(?<![\w/])/work/")


def test_the_readme_is_a_guide_that_links_the_docs() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 400
    for doc in ("reference", "operations", "state", "other-languages", "security", "measurements", "design"):
        assert f"](docs/{doc}.md)" in text, doc


def test_every_link_resolves_inside_the_repository() -> None:
    broken: list[str] = []
    for doc in documents():
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_no_document_names_a_path_outside_the_repository() -> None:
    found = [f"{doc.relative_to(ROOT)}: {m.group(0)}" for doc in documents() for m in OUTSIDE.finditer(doc.read_text())]
    assert not found, found
