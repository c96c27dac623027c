"""The Pulumi CLI reads back, as strings, the strings this project writes into YAML
(components/yaml_text.py). PyYAML's own dumper leaves ``34374e02`` bare, and the CLI reads that
as the float 3437400: main's CI failed on a release id written so in ``Pulumi.dev.yaml``.
Engine test: the real CLI reads a stack config on a local file backend (no plugin, no program)."""

from __future__ import annotations

import json
import pathlib
import subprocess
from typing import Any

import pytest
import yaml
from immutable_infra import yaml_text

from .harness import PULUMI, ROOT, pulumi_env, toolchain_missing

pytestmark = [pytest.mark.engine]

AMBIGUOUS = ["34374e02", "1e5", "1.5e3", "0o17", "12345678", "0x1f", "-1", "1_000", ".5", "+.inf"]
"""Strings a bare YAML 1.2 scalar would not keep: release-id-like hex (34374e02, 12345678),
exponents without a dot or sign, 1.2 octal, underscores."""
PLAIN = ["3437e0a2", "ab12cd34", "web", "1e", "127.0.0.1:5000/testapp@sha256:ab"]


def _pulumi_reads(tmp: pathlib.Path, text: str) -> list[Any]:
    reason = toolchain_missing()
    if reason:
        pytest.skip(reason)  # tests/conftest.py fails an engine test's skip in CI
    (tmp / "Pulumi.yaml").write_text("name: yamltext\nruntime: yaml\n")
    env = pulumi_env(ROOT, backend_url=tmp.as_uri())
    env["PULUMI_CONFIG_PASSPHRASE"] = "yaml-text-test"

    def run(*args: str) -> str:
        proc = subprocess.run([str(PULUMI), *args, "--non-interactive"], cwd=tmp, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    if not (tmp / ".pulumi").exists():
        run("stack", "init", "dev")
    (tmp / "Pulumi.dev.yaml").write_text(text)
    value: list[Any] = json.loads(run("config", "get", "yamltext:ids", "--json", "-s", "dev"))["objectValue"]
    return value


def test_pulumi_reads_every_string_yaml_text_writes_as_that_string(tmp_path: pathlib.Path) -> None:
    ids = AMBIGUOUS + PLAIN
    assert _pulumi_reads(tmp_path, yaml_text.dump({"config": {"yamltext:ids": ids}})) == ids


def test_pyyaml_alone_leaves_strings_the_cli_reads_as_numbers(tmp_path: pathlib.Path) -> None:
    # The gap the dumper closes is real in the CLI this project builds: without it the test above
    # would read numbers too.
    read = _pulumi_reads(tmp_path, yaml.safe_dump({"config": {"yamltext:ids": AMBIGUOUS}}))
    numbers = [original for original, got in zip(AMBIGUOUS, read, strict=True) if not isinstance(got, str)]
    assert {"34374e02", "1e5", "1.5e3", "0o17"} <= set(numbers), read
