"""Stored weekly rollups and their summaries: closed ISO weeks summed once from the events
and read back, and `window_sums`, which reads any windows from the stored rollups where they are
current and from the live aggregates (`scoring.metrics`) elsewhere. With each rollup, its
spend by person, project, use case and model (`window_spend`, for finance).

Closed weeks are summed once into `ScoringRollup` rows (per week, person, use case, template) and
read back from there while the week's usage and outcome counts still match the counts the rollup
was built from; everything else (the running week, budget periods) is aggregated live. Nothing
here loops over events in Python.

With its rollup, a closed week keeps two summaries for what reads many weeks at once: the
person-week values baselines take medians of (`ScoringWeekValues`, sorted arrays per use case
and metric) and its template sums (`ScoringTemplateWeek`). They are current while the rollup is
and the prompt templates (approval, authors) are those they were built with; a change of
templates rebuilds the summaries from the rollup, not the rollup.

Invariants: a rollup is read only while the week's usage and outcome counts equal those it was
built from (`current_weeks`); the counts are taken before building, so a concurrent event makes
a rollup look stale, never current. Rows read from here have the shape `live_totals` gives.
Callers commit. Imports `scoring.metrics` only, within `scoring`.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Select,
    String,
    case,
    delete,
    distinct,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from budgets.spend import SPEND_KEYS, SPEND_SUMS, usage_spend
from budgets.windows import Window
from scoring.metrics import (
    KEYS,
    SUMS,
    Totals,
    collector_paused,
    grouped_totals,
    live_totals,
    outcome_sums,
    usage_sums,
)
from storage.database import upsert_insert
from storage.models import (
    Outcome,
    PromptTemplate,
    ScoringRollup,
    ScoringSpendRollup,
    ScoringTemplateWeek,
    ScoringWeek,
    ScoringWeekValues,
    UsageEvent,
)

# --- weekly rollups ------------------------------------------------------------------------

SPEND_COLUMNS = (*SPEND_KEYS, *SPEND_SUMS)

# What is stored: ISO weeks ("week"), and the whole days a calendar month or quarter shares
# with a week at its edges ("days", keyed `2026-W44+6` for a week's last days from its 7th,
# `2026-W44-6` for its first 6), so those views read sums too. Both are built, checked and read
# alike; nothing reads a "days" rollup as a week (baselines and scores ask for week keys).
STORED_KINDS = ("week", "days")


def is_stored_kind(window: Window) -> bool:
    """Whether `window` is read from a stored rollup once it is closed and current."""
    return window.kind in STORED_KINDS


def _event_counts(session: Session, window: Window) -> tuple[int, int]:
    def count(table: Any) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(table)
                .where(table.c.occurred_at >= window.start, table.c.occurred_at < window.end)
            )
            or 0
        )

    return count(UsageEvent.__table__), count(Outcome.__table__)


def build_week_rollup(
    session: Session,
    week: Window,
    now: datetime,
    counts: tuple[int, int] | None = None,
    templates: str | None = None,
) -> None:
    """(Re)build one closed week's rollup from the facts, and its summaries. The counts are
    taken first, so an event committed meanwhile makes the rollup look stale (rebuilt next
    time), never current."""
    counts = counts or _event_counts(session, week)
    rollup = ScoringRollup.__table__
    # The usage sums, then the outcome sums added onto the same keys: what `live_totals` gives,
    # without sorting the union of both once more.
    _store_week(session, rollup, week.key, usage_sums(week.start, week.end), (*KEYS, *SUMS))
    outcomes = outcome_sums(week.start, week.end).subquery("outcome_sums")
    added = upsert_insert(session, rollup).from_select(
        ["week", *KEYS, *SUMS],
        # SQLite reads ON CONFLICT after a SELECT only when the SELECT has a WHERE
        select(literal(week.key, String), *(outcomes.c[c] for c in (*KEYS, *SUMS))).where(true()),
    )
    session.execute(
        added.on_conflict_do_update(
            index_elements=["week", *KEYS],
            set_={name: rollup.c[name] + added.excluded[name] for name in SUMS},
        )
    )
    spend = ScoringSpendRollup.__table__
    _store_week(session, spend, week.key, usage_spend(week.start, week.end), SPEND_COLUMNS)
    stmt = upsert_insert(session, ScoringWeek.__table__)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["week"],
            set_={
                "usage_events": stmt.excluded.usage_events,
                "outcomes": stmt.excluded.outcomes,
                "built_at": stmt.excluded.built_at,
            },
        ),
        {"week": week.key, "usage_events": counts[0], "outcomes": counts[1], "built_at": now},
    )
    build_week_summaries(session, week.key, templates or templates_fingerprint(session))


def _store_week(
    session: Session, table: Any, week_key: str, rows: Select[Any], columns: Sequence[str]
) -> None:
    """Replace `table`'s rows of `week_key` with `rows` (their `columns`, in that order)."""
    session.execute(delete(table).where(table.c.week == week_key))
    found = rows.subquery("found")
    session.execute(
        insert(table).from_select(
            ["week", *columns],
            select(literal(week_key, String), *(found.c[c] for c in columns)),
        )
    )


class CurrentWeeks(NamedTuple):
    """Which closed weeks can be read from what is stored."""

    rollups: set[str]  # the rollup is current: read it instead of the events
    summaries: set[str]  # its summaries are current too (built with today's templates)


def current_weeks(
    session: Session, windows: Iterable[Window], now: datetime, *, store: bool
) -> CurrentWeeks:
    """The closed weeks among `windows` whose stored rollup, and summaries, are current. With
    `store`, what is not current is built first (the caller commits): a stale rollup with its
    summaries, or only the summaries when the templates changed since."""
    closed = [w for w in windows if is_stored_kind(w) and w.end <= now]
    if not closed:
        return CurrentWeeks(set(), set())
    stored = {
        week: ((usage_events, outcomes), templates)
        for week, usage_events, outcomes, templates in session.execute(
            select(
                ScoringWeek.week,
                ScoringWeek.usage_events,
                ScoringWeek.outcomes,
                ScoringWeek.templates,
            ).where(ScoringWeek.week.in_([w.key for w in closed]))
        )
    }
    fingerprint = templates_fingerprint(session)
    rollups, summaries = set(), set()
    for week in closed:
        counts = _event_counts(session, week)
        built, templates = stored.get(week.key, (None, None))
        if built == counts:
            rollups.add(week.key)
            if templates == fingerprint:
                summaries.add(week.key)
            elif store:
                build_week_summaries(session, week.key, fingerprint)
                summaries.add(week.key)
        elif store:
            build_week_rollup(session, week, now, counts, fingerprint)
            rollups.add(week.key)
            summaries.add(week.key)
    return CurrentWeeks(rollups, summaries)


def current_rollups(
    session: Session, windows: Iterable[Window], now: datetime, *, store: bool
) -> set[str]:
    """Keys of the closed weeks among `windows` whose stored rollup is current. With `store`,
    closed weeks without a current rollup are built first (the caller commits)."""
    return current_weeks(session, windows, now, store=store).rollups


def forget_week(session: Session, week_key: str) -> None:
    """Mark a week's rollup stale after a change the counts cannot see (a verification)."""
    session.execute(delete(ScoringWeek).where(ScoringWeek.week == week_key))


# --- weekly summaries ----------------------------------------------------------------------
#
# Two projections of a week's rollup, built with it, for what reads many weeks at a time:
# baselines (medians over person-weeks, `ScoringWeekValues`) and template reports (sums per
# use case and template, `ScoringTemplateWeek`). Both depend on the prompt templates (which are
# approved, who wrote them), so the week remembers the templates they were built with.

# The person-week values baselines take medians of, in this order (see scoring.baselines).
MEDIANS = (
    "tokens_per_task",
    "acceptance_rate",
    "revision_burden",
    "first_draft_seconds",
    "cost_per_accepted",
    "accepted_per_1k_tokens",
    "accepted_per_week",
    "verified_minutes_per_week",
    "template_reuse_rate",
)


def templates_fingerprint(session: Session) -> str:
    """A digest of every prompt template's id, approval and author: what summaries depend on."""
    rows = session.execute(
        select(PromptTemplate.id, PromptTemplate.approved, PromptTemplate.author_id).order_by(
            PromptTemplate.id
        )
    )
    digest = hashlib.sha256()
    for template_id, approved, author_id in rows:
        digest.update(f"{template_id}\x1f{int(bool(approved))}\x1f{author_id}\x1e".encode())
    return digest.hexdigest()


def person_week_values(t: Totals) -> tuple[float | None, ...]:
    """One person-week's value of each of MEDIANS in one use case; None where undefined (no
    artifacts, no edited work, ...). Float division of the sums, as SQL's would be."""
    return (
        t.tokens / t.artifacts if t.artifacts > 0 and t.tokens > 0 else None,
        t.accepted / t.artifacts if t.artifacts > 0 else None,
        t.edit_distance_sum / t.edited if t.edited > 0 else None,
        t.first_draft_seconds_sum / t.drafts if t.drafts > 0 else None,
        t.cost_micros / t.accepted if t.accepted > 0 else None,
        t.accepted * 1000 / t.tokens if t.tokens > 0 else None,
        float(t.accepted),
        float(t.verified_minutes),
        t.template_artifacts / t.artifacts if t.artifacts > 0 else None,
    )


class UseCaseValues(NamedTuple):
    """A use case's person-weeks (those with usage or outcomes) and, per MEDIANS, the values
    defined in them."""

    person_weeks: int
    values: tuple[list[float], ...]


def values_by_use_case(person_weeks: Iterable[tuple[str, Totals]]) -> dict[str, UseCaseValues]:
    """Per use case, from (use case, one person-week's totals) pairs; uncategorised work ("")
    and person-weeks with neither tokens nor artifacts are left out."""
    counts: dict[str, int] = {}
    found: dict[str, tuple[list[float], ...]] = {}
    for use_case, totals in person_weeks:
        if not use_case or not (totals.tokens > 0 or totals.artifacts > 0):
            continue
        columns = found.get(use_case)
        if columns is None:
            columns = found[use_case] = tuple([] for _ in MEDIANS)
            counts[use_case] = 0
        counts[use_case] += 1
        for column, value in zip(columns, person_week_values(totals), strict=True):
            if value is not None:
                column.append(value)
    return {u: UseCaseValues(counts[u], columns) for u, columns in found.items()}


def merge_values(parts: Iterable[dict[str, UseCaseValues]]) -> dict[str, UseCaseValues]:
    """Several weeks' values as one: person-weeks added, value lists joined."""
    merged: dict[str, UseCaseValues] = {}
    for part in parts:
        for use_case, (person_weeks, values) in part.items():
            found = merged.get(use_case)
            if found is None:
                merged[use_case] = UseCaseValues(person_weeks, tuple(list(v) for v in values))
                continue
            for column, more in zip(found.values, values, strict=True):
                column.extend(more)
            merged[use_case] = UseCaseValues(found.person_weeks + person_weeks, found.values)
    return merged


def pack_values(values: Iterable[float]) -> bytes:
    """Sorted values as little-endian doubles (exact: no decimal round trip)."""
    packed = array("d", sorted(values))
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpack_values(data: bytes) -> array[float]:
    values = array("d")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def stored_week_values(session: Session, week_keys: Sequence[str]) -> dict[str, UseCaseValues]:
    """The stored values of these weeks (their summaries must be current), merged."""
    if not week_keys:
        return {}
    v = ScoringWeekValues.__table__
    counts: dict[str, int] = {}
    columns: dict[str, tuple[list[float], ...]] = {}
    for row in session.execute(
        select(v.c.use_case, v.c.person_weeks, *(v.c[name] for name in MEDIANS)).where(
            v.c.week.in_(list(week_keys))
        )
    ):
        use_case = row[0]
        if use_case not in columns:
            columns[use_case] = tuple([] for _ in MEDIANS)
            counts[use_case] = 0
        counts[use_case] += int(row[1])
        for column, data in zip(columns[use_case], row[2:], strict=True):
            column.extend(unpack_values(data))
    return {u: UseCaseValues(counts[u], found) for u, found in columns.items()}


def week_rollup_rows(week_key: str) -> Select[Any]:
    """A stored week's rollup rows, shaped as `window_sums` rows."""
    r = ScoringRollup.__table__
    return select(r.c.week.label("window"), *(r.c[c] for c in (*KEYS, *SUMS))).where(
        r.c.week == week_key
    )


def template_sums(rows: Select[Any], *, count_people: bool = True) -> Select[Any]:
    """Sums of `window_sums` rows per (use_case, template_id, by_author), by_author 1 when the
    person is the template's author, then the distinct people in the group (0 without
    `count_people`: counting distinct people is the costly part over many weeks)."""
    sums = rows.subquery("sums")
    templates = PromptTemplate.__table__
    by_author = case((sums.c.person_id == templates.c.author_id, 1), else_=0)
    return (
        select(
            sums.c.use_case,
            sums.c.template_id,
            by_author.label("by_author"),
            *(func.sum(sums.c[name]).label(name) for name in SUMS),
            (func.count(distinct(sums.c.person_id)) if count_people else literal(0)).label(
                "people"
            ),
        )
        .select_from(sums.outerjoin(templates, templates.c.id == sums.c.template_id))
        .group_by(sums.c.use_case, sums.c.template_id, by_author)
    )


def build_week_summaries(session: Session, week_key: str, templates: str) -> None:
    """(Re)build a week's summaries from its stored rollup; `templates` is the fingerprint of
    the templates they are built with."""
    session.execute(delete(ScoringWeekValues).where(ScoringWeekValues.week == week_key))
    session.execute(delete(ScoringTemplateWeek).where(ScoringTemplateWeek.week == week_key))
    rows = week_rollup_rows(week_key)
    with collector_paused():
        grouped = grouped_totals(session, rows, ("person_id", "use_case"))
        values = values_by_use_case((key[1], totals) for key, totals in grouped.items())
    if values:
        session.execute(
            insert(ScoringWeekValues),
            [
                {
                    "week": week_key,
                    "use_case": use_case,
                    "person_weeks": found.person_weeks,
                    **{
                        name: pack_values(column)
                        for name, column in zip(MEDIANS, found.values, strict=True)
                    },
                }
                for use_case, found in values.items()
            ],
        )
    sums = template_sums(rows).subquery("template_sums")
    session.execute(
        insert(ScoringTemplateWeek).from_select(
            ["week", "use_case", "template_id", "by_author", *SUMS, "people"],
            select(
                literal(week_key, String),
                sums.c.use_case,
                sums.c.template_id,
                sums.c.by_author == 1,
                *(sums.c[name] for name in SUMS),
                sums.c.people,
            ),
        )
    )
    session.execute(
        update(ScoringWeek).where(ScoringWeek.week == week_key).values(templates=templates)
    )


def stored_template_sums(session: Session, week_keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """The stored template sums of these weeks (summaries current), rows as `template_sums`
    gives them, one per week and group (the caller adds them up)."""
    if not week_keys:
        return []
    t = ScoringTemplateWeek.__table__
    return [
        (use_case, template_id, int(bool(by_author)), *rest)
        for use_case, template_id, by_author, *rest in session.execute(
            select(
                t.c.use_case,
                t.c.template_id,
                t.c.by_author,
                *(t.c[name] for name in SUMS),
                t.c.people,
            ).where(t.c.week.in_(list(week_keys)))
        )
    ]


def window_sums(
    session: Session,
    windows: Sequence[Window],
    now: datetime,
    *,
    store: bool = False,
    current: set[str] | None = None,
) -> Select[Any]:
    """One select of (window, person_id, use_case, template_id, SUMS...) rows over `windows`:
    current rollups for closed weeks, live aggregates for the rest. `current` is a
    `current_rollups` answer already at hand (it costs a count per week)."""
    if current is None:
        current = current_rollups(session, windows, now, store=store)
    r = ScoringRollup.__table__
    stored = sorted({w.key for w in windows if is_stored_kind(w) and w.key in current})
    parts: list[Select[Any]] = []
    if stored:
        parts.append(
            select(r.c.week.label("window"), *(r.c[c] for c in (*KEYS, *SUMS))).where(
                r.c.week.in_(stored)
            )
        )
    for window in windows:
        if window.key not in stored:
            live = live_totals(window.start, window.end).subquery()
            parts.append(select(literal(window.key, String).label("window"), *live.c))
    return parts[0] if len(parts) == 1 else union_all(*parts)  # type: ignore[return-value]


def window_spend(windows: Sequence[Window], current: set[str]) -> list[Select[Any]]:
    """`budgets.spend.usage_spend`-shaped rows of disjoint `windows`, for `spend_rows_of`: the
    stored spend of those whose rollup is current (`current`), the events' for the rest."""
    s = ScoringSpendRollup.__table__
    stored = sorted({w.key for w in windows if is_stored_kind(w) and w.key in current})
    parts: list[Select[Any]] = []
    if stored:
        parts.append(select(*(s.c[c] for c in SPEND_COLUMNS)).where(s.c.week.in_(stored)))
    parts += [usage_spend(w.start, w.end) for w in windows if w.key not in stored]
    return parts
