"""Fixtures for the ingestion tests: a pinned `now` and readers for the sample import files.

The sample files in tests/fixtures/imports/ are shaped as the providers document their exports.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.formats import ImportRow, read_file

IMPORTS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "imports"
NOW = datetime(2025, 10, 1, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def imports_dir() -> Path:
    return IMPORTS_DIR


@pytest.fixture
def read_sample() -> Callable[[str, str], list[ImportRow]]:
    """Read a sample file from tests/fixtures/imports/ with a format reader, at NOW."""

    def read(fmt: str, file_name: str) -> list[ImportRow]:
        with (IMPORTS_DIR / file_name).open("rb") as stream:
            return list(read_file(fmt, stream, NOW))

    return read
