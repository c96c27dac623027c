"""The hidden commands ``scripts/lib.sh`` and ``scripts/deploy.sh`` call: ``backend-url``,
``stale-lock``, ``check-ledger`` and ``converge`` (they replaced ``python -m`` side entrances)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OpsError
from ..output import View

if TYPE_CHECKING:
    from ..backend import Lock
    from ..workspace import Project


@dataclass
class BackendUrl:
    url: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.masked}

    @property
    def masked(self) -> str:
        return re.sub(r"(://[^:/@]+):[^@/]+@", r"\1:****@", self.url or "none")

    def view(self) -> View:
        return View(raw=self.masked + "\n")


def backend_url() -> BackendUrl:
    """The backend the CLI uses (``none`` when none is chosen), its password masked."""
    from ..pulumi_login import effective_backend

    return BackendUrl(effective_backend(os.environ))


@dataclass
class StaleLocks:
    locks: list[Lock] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"stale": [lock.key for lock in self.locks]}

    def view(self) -> View:
        lines = "".join(f"{lock.key}: pid {lock.pid} on {lock.hostname} (gone), since {lock.timestamp}\n"
                        for lock in self.locks)
        return View(raw=lines, exit_code=0 if self.locks else 1)


def stale_lock(cwd: Path | None, stack: str) -> StaleLocks:
    """Exit 0 naming the locks when every lock of STACK is a killed update's on this host (safe to
    `pulumi cancel`); exit 1 when there is none or one may be live."""
    import yaml

    from ..backend import stale_locks
    from ..pulumi_login import effective_backend
    from ..workspace import find_project_dir

    try:  # the project in the working directory (the one `pulumi cancel` would act on)
        directory = find_project_dir(cwd or Path.cwd())
        meta = yaml.safe_load((directory / "Pulumi.yaml").read_text(encoding="utf-8")) or {}
        project: str | None = str(meta.get("name") or directory.name)
    except (OpsError, OSError, ValueError):
        project = None
    return StaleLocks(stale_locks(os.environ, effective_backend(os.environ), stack, project))


@dataclass
class LedgerChecked:
    stack: str
    deployed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "deployed": self.deployed, "ok": True}

    def view(self) -> View:
        return View(raw="")


def check_ledger(project: Project, stack: str) -> LedgerChecked:
    """Exit 3 with the error when the ledger lacks a release the stack runs (before `up`)."""
    deployed = project.has_state(stack)
    if deployed:
        project.check_ledger(stack)
    return LedgerChecked(stack, deployed)




@dataclass
class Converged:
    stack: str
    when: str
    code: int

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "when": self.when, "ok": self.code == 0}

    def view(self) -> View:
        return View(raw="", exit_code=self.code)  # converge.py wrote its findings to stderr


def converge(project: Project, stack: str, when: str) -> Converged:
    """``before`` the update: objects the state lists but the cluster lacks leave the state;
    ``after`` it: exit 1 if any is still missing (components/ops/converge.py)."""
    from .. import converge as checking

    if when not in ("before", "after"):
        raise OpsError(f"converge: unknown moment {when!r}", hint="use `before` or `after`")
    return Converged(stack, when, (checking.before if when == "before" else checking.after)(project, stack))
