"""The release ledger: which releases a stack has run, in order, and which one is active.

Pulumi programs do not remember earlier inputs, so keeping N previous releases needs them
written down. Each stack's config holds, per workload, an ordered list of entries (oldest
first). An entry names a *release*: its id (the content hash of everything that defines
what runs) and its artifact (image digest or AMI id). The settings behind each id are kept
in the stack's release archive (``releases/<stack>.yaml``, see :mod:`.records`), so a kept
release is registered exactly as it ran, never re-derived from today's code:

.. code-block:: yaml

    immutable:ledger:
      api:
        active: 6f1c2d3e        # optional: a pin (rollback, promotion); default: follow the code
        releases:
          - artifact: ghcr.io/acme/api@sha256:...
            release: 1e98715b   # recorded: its settings are in releases/<stack>.yaml
          - artifact: ghcr.io/acme/api@sha256:...
            release: 6f1c2d3e

Deploy = record the release the code defines and append it; rollback = pin an earlier
release; promotion = copy the exact record to the next stack and pin it. The ledger and
the archive live in git, so the release history is reviewed in pull requests.

An entry without ``release`` (written by the previous version of this library, or by hand
with a new artifact) is *unrecorded*: it is derived from today's code until
``immutable-ops record`` writes its record.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, model_validator

from .fields import Spec, invalid

RELEASE_ID = re.compile(r"[0-9a-f]{8}")
"""A release id; use ``fullmatch``."""


class LedgerEntry(Spec):
    artifact: Annotated[str, Field(min_length=1, max_length=512)]
    """Image reference by digest, or an AMI id."""
    release: Annotated[str, Field(pattern=f"^{RELEASE_ID.pattern}$")] | None = None
    """The recorded release id (8 hex characters); its settings are in the stack's release archive.
    Absent on entries not recorded yet (they are derived from today's code)."""
    note: Annotated[str, Field(max_length=200)] | None = None
    """Free text shown in history (ticket, build number)."""
    build_seconds: Annotated[float, Field(ge=0)] | None = None
    """How long the artifact took to build (the image build step writes it; ``immutable-ops report``
    shows it as the image build time)."""

    @property
    def key(self) -> str:
        """What identifies the entry: its release id, else (unrecorded) its artifact."""
        return self.release or self.artifact


class WorkloadLedger(Spec):
    releases: Annotated[list[LedgerEntry], Field(min_length=1)]
    """The releases this stack has run, oldest first."""
    active: str | None = None
    """A pin: the release id (or, for unrecorded entries, the artifact) that must run. Set by a
    rollback or a promotion. Absent: the newest entry's artifact runs with today's code."""

    @model_validator(mode="after")
    def _entries_are_distinct(self) -> WorkloadLedger:
        keys = [e.key for e in self.releases]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise invalid(f"listed twice: {', '.join(duplicates)}",
                          "list each release once (an unrecorded artifact once); point `active` at it",
                          field="releases")
        if self.active is not None:
            matches = [e for e in self.releases if self.active in (e.release, e.artifact)]
            if not matches:
                raise invalid(f"`active` ({self.active!r}) is not one of the listed releases",
                              "add it to `releases` first, or point at a listed release id", field="active")
            if len(matches) > 1:
                raise invalid(f"`active` ({self.active!r}) matches {len(matches)} releases of that artifact",
                              "pin by release id instead of artifact", field="active")
        return self

    @property
    def pinned(self) -> bool:
        return self.active is not None

    @property
    def active_index(self) -> int:
        if self.active is None:
            return len(self.releases) - 1
        return next(i for i, e in enumerate(self.releases) if self.active in (e.release, e.artifact))

    @property
    def active_entry(self) -> LedgerEntry:
        return self.releases[self.active_index]

    @property
    def active_artifact(self) -> str:
        return self.active_entry.artifact

    def previous_entries(self, keep: int | None = None) -> list[LedgerEntry]:
        """The entries other than the active one, in keeping order: after a rollback the entries
        *after* the active one first (the releases rolled back from), newest first, then the
        ones before it, newest first. ``keep`` cuts the list."""
        index = self.active_index
        after = list(reversed(self.releases[index + 1:]))
        before = list(reversed(self.releases[:index]))
        ordered = after + before
        return ordered if keep is None else ordered[:keep]

    def previous(self, keep: int) -> list[str]:
        """Artifacts of :meth:`previous_entries` (compatibility helper)."""
        return [e.artifact for e in self.previous_entries(keep)]

    def find(self, key: str) -> LedgerEntry | None:
        """The entry whose release id or artifact is ``key``."""
        return next((e for e in self.releases if key in (e.release, e.artifact)), None)

    def pointed_at(self, key: str) -> WorkloadLedger:
        """A copy pinned to ``key`` (a release id, or an unrecorded entry's artifact): rollback."""
        entry = self.find(key)
        target = entry.key if entry is not None else key
        return type(self).model_validate({**self.model_dump(), "active": target})

    def appended(self, artifact: str, note: str | None = None, *, release: str | None = None,
                 pin: bool = False) -> WorkloadLedger:
        """A copy with the release appended (moved to the end if listed) and active: deploy / promote.

        ``pin`` makes it the pinned active release (promotion: the exact record runs whatever
        the code says); otherwise the pin is cleared and the newest entry follows the code."""
        key = release or artifact
        entries = [e for e in self.releases if e.key != key and not (release and e.release is None and e.artifact == artifact)]
        entries.append(LedgerEntry(artifact=artifact, release=release, note=note))
        return type(self)(releases=entries, active=key if pin else None)

    def recorded(self, index: int, release: str) -> WorkloadLedger:
        """A copy where the unrecorded entry at ``index`` carries its recorded release id."""
        entries = list(self.releases)
        entries[index] = entries[index].model_copy(update={"release": release})
        active = self.active
        if active is not None and active == self.releases[index].artifact:
            active = release
        return type(self)(releases=entries, active=active)


Ledger = dict[str, WorkloadLedger]
