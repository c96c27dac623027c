"""The component provider's schema: generated from the pydantic specs, checked in as a golden file.

Regenerate after a deliberate change to a spec, a component's docs or its outputs:
    .venv/bin/python -m immutable_infra.provider --schema > tests/provider/golden/schema.json
"""

from __future__ import annotations

import json
import pathlib
import typing

import pytest
from immutable_infra import ContainerServiceSpec
from immutable_infra.aws import ServerGroupSpec
from immutable_infra.provider import schema
from immutable_infra.provider.catalog import FACADES
from immutable_infra.provider.facades import facade_source
from immutable_infra.source_docs import attribute_docs
from pydantic import BaseModel

GOLDEN = pathlib.Path(__file__).parent / "golden" / "schema.json"
REGENERATE = ".venv/bin/python -m immutable_infra.provider --schema > tests/provider/golden/schema.json"


@pytest.fixture(scope="module")
def served() -> dict[str, typing.Any]:
    return schema()


def test_schema_matches_golden_file(served: dict[str, typing.Any]) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert served == golden, f"the provider's schema drifted from {GOLDEN.name}; if intended, run: {REGENERATE}"


def test_every_component_is_served(served: dict[str, typing.Any]) -> None:
    assert sorted(served["resources"]) == sorted(f"immutable:index:{n}" for n in (
        "ContainerService", "ServiceNamespace", "ServerGroup", "DockerContainerService", "StackNetwork"))
    assert all(r["isComponent"] for r in served["resources"].values())


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


@pytest.mark.parametrize("model, type_name", [(ContainerServiceSpec, "ContainerServiceSpec"),
                                               (ServerGroupSpec, "ServerGroupSpec")])
def test_every_spec_field_is_in_the_schema_with_its_docs(served: dict[str, typing.Any], model: type[BaseModel],
                                                          type_name: str) -> None:
    """One source of truth: every field of the model (and of nested models) is in the schema, required
    exactly when the model requires it, and described by the model's own field docs."""
    checked = 0
    todo: list[tuple[type[BaseModel], str]] = [(model, type_name)]
    seen: set[str] = set()
    while todo:
        current, name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        entry = served["types"][f"immutable:index:{name}"]
        docs = attribute_docs(current)
        assert set(entry["properties"]) == {_camel(f) for f in current.model_fields}, name
        assert set(entry.get("required", [])) == {_camel(f) for f, i in current.model_fields.items() if i.is_required()}
        for field, info in current.model_fields.items():
            prop = entry["properties"][_camel(field)]
            if docs.get(field):
                assert prop["description"].startswith(docs[field]), (name, field)
                checked += 1
            ref = prop.get("$ref") or prop.get("items", {}).get("$ref") or ""
            nested = [a for a in (*typing.get_args(info.annotation), info.annotation)
                      if isinstance(a, type) and issubclass(a, BaseModel)]
            if ref and nested:
                todo.append((nested[0], ref.rsplit(":", 1)[-1]))
    assert checked > 10


def test_types_the_analyzer_rejects_are_mapped_and_documented(served: dict[str, typing.Any]) -> None:
    spec = served["types"]["immutable:index:ContainerServiceSpec"]["properties"]
    # Literal -> string documenting the allowed values
    assert spec["strategy"]["type"] == "string"
    assert "`rolling`, `blue-green`" in spec["strategy"]["description"]
    # Annotated[int, Field(ge, le)] -> integer with the range in the docs
    assert spec["replicas"]["type"] == "integer" and "at most 1000" in spec["replicas"]["description"]
    # Port | DnsLabel -> the widest type (pydantic still parses "8080" as a port)
    http_get = served["types"]["immutable:index:HttpGet"]["properties"]
    assert http_get["port"]["type"] == "string"
    # SecretStr -> an Input (not plain): a secret Output can be passed
    secret = served["types"]["immutable:index:SecretFile"]["properties"]["value"]
    assert secret["type"] == "string" and "plain" not in secret
    # Fields left out of the release id say so.
    assert "not part of the release id (scale)" in spec["replicas"]["description"]


def test_clashing_type_names_are_prefixed(served: dict[str, typing.Any]) -> None:
    assert "immutable:index:Network" in served["types"]           # ContainerServiceSpec.network
    assert "immutable:index:ServerGroupNetwork" in served["types"]  # ServerGroupSpec.network


def test_facade_source_is_deterministic_and_has_no_rejected_constructs() -> None:
    source = facade_source(FACADES)
    assert source == facade_source(FACADES)
    for rejected in ("Literal[", "Annotated[", "Union[", "int | str", "str | int"):
        assert rejected not in source
    compile(source, "<facades>", "exec", dont_inherit=True)


def test_every_property_of_the_served_schema_is_documented(served: dict[str, typing.Any]) -> None:
    """Every input and output property of every resource and type says what it is (the YAML user's
    only reference): none left without a description."""
    undocumented = [f"{token}.{section}.{name}"
                    for token, spec in {**served["resources"], **served["types"]}.items()
                    for section in ("inputProperties", "properties")
                    for name, prop in (spec.get(section) or {}).items() if not str(prop.get("description", "")).strip()]
    assert undocumented == []
    assert sum(len(spec.get(s) or {}) for spec in {**served["resources"], **served["types"]}.values()
               for s in ("inputProperties", "properties")) >= 250
