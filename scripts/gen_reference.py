"""Generate docs/reference.md's spec reference tables from the pydantic models.

    python scripts/gen_reference.py          # rewrite docs/reference.md between the markers
    python scripts/gen_reference.py --check  # exit 1 when docs/reference.md is out of date
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

from doc_section import sync_section
from immutable_infra import ContainerServiceSpec
from immutable_infra.aws import ServerGroupSpec
from immutable_infra.environment import EnvironmentConfig
from immutable_infra.fields import NotInRelease
from immutable_infra.source_docs import attribute_docs
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

BEGIN, END = "<!-- BEGIN GENERATED REFERENCE -->", "<!-- END GENERATED REFERENCE -->"


def field_docs(model: type[BaseModel]) -> dict[str, str]:
    """Each field's attribute docstring, on one line."""
    return {name: " ".join(doc.split()) for name, doc in attribute_docs(model).items()}


def type_name(annotation: Any) -> str:
    """A readable type: Annotated metadata dropped, unions as ``a | b``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        return "`" + (repr(value) if not isinstance(value, BaseModel) else "{}") + "`"
    return f"`{field.default!r}`" if field.default is not PydanticUndefined else ""


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    """The models a field holds (directly, in a list/dict, or in a union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += nested_models(arg)
    return list(dict.fromkeys(found))


def release_context(roots: list[tuple[type[BaseModel], str]]) -> dict[type[BaseModel], set[str]]:
    """For every model, how its fields reach a release id: ``yes``, or ``no (<why>)`` inherited
    from the field that holds it (``Scaling`` sits under ``scaling``, a scale knob)."""
    contexts: dict[type[BaseModel], set[str]] = {}
    todo = list(roots)
    while todo:
        model, context = todo.pop()
        if context in contexts.setdefault(model, set()):
            continue
        contexts[model].add(context)
        for field in model.model_fields.values():
            marker = next((m for m in field.metadata if isinstance(m, NotInRelease)), None)
            inner_context = context if context != "yes" or marker is None else f"no ({marker.kind})"
            todo += [(inner, inner_context) for inner in nested_models(field.annotation)]
    return contexts


def in_release(field: Any, contexts: set[str]) -> str:
    marker = next((m for m in field.metadata if isinstance(m, NotInRelease)), None)
    if "yes" not in contexts:
        return ", ".join(sorted(contexts))
    if marker is not None:
        return f"no ({marker.kind})"
    return "yes" if contexts == {"yes"} else "yes, where part of a release"


def table(model: type[BaseModel], title: str, seen: set[type[BaseModel]], out: list[str],
          contexts: dict[type[BaseModel], set[str]]) -> None:
    if model in seen:
        return
    seen.add(model)
    docs = field_docs(model)
    out += [f"#### {title}", "", (inspect.getdoc(model) or "").split("\n\n")[0], "",
            "| field | type | default | in release id | description |", "|---|---|---|---|---|"]
    nested: list[type[BaseModel]] = []
    for name, field in model.model_fields.items():
        where = in_release(field, contexts.get(model, {"yes"}))
        out.append(f"| `{name}` | {type_name(field.annotation)} | {default(field)} | {where} | {docs.get(name, '')} |")
        nested += nested_models(field.annotation)
    out.append("")
    for inner in nested:
        table(inner, f"`{inner.__name__}`", seen, out, contexts)


ROOTS: list[tuple[type[BaseModel], str]] = [
    (ContainerServiceSpec, "yes"), (EnvironmentConfig, "no (environment config)"), (ServerGroupSpec, "yes")]


def missing_descriptions() -> list[str]:
    """``Model.field`` for every field without a description (a test keeps this empty)."""
    contexts = release_context(ROOTS)
    return sorted(f"{model.__name__}.{name}" for model in contexts for name in model.model_fields
                  if not field_docs(model).get(name))


def generate() -> str:
    out: list[str] = [BEGIN, "", "_Generated from the models by `scripts/gen_reference.py`; a test fails when it drifts._", ""]
    seen: set[type[BaseModel]] = set()
    contexts = release_context(ROOTS)
    table(ContainerServiceSpec, "`ContainerServiceSpec` (Kubernetes and Docker)", seen, out, contexts)
    table(EnvironmentConfig, "`EnvironmentConfig` (`immutable:environment` in `Pulumi.<env>.yaml`)", seen, out, contexts)
    table(ServerGroupSpec, "`ServerGroupSpec` (AWS)", seen, out, contexts)
    out.append(END)
    return "\n".join(out)


def main() -> int:
    return sync_section(BEGIN, END, generate(), "reference", "scripts/gen_reference.py")


if __name__ == "__main__":
    raise SystemExit(main())
