"""TypedDict facades of the pydantic specs, generated from the models (one source of truth).

The Python SDK's component provider infers the schema from type annotations, but its analyzer
rejects ``Literal``, ``Annotated`` and unions such as ``int | str``, and it reads a field's
description from the string literal under the field in the class *source*. So the facades
are generated as Python source from the models' fields, executed into an in-memory module,
and registered with ``linecache`` so ``inspect.getsource`` finds them. Mapping of types:

* ``Annotated[T, ...]`` -> ``T``; its constraints (range, length, pattern) go into the docs;
* ``Literal["a", "b"]`` -> ``str`` (or ``int``), documented "One of: ``a``, ``b``";
* ``X | None`` -> ``X`` under ``NotRequired``; other unions -> the widest accepted type
  (``int | str`` -> ``str``: pydantic still parses ``"8080"`` as a port);
* ``SecretStr`` -> ``pulumi.Input[str]`` (a secret from config stays a secret);
* a model -> its facade; a field with a default -> ``NotRequired``.

Validation stays in pydantic: the facades only shape the schema; the components receive
plain dicts and validate them as before.
"""

from __future__ import annotations

import inspect
import linecache
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ..fields import NotInRelease
from ..source_docs import attribute_docs

MODULE_NAME = "immutable_infra.provider._facades"
SOURCE_NAME = "<immutable_infra.provider facades (generated from the pydantic specs)>"


@dataclass(frozen=True)
class Arg:
    """One top-level argument of a component facade (a constructor parameter of the component)."""

    name: str
    annotation: Any
    doc: str
    required: bool = False


@dataclass(frozen=True)
class Output:
    name: str
    annotation: str
    """Source text of the output's type, e.g. ``list[str]`` (wrapped in ``pulumi.Output``)."""
    doc: str


@dataclass(frozen=True)
class FacadeSpec:
    """What the provider serves for one component: its name (the schema token's last part),
    the public class it wraps, its arguments and outputs, and how to call it."""

    name: str
    component: type
    args: Sequence[Arg]
    outputs: Sequence[Output]
    build: Callable[..., Any] = field(compare=False)
    type_prefix: str = ""
    """Prefix for nested type names that clash with another component's (``ServerGroup``)."""


# --- docs taken from the models' source ---------------------------------------------------------------


def param_docs(*callables: Any) -> dict[str, str]:
    """``:param name: text`` entries of the docstrings (class and ``__init__``)."""
    out: dict[str, str] = {}
    for obj in callables:
        doc = inspect.getdoc(obj) or ""
        for m in re.finditer(r"^:param (\w+):\s*(.*?)(?=^:param |^\S|\Z)", doc, re.M | re.S):
            out[m.group(1)] = " ".join(m.group(2).split())
    return out


def output_docs(cls: type) -> dict[str, str]:
    """Per-output text from the component's docstring: ``- ``x``: text`` bullets or ``x`` (text)."""
    doc = inspect.getdoc(cls) or ""
    out: dict[str, str] = {}
    for m in re.finditer(r"^\s*- ``(\w+)``:\s*(.*?)(?=^\s*- ``|\n\n|\Z)", doc, re.M | re.S):
        out.setdefault(m.group(1), " ".join(m.group(2).split()))
    for m in re.finditer(r"((?:``\w+``/?)+)\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)", doc):
        for name in re.findall(r"``(\w+)``", m.group(1)):
            out.setdefault(name, " ".join(m.group(2).split()))
    return out


def first_paragraph(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].strip()


def own_doc(cls: type) -> str:
    """The class's own docstring (not a base class's), whole."""
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


# --- types ---------------------------------------------------------------------------------------------


_CONSTRAINTS = (("ge", "at least {}"), ("gt", "more than {}"), ("le", "at most {}"), ("lt", "less than {}"),
                ("min_length", "at least {} long"), ("max_length", "at most {} long"), ("pattern", "matching `{}`"))


def _constraint_notes(metadata: Iterable[Any]) -> list[str]:
    """Readable constraints of a field (pydantic keeps them as annotated_types objects)."""
    notes: list[str] = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            notes += _constraint_notes(item.metadata)
        elif isinstance(item, NotInRelease):
            notes.append(f"not part of the release id ({item.kind})")
        else:
            for attr, text in _CONSTRAINTS:
                value = getattr(item, attr, None)
                if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                    notes.append(text.format(value))
    return notes


class _Writer:
    """Collects the facade classes (models first, then args, then components) as source text."""

    def __init__(self) -> None:
        self.names: dict[type, str] = {}
        self.blocks: list[str] = []
        self.taken: set[str] = set()

    def model(self, model: type[BaseModel], prefix: str) -> str:
        if model in self.names:
            return self.names[model]
        name = model.__name__
        if name in self.taken:
            name = prefix + name
        self.names[model] = name
        self.taken.add(name)
        docs = attribute_docs(model)
        lines = [f"class {name}(TypedDict):", *_docstring(own_doc(model) or f"``{model.__name__}`` settings.")]
        for fname, info in model.model_fields.items():
            type_src, notes = self.type_of(info.annotation, prefix)
            notes = _constraint_notes(info.metadata) + notes
            required = info.is_required()
            doc = docs.get(fname, "")
            if (not required and info.default is not PydanticUndefined and _plain_default(info.default)
                    and "default" not in doc.lower()):
                notes.append(f"default `{_show_default(info.default)}`")
            lines.append(f"    {fname}: {type_src if required else f'NotRequired[{type_src}]'}")
            lines += _docstring(_join(doc, notes))
        self.blocks.append("\n".join(lines))
        return name

    def type_of(self, annotation: Any, prefix: str) -> tuple[str, list[str]]:
        """(source text of the facade type, notes for the docs)."""
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            inner, notes = self.type_of(args[0], prefix)
            return inner, _constraint_notes(args[1:]) + notes
        if origin is Literal:
            kinds = {type(a) for a in args}
            base = "int" if kinds == {int} else "float" if kinds <= {int, float} else "str"
            return base, ["one of: " + ", ".join(f"`{a}`" for a in args)]
        if origin in (typing.Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            rendered = [self.type_of(a, prefix) for a in members]
            type_names = {t for t, _ in rendered}
            notes = [n for _, ns in rendered for n in ns]
            if len(type_names) == 1:
                return rendered[0][0], notes
            if type_names <= {"int", "str", "float"}:
                return "str", ["a number or a name" + (f" (as a number: {', '.join(notes)})" if notes else "")]
            return "Any", notes
        if origin in (list, Sequence, tuple) or annotation in (list, tuple):
            item, notes = self.type_of(args[0] if args else Any, prefix)
            return f"list[{item}]", notes
        if origin in (dict, Mapping):
            value, notes = self.type_of(args[1] if len(args) == 2 else Any, prefix)
            return f"dict[str, {value}]", notes
        if annotation is SecretStr:
            return "pulumi.Input[str]", ["kept secret: give a secret (e.g. from `require_secret`/secret config)"]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self.model(annotation, prefix), []
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return "str", ["one of: " + ", ".join(f"`{m.value}`" for m in annotation)]
        if annotation in (str, int, float, bool):
            return annotation.__name__, []
        return "Any", []


def _plain_default(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and not isinstance(value, Enum)


def _show_default(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _join(text: str, notes: Sequence[str]) -> str:
    extra = "; ".join(dict.fromkeys(notes))
    if not extra:
        return text
    return f"{text} ({extra})" if text else extra[0].upper() + extra[1:] + "."


def _docstring(text: str) -> list[str]:
    """The docstring line(s) under a field or class: none when there is nothing to say."""
    if not text:
        return []
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return [f'    """{text}"""']


# --- the module ----------------------------------------------------------------------------------------


def facade_source(facades: Sequence[FacadeSpec]) -> str:
    """Python source of the facade module for ``facades`` (deterministic)."""
    writer = _Writer()
    tail: list[str] = []
    for facade in facades:
        args_name = f"{facade.name}Args"
        lines = [f"class {args_name}(TypedDict):", *_docstring(f"Arguments of ``{facade.name}``.")]
        for arg in facade.args:
            type_src, notes = writer.type_of(arg.annotation, facade.type_prefix)
            lines.append(f"    {arg.name}: {type_src if arg.required else f'NotRequired[{type_src}]'}")
            lines += _docstring(_join(arg.doc, notes))
        tail.append("\n".join(lines))
        comp = [f"class {facade.name}(_FACADES[{facade.name!r}].component):",
                *_docstring(own_doc(facade.component))]
        for out in facade.outputs:
            comp.append(f"    {out.name}: pulumi.Output[{out.annotation}]")
            comp += _docstring(out.doc)
        comp += [
            "",
            f"    def __init__(self, name: str, args: {args_name}, opts: pulumi.ResourceOptions | None = None) -> None:",
            f"        _FACADES[{facade.name!r}].build(self, name, args, opts)",
        ]
        tail.append("\n".join(comp))
    # No `from __future__ import annotations`: the analyzer reads evaluated annotations.
    header = ('"""Generated by immutable_infra.provider.facades from the pydantic specs: do not edit."""\n\n'
              "from typing import Any, NotRequired, TypedDict\n\n"
              "import pulumi\n")
    return header + "\n\n" + "\n\n\n".join([*writer.blocks, *tail]) + "\n"


def load_facades(facades: Sequence[FacadeSpec]) -> types.ModuleType:
    """Execute the generated source as a module the analyzer can read the source of."""
    source = facade_source(facades)
    module = types.ModuleType(MODULE_NAME, "Component facades for the Pulumi component provider.")
    module.__file__ = SOURCE_NAME
    module.__dict__["_FACADES"] = {f.name: f for f in facades}
    # mtime None: linecache.checkcache keeps the entry although no such file exists on disk.
    linecache.cache[SOURCE_NAME] = (len(source), None, source.splitlines(True), SOURCE_NAME)
    sys.modules[MODULE_NAME] = module
    exec(compile(source, SOURCE_NAME, "exec", dont_inherit=True), module.__dict__)
    return module
