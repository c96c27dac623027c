"""Generate the README's spec reference tables from the pydantic models.

    python scripts/gen_reference.py          # rewrite README.md between the markers
    python scripts/gen_reference.py --check  # exit 1 when README.md is out of date
"""

from __future__ import annotations

import ast
import inspect
import itertools
import pathlib
import sys
import types
import typing
from typing import Any

from immutable_infra import ContainerServiceSpec
from immutable_infra.aws import ServerGroupSpec
from immutable_infra.environment import EnvironmentConfig
from immutable_infra.fields import NotInRelease
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = pathlib.Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BEGIN GENERATED REFERENCE -->", "<!-- END GENERATED REFERENCE -->"


def field_docs(model: type[BaseModel]) -> dict[str, str]:
    """Attribute docstrings (the string right after a field), first line only."""
    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
            continue
        try:
            tree = ast.parse(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in itertools.pairwise(body):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr) \
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


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


def table(model: type[BaseModel], title: str, seen: set[type[BaseModel]], out: list[str]) -> None:
    if model in seen:
        return
    seen.add(model)
    docs = field_docs(model)
    out += [f"#### {title}", "", (inspect.getdoc(model) or "").split("\n\n")[0], "",
            "| field | type | default | in release id | description |", "|---|---|---|---|---|"]
    nested: list[type[BaseModel]] = []
    for name, field in model.model_fields.items():
        marker = next((m for m in field.metadata if isinstance(m, NotInRelease)), None)
        in_release = "no (" + marker.kind + ")" if marker else "yes"
        out.append(f"| `{name}` | {type_name(field.annotation)} | {default(field)} | {in_release} | {docs.get(name, '')} |")
        for arg in [field.annotation, *typing.get_args(field.annotation)]:
            for inner in [arg, *typing.get_args(arg)]:
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    nested.append(inner)
    out.append("")
    for inner in nested:
        table(inner, f"`{inner.__name__}`", seen, out)


def generate() -> str:
    out: list[str] = [BEGIN, "", "_Generated from the models by `scripts/gen_reference.py`; a test fails when it drifts._", ""]
    seen: set[type[BaseModel]] = set()
    table(ContainerServiceSpec, "`ContainerServiceSpec` (Kubernetes and Docker)", seen, out)
    table(EnvironmentConfig, "`EnvironmentConfig` (`immutable:environment` in `Pulumi.<env>.yaml`)", seen, out)
    table(ServerGroupSpec, "`ServerGroupSpec` (AWS)", seen, out)
    out.append(END)
    return "\n".join(out)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + generate() + text[stop:]
    if "--check" in sys.argv:
        if new != text:
            print("README.md reference is out of date: run python scripts/gen_reference.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
