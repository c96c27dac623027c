"""The example ledgers in README.md and docs/*.md pair each image with the release id that
``immutable-ops record`` computes for it (issue #29: an example named the wrong id).

An example abbreviates a digest (``registry.example.com/acme/web@sha256:3bd0...``); it is
matched to the committed test ledger's full artifact, whose recorded id is checked against
today's code by tests/unit/spec/test_stack_config.py."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def _recorded() -> dict[str, str]:
    config = yaml.safe_load((ROOT / "Pulumi.test.yaml").read_text())["config"]["immutable:ledger"]
    return {e["artifact"]: e["release"] for w in config.values() for e in w["releases"]}


def _example_entries() -> list[tuple[str, str, str]]:
    found = []
    for path in DOCS:
        for block in BLOCK.findall(path.read_text()):
            try:
                data = yaml.safe_load(block)
            except yaml.YAMLError:  # a fragment with placeholders, not a ledger
                continue
            ledger = data.get("immutable:ledger") if isinstance(data, dict) else None
            for workload in (ledger or {}).values():
                for entry in workload.get("releases", []):
                    if "release" in entry:
                        found.append((path.name, entry["artifact"], entry["release"]))
    return found


def test_example_ledgers_name_the_recorded_release_of_each_image() -> None:
    recorded = _recorded()
    examples = _example_entries()
    assert examples, "no example ledger with release ids found in README.md or docs/"
    for where, artifact, release in examples:
        prefix = artifact.removesuffix("...")
        matches = {a: r for a, r in recorded.items() if a.startswith(prefix)}
        assert len(matches) == 1, f"{where}: {artifact} names no single artifact of Pulumi.test.yaml: {matches}"
        (want,) = matches.values()
        assert release == want, f"{where}: {artifact} is release {want} (immutable-ops record), not {release}"
