"""Reconcile a provider or gateway export with the ledger, for finance: what the export has that
the ledger (usage_events) lacks, and what the ledger has from the same source over the same time
that the export lacks, per UTC day, person and model, in tokens and money. Nothing is written.

Ids make it exact. Every reader derives the ids `tokenbot import` stores (long ones through
`ingest.events.stored_id`, as the API does), so:
- an export usage row whose id is not stored is *missing from the ledger*: importing the file
  records exactly these rows;
- a stored usage row whose id starts with one of the export's source prefixes (the text before
  the first ':' of its ids: "openai:", "anthropic:", "claude-code:", "litellm:", ...), whose time
  lies within the export's span (its earliest to its latest timestamp, inclusive) and whose id is
  not in the export is *not in the export*. Ids without a ':' (e.g. a CSV of gateway ids) name no
  source; they are counted as `unsourced_ids` and the ledger side is compared for the others only.

Per line: the person is the directory's (an email) when the identity maps to one
(`budgets.usage_ledger.resolve_identities`, the rule record_usage applies), else the identity as sent
(unattributed); the model is the resolved name (`Policy.resolve_model`), as record_usage stores
it. Money: an export row is priced as record_usage would price it (the resolved model's price at
the call's time, `ModelPrice.cost_micros`); a stored row counts what is stored (its price as
recorded, or as repriced once its model became known). Usage at an unknown price counts 0 money
and is counted in `unknown_price_events`.

Rows the importer would reject (reader and storage problems) are counted, the first
MAX_REPORTED_PROBLEMS kept, and left out. Outcomes (Claude Code's tool actions) carry neither
tokens nor money and are not compared. A repeated id within the export counts once, as it is
imported once.

Memory stays flat: the export is read once in chunks, and its ids go to a temporary table of this
read's own connection (dropped with it; no table of the ledger is touched), against which the
stored side is compared in SQL and summed per (day, person, model).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import BinaryIO

from sqlalchemy import Column, MetaData, String, Table, case, exists, func, insert, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from budgets.policy import Policy
from budgets.usage_ledger import identity_key, resolve_identities
from ingest.events import FieldError, UsageEvent
from ingest.formats import read_file
from ingest.importer import CHUNK_ROWS, MAX_REPORTED_PROBLEMS, checked_rows
from storage.database import Database, is_sqlite
from storage.models import Person
from storage.models import UsageEvent as StoredUsage


@dataclass
class Amounts:
    """Usage summed: events, tokens and money (micro-dollars)."""

    events: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0
    unknown_price_events: int = 0  # counted at 0 money

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: Amounts) -> None:
        self.events += other.events
        self.input_tokens += other.input_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.output_tokens += other.output_tokens
        self.cost_micros += other.cost_micros
        self.unknown_price_events += other.unknown_price_events


@dataclass(frozen=True)
class ReconciliationLine:
    """One (day, person, model) where the export and the ledger disagree."""

    day: date
    person: str  # the person's email, or the identity as sent when it maps to nobody
    attributed: bool
    model: str
    missing_from_ledger: Amounts
    not_in_export: Amounts


@dataclass
class Reconciliation:
    format: str
    rows: int = 0  # rows read (usage, outcomes and rejected records)
    rejected: int = 0
    problems: list[FieldError] = field(default_factory=list)  # the first MAX_REPORTED_PROBLEMS
    problems_total: int = 0
    sources: tuple[str, ...] = ()  # id prefixes whose stored rows were compared
    unsourced_ids: int = 0  # export usage ids without a source prefix
    span: tuple[datetime, datetime] | None = None  # the export's earliest and latest usage
    export: Amounts = field(default_factory=Amounts)  # every valid usage row of the export
    lines: list[ReconciliationLine] = field(default_factory=list)  # by day, person, model
    missing_from_ledger: Amounts = field(default_factory=Amounts)
    not_in_export: Amounts = field(default_factory=Amounts)

    @property
    def in_ledger(self) -> Amounts:
        """The export's usage that the ledger already has."""
        export, missing = self.export, self.missing_from_ledger
        return Amounts(
            events=export.events - missing.events,
            input_tokens=export.input_tokens - missing.input_tokens,
            cached_input_tokens=export.cached_input_tokens - missing.cached_input_tokens,
            output_tokens=export.output_tokens - missing.output_tokens,
            cost_micros=export.cost_micros - missing.cost_micros,
            unknown_price_events=export.unknown_price_events - missing.unknown_price_events,
        )

    @property
    def reconciled(self) -> bool:
        return not self.lines


# (day, person id or None, identity when unattributed else "", model)
_Key = tuple[date, int | None, str, str]


def reconcile_file(
    db: Database,
    policy: Policy,
    fmt: str,
    open_stream: Callable[[], BinaryIO],
    *,
    now: datetime,
    chunk_rows: int = CHUNK_ROWS,
) -> Reconciliation:
    """Compare the export `open_stream` opens (format `fmt`) with the ledger; reads only.

    `now` bounds the export's timestamps as the import does. Raises ValueError for an unknown
    format before reading anything.
    """
    result = Reconciliation(format=fmt)
    missing: dict[_Key, Amounts] = {}
    extra: dict[_Key, Amounts] = {}
    with db.read() as session, open_stream() as stream:
        rows = read_file(fmt, stream, now)  # the format is checked before the table is made
        export_ids = _temporary_id_table(session)
        people = _People(session)
        sources: set[str] = set()
        chunk: list[UsageEvent] = []

        def compare(chunk: list[UsageEvent]) -> None:
            _compare_chunk(session, policy, export_ids, people, chunk, result, missing, sources)

        for row, problems in checked_rows(rows):
            result.rows += 1
            if problems:
                result.rejected += 1
                result.problems_total += len(problems)
                room = MAX_REPORTED_PROBLEMS - len(result.problems)
                result.problems.extend(problems[: max(room, 0)])
            elif row.usage is not None:
                chunk.append(row.usage)
                if len(chunk) >= chunk_rows:
                    compare(chunk)
                    chunk = []
        compare(chunk)
        if result.span is not None and sources:
            _stored_not_in_export(session, export_ids, sources, result.span, extra)
        result.sources = tuple(sorted(sources))
        emails = people.emails({key[1] for key in (*missing, *extra) if key[1] is not None})
        export_ids.drop(session.connection())
    _collect_lines(result, missing, extra, emails)
    return result


def _temporary_id_table(session: Session) -> Table:
    """A table of this connection alone, gone when the read's transaction ends."""
    table = Table(
        f"reconcile_export_ids_{uuid.uuid4().hex[:12]}",
        MetaData(),
        Column("id", String(200), primary_key=True),
        prefixes=["TEMPORARY"],
    )
    table.create(session.connection())
    return table


class _People:
    """Identities to person ids (cached per identity key), and person ids to emails."""

    def __init__(self, session: Session):
        self.session = session
        self.known: dict[str, int | None] = {}

    def person_ids(self, identities: Iterable[str]) -> dict[str, int | None]:
        keys = {identity: identity_key(identity) for identity in identities}
        unresolved = {key for key in keys.values() if key not in self.known}
        if unresolved:
            found = resolve_identities(self.session, unresolved)
            for key in unresolved:
                person = found.get(key)
                self.known[key] = person[0] if person else None
        return {identity: self.known[key] for identity, key in keys.items()}

    def emails(self, person_ids: set[int]) -> dict[int, str]:
        ids = sorted(person_ids)
        emails: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            query = select(Person.id, Person.email).where(Person.id.in_(chunk))
            emails.update((person_id, email) for person_id, email in self.session.execute(query))
        return emails


def _compare_chunk(
    session: Session,
    policy: Policy,
    export_ids: Table,
    people: _People,
    chunk: Sequence[UsageEvent],
    result: Reconciliation,
    missing: dict[_Key, Amounts],
    sources: set[str],
) -> None:
    """Add a chunk of export usage: new ids to the id table, the totals and `sources` (ids
    without a source prefix to `unsourced_ids`), those the ledger lacks to `missing`."""
    unique = list({event.id: event for event in chunk}.values())
    if not unique:
        return
    ids = [event.id for event in unique]
    seen = set(session.scalars(select(export_ids.c.id).where(export_ids.c.id.in_(ids))))
    fresh = [event for event in unique if event.id not in seen]
    if not fresh:
        return
    session.execute(insert(export_ids), [{"id": event.id} for event in fresh])
    stored_usage = StoredUsage.__table__
    stored = set(
        session.scalars(
            select(stored_usage.c.id).where(stored_usage.c.id.in_([e.id for e in fresh]))
        )
    )
    person_ids = people.person_ids({event.user for event in fresh})
    earliest = min(event.timestamp for event in fresh)
    latest = max(event.timestamp for event in fresh)
    if result.span is not None:
        earliest, latest = min(earliest, result.span[0]), max(latest, result.span[1])
    result.span = (earliest, latest)
    for event in fresh:
        source, separator, _ = event.id.partition(":")
        if separator and source:
            sources.add(source)
        else:
            result.unsourced_ids += 1
        amounts = _priced(policy, event)
        result.export.add(amounts)
        if event.id in stored:
            continue
        person_id = person_ids[event.user]
        identity = event.user.strip() if person_id is None else ""
        model = policy.resolve_model(event.model).name
        key = (event.timestamp.date(), person_id, identity, model)
        missing.setdefault(key, Amounts()).add(amounts)


def _priced(policy: Policy, event: UsageEvent) -> Amounts:
    """The event's amounts, priced as record_usage prices it."""
    resolved = policy.resolve_model(event.model)
    cost = resolved.price_at(event.timestamp).cost_micros(
        event.input_tokens, event.output_tokens, event.cached_input_tokens
    )
    return Amounts(
        events=1,
        input_tokens=event.input_tokens,
        cached_input_tokens=event.cached_input_tokens,
        output_tokens=event.output_tokens,
        cost_micros=cost if resolved.is_known else 0,
        unknown_price_events=0 if resolved.is_known else 1,
    )


def _stored_not_in_export(
    session: Session,
    export_ids: Table,
    sources: set[str],
    span: tuple[datetime, datetime],
    extra: dict[_Key, Amounts],
) -> None:
    """Stored usage of `sources` within `span` whose ids the export lacks, summed by key."""
    usage = StoredUsage.__table__
    day = _utc_day(session, usage.c.occurred_at)
    identity = case((usage.c.person_id.is_(None), usage.c.identity), else_="")
    query = (
        select(
            day,
            usage.c.person_id,
            identity,
            usage.c.model,
            func.count(),
            func.sum(usage.c.input_tokens),
            func.sum(usage.c.cached_input_tokens),
            func.sum(usage.c.output_tokens),
            func.sum(usage.c.cost_micros),
            func.sum(case((usage.c.unknown_price, 1), else_=0)),
        )
        .where(
            usage.c.occurred_at.between(*span),
            # An exact prefix test on every database (SQLite's LIKE ignores case).
            or_(
                *(
                    func.substr(usage.c.id, 1, len(source) + 1) == f"{source}:"
                    for source in sorted(sources)
                )
            ),
            ~exists().where(export_ids.c.id == usage.c.id),
        )
        .group_by(day, usage.c.person_id, identity, usage.c.model)
    )
    for day_text, person_id, who, model, *sums in session.execute(query):
        events, input_tokens, cached, output_tokens, cost, unknown = (int(s or 0) for s in sums)
        key = (date.fromisoformat(day_text), person_id, who or "", model)
        extra.setdefault(key, Amounts()).add(
            Amounts(events, input_tokens, cached, output_tokens, cost, unknown)
        )


def _utc_day(session: Session, moment: ColumnElement[datetime]) -> ColumnElement[str]:
    """The UTC day of a stored time as 'YYYY-MM-DD' text, on SQLite and PostgreSQL."""
    if is_sqlite(session):
        return func.substr(moment, 1, 10, type_=String)  # stored as UTC text
    return func.to_char(func.timezone("UTC", moment), "YYYY-MM-DD", type_=String)


def _collect_lines(
    result: Reconciliation,
    missing: dict[_Key, Amounts],
    extra: dict[_Key, Amounts],
    emails: dict[int, str],
) -> None:
    lines = []
    for key in set(missing) | set(extra):
        day, person_id, identity, model = key
        lines.append(
            ReconciliationLine(
                day=day,
                person=identity if person_id is None else emails.get(person_id, f"#{person_id}"),
                attributed=person_id is not None,
                model=model,
                missing_from_ledger=missing.get(key, Amounts()),
                not_in_export=extra.get(key, Amounts()),
            )
        )
        result.missing_from_ledger.add(missing.get(key, Amounts()))
        result.not_in_export.add(extra.get(key, Amounts()))
    result.lines = sorted(lines, key=lambda line: (line.day, line.person, line.model))
