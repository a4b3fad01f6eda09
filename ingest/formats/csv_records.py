"""Stream the rows of a CSV export as {column: cell} records, with the line each row starts on.

Invariants:
- the first row is the header; column names are stripped of surrounding whitespace, and when a
  name repeats the first column of that name wins;
- cells are stripped; empty cells are left out of the record (an empty cell means "absent"),
  and so are cells past the header's width;
- blank lines are skipped; line numbers count physical lines, so a row whose quoted cell spans
  lines is reported on the line it starts on;
- reading streams through csv over io.TextIOWrapper (UTF-8, a leading BOM is ignored): memory is
  bounded by one row. A cell may hold up to MAX_CELL_CHARACTERS (the csv module's process-wide
  field limit is raised to that, never lowered).
- a file that is not valid CSV (bad quoting) yields one problem on the line where parsing broke,
  and reading stops there; a row that is not valid UTF-8 yields a problem for its line, and
  reading goes on.
"""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAX_CELL_CHARACTERS = 16 * 1024 * 1024

# Bytes that are not UTF-8 decode to lone surrogates under errors="surrogateescape".
_UNDECODABLE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True, slots=True)
class CsvHeader:
    line: int
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CsvRecord:
    line: int
    cells: dict[str, str]


@dataclass(frozen=True, slots=True)
class CsvProblem:
    """The file could not be read as CSV at `line`; `reason` completes "file ..."."""

    line: int
    reason: str


def iter_csv_records(stream: BinaryIO) -> Iterator[CsvHeader | CsvRecord | CsvProblem]:
    """The header first, then one record per data row, and problems where rows are broken."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_CELL_CHARACTERS))
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        reader = csv.reader(text, strict=True)
        columns: list[tuple[int, str]] | None = None
        while True:
            start_line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield CsvProblem(reader.line_num, f"is not valid CSV: {error}")
                return
            joined = "".join(row)  # one string to test instead of each cell
            if not joined or joined.isspace():
                continue
            if columns is None:
                names = [name.strip() for name in row]
                columns = [
                    (position, name)
                    for position, name in enumerate(names)
                    if name and name not in names[:position]
                ]
                yield CsvHeader(start_line, tuple(name for _, name in columns))
                continue
            if not joined.isascii() and _UNDECODABLE.search(joined):
                yield CsvProblem(start_line, "is not valid UTF-8 text")
                continue
            width = len(row)
            yield CsvRecord(
                start_line,
                {
                    name: cell
                    for position, name in columns
                    if position < width and (cell := row[position].strip())
                },
            )
    finally:
        text.detach()
