"""One error type for every bad input, listing every problem at once.

Each problem names the field path, the bad value (secrets masked) and the fix. The
messages are safe to print: values under a secret-looking key are never shown.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from . import rules

MASK = rules.MASK

M = TypeVar("M", bound=BaseModel)

# Keys whose values are never echoed back, wherever they appear in a path.
_SENSITIVE_KEY = re.compile(r"(secret|password|passwd|token|credential|private[_-]?key|api[_-]?key)", re.I)

# Fixes for pydantic's own error types; our validators pass theirs in `ctx["fix"]`.
_GENERIC_FIXES: dict[str, str] = {
    "missing": "set this field; it has no default",
    "extra_forbidden": "remove it (check the spelling against the documented fields)",
    "int_parsing": "give a whole number",
    "int_type": "give a whole number",
    "int_from_float": "give a whole number without a fraction",
    "bool_parsing": "give true or false",
    "bool_type": "give true or false",
    "string_type": "give a string",
    "list_type": "give a list",
    "dict_type": "give a mapping of keys to values",
    "model_type": "give a mapping with the documented fields",
    "model_attributes_type": "give a mapping with the documented fields",
    "literal_error": "use one of the allowed values",
    "enum": "use one of the allowed values",
    "greater_than_equal": "raise the value to the minimum",
    "greater_than": "raise the value above the minimum",
    "less_than_equal": "lower the value to the maximum",
    "less_than": "lower the value below the maximum",
    "string_too_short": "give a longer value",
    "string_too_long": "shorten the value",
    "string_pattern_mismatch": "see this field's description in docs/reference.md for the accepted form",
    "too_short": "add more items",
    "too_long": "remove items",
    "float_parsing": "give a number",
    "url_parsing": "give a full URL such as https://host:port/path",
}


class ImmutableInfraError(Exception):
    """Base class of every error this library raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One invalid input: where it is, what it was, what is wrong and how to fix it."""

    path: str
    value: str
    message: str
    fix: str
    loc: tuple[str | int, ...] = field(default=(), compare=False)
    """The path as parts (for callers that render it differently, such as stack config keys)."""

    def render(self) -> str:
        return f"- {self.path}: {self.message} (got {self.value}); fix: {self.fix}"


class SpecError(ImmutableInfraError, ValueError):
    """Invalid input, raised before any resource is registered.

    ``problems`` lists every invalid field; ``str()`` renders them one per line.
    """

    def __init__(self, subject: str, problems: Sequence[Problem]) -> None:
        self.subject = subject
        self.problems: tuple[Problem, ...] = tuple(problems)
        lines = [f"{subject}: {len(self.problems)} invalid input(s); nothing was deployed."]
        lines += [p.render() for p in self.problems]
        super().__init__("\n".join(lines))

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.problems]

    def nested(self, prefix: str) -> list[Problem]:
        """These problems with ``prefix.`` in front of every path (to report a part of a whole)."""
        head = tuple(int(x) if x.isdigit() else x for x in re.split(r"[.\[\]]+", prefix) if x)
        return [Problem(f"{prefix}.{p.path}", p.value, p.message, p.fix, head + p.loc) for p in self.problems]

    def problem_at(self, path: str) -> Problem:
        """The problem reported for ``path`` (KeyError when that field was not reported)."""
        for problem in self.problems:
            if problem.path == path:
                return problem
        raise KeyError(f"{path} not among {self.paths}")


def format_path(loc: Iterable[str | int], prefix: str = "") -> str:
    """``("services", 2, "image")`` -> ``services[2].image``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.isprintable():  # a key with a line break or control character: shown escaped
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def is_sensitive_path(loc: Iterable[str | int]) -> bool:
    return any(isinstance(p, str) and _SENSITIVE_KEY.search(p) for p in loc)


def _masked(value: Any) -> Any:
    """``value`` with every secret part replaced: credentials, URL passwords, secret keys."""
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, str):
        shown = rules.mask_url(value) if rules.url_userinfo(value) else value  # keeps scheme, user and host
        return MASK if rules.credential_kind(shown) else shown
    if isinstance(value, Mapping):
        return {k: (MASK if _SENSITIVE_KEY.search(str(k)) else _masked(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_masked(v) for v in value)
    if isinstance(value, BaseModel):
        return f"<{type(value).__name__}>"
    return value


def show_value(value: Any, loc: Sequence[str | int] = ()) -> str:
    """A short, safe rendering of a bad value: secrets, credentials and URL passwords are masked."""
    if isinstance(value, SecretStr) or is_sensitive_path(loc):
        return MASK
    text = repr(_masked(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _suggest_field(model: type[BaseModel] | None, loc: Sequence[str | int]) -> str | None:
    """For an unknown key, the closest known field of the model at that location."""
    owner = _model_at(model, loc[:-1]) if model else None
    if owner is None or not loc or not isinstance(loc[-1], str):
        return None
    close = difflib.get_close_matches(loc[-1], list(owner.model_fields), n=1)
    known = ", ".join(sorted(owner.model_fields))
    if close:
        return f"did you mean `{close[0]}`? Known fields: {known}"
    return f"remove it; known fields: {known}"


def _model_at(model: type[BaseModel] | None, loc: Sequence[str | int]) -> type[BaseModel] | None:
    """Walk the model's field annotations along ``loc`` (best effort)."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        else:
            current = None
            continue
        # Unwrap Optional/list/dict/Annotated down to a model class if there is one.
        for _ in range(4):
            args = [a for a in typing.get_args(current) if isinstance(a, type) and issubclass(a, BaseModel)]
            if isinstance(current, type) and issubclass(current, BaseModel):
                break
            current = args[-1] if args else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def problems_from_validation(
    error: ValidationError,
    *,
    prefix: Sequence[str | int] = (),
    model: type[BaseModel] | None = None,
    path_formatter: Any = None,
) -> list[Problem]:
    """Translate pydantic's error list into our problems (values masked where needed)."""
    out: list[Problem] = []
    for item in error.errors(include_url=False):
        # "[key]" marks a refused mapping key: the key itself is already the last part of the path.
        loc = tuple(prefix) + tuple(p for p in item["loc"] if p not in ("function-after", "function-before", "[key]"))
        ctx = item.get("ctx") or {}
        if ctx.get("field"):
            loc += tuple(int(part) if part.isdigit() else part for part in str(ctx["field"]).split("."))
        fix = str(ctx.get("fix") or "")
        if not fix and item["type"] == "extra_forbidden":
            fix = _suggest_field(model, tuple(item["loc"])) or _GENERIC_FIXES["extra_forbidden"]
        if not fix:
            fix = _GENERIC_FIXES.get(item["type"], "see the field reference in docs/reference.md")
        message = str(item["msg"]).removeprefix("Value error, ")
        if ctx.get("sensitive"):
            value = MASK
        elif item["type"] == "missing":
            value = "nothing"
        else:
            value = show_value(item.get("input"), loc)
        if item["type"] == "string_pattern_mismatch":
            message = "does not have the accepted form"  # pydantic's message is a raw regex
        path = path_formatter(loc) if path_formatter else format_path(loc)
        out.append(Problem(path=path, value=value, message=message, fix=fix, loc=loc))
    return out


def validate_spec(model: type[M], data: Any, *, subject: str | None = None) -> M:
    """Validate ``data`` as ``model`` or raise one :class:`SpecError` listing every problem."""
    if isinstance(data, model):
        return data
    error: SpecError | None = None
    try:
        return model.model_validate(data)
    except ValidationError as exc:  # a model outside the Spec base
        error = SpecError(subject or model.__name__, problems_from_validation(exc, model=model))
    except SpecError as exc:
        error = SpecError(subject or model.__name__, exc.problems)
    raise error
