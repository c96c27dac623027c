"""Reusable field types and markers shared by every spec.

Recurring shapes (image by digest, port, quantity, DNS label, CIDR) are ``Annotated``
types, so one rule with one fix message serves every model that uses them.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from . import rules


def invalid(message: str, fix: str, *, sensitive: bool = False, field: str | None = None) -> PydanticCustomError:
    """A validation error carrying its fix (and whether the value must be masked).

    ``field`` names the field a cross-field rule blames (dotted, relative to the model
    that raises it), so the reported path points at it rather than at the model.
    """
    ctx: dict[str, Any] = {"fix": fix, "sensitive": sensitive}
    if field:
        ctx["field"] = field
    return PydanticCustomError("immutable", message, ctx)


@dataclass(frozen=True)
class NotInRelease:
    """Marks a field that does not define what runs, so it is left out of the release id.

    ``kind`` says why: ``scale`` (replicas, group sizes), ``routing`` (hostnames, who may
    connect), ``retention`` (how many old releases are kept) or ``identity`` (names that are
    already part of every resource name) or ``rollout`` (how long a rollout may take).
    """

    kind: Literal["scale", "routing", "retention", "identity", "rollout"]


SCALE = NotInRelease("scale")
ROUTING = NotInRelease("routing")
RETENTION = NotInRelease("retention")
IDENTITY = NotInRelease("identity")
ROLLOUT = NotInRelease("rollout")


@dataclass(frozen=True)
class AddedLater:
    """Marks a release-defining field added after releases were recorded: it is left out of the
    release id while it holds its default, so upgrading the library changes no running release
    (and records written before it existed still rebuild to their ids). Every field added to a
    release-defining model must carry it. ``version`` is the library version that added it."""

    version: str


Loc = tuple[str | int, ...]


class Problems:
    """Collects problems inside one validator; ``raise_if_any`` reports them together.

    A pydantic validator normally reports one error at the model's own location. Raising a
    :class:`~pydantic.ValidationError` built from several ``InitErrorDetails`` instead lets
    pydantic-core keep each error's location (prefixed with the model's own path when it is
    nested), so every problem is reported at its own field, with the offending value itself.
    """

    def __init__(self, title: str, *, owner: str | None = None) -> None:
        self._title = title
        self._owner = owner
        self.details: list[InitErrorDetails] = []

    def add(self, loc: Loc, value: Any, message: str, fix: str, *, sensitive: bool = False) -> None:
        """Record one problem at ``loc`` (relative to the model being validated)."""
        ctx: dict[str, Any] = {"fix": fix, "sensitive": sensitive}
        if self._owner:
            ctx["rule_of"] = self._owner  # lets the model tell its own rules' errors from its fields'
        error = PydanticCustomError("immutable", message, ctx)
        self.details.append(InitErrorDetails(type=error, loc=loc, input=value))

    def __len__(self) -> int:
        return len(self.details)

    def raise_if_any(self) -> None:
        if self.details:
            raise ValidationError.from_exception_data(self._title, self.details)


_RULE = "__immutable_rule__"


def rule(method: Callable[[Any, Problems], None]) -> Callable[[Any, Problems], None]:
    """Marks a cross-field rule of a :class:`Spec`: ``def _rule(self, problems: Problems) -> None``.

    Rules run after the fields validated, every rule of the model, each adding its problems.
    When some fields failed, pydantic skips model validators; the rules then run again on the
    fields that did validate (a rule that reads a failed field is skipped), so a bad image pin
    and a bad env name are still reported together.
    """
    setattr(method, _RULE, True)
    return method


@functools.cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    field = model.model_fields[name]
    return TypeAdapter(Annotated[field.annotation, field])


def _as_init_details(error: ErrorDetails) -> InitErrorDetails:
    """A reported error, re-raisable with its type, message, context and location."""
    custom = PydanticCustomError(error["type"], error["msg"], error.get("ctx"))
    return InitErrorDetails(type=custom, loc=error["loc"], input=error.get("input"))


class Spec(BaseModel):
    """Base of every user-facing spec: frozen, unknown keys refused.

    Every entry point (``Spec(...)``, ``model_validate``, ``model_validate_json``, and through
    them components and stack config) raises :class:`~immutable_infra.errors.SpecError`:
    every problem at once, each at its own path, values masked when secret, with a fix.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def __init__(self, /, **data: Any) -> None:
        error: Exception | None = None
        try:
            super().__init__(**data)
        except ValidationError as exc:
            error = _spec_error(type(self), exc)
        if error is not None:  # raised outside the except: the pydantic error (unmasked) is not chained
            raise error

    # Not a "custom" __init__ for pydantic: nested models and model_validate keep validating in
    # pydantic-core (which would otherwise call this and get a SpecError instead of line errors).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, *, strict: bool | None = None, from_attributes: bool | None = None,
                       context: Any | None = None, **kwargs: Any) -> Self:
        error: Exception | None = None
        try:
            return super().model_validate(obj, strict=strict, from_attributes=from_attributes, context=context, **kwargs)
        except ValidationError as exc:
            error = _spec_error(cls, exc)
        raise error

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, *, strict: bool | None = None,
                            context: Any | None = None, **kwargs: Any) -> Self:
        error: Exception | None = None
        try:
            return super().model_validate_json(json_data, strict=strict, context=context, **kwargs)
        except ValidationError as exc:
            error = _spec_error(cls, exc)
        raise error

    @classmethod
    def model_validate_strings(cls, obj: Any, *, strict: bool | None = None, context: Any | None = None,
                               **kwargs: Any) -> Self:
        error: Exception | None = None
        try:
            return super().model_validate_strings(obj, strict=strict, context=context, **kwargs)
        except ValidationError as exc:
            error = _spec_error(cls, exc)
        raise error

    # --- cross-field rules ---------------------------------------------------------------

    @classmethod
    def _rules(cls) -> tuple[Callable[[Any, Problems], None], ...]:
        return _rules_of(cls)

    @model_validator(mode="after")
    def _run_rules(self) -> Self:
        rules = _rules_of(type(self))
        if not rules:
            return self
        problems = Problems(type(self).__name__, owner=_owner(type(self)))
        for check in rules:
            check(self, problems)
        problems.raise_if_any()
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            own = _owner(cls)
            fields_failed = any(e["loc"] and (e.get("ctx") or {}).get("rule_of") != own for e in errors)
            if not fields_failed or not isinstance(data, Mapping) or not cls._rules():
                raise
            reported = {tuple(e["loc"]) for e in errors}
            extra = [d for d in cls._partial_rules(data) if tuple(d["loc"]) not in reported]
        raise ValidationError.from_exception_data(cls.__name__, [*map(_as_init_details, errors), *extra])

    @classmethod
    def partial(cls, data: Mapping[str, Any]) -> Self:
        """The fields of ``data`` that validate on their own (defaults for those not given);
        a field that failed is absent, so reading it raises ``AttributeError``. For checks that
        still report what they can while other fields are invalid (never for deploying)."""
        values: dict[str, Any] = {}
        failed: set[str] = set()
        for name in cls.model_fields:
            if name not in data:
                continue
            try:
                values[name] = _field_adapter(cls, name).validate_python(data[name])
            except (ValidationError, ValueError):
                failed.add(name)
        partial = cls.model_construct(**values)
        for name in failed:
            partial.__dict__.pop(name, None)
        return partial  # type: ignore[return-value]  # model_construct is typed on BaseModel, not Self

    @classmethod
    def _partial_rules(cls, data: Mapping[str, Any]) -> list[InitErrorDetails]:
        """The cross-field problems among the fields that have a usable value.

        A field is usable when its type accepts it (its own ``field_validator`` rules are not
        re-run: ``env`` with one bad name still lets the secret-name rule see the others).
        Problems at a path already reported are dropped by the caller.
        """
        partial = cls.partial(data)
        found: list[InitErrorDetails] = []
        for check in cls._rules():
            problems = Problems(cls.__name__, owner=_owner(cls))
            try:
                check(partial, problems)
            except (AttributeError, TypeError, ValueError, KeyError):
                continue  # the rule reads a field that failed: its own error is already reported
            found += problems.details
        return found


@functools.cache
def _rules_of(model: type[Spec]) -> tuple[Callable[[Any, Problems], None], ...]:
    """A spec class's rules (its own and inherited, overrides replacing), once per class: every
    validation of every nested spec asks (21 times per ContainerServiceSpec)."""
    seen: dict[str, Callable[[Any, Problems], None]] = {}
    for klass in reversed(model.__mro__):
        for name, member in vars(klass).items():
            if callable(member) and getattr(member, _RULE, False):
                seen[name] = member
    return tuple(seen.values())


def _owner(model: type[BaseModel]) -> str:
    return f"{model.__module__}.{model.__qualname__}"


def _spec_error(model: type[BaseModel], error: ValidationError) -> Exception:
    from .errors import SpecError, problems_from_validation

    return SpecError(model.__name__, problems_from_validation(error, model=model))


# --- names -------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise invalid(
            "not a DNS label",
            "use 1-63 lowercase letters, digits and '-', starting with a letter and not ending with '-'",
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
PortName = Annotated[str, AfterValidator(_dns_label), AfterValidator(lambda v: _port_name(v))]
"""A named port: a DNS label of at most 15 characters with a letter (Kubernetes' IANA_SVC_NAME)."""

# --- images ------------------------------------------------------------------------

# The grammar lives in rules.py (shared with the policy pack); these names stay importable here.
ImageRef = rules.ImageRef


def parse_image(value: str) -> ImageRef:
    """``repo[:tag][@sha256:...]`` split into its parts; a validation error with a fix otherwise."""
    try:
        return rules.parse_image(value)
    except ValueError as exc:
        raise invalid(str(exc), rules.IMAGE_FIX) from None


def _image(value: str) -> str:
    parse_image(value)
    return value


Image = Annotated[str, AfterValidator(_image)]
"""An image reference; whether a digest is required is a cross-field rule of the spec."""

# --- numbers, flags and quantities ---------------------------------------------------


def _whole_number(value: Any) -> Any:
    """A count or a port is a number: ``True`` is not 1 (pydantic's lax mode would take it)."""
    if isinstance(value, bool):
        raise invalid("a boolean is not a number", "give a whole number such as 2 (not true/false)")
    return value


def _flag(value: Any) -> Any:
    """A flag is ``true`` or ``false``: ``"false"``, ``"no"``, ``0`` or ``1`` are refused, not guessed
    (``bool("false")`` is true: a quoted flag would silently turn a protection off)."""
    if not isinstance(value, bool):
        raise invalid(f"a flag is true or false, not {type(value).__name__}",
                      "write true or false without quotes")
    return value


Int = Annotated[int, BeforeValidator(_whole_number)]
"""A whole number that refuses booleans (every count, size, port and number of seconds)."""
Flag = Annotated[bool, BeforeValidator(_flag)]
"""A boolean that refuses anything but ``True``/``False`` (every flag of every spec and args object)."""
Port = Annotated[Int, Field(ge=1, le=65535)]


def cpu_millicores(value: str) -> int:
    """``"250m"`` -> 250, ``"1"`` -> 1000, ``"0.5"`` -> 500 (Kubernetes' grammar, rounded up)."""
    try:
        return rules.cpu_millicores(value)
    except ValueError as exc:
        raise invalid(f"not a CPU quantity: {exc}", "write millicores like '250m' or cores like '1', '0.5' or '1e0'") from None


def memory_bytes(value: str) -> int:
    """``"128Mi"`` -> 134217728, ``"1.5Gi"`` -> 1610612736."""
    try:
        return rules.memory_bytes(value)
    except ValueError as exc:
        raise invalid(f"not a memory quantity: {exc}", "write bytes with a unit like '128Mi', '1.5Gi' or '2G'") from None


def _number_as_text(value: Any) -> Any:
    """YAML turns ``cpu: 1`` into an int; quantities are text, so accept plain numbers."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _cpu(value: str) -> str:
    if cpu_millicores(value) <= 0:
        raise invalid("CPU must be more than zero", "give at least '1m'")
    return value


def _memory(value: str) -> str:
    if memory_bytes(value) < 4 * 2**20:
        raise invalid("memory below 4Mi cannot run a container", "give at least '4Mi'")
    return value


CpuQuantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_cpu)]
MemoryQuantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_memory)]

# --- networks ------------------------------------------------------------------------


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        raise invalid("not a CIDR block", "write a network like '10.0.0.0/16' (host bits zero)") from None


Cidr = Annotated[str, AfterValidator(_cidr)]

_ABS_PATH = re.compile(r"/(?:[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*/?)?")  # linear: no nested repeats


def _abs_path(value: str) -> str:
    if not _ABS_PATH.fullmatch(value) or "/../" in f"{value}/" or value.endswith("/.."):
        raise invalid("not an absolute path", "write an absolute path like '/etc/app' without '..'")
    return value


AbsolutePath = Annotated[str, AfterValidator(_abs_path)]

# --- text ------------------------------------------------------------------------------


def pattern(regex: str, what: str, fix: str) -> AfterValidator:
    """A regular-expression rule whose refusal says what was expected in words (never the regex).

    The whole value must match (``fullmatch``: ``re.match`` with ``$`` lets a final newline
    through), and ``\\w``/``\\d`` mean ASCII only (``re.ASCII``: 'é' is not a letter of a name)."""
    compiled = re.compile(regex, re.ASCII)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise invalid(f"not {what}", fix)
        return value

    return AfterValidator(check)


def _no_control(allow: str) -> AfterValidator:
    def check(value: str) -> str:
        found = rules.control_characters(value, allow=allow)
        if found:
            raise invalid(f"contains {found}", "remove the control character (it is usually a copy-paste accident)")
        return value

    return AfterValidator(check)


def _no_credential(value: str) -> str:
    kind = rules.credential_kind(value)
    if kind:
        raise invalid(f"contains {kind}", "keep credentials out of plain fields: put them in `secrets` "
                      "(mounted as files, kept secret in state) and rotate this one", sensitive=True)
    return value


VersionLabel = Annotated[str, pattern(r"[A-Za-z0-9][A-Za-z0-9._+:/@=-]{0,63}", "a version label",
                                      "use up to 64 letters, digits and '._+:/@=-', starting with a letter or digit, "
                                      "e.g. 'v3', '2024-06-01' or a secret manager's version id")]
"""A label that stands for a value in the release id (a secret's or an endpoint's ``version``)."""
LocalPath = Annotated[str, Field(min_length=1), pattern(r"\S(?:[^\x00-\x1f\x7f]*\S)?", "a file path",
                                                        "give the path without surrounding spaces, line breaks "
                                                        "or control characters")]
"""A path on the operator's machine (any script), without surrounding spaces or control characters."""
OneLine = Annotated[str, _no_control("\t")]
"""Text on one line without control characters."""
PlainText = Annotated[str, _no_control("\t\n\r")]
"""Text without control characters other than tab and line breaks."""
NoNul = Annotated[str, _no_control("".join(chr(c) for c in range(1, 32)) + "\x7f" + "".join(chr(c) for c in range(0x80, 0xA0)))]
"""Any text but the NUL character (which no process argument or env value can hold)."""
NoCredential = AfterValidator(_no_credential)
"""Refuses a value holding a known credential format (see :mod:`immutable_infra.rules`)."""

HttpPath = Annotated[str, pattern(r"/[\x21-\x7e]*", "an HTTP path",
                                  "start it with '/', leave out spaces and percent-encode anything but printable "
                                  "ASCII, e.g. '/healthz'")]
"""A request path as sent on the wire: printable ASCII (other characters are percent-encoded)."""
Hostname = Annotated[str, pattern(r"(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
                                  "a DNS host name", "write a lowercase host name with a dot, e.g. 'app.example.com'")]
EnvName = Annotated[str, pattern(r"[A-Za-z_][A-Za-z0-9_]*", "a valid environment variable name",
                                 "use letters, digits and '_', not starting with a digit, e.g. 'DATABASE_URL'")]


def _port_name(value: str) -> str:
    """Kubernetes port names (IANA service names): at most 15 characters, a letter, no '--'."""
    if len(value) > 15 or "--" in value or not re.search("[a-z]", value):
        raise invalid("not a Kubernetes port name",
                      "use at most 15 lowercase letters, digits and '-', with a letter and no '--', e.g. 'http'")
    return value


# --- opt-outs --------------------------------------------------------------------------


def _reason(value: str) -> str:
    problem = rules.opt_out_reason_problem(value)
    if problem:
        raise invalid(problem, rules.REASON_FIX)
    return value


class OptOut(Spec):
    """An explicit, reviewed exception to a secure default.

    Every opt-out carries a reason, which the component records as a label/tag and in its
    outputs so that reviewers see it in the preview.
    """

    reason: Annotated[str, AfterValidator(_reason)]
    """Why the default cannot be kept: at least 20 characters and 3 words, at most 200 (a ticket helps)."""
