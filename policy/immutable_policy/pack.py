"""pulumi-policy wrappers around the pure checks of :mod:`immutable_policy.registry`.

The wrappers only translate: pulumi-policy's proxies to plain data (unknown values become
``UNKNOWN`` instead of aborting the policy), the policy's config (schema defaults, then what
``--policy-pack-config`` gives), the provider's inputs and ``ignore_changes``; then they report
each message the check returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from .common import Context, plain
from .registry import PACK_NAME, POLICIES, PolicyDef

__all__ = ["PACK_NAME", "build_policies", "to_policy"]

_LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}
_SEVERITIES = {s.value: s for s in Severity}


def _config(defn: PolicyDef, given: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**defn.defaults(), **plain(dict(given or {}))}


def _resource_validator(defn: PolicyDef) -> Any:
    check = defn.resource_check
    assert check is not None

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        provider = plain(args.provider.props) if args.provider is not None else {}
        ignore = tuple(str(i) for i in (args.opts.ignore_changes or ())) if args.opts is not None else ()
        ctx = Context(config=_config(defn, args.get_config()), provider=provider, ignore_changes=ignore)
        for message in check(args.resource_type, plain(args.props), ctx):
            report_violation(message, None)

    return validate


def _stack_validator(defn: PolicyDef) -> Any:
    check = defn.stack_check
    assert check is not None

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            {
                "type": r.resource_type,
                "props": plain(r.props),
                "urn": r.urn,
                "name": r.name,
                "provider": plain(r.provider.props) if r.provider is not None else {},
            }
            for r in args.resources
        ]
        for finding in check(resources, _config(defn, args.get_config())):
            report_violation(finding.message, finding.urn)

    return validate


def to_policy(defn: PolicyDef) -> Policy:
    schema = PolicyConfigSchema(properties={k: dict(v) for k, v in defn.config.items()}) if defn.config else None
    common: dict[str, Any] = {
        "name": defn.name,
        "description": defn.description,
        "enforcement_level": _LEVELS[defn.level],
        "config_schema": schema,
        "severity": _SEVERITIES[defn.severity],
        "tags": [defn.platform],
    }
    if defn.is_stack:
        return StackValidationPolicy(validate=_stack_validator(defn), **common)
    return ResourceValidationPolicy(validate=_resource_validator(defn), **common)


def build_policies() -> list[Policy]:
    """Every policy of the pack, in registry order."""
    return [to_policy(defn) for defn in POLICIES]
