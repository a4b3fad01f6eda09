"""Import a provider or gateway export file into the ledger: all-or-nothing, streamed, once.

Two passes over the file, both streamed through `ingest.formats`:
1. validation: every row is parsed and checked (also against what the columns can hold); the
   problems are counted, and the first MAX_REPORTED_PROBLEMS kept with their line numbers;
2. import, only when the file had no problem (or `skip_invalid` is set): valid rows are stored
   in chunks of `chunk_rows`, one unit of work per chunk, through `record_usage` and
   `record_outcomes`.
So a file with a bad row stores nothing, and memory stays flat whatever the file size (one chunk
plus the bounded problem list). Ids are deterministic (the readers derive them from record
contents), so re-importing a file, or resuming one that stopped half-way, counts nothing twice.

The clock is not read here: `now` bounds timestamps and stamps what is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    progress: Progress | None = None,
) -> ImportSummary:
    """Validate the whole file, then import it (see the module docstring).

    `open_stream` opens the file afresh for each pass (binary). Raises ValueError for an
    unknown format before reading anything.
    """
    summary = ImportSummary(format=fmt)
    with open_stream() as stream:
        for count, (_row, problems) in enumerate(checked_rows(read_file(fmt, stream, now)), 1):
            summary.rows += 1
            if problems:
                summary.rejected += 1
                summary.problems_total += len(problems)
                room = MAX_REPORTED_PROBLEMS - len(summary.problems)
                summary.problems.extend(problems[: max(room, 0)])
            if progress and count % PROGRESS_EVERY_ROWS == 0:
                progress("validating", _position(stream))
        if progress:
            progress("validating", _position(stream))
    if summary.rejected and not skip_invalid:
        return summary

    summary.stored = True
    usage: list[UsageEvent] = []
    outcomes: list[OutcomeEvent] = []
    with open_stream() as stream:
        for count, (row, problems) in enumerate(checked_rows(read_file(fmt, stream, now)), 1):
            if problems:
                continue
            if row.usage is not None:
                usage.append(row.usage)
            elif row.outcome is not None:
                outcomes.append(row.outcome)
            if len(usage) + len(outcomes) >= chunk_rows:
                _store(db, policy, usage, outcomes, now, summary)
                usage, outcomes = [], []
            if progress and count % PROGRESS_EVERY_ROWS == 0:
                progress("importing", _position(stream))
        _store(db, policy, usage, outcomes, now, summary)
        if progress:
            progress("importing", _position(stream))
    return summary


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
