"""The one idea: a release is the content hash of everything that defines what runs.

Platform-neutral and pure: no Pulumi here, so the rules are testable alone.

- The canonical form is JSON with sorted keys, no insignificant white space, integral
  floats written as integers (``1.0`` and ``1`` are the same release) and no NaN/inf.
- Secret values never enter it in clear: a :class:`~pydantic.SecretStr` is replaced by the
  SHA-256 of its value (or by the user's explicit version string, see ``SecretFile``).
- Fields marked :class:`~immutable_infra.fields.NotInRelease` (replicas, group sizes,
  hostnames, retention) are left out, so a scale-only change keeps the release id.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, SecretStr

from .fields import AddedLater, NotInRelease

RELEASE_ID_LENGTH = 8


def secret_digest(value: str) -> str:
    """The value's SHA-256, the only form of a secret that may enter a release hash."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def release_fields(model: BaseModel) -> dict[str, Any]:
    """The release-defining fields of a spec, recursively, as plain canonical data.

    A model may define ``release_fingerprint()`` to say what stands for it (a secret's
    version label instead of its value, for example).
    """
    if _has_fingerprint(type(model)):
        return {str(k): _canonical(v) for k, v in model.release_fingerprint().items()}  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    for name, added_later in _release_field_names(type(model)):
        value = getattr(model, name)
        if added_later and value == type(model).model_fields[name].get_default(call_default_factory=True):
            continue  # a newer field at its default: the release id of every older release is kept
        out[name] = _canonical(value)
    return out


@functools.cache
def _has_fingerprint(model: type[BaseModel]) -> bool:
    """Per class (a missing attribute on a pydantic instance goes through its slow ``__getattr__``)."""
    return callable(getattr(model, "release_fingerprint", None))


@functools.cache
def _release_field_names(model: type[BaseModel]) -> tuple[tuple[str, bool], ...]:
    """Per model class, once (a spec's fields do not change): 1,000 services hash 1,000 specs.
    Each release-defining field with whether it was added later (see ``AddedLater``)."""
    return tuple((name, any(isinstance(meta, AddedLater) for meta in field.metadata))
                 for name, field in model.model_fields.items()
                 if not any(isinstance(meta, NotInRelease) for meta in field.metadata))


def _canonical(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return release_fields(value)
    if isinstance(value, SecretStr):
        return secret_digest(value.get_secret_value())
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=canonical_json)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot hash a non-finite number ({value!r})")
        return int(value) if value.is_integer() else value
    if hasattr(value, "value") and isinstance(value.value, (str, int)):  # enums
        return value.value
    raise TypeError(f"cannot put a {type(value).__name__} into a release hash")


def canonical_json(data: Any) -> str:
    """Stable serialisation: sorted keys, compact separators, integral floats as ints."""
    return _dumps(_canonical(data))


def _dumps(canonical: Any) -> str:
    """``canonical_json`` of data that is canonical already (``_canonical`` of it is itself)."""
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def release_id(data: BaseModel | Mapping[str, Any]) -> str:
    """The short content hash naming a release (8 hex characters)."""
    # release_fields is canonical already: not walked a second time (1,000 services hash 1,000 specs).
    text = _dumps(release_fields(data)) if isinstance(data, BaseModel) else canonical_json(data)
    return hashlib.sha256(text.encode()).hexdigest()[:RELEASE_ID_LENGTH]


def content_hash(data: Any) -> str:
    """8 hex characters of the canonical JSON's SHA-256: the name of a content-addressed object
    (a ConfigMap, a Secret, a Docker volume), the same on every platform for the same content."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:8]


def release_name(base: str, release: str, *, max_length: int = 63) -> str:
    """``<base>-<release>``, with ``base`` shortened so the result fits ``max_length``."""
    room = max_length - len(release) - 1
    return f"{base[:room].rstrip('-')}-{release}"
