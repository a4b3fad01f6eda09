import io
from datetime import UTC, datetime

import pytest

from ingest.formats import FORMATS, ImportRow, read_file

NOW = datetime(2025, 10, 1, tzinfo=UTC)


def test_every_documented_format_has_a_reader() -> None:
    assert set(FORMATS) == {"openai", "anthropic", "claude-code", "litellm", "csv"}


def test_an_unknown_format_is_refused_with_the_known_ones_named() -> None:
    with pytest.raises(ValueError, match="unknown import format 'gemini'; expected one of openai"):
        read_file("gemini", io.BytesIO(b""), NOW)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_reader_raises_on_garbage_input(fmt: str) -> None:
    garbage = b'\x00\xff\xfe{["\n,,\n\x89PNG\r\n'

    rows = list(read_file(fmt, io.BytesIO(garbage), NOW))

    assert rows, "garbage must be reported, not silently ignored"
    assert all(isinstance(row, ImportRow) and row.errors for row in rows)


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "claude-code"])
@pytest.mark.parametrize("value", ['"just a string"', "42", "[1, 2]", '{"data": [null]}'])
def test_json_values_that_are_not_provider_records_are_errors(fmt: str, value: str) -> None:
    rows = list(read_file(fmt, io.BytesIO(value.encode()), NOW))

    assert rows and all(row.errors and row.usage is None for row in rows)
