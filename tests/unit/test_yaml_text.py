"""components/yaml_text.py: strings that YAML 1.1 (PyYAML) and 1.2 (the Pulumi CLI) read
differently are quoted; others are written as PyYAML writes them. A release record's id and
the ledger's error for an id read as a number. (The CLI's side: tests/engine/test_yaml_text_engine.py.)"""

from __future__ import annotations

import pytest
import yaml
from immutable_infra import SpecError, yaml_text
from immutable_infra.errors import validate_spec
from immutable_infra.ledger import LedgerEntry


@pytest.mark.parametrize("value", ["34374e02", "1e5", "1E5", "1.5e3", "0o17", "0b101", "0x1F", "017", "12345678",
                                   "-1", "+2", "1_000", ".5", "5.", "+.inf", ".NaN"])
def test_a_string_a_yaml_1_2_reader_takes_for_a_number_is_quoted(value: str) -> None:
    text = yaml_text.dump({"k": value})
    assert text == f"k: '{value}'\n"
    assert yaml.safe_load(text) == {"k": value}


@pytest.mark.parametrize("value", ["3437e0a2", "ab12cd34", "1e", "e5", "web", "v1.2.3", "10.0.0.1", "api@v3"])
def test_other_strings_are_written_as_pyyaml_writes_them(value: str) -> None:
    assert yaml_text.dump({"k": value}) == yaml.safe_dump({"k": value})


def test_keys_and_nested_values_are_quoted_too() -> None:
    text = yaml_text.dump({"34374e02": {"release": "1e98715b", "ids": ["12345e67"]}})
    assert text.splitlines() == ["'34374e02':", "  release: 1e98715b", "  ids:", "  - '12345e67'"]


def test_a_release_record_keyed_by_an_exponent_like_id_quotes_it() -> None:
    from immutable_infra.records import _ReadableDumper
    text = yaml.dump({"34374e02": {"config": "a: 1\nb: 2\n"}}, Dumper=_ReadableDumper)
    assert text.startswith("'34374e02':")
    assert "config: |" in text  # multi-line values stay literal blocks


@pytest.mark.parametrize("number", [3437400.0, 12345678])
def test_a_ledger_release_id_read_as_a_number_says_to_quote_it(number: float) -> None:
    with pytest.raises(SpecError) as err:
        validate_spec(LedgerEntry, {"artifact": "registry.local/app@sha256:" + "a" * 64, "release": number})
    text = str(err.value)
    assert "release: the release id was read as a number" in text
    assert "quote the id" in text and f"got {number}" in text
