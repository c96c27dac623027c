"""Generate docs/reference.md's public API tables (constructor, args type, outputs) from the code.

    python scripts/gen_api.py          # rewrite docs/reference.md between the markers
    python scripts/gen_api.py --check  # exit 1 when docs/reference.md is out of date

The args rows come from each component's args ``TypedDict`` and the output rows from the
``pulumi.Output`` annotations of the component class and its outputs base class, each with the docstring written under
it (first sentence), so documenting a new arg or output in the code is what updates the reference.
"""

from __future__ import annotations

import ast
import inspect
import sys
import typing
from typing import Any

from doc_section import sync_section
from immutable_infra.aws import ServerGroup, ServerGroupArgs
from immutable_infra.docker import DockerContainerService, DockerContainerServiceArgs, StackNetwork, StackNetworkArgs
from immutable_infra.kubernetes import ContainerService, ContainerServiceArgs, ServiceNamespace, ServiceNamespaceArgs
from immutable_infra.outputs import output_classes
from immutable_infra.source_docs import own_attributes

BEGIN, END = "<!-- BEGIN GENERATED API -->", "<!-- END GENERATED API -->"

COMPONENTS: list[tuple[str, type, Any]] = [
    ("immutable_infra.kubernetes", ContainerService, ContainerServiceArgs),
    ("immutable_infra.kubernetes", ServiceNamespace, ServiceNamespaceArgs),
    ("immutable_infra.docker", DockerContainerService, DockerContainerServiceArgs),
    ("immutable_infra.docker", StackNetwork, StackNetworkArgs),
    ("immutable_infra.aws", ServerGroup, ServerGroupArgs),
]


def annotated_fields(klass: type) -> list[tuple[str, str, str]]:
    """``(name, annotation as written, first sentence of its docstring)`` in source order."""
    return [(a.name, a.annotation, a.summary) for a in own_attributes(klass)]


def typed_dict_fields(args: Any) -> list[tuple[str, str, str]]:
    """The fields of a TypedDict and of its TypedDict bases (the required part is a base), bases first."""
    rows: list[tuple[str, str, str]] = []
    node = ast.parse(inspect.getsource(args)).body[0]
    assert isinstance(node, ast.ClassDef)
    module = sys.modules[args.__module__]
    for base in node.bases:  # TypedDict keeps no bases at run time: read them from the source
        klass = getattr(module, base.id, None) if isinstance(base, ast.Name) else None
        if klass is not None and typing.is_typeddict(klass):
            rows += typed_dict_fields(klass)
    return rows + annotated_fields(args)


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def section(module: str, component: type, args: Any) -> list[str]:
    required = getattr(args, "__required_keys__", frozenset())
    out = [f"#### `{component.__name__}` (`{module}`)", "",
           f"`{component.__name__}(name: str, args: {args.__name__}, *, opts: pulumi.ResourceOptions | None = None)`"
           f" · type token `{component.TYPE_TOKEN}`", "",  # type: ignore[attr-defined]
           (inspect.getdoc(component) or "").split("\n")[0], "",
           f"| `{args.__name__}` key | type | required | description |", "|---|---|---|---|"]
    for name, annotation, doc in typed_dict_fields(args):
        out.append(f"| `{name}` | `{cell(annotation)}` | {'yes' if name in required else 'no'} | {cell(doc)} |")
    out += ["", "| output | type | description |", "|---|---|---|"]
    for name, annotation, doc in (row for klass in output_classes(component) for row in annotated_fields(klass)):
        if annotation.startswith("pulumi.Output["):
            out.append(f"| `{name}` | `{cell(annotation)}` | {cell(doc)} |")
    out.append("")
    return out


def generate() -> str:
    out = [BEGIN, "", "_Generated from the code by `scripts/gen_api.py`; a test fails when it drifts._", ""]
    for module, component, args in COMPONENTS:
        assert typing.is_typeddict(args), args
        out += section(module, component, args)
    out.append(END)
    return "\n".join(out)


def main() -> int:
    return sync_section(BEGIN, END, generate(), "public API", "scripts/gen_api.py")


if __name__ == "__main__":
    raise SystemExit(main())
