"""Readers for usage files exported by LLM providers and gateways, one module per format.

Every reader has the signature `read(stream: BinaryIO, *, now: datetime) -> Iterator[ImportRow]`
and shares these invariants:
- it streams: memory stays flat however large the file (records are read one at a time);
- it never raises on bad data: a malformed record yields an ImportRow whose errors carry the
  record's starting line number as index, and a file that is not valid JSON/CSV yields an error
  on the line where parsing broke;
- ids of provider aggregates are derived from their contents, so reading the same export twice
  yields the same ids (the store deduplicates them);
- whether one bad row rejects the whole file is the caller's decision.

FORMATS maps the names users pick ("openai", "anthropic", "claude-code", "litellm", "csv") to
readers; `read_file` dispatches by name.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO, Protocol

from ingest.formats import anthropic, claude_code, litellm, openai, usage_csv
from ingest.formats.rows import ImportRow

__all__ = ["FORMATS", "FormatReader", "ImportRow", "read_file"]


class FormatReader(Protocol):
    def __call__(self, stream: BinaryIO, *, now: datetime) -> Iterator[ImportRow]: ...


FORMATS: dict[str, FormatReader] = {
    "openai": openai.read,
    "anthropic": anthropic.read,
    "claude-code": claude_code.read,
    "litellm": litellm.read,
    "csv": usage_csv.read,
}


def read_file(fmt: str, stream: BinaryIO, now: datetime) -> Iterator[ImportRow]:
    """Rows of `stream` read as format `fmt`; ValueError names the known formats if it is unknown."""
    reader = FORMATS.get(fmt)
    if reader is None:
        raise ValueError(f"unknown import format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return reader(stream, now=now)
