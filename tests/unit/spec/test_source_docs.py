"""Attribute docstrings read from source: what the provider's schema and the README's API tables show."""

from __future__ import annotations

from immutable_infra.source_docs import Attribute, attribute_docs, own_attributes
from pydantic import BaseModel


class _Base(BaseModel):
    port: int = 80
    """The port.

    Second paragraph, not in the summary."""
    host: str = "x"
    """Inherited doc. More words."""


class _Child(_Base):
    host: str = "y"
    """Child's own doc. Overrides the base's."""
    undocumented: int = 0

    def method(self) -> int:  # not an annotated attribute
        return 3


def test_own_attributes_reads_the_class_itself_in_source_order_with_annotations_as_written() -> None:
    assert own_attributes(_Child) == [
        Attribute("host", "str", "Child's own doc. Overrides the base's."),
        Attribute("undocumented", "int", ""),
    ]
    assert [a.name for a in own_attributes(_Base)] == ["port", "host"]


def test_summary_is_the_first_sentence_on_one_line_and_empty_without_a_doc() -> None:
    port, host = own_attributes(_Base)
    assert port.summary == "The port."
    assert host.summary == "Inherited doc."
    assert own_attributes(_Child)[1].summary == ""


def test_attribute_docs_walk_the_bases_and_the_subclass_wins() -> None:
    assert attribute_docs(_Child) == {"port": "The port.\n\nSecond paragraph, not in the summary.",
                                      "host": "Child's own doc. Overrides the base's."}


def test_a_class_without_source_has_no_attributes() -> None:
    made = type("Made", (), {"__annotations__": {"x": "int"}})
    assert own_attributes(made) == [] and own_attributes(int) == []
