"""The release ledger: which artifacts a stack has run, and which one is active.

Pulumi programs do not remember earlier inputs, so keeping N previous releases needs
them written down. Each stack's config holds, per workload, an ordered list of artifacts
(image digest or AMI id) and a pointer to the active one:

.. code-block:: yaml

    immutable:ledger:
      api:
        active: ghcr.io/acme/api@sha256:...   # optional: defaults to the last entry
        releases:
          - artifact: ghcr.io/acme/api@sha256:...
          - artifact: ghcr.io/acme/api@sha256:...

Deploy = append and point at it; rollback = point at an earlier entry; promotion = copy
the exact entry to the next stack. The ledger lives in git, so the artifact history is
reviewed in pull requests.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from .fields import Spec, invalid


class LedgerEntry(Spec):
    artifact: Annotated[str, Field(min_length=1, max_length=512)]
    """Image reference by digest, or an AMI id."""
    note: Annotated[str, Field(max_length=200)] | None = None
    """Free text shown in history (ticket, build number)."""


class WorkloadLedger(Spec):
    releases: Annotated[list[LedgerEntry], Field(min_length=1)]
    active: str | None = None
    """The active artifact; defaults to the newest entry."""

    @model_validator(mode="after")
    def _active_is_listed(self) -> WorkloadLedger:
        artifacts = [e.artifact for e in self.releases]
        if len(set(artifacts)) != len(artifacts):
            raise invalid("an artifact is listed twice", "list each artifact once; point `active` at it", field="releases")
        if self.active is not None and self.active not in artifacts:
            raise invalid(f"`active` ({self.active!r}) is not one of the listed releases",
                          "add it to `releases` first, or point at a listed artifact", field="active")
        return self

    @property
    def active_index(self) -> int:
        if self.active is None:
            return len(self.releases) - 1
        return [e.artifact for e in self.releases].index(self.active)

    @property
    def active_artifact(self) -> str:
        return self.releases[self.active_index].artifact

    def previous(self, keep: int) -> list[str]:
        """The ``keep`` entries just before the active one, newest first.

        After a rollback the entries *after* the active one are also kept (they are the
        releases rolled back from), newest first, within the same budget.
        """
        index = self.active_index
        before = [e.artifact for e in reversed(self.releases[:index])]
        after = [e.artifact for e in reversed(self.releases[index + 1:])]
        return (after + before)[:keep]

    def pointed_at(self, artifact: str) -> WorkloadLedger:
        """A copy with ``active`` moved to ``artifact`` (rollback)."""
        return type(self).model_validate({**self.model_dump(), "active": artifact})

    def appended(self, artifact: str, note: str | None = None) -> WorkloadLedger:
        """A copy with ``artifact`` appended and active (deploy / promote)."""
        entries = [e for e in self.releases if e.artifact != artifact]
        entries.append(LedgerEntry(artifact=artifact, note=note))
        return type(self)(releases=entries, active=None)


Ledger = dict[str, WorkloadLedger]
