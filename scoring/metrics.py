"""Efficiency metrics per person, team and use case over an ISO week or a budget period,
computed by SQL aggregates over usage events and outcomes.

How an outcome meets the tokens behind it:
- Tokens and cost count where they were spent: a usage event belongs to its person, its use
  case, its template and the week of its `occurred_at`.
- An outcome belongs to its person and the week of its `occurred_at`, and to the use case and
  template it names. When it names none, it takes those of its linked usage: the first of its
  `usage_ids`, else the usage of its `conversation_id`; else it has no use case (uncategorised:
  measured, but with no baseline to be compared with).
- Ratios divide the sums of one (person, use case, window) group: tokens per completed task is
  everything the person spent on the use case over the artifacts they finished in it, whether or
  not an outcome lists the events. Linking each outcome to its own events instead would let spend
  that no outcome mentions (retries, abandoned drafts) drop out of the denominator. A brief
  drafted on Friday and accepted on Monday splits across two weeks; over the baseline's weeks
  that evens out.

Counting: an artifact is an outcome; accepted work is `accepted` (used as is, edit distance 0
when not given) or `revised` (used after edits); rejected work counts as an artifact only.

Closed weeks are summed once into `ScoringRollup` rows (per week, person, use case, template) and
read back from there while the week's usage and outcome counts still match the counts the rollup
was built from; everything else (the running week, budget periods) is aggregated live. Nothing
here loops over events in Python.

With its rollup, a closed week keeps two summaries for what reads many weeks at once: the
person-week values baselines take medians of (`ScoringWeekValues`, sorted arrays per use case
and metric) and its template sums (`ScoringTemplateWeek`). They are current while the rollup is
and the prompt templates (approval, authors) are those they were built with; a change of
templates rebuilds the summaries from the rollup, not the rollup.
"""

from __future__ import annotations

import gc
import hashlib
import operator
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Float,
    Select,
    String,
    case,
    cast,
    delete,
    distinct,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from budgets.periods import period_for
from budgets.policy import Policy
from budgets.windows import Window, week_keys_between
from storage.database import upsert_insert
from storage.models import (
    Flag,
    Outcome,
    Person,
    PromptTemplate,
    ScoringRollup,
    ScoringTemplateWeek,
    ScoringWeek,
    ScoringWeekValues,
    UsageEvent,
)

ACCEPTED_STATUSES = ("accepted", "revised")
# A flag that is not cleared is a policy exception; these also bar recognition that week.
OPEN_FLAG_STATUSES = ("pending", "disputed", "upheld")

SUMS = (
    "tokens",
    "cost_micros",
    "events",
    "artifacts",
    "accepted",
    "edited",
    "edit_distance_sum",
    "drafts",
    "first_draft_seconds_sum",
    "verified_minutes",
)
KEYS = ("person_id", "use_case", "template_id")
GRAINS = {
    "person": ("person_id",),
    "team": ("team_id",),
    "use_case": ("use_case",),
    "person_use_case": ("person_id", "use_case"),
    "team_use_case": ("team_id", "use_case"),
}


class Totals(NamedTuple):
    """Sums of one group; the metrics are ratios of them (None where the denominator is 0).
    A named tuple: scoring builds hundreds of thousands of them, and tuples are cheap."""

    tokens: int = 0
    cost_micros: int = 0
    events: int = 0
    artifacts: int = 0
    accepted: int = 0
    edited: int = 0  # accepted artifacts whose edit distance is known
    edit_distance_sum: float = 0.0
    drafts: int = 0  # artifacts whose time to first draft is known
    first_draft_seconds_sum: int = 0
    verified_minutes: float = 0.0
    template_artifacts: int = 0  # artifacts made with an approved template

    @classmethod
    def from_values(cls, v: Sequence[Any]) -> Totals:
        """From SUMS + template_artifacts in that order, as SQL returns them (maybe NULL or
        PostgreSQL numeric)."""
        return cls(
            int(v[0] or 0),
            int(v[1] or 0),
            int(v[2] or 0),
            int(v[3] or 0),
            int(v[4] or 0),
            int(v[5] or 0),
            float(v[6] or 0),
            int(v[7] or 0),
            int(v[8] or 0),
            float(v[9] or 0),
            int(v[10] or 0),
        )

    def __add__(self, other: Totals) -> Totals:  # type: ignore[override]
        return Totals(*map(operator.add, self, other))

    @property
    def tokens_per_task(self) -> float | None:
        return self.tokens / self.artifacts if self.artifacts and self.tokens else None

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.artifacts if self.artifacts else None

    @property
    def revision_burden(self) -> float | None:
        return self.edit_distance_sum / self.edited if self.edited else None

    @property
    def first_draft_seconds(self) -> float | None:
        return self.first_draft_seconds_sum / self.drafts if self.drafts else None

    @property
    def cost_per_accepted(self) -> float | None:
        return self.cost_micros / self.accepted if self.accepted else None

    @property
    def accepted_per_1k_tokens(self) -> float | None:
        return self.accepted * 1000 / self.tokens if self.tokens else None

    @property
    def template_reuse_rate(self) -> float | None:
        return self.template_artifacts / self.artifacts if self.artifacts else None


@dataclass(frozen=True)
class Metrics:
    """One group's metrics in a window: the ten the issue lists, from its totals, its plan and
    its open flags (plan and flags only for person and team groups)."""

    key: tuple[Any, ...]
    totals: Totals
    planned_tokens: int | None = None
    policy_exceptions: int | None = None

    @property
    def tokens_per_task(self) -> float | None:
        return self.totals.tokens_per_task

    @property
    def acceptance_rate(self) -> float | None:
        return self.totals.acceptance_rate

    @property
    def revision_burden(self) -> float | None:
        return self.totals.revision_burden

    @property
    def first_draft_seconds(self) -> float | None:
        return self.totals.first_draft_seconds

    @property
    def cost_per_accepted(self) -> float | None:
        return self.totals.cost_per_accepted

    @property
    def accepted_per_1k_tokens(self) -> float | None:
        return self.totals.accepted_per_1k_tokens

    @property
    def verified_minutes(self) -> float:
        return self.totals.verified_minutes

    @property
    def template_reuse_rate(self) -> float | None:
        return self.totals.template_reuse_rate

    @property
    def budget_variance(self) -> float | None:
        """Spend against plan: +0.25 is 25% over the pro-rata baseline allotment."""
        if not self.planned_tokens:
            return None
        return self.totals.tokens / self.planned_tokens - 1


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a few hundred thousand small objects are
    made that form no cycles and outlive the block (totals per person, everyone's scores): the
    collector would otherwise rescan the growing heap several times, a sixth of the Monday job.
    Reference counting still frees everything; the collector resumes (and catches up) after."""
    if not gc.isenabled():  # paused already (nested, or by the caller)
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --- live aggregates -----------------------------------------------------------------------


def _usage_sums(start: datetime, end: datetime) -> Select[Any]:
    u = UsageEvent.__table__
    zero, zero_f = literal(0, BigInteger), literal(0.0, Float)
    # Grouped by the keys as stored ("" for none), so each key comes out once.
    use_case = func.coalesce(u.c.use_case, literal_column("''"))
    template_id = func.coalesce(u.c.template_id, literal_column("''"))
    return (
        select(
            u.c.person_id,
            use_case.label("use_case"),
            template_id.label("template_id"),
            func.sum(u.c.budget_tokens).label("tokens"),
            func.sum(u.c.cost_micros).label("cost_micros"),
            func.count().label("events"),
            *(zero.label(n) for n in ("artifacts", "accepted", "edited")),
            zero_f.label("edit_distance_sum"),
            zero.label("drafts"),
            zero.label("first_draft_seconds_sum"),
            zero_f.label("verified_minutes"),
        )
        .where(u.c.occurred_at >= start, u.c.occurred_at < end, u.c.person_id.is_not(None))
        .group_by(u.c.person_id, use_case, template_id)
    )


def _outcome_sums(start: datetime, end: datetime) -> Select[Any]:
    o = Outcome.__table__
    first_usage = UsageEvent.__table__.alias("first_usage")
    conversation = UsageEvent.__table__.alias("conversation_usage")
    # One key lookup per outcome for its first usage, shared by the use case and the template.
    linked_outcomes = o.outerjoin(first_usage, first_usage.c.id == o.c.usage_ids[0].as_string())

    def linked(column: str) -> Any:
        by_conversation = (
            select(conversation.c[column])
            .where(
                conversation.c.conversation_id == o.c.conversation_id,
                conversation.c[column].is_not(None),
            )
            .limit(1)
        )
        return func.coalesce(
            o.c[column], first_usage.c[column], by_conversation.scalar_subquery(), ""
        )

    is_accepted = o.c.status.in_(ACCEPTED_STATUSES)
    edit = case(
        (o.c.status == "accepted", func.coalesce(o.c.edit_distance, 0.0)),
        (o.c.status == "revised", o.c.edit_distance),
        else_=None,
    )
    rows = (
        select(
            o.c.person_id,
            linked("use_case").label("use_case"),
            linked("template_id").label("template_id"),
            case((is_accepted, 1), else_=0).label("accepted"),
            edit.label("edit"),
            o.c.first_draft_seconds,
            case(
                # The verified figure; rows verified before migration 0016 hold it in minutes_saved.
                (
                    o.c.minutes_verified.is_(True),
                    func.coalesce(o.c.verified_minutes, o.c.minutes_saved),
                ),
                else_=0.0,
            ).label("verified"),
        )
        .select_from(linked_outcomes)
        .where(o.c.occurred_at >= start, o.c.occurred_at < end, o.c.person_id.is_not(None))
        .subquery("linked_outcomes")
    )
    zero = literal(0, BigInteger)
    return select(
        rows.c.person_id,
        rows.c.use_case,
        rows.c.template_id,
        zero.label("tokens"),
        zero.label("cost_micros"),
        zero.label("events"),
        func.count().label("artifacts"),
        func.sum(rows.c.accepted).label("accepted"),
        func.count(rows.c.edit).label("edited"),
        func.coalesce(func.sum(rows.c.edit), 0.0).label("edit_distance_sum"),
        func.count(rows.c.first_draft_seconds).label("drafts"),
        func.coalesce(func.sum(rows.c.first_draft_seconds), 0).label("first_draft_seconds_sum"),
        func.coalesce(func.sum(rows.c.verified), 0.0).label("verified_minutes"),
    ).group_by(rows.c.person_id, rows.c.use_case, rows.c.template_id)


def live_totals(start: datetime, end: datetime) -> Select[Any]:
    """(person, use case, template) sums of usage and outcomes in [start, end)."""
    both = union_all(_usage_sums(start, end), _outcome_sums(start, end)).subquery("both_sums")
    return select(
        *(both.c[k] for k in KEYS), *(func.sum(both.c[s]).label(s) for s in SUMS)
    ).group_by(*(both.c[k] for k in KEYS))


# --- weekly rollups ------------------------------------------------------------------------


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
    session.execute(delete(rollup).where(rollup.c.week == week.key))
    # The usage sums, then the outcome sums added onto the same keys: what `live_totals` gives,
    # without sorting the union of both once more.
    usage = _usage_sums(week.start, week.end).subquery("usage_sums")
    session.execute(
        insert(rollup).from_select(
            ["week", *KEYS, *SUMS],
            select(literal(week.key, String), *(usage.c[c] for c in (*KEYS, *SUMS))),
        )
    )
    outcomes = _outcome_sums(week.start, week.end).subquery("outcome_sums")
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
    closed = [w for w in windows if w.kind == "week" and w.end <= now]
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
    stored = sorted({w.key for w in windows if w.kind == "week" and w.key in current})
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


# --- grouping ------------------------------------------------------------------------------


def grouped_rows(
    rows: Select[Any], by: Sequence[str], person_ids: Iterable[int] | None = None
) -> Select[Any]:
    """Sum `window_sums` rows by some of window, person_id, team_id, use_case, template_id;
    the last column counts the artifacts made with an approved template."""
    sub = rows.subquery("sums")
    source: Any = sub
    keys: list[Any] = []
    for name in by:
        if name == "team_id":
            source = sub.join(Person, Person.id == sub.c.person_id)
            keys.append(Person.team_id)
        else:
            keys.append(sub.c[name])
    approved = select(PromptTemplate.id).where(PromptTemplate.approved.is_(True))
    template_artifacts = case((sub.c.template_id.in_(approved), sub.c.artifacts), else_=0)
    query: Any = (
        select(
            *keys,
            *(_typed_sum(sub.c[s], s).label(s) for s in SUMS),
            _typed_sum(template_artifacts, "template_artifacts").label("template_artifacts"),
        )
        .select_from(source)
        .group_by(*keys)
    )
    if person_ids is not None:
        query = query.where(sub.c.person_id.in_(list(person_ids)))
    return query


def _typed_sum(column: Any, name: str) -> Any:
    """SUM as the Totals field `name` holds it, on every backend (PostgreSQL sums bigints as
    numeric): the rows then make Totals as they come, which counts at 50,000 groups."""
    if name in ("edit_distance_sum", "verified_minutes"):
        return cast(func.coalesce(func.sum(column), 0.0), Float)
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


def grouped_totals(
    session: Session,
    rows: Select[Any],
    by: Sequence[str],
    person_ids: Iterable[int] | None = None,
) -> dict[tuple[Any, ...], Totals]:
    n = len(by)
    make = Totals._make
    # Rows as plain tuples first: slicing a tuple is several times cheaper than slicing a Row.
    return {
        row[:n]: make(row[n:])
        for row in map(tuple, session.execute(grouped_rows(rows, by, person_ids)))
    }


# --- plans and flags -----------------------------------------------------------------------


def open_flags(session: Session, policy: Policy, window: Window) -> dict[int, int]:
    """Person id -> flags not cleared in the weeks `window` overlaps."""
    weeks = week_keys_between(policy.periods.zone, window.start, window.end)
    return {
        int(pid): int(n)
        for pid, n in session.execute(
            select(Flag.person_id, func.count())
            .where(Flag.week.in_(weeks), Flag.status.in_(OPEN_FLAG_STATUSES))
            .group_by(Flag.person_id)
        )
    }


def planned_tokens(session: Session, policy: Policy, window: Window) -> dict[int, int]:
    """Person id -> their baseline allotment pro rata for the window (the plan spend is
    compared with)."""
    period = period_for(policy.periods, window.start)
    share = window.days / period.days
    default = policy.tiers["default"].baseline
    return {
        pid: round(policy.tiers[tier].baseline * share if tier in policy.tiers else default * share)
        for pid, tier in session.execute(select(Person.id, Person.tier).where(Person.active))
    }


def team_of(session: Session) -> dict[int, int | None]:
    return {pid: team for pid, team in session.execute(select(Person.id, Person.team_id))}


def metric_table(
    session: Session,
    policy: Policy,
    window: Window,
    grain: str,
    now: datetime,
    *,
    store: bool = False,
) -> dict[tuple[Any, ...], Metrics]:
    """Every group's metrics for a window; `grain` is one of GRAINS (person, team, use_case,
    person_use_case, team_use_case). Plans and flags are filled in for person and team."""
    by = GRAINS[grain]
    totals = grouped_totals(session, window_sums(session, [window], now, store=store), by)
    plans: dict[Any, int] = {}
    flags: dict[Any, int] = {}
    if grain in ("person", "team"):
        plans = planned_tokens(session, policy, window)
        flags = open_flags(session, policy, window)
        if grain == "team":
            teams = team_of(session)
            plans = _sum_by(plans, teams)
            flags = _sum_by(flags, teams)
    return {
        key: Metrics(
            key,
            t,
            planned_tokens=plans.get(key[0]) if grain in ("person", "team") else None,
            policy_exceptions=flags.get(key[0], 0) if grain in ("person", "team") else None,
        )
        for key, t in totals.items()
    }


def _sum_by(values: dict[int, int], groups: dict[int, int | None]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for pid, value in values.items():
        group = groups.get(pid)
        out[group] = out.get(group, 0) + value
    return out
