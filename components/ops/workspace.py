"""A Pulumi project for ``immutable-ops``: ``Project`` is a thin front over three modules.

- ``project_env``: where the project is, its stacks' config files, ledgers and release
  archives (read as data), and the environment the CLI runs with (:func:`project_env`: the
  backend the user chose, never code found near the project);
- ``engine``: the Automation API, and the CLI where the API has no call (``preview --json``,
  ``stack export``, the history's checkpoints);
- ``ledger_edit``: ledger edits with ``pulumi config set --path`` (which keeps the YAML's
  comments and layout, so the diff a reviewer sees is the entry that changed) and their undo.

The names other modules and tests import from here stay importable from here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .engine import LEDGER_CONFIG as LEDGER_CONFIG
from .engine import EngineRunner as EngineRunner
from .engine import OnOutput as OnOutput
from .engine import UpOutcome as UpOutcome
from .engine import engine_errors as engine_errors
from .engine import stack_outputs as stack_outputs
from .ledger_edit import LedgerEditor
from .project_env import find_project_dir as find_project_dir
from .project_env import project_env as project_env
from .pulumi_login import effective_backend as effective_backend


@dataclass
class Project(LedgerEditor):
    """A Pulumi project: a thin front over its environment (``project_env``), the engine that
    runs its stacks (``engine``) and the edits of its ledgers (``ledger_edit``)."""

    @classmethod
    def open(cls, cwd: Path | None = None) -> Project:
        directory = find_project_dir(cwd or Path.cwd())
        meta_file = directory / "Pulumi.yaml" if (directory / "Pulumi.yaml").is_file() else directory / "Pulumi.yml"
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
        return cls(directory, str(meta.get("name", directory.name)), project_env(directory))
