"""``pulumi.Input`` values inside specs, and the one rule for where they are allowed.

The rule: a value may be a ``pulumi.Output`` wherever the release id does not depend on
it, because the release id names the children and so must be known when the component
registers. Allowed (see ``OUTPUT_FIELDS``):

- routing values, which are not part of a release: the ingress ``hostname`` and
  ``tls_secret``, and the namespace (given as ``args["namespace"]``);
- a secret's ``value``, provided its ``version`` label is set (the label then stands for
  the value in the release id: ``require_secret`` values stay secret end to end);
- an external endpoint's ``url``, provided its ``version`` label is set (as for a secret: the
  label stands for the value in the release id, so a new endpoint with a new version is a new
  release). The value itself is only known at deployment: a new value under the *same*
  version would change the running release's pods in place, which ``immutable-ops guard``
  refuses (``release-patched``, exit 4) on the preview before the update.

Refused with a clear error: an Output image (the release id *is* the image digest's
hash: build and push first, then pass the digest as a string) and an Output anywhere else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidatorFunctionWrapHandler, WrapValidator

from .errors import Problem, format_path
from .fields import Spec, invalid

# Dotted spec paths (list indices as ``[]``) where a ``pulumi.Output`` is accepted.
OUTPUT_FIELDS: frozenset[str] = frozenset({
    "secrets[].value",
    "expose.ingress.hostname",
    "expose.ingress.tls_secret",
    "state.endpoints[].url",
})


if TYPE_CHECKING:
    import pulumi


def is_output(value: Any) -> bool:
    """Whether ``value`` is a ``pulumi.Output``. Without the SDK imported nothing can be one: the
    library's pure parts (specs, the ops CLI) do not pay for importing Pulumi."""
    sdk = sys.modules.get("pulumi")
    return sdk is not None and isinstance(value, sdk.Output)


def _outputs_pass(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """An Output is taken as is (its value is only known later); anything else is validated."""
    return value if is_output(value) else handler(value)


OutputAllowed = WrapValidator(_outputs_pass)
"""Put into a field's ``Annotated`` metadata: the field then also takes a ``pulumi.Output``."""


def _image_not_output(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    if is_output(value):
        raise invalid(
            "the image is a pulumi.Output: the release id is the hash of the image digest and names every "
            "child, so it must be known when the component registers",
            "build and push the image in an earlier step (or stack), then pass its repo@sha256:<digest> as a "
            "string (the stack's ledger or config)")
    return handler(value)


ImageNotOutput = WrapValidator(_image_not_output)


def output_problems(data: Any, *, allowed: frozenset[str] = OUTPUT_FIELDS, prefix: str = "") -> list[Problem]:
    """Every ``pulumi.Output`` found in a spec mapping outside ``allowed`` (the image has its own message)."""
    problems: list[Problem] = []

    def walk(value: Any, loc: tuple[str | int, ...]) -> None:
        if is_output(value):
            shape = ".".join(p if isinstance(p, str) else "[]" for p in loc).replace(".[]", "[]")
            if shape not in allowed and shape != "image":
                problems.append(Problem(
                    format_path(loc, prefix), "a pulumi.Output",
                    "a pulumi.Output is not accepted here: this value is part of the release id, which names the "
                    "children and must be known when the component registers",
                    "pass a plain value; Outputs are accepted in " + ", ".join(sorted(allowed))))
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, (*loc, str(key)))
        elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            for index, item in enumerate(value):
                walk(item, (*loc, index))

    if isinstance(data, Mapping):
        walk(data, ())
    return problems


def args_model(component: str, fields: Mapping[str, Any]) -> type[Spec]:
    """A spec model of an args object's plain values (``namespace``, flags, AWS ids): the same
    types, rules and messages as spec fields. Put ``OutputAllowed`` into a type (or its items)
    where an Output is accepted."""
    from pydantic import create_model

    model: type[Spec] = create_model(  # type: ignore[call-overload]
        f"{component}Args", __base__=Spec, **{name: (type_ | None, None) for name, type_ in fields.items()})
    return model


def args_problems(model: type[Spec], args: Mapping[str, Any]) -> list[Problem]:
    """Every problem of the args object's values validated as ``model``, each at its key (the
    user's entry point: ``namespace``, ``subnet_ids[1]``). A key left out or ``None`` is not
    given; keys the model does not know are left to the component."""
    from .errors import SpecError, validate_spec

    given = {k: v for k, v in args.items() if k in model.model_fields and v is not None}
    try:
        validate_spec(model, given)
    except SpecError as error:
        return list(error.problems)
    return []


def secret_output(value: Any) -> pulumi.Output[str]:
    """A secret value (``SecretStr`` or ``Output``) as a Pulumi secret Output."""
    import pulumi

    if is_output(value):
        return pulumi.Output.secret(value)
    return pulumi.Output.secret(value.get_secret_value())


def take_previous(args: Mapping[str, Any]) -> list[Any]:
    """``args["previous"]``: the previous releases' specs, newest first."""
    return list(args.get("previous") or ())


def unknown_args(subject: str, args: Mapping[str, Any], known: Callable[[], Sequence[str]]) -> None:
    extra = sorted(set(args) - set(known()))
    if extra:
        raise TypeError(f"{subject}: unknown args {extra}; known: {sorted(known())}")


def normalize_args(subject: str, args: Any) -> dict[str, Any]:
    """The args mapping of the one constructor shape ``Component(name, args, *, opts=None)``.

    Anything else (the spec itself, which 0.1.0 still took with a ``DeprecationWarning``) is a
    ``TypeError`` that says what to pass instead (CHANGELOG.md, 0.2.0).
    """
    if not isinstance(args, Mapping):
        raise TypeError(f"{subject}: args must be the args object {{'spec': <spec>, ...}}, got {type(args).__name__} "
                        "(0.2.0 no longer takes the spec itself as second argument)")
    if "spec" not in args:
        raise TypeError(f"{subject}: the args object has no 'spec' (got keys {sorted(args)}); pass "
                        "{'spec': <spec>, ...} (0.2.0 no longer takes the spec itself as second argument)")
    return dict(args)
