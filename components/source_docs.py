"""Annotated attributes and the docstrings written under them, read from a class's source.

Python keeps no docstring for an attribute. The convention (PEP 257's "attribute docstrings",
which pydantic and Sphinx read too) is a string literal right under the annotation, so the only
place to find it is the class's source. The provider's schema (``provider/facades.py``,
``provider/catalog.py``) and the API tables of docs/reference.md (``scripts/gen_api.py``) read it here.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass

__all__ = ["Attribute", "attribute_docs", "own_attributes"]


@dataclass(frozen=True)
class Attribute:
    name: str
    annotation: str
    """As written in the source (``pulumi.Output[str]``), not as evaluated."""
    doc: str
    """The string literal under it, cleaned (``inspect.cleandoc``); empty when there is none."""

    @property
    def summary(self) -> str:
        """The doc's first sentence on one line (empty when there is no doc)."""
        text = " ".join(self.doc.split())
        return text.split(". ")[0].rstrip(".") + "." if text else ""


def own_attributes(klass: type) -> list[Attribute]:
    """The annotated attributes ``klass`` itself declares (not its bases'), in source order.
    A class without readable source (built-in, made by ``exec`` without ``linecache``) has none."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
    except (OSError, TypeError, SyntaxError):
        return []
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    out: list[Attribute] = []
    for node, after in zip(body, [*body[1:], None], strict=True):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        doc = ""
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            doc = inspect.cleandoc(after.value.value)
        out.append(Attribute(node.target.id, ast.unparse(node.annotation), doc))
    return out


def attribute_docs(cls: type) -> dict[str, str]:
    """Attribute name -> its doc, over ``cls`` and its bases (a subclass's doc wins); the
    library classes (pydantic's, typing's, Pulumi's) are not read."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass.__module__.startswith(("pydantic", "typing", "pulumi")):
            continue
        docs.update((a.name, a.doc) for a in own_attributes(klass) if a.doc)
    return docs
