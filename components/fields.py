"""Reusable field types and markers shared by every spec.

Recurring shapes (image by digest, port, quantity, DNS label, CIDR) are ``Annotated``
types, so one rule with one fix message serves every model that uses them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

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


class Spec(BaseModel):
    """Base of every user-facing spec: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# --- names -------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise invalid(
            "not a DNS label",
            "use 1-63 lowercase letters, digits and '-', starting with a letter and not ending with '-'",
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]

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

# --- numbers and quantities --------------------------------------------------------

Port = Annotated[int, Field(ge=1, le=65535)]


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

_ABS_PATH = re.compile(r"^/([A-Za-z0-9._-]+/?)*$")


def _abs_path(value: str) -> str:
    if not _ABS_PATH.match(value) or "/../" in f"{value}/" or value.endswith("/.."):
        raise invalid("not an absolute path", "write an absolute path like '/etc/app' without '..'")
    return value


AbsolutePath = Annotated[str, AfterValidator(_abs_path)]

# --- opt-outs --------------------------------------------------------------------------


class OptOut(Spec):
    """An explicit, reviewed exception to a secure default.

    Every opt-out carries a reason, which the component records as a label/tag and in its
    outputs so that reviewers see it in the preview.
    """

    reason: Annotated[str, Field(min_length=10, max_length=200)]
    """Why the default cannot be kept; at least 10 characters."""
