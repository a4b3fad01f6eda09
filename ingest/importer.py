"""Import a provider or gateway export file into the ledger: all-or-nothing, streamed, once.

Two passes over the file, both streamed through `ingest.formats`:
1. validation: every row is parsed and checked (also against what the columns can hold); the
   problems are counted, and the first MAX_REPORTED_PROBLEMS kept with their line numbers;
2. import, only when the file had no problem (or `skip_invalid` is set): valid rows are stored
   in chunks of `chunk_rows`, one unit of work per chunk, through `record_usage` and
   `record_outcomes`.
So a file with a bad row stores nothing, and memory stays flat whatever the file size (one chunk
plus the bounded problem list). A file of at most KEEP_PARSED_ROWS valid rows is parsed once:
pass 1 keeps its rows and pass 2 stores them without reading the file again. Ids are deterministic (the readers derive them from record
contents), so re-importing a file, or resuming one that stopped half-way, counts nothing twice.

The clock is not read here: `now` bounds timestamps and stamps what is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from budgets.policy import Policy
from budgets.usage_ledger import record_usage
from ingest.events import FieldError, OutcomeEvent, UsageEvent
from ingest.formats import ImportRow, read_file
from ingest.store import outcome_storage_errors, record_outcomes, usage_storage_errors
from storage.database import Database, use_bulk_cache

CHUNK_ROWS = 5_000
KEEP_PARSED_ROWS = 100_000
"""Files with at most this many valid rows are parsed once: pass 1 keeps them (a few hundred
bytes each) and pass 2 stores them without reading the file again."""
MAX_REPORTED_PROBLEMS = 1_000
PROGRESS_EVERY_ROWS = 2_000

# Called with the pass ("validating" or "importing") and the bytes of the file read so far.
Progress = Callable[[str, int], None]


@dataclass
class ImportSummary:
    format: str
    rows: int = 0  # rows read (events and rejected records)
    rejected: int = 0  # rows with at least one problem
    problems: list[FieldError] = field(default_factory=list)  # the first MAX_REPORTED_PROBLEMS
    problems_total: int = 0
    stored: bool = False  # False when the file had problems and skip_invalid was not set
    transactions: int = 0  # one per chunk stored: what bounds the memory of the import pass
    recorded: int = 0
    duplicates: int = 0
    unattributed: int = 0
    overdraft: int = 0
    outcomes_recorded: int = 0
    outcome_duplicates: int = 0
    outcomes_unattributed: int = 0
    unknown_models: set[str] = field(default_factory=set)
    uncategorised_use_cases: set[str] = field(default_factory=set)
    unknown_projects: set[str] = field(default_factory=set)


def checked_rows(rows: Iterator[ImportRow]) -> Iterator[tuple[ImportRow, list[FieldError]]]:
    """Each row with all of its problems: the reader's and the storage limits' (what the import
    refuses; `tokenbot usage reconcile` leaves out the same rows)."""
    for row in rows:
        if row.errors:
            yield row, row.errors
        elif row.usage is not None:
            yield row, usage_storage_errors(row.usage, row.line)
        elif row.outcome is not None:
            yield row, outcome_storage_errors(row.outcome, row.line)
        else:
            yield row, []


def _position(stream: BinaryIO) -> int:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return 0


def import_file(
    db: Database,
    policy: Policy,
    fmt: str,
    open_stream: Callable[[], BinaryIO],
    now: datetime,
    *,
    skip_invalid: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    keep_parsed: int = KEEP_PARSED_ROWS,
    progress: Progress | None = None,
) -> ImportSummary:
    """Validate the whole file, then import it (see the module docstring).

    `open_stream` opens the file afresh for each pass (binary). Raises ValueError for an
    unknown format before reading anything.
    """
    summary = ImportSummary(format=fmt)
    # Pass 1 keeps the valid events it parsed while there are at most `keep_parsed` of them:
    # a file that small is then stored from them, without reading and parsing it again.
    kept: list[ImportRow] | None = []
    with open_stream() as stream:
        for count, (row, problems) in enumerate(checked_rows(read_file(fmt, stream, now)), 1):
            summary.rows += 1
            if kept is not None and not problems:
                kept.append(row)
                if len(kept) > keep_parsed:
                    kept = None
            if problems:
                summary.rejected += 1
                summary.problems_total += len(problems)
                room = MAX_REPORTED_PROBLEMS - len(summary.problems)
                summary.problems.extend(problems[: max(room, 0)])
            if progress and count % PROGRESS_EVERY_ROWS == 0:
                progress("validating", _position(stream))
        file_bytes = _position(stream)
        if progress:
            progress("validating", file_bytes)
    if summary.rejected and not skip_invalid:
        return summary

    summary.stored = True
    if kept is not None:  # parsed once: stored from pass 1's rows
        total = max(len(kept), 1)
        _import_rows(
            db, policy, kept, lambda n: file_bytes * n // total, now, summary, chunk_rows, progress
        )
        return summary
    with open_stream() as stream:
        valid = (row for row, problems in checked_rows(read_file(fmt, stream, now)) if not problems)
        _import_rows(
            db, policy, valid, lambda _n: _position(stream), now, summary, chunk_rows, progress
        )
    return summary


def _import_rows(
    db: Database,
    policy: Policy,
    rows: Iterable[ImportRow],
    position: Callable[[int], int],
    now: datetime,
    summary: ImportSummary,
    chunk_rows: int,
    progress: Progress | None,
) -> None:
    """Store valid rows in chunks of `chunk_rows`; `position(rows so far)` is the byte of the
    file reached, for progress."""
    usage: list[UsageEvent] = []
    outcomes: list[OutcomeEvent] = []
    count = 0
    for count, row in enumerate(rows, 1):
        if row.usage is not None:
            usage.append(row.usage)
        elif row.outcome is not None:
            outcomes.append(row.outcome)
        if len(usage) + len(outcomes) >= chunk_rows:
            _store(db, policy, usage, outcomes, now, summary)
            usage, outcomes = [], []
        if progress and count % PROGRESS_EVERY_ROWS == 0:
            progress("importing", position(count))
    _store(db, policy, usage, outcomes, now, summary)
    if progress:
        progress("importing", position(count))


def _store(
    db: Database,
    policy: Policy,
    usage: list[UsageEvent],
    outcomes: list[OutcomeEvent],
    now: datetime,
    summary: ImportSummary,
) -> None:
    if not usage and not outcomes:
        return
    with db.unit_of_work() as uow:
        use_bulk_cache(uow.session)
        used = record_usage(uow.session, usage, policy, now)
        done = record_outcomes(uow.session, outcomes, now)
        uow.commit()
    summary.transactions += 1
    summary.recorded += used.recorded
    summary.duplicates += used.duplicates
    summary.unattributed += used.unattributed
    summary.overdraft += used.overdraft
    summary.unknown_models |= used.unknown_models
    summary.uncategorised_use_cases |= used.uncategorised_use_cases
    summary.unknown_projects |= used.unknown_projects
    summary.outcomes_recorded += done.recorded
    summary.outcome_duplicates += done.duplicates
    summary.outcomes_unattributed += done.unattributed
