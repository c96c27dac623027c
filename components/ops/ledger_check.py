"""The ledger must contain what the stack runs: the guard against a merge that dropped a release.

Concurrency model (docs/state.md): two pull requests that each append a release to the same
stack's ledger edit the same lines of ``Pulumi.<stack>.yaml`` (the end of the workload's
``releases`` list), so git reports a conflict on the second merge. A conflict can still be
resolved wrongly ("take mine"), and a branch can be deployed from a stale base. So before any
operation that would change the stack (preview, up, promote, rollback, drift --fix),
``immutable-ops`` compares the stack's outputs, which name what runs (``<w>_release``, the
active release, and ``<w>_kept_releases``), with the ledger: every running release must be
accounted for there. If one is missing, the operation is refused (nothing is previewed,
written or deployed), naming the workload, the release and how to restore it.

A running release is accounted for when the ledger names its release id, or (ledgers whose
entries carry no id yet) the artifact the outputs say it runs (``<w>_images``/``<w>_ami``).
:func:`ledger_ids` is the one place that knows the ledger's format.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import OpsError
from .records import workloads_from_outputs


@dataclass(frozen=True)
class MissingRelease:
    workload: str
    release: str
    role: str
    """``active`` or ``kept``."""
    artifact: str | None

    def describe(self) -> str:
        what = f" ({self.artifact})" if self.artifact else ""
        return f"{self.workload} {self.release}{what}, {self.role} in the stack"


def ledger_ids(ledgers: Mapping[str, Any]) -> dict[str, set[str]]:
    """workload -> every identifier its ledger holds: release ids (entries' ``release``) and
    artifacts. Reads any ledger object with ``releases`` entries (pydantic model or dict)."""
    out: dict[str, set[str]] = {}
    for name, ledger in ledgers.items():
        entries = ledger.get("releases") if isinstance(ledger, Mapping) else getattr(ledger, "releases", None)
        ids: set[str] = set()
        for entry in entries or []:
            for field in ("release", "artifact"):
                value = entry.get(field) if isinstance(entry, Mapping) else getattr(entry, field, None)
                if isinstance(value, str) and value:
                    ids.add(value)
        out[str(name)] = ids
    return out


def missing_from_ledger(outputs: Mapping[str, Any], ids: Mapping[str, Collection[str]]) -> list[MissingRelease]:
    """The releases the stack runs (active and kept, from its outputs) that ``ids`` (workload ->
    release ids and/or artifacts in the ledger) does not account for."""
    missing = []
    for name, state in workloads_from_outputs(outputs).items():
        known = ids.get(name, ())
        for role, release in [("active", state.release), *(("kept", k) for k in state.kept)]:
            artifact = state.artifacts.get(release)
            if release in known or (artifact is not None and artifact in known):
                continue
            missing.append(MissingRelease(name, release, role, artifact))
    return missing


def require_covered(stack: str, outputs: Mapping[str, Any], ledgers: Mapping[str, Any],
                    *, config_file: str | None = None) -> None:
    """Raise ``OpsError(BAD_INPUT)`` when the ledger lacks a release the stack runs. A stack
    with no ledger at all (a program that does not keep one) is not checked."""
    if not ledgers:
        return
    missing = missing_from_ledger(outputs, ledger_ids(ledgers))
    if missing:
        raise ledger_error(stack, missing, config_file or f"Pulumi.{stack}.yaml")


def ledger_error(stack: str, missing: Iterable[MissingRelease], config_file: str) -> OpsError:
    items = list(missing)
    return OpsError(
        f"{config_file} does not contain what stack {stack!r} runs: " + "; ".join(m.describe() for m in items)
        + ". Deploying it would delete that release: a merge or rebase probably dropped another change's ledger entry",
        hint=f"restore the entry from git (git log -p -- {config_file}), rebase on the branch that deployed it, "
             "and keep both changes' entries; nothing was changed",
    )
