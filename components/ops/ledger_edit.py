"""Editing a stack's ledger and release archive: ``pulumi config set --path`` (which keeps the
YAML's comments and layout, so a reviewer's diff is the entry that changed) and the undo
of a failed operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..ledger import WorkloadLedger
from .errors import ExitCode, OpsError
from .pulumi_login import effective_backend as effective_backend

if TYPE_CHECKING:

    from ..records import ReleaseArchive
from .engine import EngineRunner
from .project_env import LEDGER_CONFIG


@dataclass
class LedgerEditor(EngineRunner):
    """The ledger edits of a project (through the engine's config commands)."""

    def set_config_path(self, stack: str, path: str, value: str) -> None:
        code, _, stderr = self.run(["config", "set", "--path", "--type", "string", path, "--stack", stack, "--", value])
        if code != 0:
            raise OpsError(f"pulumi config set {path} on {stack!r} failed", ExitCode.PULUMI_FAILED, details=stderr[-2000:])

    def remove_config_path(self, stack: str, path: str) -> None:
        code, _, stderr = self.run(["config", "rm", "--path", path, "--stack", stack])
        if code != 0:
            raise OpsError(f"pulumi config rm {path} on {stack!r} failed", ExitCode.PULUMI_FAILED, details=stderr[-2000:])

    def write_ledger(self, stack: str, workload: str, old: WorkloadLedger | None, new: WorkloadLedger) -> None:
        """Turn ``old`` into ``new`` in ``Pulumi.<stack>.yaml`` with the fewest path edits."""
        base = f'{LEDGER_CONFIG}.{workload}' if workload.replace("-", "").replace("_", "").isalnum() else \
            f'{LEDGER_CONFIG}["{workload}"]'
        old_entries = list(old.releases) if old else []
        for index, entry in enumerate(new.releases):
            previous = old_entries[index] if index < len(old_entries) else None
            if previous is None or previous.artifact != entry.artifact:
                self.set_config_path(stack, f"{base}.releases[{index}].artifact", entry.artifact)
            for key in ("release", "note", "event", "build_seconds"):  # the optional fields of an entry
                value, was = getattr(entry, key), getattr(previous, key) if previous is not None else None
                if value is not None and (previous is None or was != value):
                    self.set_config_path(stack, f"{base}.releases[{index}].{key}", str(value))
                elif value is None and was is not None:
                    self.remove_config_path(stack, f"{base}.releases[{index}].{key}")
        for index in range(len(old_entries) - 1, len(new.releases) - 1, -1):
            self.remove_config_path(stack, f"{base}.releases[{index}]")
        if new.active != (old.active if old else None):
            if new.active is None:
                self.remove_config_path(stack, f"{base}.active")
            else:
                self.set_config_path(stack, f"{base}.active", new.active)

    @contextmanager
    def ledger_edit(self, stack: str) -> Iterator[None]:
        """Restore ``Pulumi.<stack>.yaml`` and ``releases/<stack>.yaml`` byte for byte if the block fails."""
        paths = [self.config_file(stack), self.archive_file(stack)]
        before = {p: p.read_bytes() if p.is_file() else None for p in paths}
        try:
            yield
        except BaseException:
            for path, content in before.items():
                if content is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(content)
            raise

    def save_archive(self, stack: str, archive: ReleaseArchive) -> None:
        archive.save(self.archive_file(stack), stack)
