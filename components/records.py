"""Release records: every release a stack has run, exactly as it ran.

A record is a release's id, its artifact and every release-defining setting in canonical
form (exactly what the id hashes, see :mod:`.release`). Secrets appear only as what stands
for them in the hash: a version label (``version:api-db-password@v3``) or, for releases made
before secrets were versioned, the value's SHA-256. Never a value.

Records live in a release archive per stack, ``releases/<stack>.yaml`` in git, next to the
ledger in ``Pulumi.<stack>.yaml`` that orders them (:mod:`.ledger`). Both are reviewed in
pull requests. When an archive is read, every id is re-derived from its settings: a record
whose settings do not hash to its id is refused, naming the file and the key.

Kept releases are registered from their records (:func:`resolve_releases`), never rebuilt
from today's code, so a change to env, config, secrets, resources, probes or security
settings makes exactly one new release and leaves the kept ones untouched.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel

from . import yaml_text
from .errors import Problem, SpecError, validate_spec
from .fields import NotInRelease
from .ledger import RELEASE_ID, WorkloadLedger
from .release import canonical_json, release_fields, release_id, secret_digest

S = TypeVar("S", bound=BaseModel)

ARCHIVE_DIR = "releases"
"""Folder (next to ``Pulumi.yaml``) holding one release archive per stack."""
VERSION_PREFIX = "version:"


def archive_path(project_dir: str | Path, stack: str) -> Path:
    return Path(project_dir) / ARCHIVE_DIR / f"{stack}.yaml"


@dataclass(frozen=True)
class ReleaseRecord:
    """One release, as it ran: id, artifact and its canonical settings."""

    release: str
    artifact: str
    settings: Mapping[str, Any]

    @classmethod
    def of(cls, spec: BaseModel, artifact: str) -> ReleaseRecord:
        settings = release_fields(spec)
        return cls(release_id(settings), artifact, settings)

    @property
    def derived_id(self) -> str:
        return release_id(dict(self.settings))

    def as_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "settings": _plain(self.settings)}

    def changes_from(self, other: ReleaseRecord) -> list[str]:
        """Which settings differ from ``other``, by dotted name (what changed between releases)."""
        return _diff(other.settings, self.settings)


def _plain(data: Any) -> Any:
    """Canonical data as plain YAML-friendly values (sorted keys)."""
    import json

    return json.loads(canonical_json(data))


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += _diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return out
    return [] if canonical_json(old) == canonical_json(new) else [path or "<all>"]


class ReleaseArchive:
    """The records of one stack: ``{workload: {release id: record}}`` (``releases/<stack>.yaml``)."""

    def __init__(self, records: Mapping[str, Mapping[str, ReleaseRecord]] | None = None, *, source: str = "") -> None:
        self.records: dict[str, dict[str, ReleaseRecord]] = {w: dict(r) for w, r in (records or {}).items()}
        self.source = source

    @classmethod
    def load(cls, path: str | Path, *, missing_ok: bool = True) -> ReleaseArchive:
        """Read and verify an archive: every record's settings must hash to its id."""
        path = Path(path)
        label = f"{ARCHIVE_DIR}/{path.name}"
        if not path.is_file():
            if missing_ok:
                return cls(source=label)
            raise SpecError(f"release archive {label}", [Problem(label, "nothing", "the file does not exist",
                                                                 "run `immutable-ops record <stack>` to write it")])
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SpecError(f"release archive {label}", [Problem(label, "<file>", f"not valid YAML ({exc})",
                                                                 "restore the file from git")]) from None
        return cls.from_data(raw, source=label)

    @classmethod
    def from_data(cls, raw: Any, *, source: str = "releases") -> ReleaseArchive:
        problems: list[Problem] = []
        records: dict[str, dict[str, ReleaseRecord]] = {}
        if not isinstance(raw, Mapping):
            raise SpecError(f"release archive {source}", [Problem(source, type(raw).__name__, "not a mapping",
                                                                  "write `<workload>: {<release id>: {...}}`")])
        for workload, releases in raw.items():
            if not isinstance(releases, Mapping):
                problems.append(Problem(f"{source}: {workload}", type(releases).__name__, "not a mapping",
                                        "write `<release id>: {artifact: ..., settings: {...}}`"))
                continue
            for rid, body in releases.items():
                key = f"{source}: {workload}.{rid}"
                rid = str(rid)
                if not RELEASE_ID.fullmatch(rid):
                    problems.append(Problem(key, repr(rid), "not a release id", "use the 8 hex characters of the id"))
                    continue
                if not isinstance(body, Mapping) or not isinstance(body.get("artifact"), str) \
                        or not isinstance(body.get("settings"), Mapping):
                    problems.append(Problem(key, "<record>", "a record needs `artifact` and `settings`",
                                            "restore the record from git, or record the release again"))
                    continue
                record = ReleaseRecord(rid, body["artifact"], dict(body["settings"]))
                if record.derived_id != rid:
                    problems.append(Problem(
                        key, f"settings hash to {record.derived_id}",
                        "the record's settings do not hash to its id (edited by hand, or corrupted)",
                        "restore the record from git; to change a release, change the code and record a new one"))
                    continue
                records.setdefault(str(workload), {})[rid] = record
        if problems:
            raise SpecError(f"release archive {source}", problems)
        return cls(records, source=source)

    def get(self, workload: str, release: str) -> ReleaseRecord | None:
        return self.records.get(workload, {}).get(release)

    def add(self, workload: str, record: ReleaseRecord) -> bool:
        """Add a record; ``False`` when it was there already."""
        known = self.records.setdefault(workload, {})
        if record.release in known:
            return False
        known[record.release] = record
        return True


    def as_data(self) -> dict[str, Any]:
        return {w: {rid: r.as_dict() for rid, r in sorted(rs.items())} for w, rs in sorted(self.records.items()) if rs}

    def dump(self, stack: str) -> str:
        header = (f"# Release records of stack {stack!r}: every release in its ledger, exactly as it ran.\n"
                  "# Written by `immutable-ops record`; reviewed in pull requests. Each id is the content hash\n"
                  "# of its settings (checked when read): never edit a record, record a new release instead.\n")
        return header + yaml.dump(self.as_data(), Dumper=_ReadableDumper, sort_keys=True, default_flow_style=False,
                                  allow_unicode=True, width=120)

    def save(self, path: str | Path, stack: str) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.dump(stack), encoding="utf-8")


class _ReadableDumper(yaml_text.Dumper):
    """Multi-line strings (config files, user data) as literal blocks, so a diff reads like the
    file; ids like ``34374e02`` quoted (:mod:`.yaml_text`)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(ch in value for ch in "\r\t") and value == value.rstrip(" ") else None
    return yaml_text.represent_str(dumper, value, style)


_ReadableDumper.add_representer(str, _str)


# --- secrets ---------------------------------------------------------------------------------

@dataclass
class SecretStore:
    """Versioned secret values (from the stack's encrypted config), so a kept release keeps the
    value it ran with while the active one moves to a rotated version.

    ``versions``: key -> version -> value (``immutable:secrets`` in ``Pulumi.<stack>.yaml``,
    every leaf ``secure``). ``legacy``: key -> value of an unversioned secret (from before
    versions), whose releases are identified by the value's SHA-256.
    """

    versions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    legacy: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def coerce(cls, secrets: SecretStore | Mapping[str, str]) -> SecretStore:
        """A store from a plain ``{key: value}`` mapping (unversioned values), or the store itself."""
        return secrets if isinstance(secrets, SecretStore) else cls(legacy=dict(secrets))

    @staticmethod
    def label(key: str, version: str) -> str:
        return f"{key}@{version}"

    def current(self, key: str) -> tuple[str | None, str] | None:
        """(version label, value) of the newest version of ``key`` (``None`` label: legacy)."""
        versions = self.versions.get(key)
        if versions:
            newest = max(versions, key=_version_order)
            return self.label(key, newest), versions[newest]
        if key in self.legacy:
            return None, self.legacy[key]
        return None

    def resolve(self, fingerprint: str) -> str | None:
        """The value behind a record's secret fingerprint, or ``None`` if no longer stored."""
        if fingerprint.startswith(VERSION_PREFIX):
            key, _, version = fingerprint[len(VERSION_PREFIX):].rpartition("@")
            return self.versions.get(key, {}).get(version)
        for value in [*self.legacy.values(), *(v for vs in self.versions.values() for v in vs.values())]:
            if secret_digest(value) == fingerprint:
                return value
        return None



def _version_order(version: str) -> tuple[int, str]:
    digits = "".join(ch for ch in version if ch.isdigit())
    return (int(digits) if digits else -1, version)


# --- records -> specs ------------------------------------------------------------------------

def spec_from_record(model: type[S], record: ReleaseRecord, base: S, secrets: SecretStore, *,
                     subject: str) -> S:
    """The spec of a recorded release: its settings exactly, plus the knobs that are not part
    of a release (replicas, retention, routing) from ``base`` (today's active spec).

    Raises :class:`SpecError` naming the record when a secret version it needs is gone or
    the rebuilt spec does not hash to the recorded id."""
    problems: list[Problem] = []
    data = _overlay(model, dict(record.settings), base, secrets, problems, subject)
    if problems:
        raise SpecError(subject, problems)
    spec = validate_spec(model, data, subject=subject)
    rebuilt = release_id(spec)
    if rebuilt != record.release:
        raise SpecError(subject, [Problem(
            subject, f"rebuilds as {rebuilt}", f"the record of {record.release} does not rebuild to the same release",
            "the spec model changed incompatibly; keep the library version that wrote the record, or record anew")])
    return spec


def _overlay(model: type[BaseModel], settings: dict[str, Any], base: BaseModel | None, secrets: SecretStore,
             problems: list[Problem], subject: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if any(isinstance(meta, NotInRelease) for meta in info.metadata):
            if base is not None:
                out[name] = getattr(base, name)
            continue
        if name not in settings:
            continue
        value = settings[name]
        nested = _model_type(info.annotation)
        if nested is not None and isinstance(value, Mapping):
            out[name] = _overlay(nested, dict(value), getattr(base, name, None) if base is not None else None,
                                 secrets, problems, subject)
        elif nested is not None and isinstance(value, list) and hasattr(nested, "from_fingerprint"):
            out[name] = [_restore_secret(nested, item, secrets, problems, f"{subject}: {name}[{i}]")
                         for i, item in enumerate(value)]
        else:
            out[name] = value
    return out


def _restore_secret(model: type[BaseModel], item: Any, secrets: SecretStore, problems: list[Problem],
                    where: str) -> Any:
    fingerprint = str(item.get("secret", "")) if isinstance(item, Mapping) else ""
    value = secrets.resolve(fingerprint)
    if value is None:
        shown = fingerprint if fingerprint.startswith(VERSION_PREFIX) else "an unversioned value (sha256)"
        problems.append(Problem(where, shown, "the secret value this release ran with is no longer stored",
                                "restore that version in immutable:secrets (never remove a version a kept "
                                "release uses), or drop the release from the ledger"))
        return item
    restored: Any = model.from_fingerprint(dict(item), value)  # type: ignore[attr-defined]
    return restored


def _model_type(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside ``X``, ``X | None``, ``list[X]`` or ``Annotated[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_type(arg)
        if found is not None:
            return found
    return None


# --- ledger + records + template -> what runs --------------------------------------------------

@dataclass(frozen=True)
class Releases(Generic[S]):
    """What one workload runs: the active spec, the kept ones (newest first), and the releases
    that are not recorded yet (to be written by ``immutable-ops record``)."""

    active: S
    kept: list[S]
    legacy: list[ReleaseRecord]
    """Ledger entries without a record (older library version, or a new artifact added by hand),
    derived from today's code: recording them marks those entries."""
    new: ReleaseRecord | None
    """The active release when today's code makes a new one: recording it appends an entry."""
    held: ReleaseRecord | None = None
    """While the active release runs exactly as recorded (after a rollback, a promotion or a
    pin), the release today's code would make of its artifact, when that differs: it is not
    deployed until its artifact is appended to the ledger (``immutable-ops record`` says how)."""

    @property
    def unrecorded(self) -> list[ReleaseRecord]:
        return [*self.legacy, *([self.new] if self.new else [])]



def resolve_releases(model: type[S], workload: str, ledger: WorkloadLedger, archive: ReleaseArchive,
                     template: Callable[[str], S], secrets: SecretStore, *, keep: Callable[[S], int],
                     subject: str) -> Releases[S]:
    """Turn a workload's ledger, its records and today's template into the specs to register.

    - The active release is the last one in serving order (:attr:`WorkloadLedger.serving`).
      After a rollback, a promotion or a pin it runs exactly as recorded; otherwise its
      artifact runs with today's code (``template(artifact)``), and if that differs from its
      record, it is a new release and the recorded one is the first kept.
    - Kept releases follow the one rule, :meth:`WorkloadLedger.kept_entries`: newest served
      first, up to ``keep(active)``, each registered from its record; unrecorded (legacy)
      entries are derived from today's code, as the previous library version did.
    """
    problems: list[Problem] = []
    legacy: list[ReleaseRecord] = []

    def from_entry(index: int, base: S | None) -> S | None:
        entry = ledger.releases[index]
        where = f"{subject}.releases[{index}]"
        if entry.release is None:
            spec = template(entry.artifact)
            legacy.append(ReleaseRecord.of(spec, entry.artifact))
            return spec
        record = archive.get(workload, entry.release)
        if record is None:
            problems.append(Problem(where + ".release", entry.release,
                                    f"no record of release {entry.release} in {archive.source or ARCHIVE_DIR}",
                                    "restore the record from git (or remove the entry)"))
            return None
        if record.artifact != entry.artifact:
            problems.append(Problem(where + ".artifact", entry.artifact,
                                    f"the record of {entry.release} runs {record.artifact}",
                                    "restore the entry from git: an entry and its record name the same artifact"))
            return None
        try:
            return spec_from_record(model, record, base if base is not None else template(entry.artifact),
                                    secrets, subject=f"{archive.source}: {workload}.{entry.release}")
        except SpecError as exc:
            problems.extend(exc.problems)
            return None

    entry = ledger.active_entry
    index = ledger.index_of(entry)
    new: ReleaseRecord | None = None
    held: ReleaseRecord | None = None
    if ledger.pinned or entry.release is None:
        active = from_entry(index, None)
        if active is not None and entry.release is not None:
            code = template(entry.artifact)
            if release_id(code) != entry.release:
                held = ReleaseRecord.of(code, entry.artifact)
    else:
        active = template(entry.artifact)
        if release_id(active) != entry.release:
            new = ReleaseRecord.of(active, entry.artifact)
    active_is_new = new is not None
    if active is None:
        raise SpecError(subject, problems)
    kept: list[S] = []
    seen = {release_id(active)}
    order = ledger.kept_entries()
    if active_is_new:
        order = [entry, *order]  # the newest record served until now: it is the first to keep
    budget = keep(active)
    for previous in order:
        if len(kept) >= budget:
            break
        spec = from_entry(ledger.index_of(previous), active)
        if spec is None:
            continue
        rid = release_id(spec)
        if rid not in seen:
            seen.add(rid)
            kept.append(spec)
    if problems:
        raise SpecError(subject, problems)
    return Releases(active, kept, legacy, new, held)


RECORDS_OUT_ENV = "IMMUTABLE_RECORDS_OUT"
"""Set by ``immutable-ops record``: the program writes its unrecorded releases there during a preview."""


def publish_unrecorded(workloads: Mapping[str, Releases[Any]]) -> None:
    """Hand the releases to record to ``immutable-ops record`` (a JSON file named by
    :data:`RECORDS_OUT_ENV`; nothing happens when it is not set). Call it from the program."""
    import json
    import os

    target = os.environ.get(RECORDS_OUT_ENV)
    if not target:
        return
    data = {name: {"legacy": [{"release": r.release, **r.as_dict()} for r in chosen.legacy],
                   "new": {"release": chosen.new.release, **chosen.new.as_dict()} if chosen.new else None,
                   "held": chosen.held.release if chosen.held else None}
            for name, chosen in workloads.items()}
    Path(target).write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
