"""Import usage events from our own CSV layout: one UsageEvent per row, columns named as its fields.

Header (required, any column order): id, user, model, input_tokens, output_tokens,
cached_input_tokens, use_case, project, template_id, conversation_id, timestamp,
prompt_fingerprint. The columns of required fields (REQUIRED_COLUMNS) must be there, the others
may be left out; unknown columns are ignored. A header without a required column yields one
error on its line naming the missing columns, and nothing else is read.

Cells: empty means absent; token cells must be digits only (no sign, decimals or exponent);
timestamp is ISO-8601 with an offset or digits for epoch seconds. Every other rule is the one of
`ingest.events.parse_usage_event`.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from ingest.formats.csv_records import CsvHeader, CsvProblem, iter_csv_records
from ingest.formats.rows import ImportRow, error_row, usage_row

COLUMNS = (
    "id",
    "user",
    "model",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "use_case",
    "project",
    "template_id",
    "conversation_id",
    "timestamp",
    "prompt_fingerprint",
)
REQUIRED_COLUMNS = ("id", "user", "model", "input_tokens", "output_tokens", "timestamp")
_NUMERIC_COLUMNS = ("input_tokens", "output_tokens", "cached_input_tokens", "timestamp")
_KNOWN = frozenset(COLUMNS)


def read(stream: BinaryIO, *, now: datetime) -> Iterator[ImportRow]:
    """One ImportRow per data row of a usage CSV."""
    for record in iter_csv_records(stream):
        if isinstance(record, CsvProblem):
            yield error_row(record.line, "file", record.reason)
        elif isinstance(record, CsvHeader):
            absent = [name for name in REQUIRED_COLUMNS if name not in record.columns]
            if absent:
                yield error_row(
                    record.line, "header", "is missing required columns: " + ", ".join(absent)
                )
                return
        else:
            raw: dict[str, object] = {
                name: cell for name, cell in record.cells.items() if name in _KNOWN
            }
            for name in _NUMERIC_COLUMNS:
                cell = raw.get(name)
                # str.isdigit alone would take other scripts' digits (and "²")
                if isinstance(cell, str) and cell.isascii() and cell.isdigit():
                    raw[name] = int(cell)
            yield usage_row(record.line, raw, now=now)
