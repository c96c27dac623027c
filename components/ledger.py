"""The release ledger: which releases a stack has run, in the order they served.

Pulumi programs do not remember earlier inputs, so keeping N previous releases needs them
written down. Each stack's config holds, per workload, a list of entries in **serving
order**, oldest first: a release is listed each time it started to serve (again after a
rollback); the last entry is the one that serves (or is about to). An entry names a *release*: its id (the
content hash of everything that defines what runs) and its artifact (image digest or AMI
id); ``event`` says how it came to serve when that was not a deploy. The settings behind
each id are kept in the stack's release archive (``releases/<stack>.yaml``, see
:mod:`.records`), so a kept release is registered exactly as it ran:

.. code-block:: yaml

    immutable:ledger:
      api:
        releases:
          - artifact: ghcr.io/acme/api@sha256:...
            release: 1e98715b   # recorded: its settings are in releases/<stack>.yaml
          - artifact: ghcr.io/acme/api@sha256:...
            release: 6f1c2d3e   # served, then was rolled back from
          - artifact: ghcr.io/acme/api@sha256:...
            release: 1e98715b
            event: rollback     # serves again since `immutable-ops rollback` (exactly as recorded)

**The rule** (:meth:`WorkloadLedger.kept_entries`): the kept releases are the releases that
served before the active one, newest served first (each once), up to ``keep_previous``. A
deploy appends; a rollback or a promotion lists the release once more at the end with its
``event`` (a rollback is an event in the order, never only a pointer beside it); a release
whose update failed never served, and its listing leaves the order when the next release is
recorded (:meth:`WorkloadLedger.never_served`). The last entry runs with today's code unless
its ``event`` is ``rollback``, ``promotion`` or ``pin``: then it runs exactly as recorded.

The previous format kept the list in first-run order plus an ``active`` pointer. It is read
as the same order it meant (:meth:`WorkloadLedger.serving`: the pinned entry moved to the end
with ``event: pin``, so the kept releases and the active one are the ones already running:
nothing is replaced); the first write by ``immutable-ops`` stores it in the new form.

An entry without ``release`` (written by the previous version of this library, or by hand
with a new artifact) is *unrecorded*: it is derived from today's code until
``immutable-ops record`` writes its record.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .fields import Spec, invalid

RELEASE_ID = re.compile(r"[0-9a-f]{8}")
"""A release id; use ``fullmatch``."""

Event = Literal["deploy", "rollback", "promotion", "pin"]
EXACT_EVENTS: frozenset[str] = frozenset({"rollback", "promotion", "pin"})
"""Events after which the last entry runs exactly as recorded, whatever today's code says."""


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
    event: Event | None = None
    """How this release last came to serve, when it was not a deploy: ``rollback``, ``promotion``
    or ``pin`` (by hand, or an ``active`` pointer of the previous format). While it is the last
    entry it runs exactly as recorded. Absent: a deploy."""

    @field_validator("release", mode="before")
    @classmethod
    def _id_read_as_a_number(cls, value: object) -> object:
        # A YAML 1.2 reader (the Pulumi CLI) reads a bare id such as 34374e02 or 12345678 as a
        # number; the digits left cannot be turned back into the id, so the fix is quoting it.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise invalid("the release id was read as a number: YAML reads a bare id such as 34374e02 "
                          "or 12345678 as one",
                          "quote the id in the stack's config file (release: '34374e02'); ids written by "
                          "immutable-ops and pulumi config set are quoted already")
        return value

    @property
    def how(self) -> str:
        """``deploy``, ``rollback``, ``promotion`` or ``pin``."""
        return self.event or "deploy"

    @property
    def key(self) -> str:
        """What identifies the entry: its release id, else (unrecorded) its artifact."""
        return self.release or self.artifact


class WorkloadLedger(Spec):
    releases: Annotated[list[LedgerEntry], Field(min_length=1)]
    """The releases this stack has run, in serving order, oldest first: each time a release
    started to serve (again); the last one serves (see :attr:`serving`)."""
    active: str | None = None
    """The previous format's pointer (release id, or an unrecorded entry's artifact). Still read
    (the entry it names counts as the last one served, ``event: pin``); never written: a
    rollback or a promotion moves the entry to the end instead."""

    @model_validator(mode="after")
    def _entries_are_distinct(self) -> WorkloadLedger:
        unrecorded = [e.artifact for e in self.releases if e.release is None]
        duplicates = sorted({k for k in unrecorded if unrecorded.count(k) > 1})
        if duplicates:
            raise invalid(f"unrecorded artifact listed twice: {', '.join(duplicates)}",
                          "list a new artifact once; `immutable-ops record` gives it its release id", field="releases")
        if self.active is not None:
            matches = {e.key for e in self.releases if self.active in (e.release, e.artifact)}
            if not matches:
                raise invalid(f"`active` ({self.active!r}) is not one of the listed releases",
                              "add it to `releases` first, or point at a listed release id", field="active")
            if len(matches) > 1:
                raise invalid(f"`active` ({self.active!r}) matches {len(matches)} releases of that artifact",
                              "pin by release id instead of artifact", field="active")
        return self

    # --- serving order: the one definition --------------------------------------------------

    @property
    def serving(self) -> list[LedgerEntry]:
        """The entries in serving order, oldest first; the last one serves. A release that served
        more than once is listed at each time (a rollback to it, a promotion of it again).

        The list itself, except for a ledger of the previous format with an ``active`` pointer:
        there the pinned entry moves to the end (``event: pin`` unless it says how), which is
        the order that format meant (it kept the entries after the pinned one first)."""
        if self.active is None:
            return list(self.releases)
        index = self._pinned_index()
        entry = self.releases[index]
        moved = entry if entry.event in EXACT_EVENTS else entry.model_copy(update={"event": "pin"})
        return [*self.releases[:index], *self.releases[index + 1:], moved]

    def migrated(self) -> WorkloadLedger:
        """The same ledger in the current form (no ``active`` pointer): what every write stores."""
        if self.active is None:
            return self
        return type(self)(releases=self.serving)

    def _pinned_index(self) -> int:
        return max(i for i, e in enumerate(self.releases) if self.active in (e.release, e.artifact))

    @property
    def pinned(self) -> bool:
        """The active release runs exactly as recorded (after a rollback, a promotion or a pin)."""
        return self.active_entry.event in EXACT_EVENTS

    @property
    def active_entry(self) -> LedgerEntry:
        return self.serving[-1]

    @property
    def active_index(self) -> int:
        """Index in :attr:`releases` (the file's list) of the active entry."""
        return len(self.releases) - 1 if self.active is None else self._pinned_index()

    @property
    def active_artifact(self) -> str:
        return self.active_entry.artifact

    def latest(self) -> list[LedgerEntry]:
        """Each release once, at the last time it started to serve, oldest first."""
        entries = self.serving
        last = {e.key: i for i, e in enumerate(entries)}
        return [e for i, e in enumerate(entries) if last[e.key] == i]

    def kept_entries(self, keep: int | None = None) -> list[LedgerEntry]:
        """THE RULE: the releases that served before the active one, newest served first (each
        once); ``keep`` cuts the list (``keep_previous``)."""
        active = self.active_entry.key
        ordered = [e for e in reversed(self.latest()) if e.key != active]
        return ordered if keep is None else ordered[:keep]

    def previous_entries(self, keep: int | None = None) -> list[LedgerEntry]:
        """:meth:`kept_entries` (the name used before serving order was explicit)."""
        return self.kept_entries(keep)

    def previous(self, keep: int) -> list[str]:
        """Artifacts of :meth:`kept_entries` (compatibility helper)."""
        return [e.artifact for e in self.kept_entries(keep)]

    def index_of(self, entry: LedgerEntry) -> int:
        """Index in :attr:`releases` of ``entry`` (an entry of :attr:`serving`; its last listing)."""
        return max(i for i, e in enumerate(self.releases) if e.key == entry.key)

    def find(self, key: str) -> LedgerEntry | None:
        """The entry whose release id or artifact is ``key`` (its last listing)."""
        return next((e for e in reversed(self.releases) if key in (e.release, e.artifact)), None)

    # --- events: every write returns the current form --------------------------------------

    def served_again(self, key: str, event: Event) -> WorkloadLedger:
        """A copy where the release ``key`` (release id, or an unrecorded entry's artifact) serves
        again: listed once more at the end, with ``event`` (rollback: exactly as recorded); an
        unrecorded entry moves to the end."""
        entry = next(e for e in reversed(self.serving) if key in (e.release, e.artifact))
        again = entry.model_copy(update={"event": None if event == "deploy" else event})
        # An unrecorded entry (no id yet: its artifact stands for it) moves instead of being listed twice.
        earlier = [e for e in self.serving if e is not entry] if entry.release is None else self.serving
        return type(self)(releases=[*earlier, again])

    def pointed_at(self, key: str) -> WorkloadLedger:
        """Rollback: :meth:`served_again` with ``event: rollback``."""
        return self.served_again(key, "rollback")

    def appended(self, artifact: str, note: str | None = None, *, release: str | None = None,
                 pin: bool = False, event: Event | None = None) -> WorkloadLedger:
        """A copy with the release listed at the end: deploy, or promotion (``event="promotion"``;
        ``pin`` is the older spelling), after which it runs exactly as recorded whatever the code
        says. An unrecorded entry of the same artifact is replaced by it."""
        how = event or ("promotion" if pin else None)
        entries = [e for e in self.serving if not (e.release is None and e.artifact == artifact)]
        entries.append(LedgerEntry(artifact=artifact, release=release, note=note,
                                   event=None if how == "deploy" else how))
        return type(self)(releases=entries)

    def recorded(self, index: int, release: str) -> WorkloadLedger:
        """A copy where the unrecorded entry at ``index`` (of :attr:`releases`) carries its
        recorded release id."""
        entries = list(self.releases)
        entries[index] = entries[index].model_copy(update={"release": release})
        active = self.active
        if active is not None and active == self.releases[index].artifact:
            active = release
        return type(self)(releases=entries, active=active)

    def never_served(self, serving: str, *, retry: bool = True) -> list[LedgerEntry]:
        """A failed update leaves the order true: the recorded entries listed after the last
        time ``serving`` (the release the stack's state says serves) started to serve never
        served. ``retry`` spares the last entry (the release the next update deploys)."""
        entries = self.serving
        at = max((i for i, e in enumerate(entries) if serving in (e.release, e.artifact)), default=None)
        if at is None:
            return []
        after = entries[at + 1:]
        return [e for i, e in enumerate(after) if e.release is not None and not (retry and i == len(after) - 1)]

    def dropping(self, entries: list[LedgerEntry]) -> WorkloadLedger:
        """A copy without ``entries`` (by identity: one listing, not every listing of the release),
        except the last entry, the release the next update deploys. Records stay in the archive."""
        last = self.serving[-1]
        gone = [g for g in entries if g is not last]
        return type(self)(releases=[e for e in self.serving if not any(e is g for g in gone)])

    def served_last(self, serving: str, *, retry: bool = True) -> WorkloadLedger:
        """:meth:`dropping` the :meth:`never_served` entries."""
        return self.dropping(self.never_served(serving, retry=retry))


Ledger = dict[str, WorkloadLedger]
