"""Exit codes of ``immutable-ops`` and the one error type its commands raise.

Every command exits with one of these codes (also in docs/operations.md). Bad
input is always detected before anything is changed: a command that exits with
``BAD_INPUT`` has not edited a ledger nor started a Pulumi operation.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Done; nothing found (no in-place change, no drift, no parity difference)."""
    INTERNAL = 1
    """A bug: an unexpected exception (the traceback is printed)."""
    USAGE = 2
    """Bad command line (unknown option, missing argument): the CLI library's own code."""
    BAD_INPUT = 3
    """Unknown stack, workload or release, a rollback to a release that is not kept, an
    unreadable preview file. Nothing was changed."""
    GUARD_FAILED = 4
    """``guard``: at least one step would modify running compute in place."""
    DRIFT = 5
    """``drift``: the real world differs from the stack's state (resources named)."""
    DRIFT_UNCHECKABLE = 6
    """``drift``: this stack's target cannot be refreshed (Kubernetes render mode writes
    manifests and has no cluster to read back; or the cluster is unreachable)."""
    PARITY = 7
    """``parity``: stacks differ in something other than the knobs ``EnvironmentConfig`` allows."""
    PULUMI_FAILED = 8
    """A Pulumi operation (preview, up, refresh) failed. A ledger edit made by the command
    was reverted."""


class OpsError(Exception):
    """A failure to report in plain words, with the exit code to leave with."""

    def __init__(self, message: str, code: ExitCode = ExitCode.BAD_INPUT, *, hint: str | None = None,
                 details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text
