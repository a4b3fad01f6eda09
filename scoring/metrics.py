"""Efficiency metrics per person, team and use case over an ISO week or a budget period,
computed by SQL aggregates over usage events and outcomes: the sums (`Totals`) and the ratios
(`Metrics`), the live aggregates over the events, and grouping rows by person, team, use case
or template. Stored weekly rollups are `scoring.rollups`; plans, flags and the metric table
are `scoring.plans`.

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

Invariants: nothing here loops over events in Python; every query is keyed by KEYS and sums
SUMS, so live aggregates and stored rollups are rows of one shape. This module imports no other
module of `scoring`.
"""

from __future__ import annotations

import gc
import operator
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Float,
    Select,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from storage.models import Outcome, Person, PromptTemplate, UsageEvent

ACCEPTED_STATUSES = ("accepted", "revised")

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


def usage_sums(start: datetime, end: datetime) -> Select[Any]:
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


def outcome_sums(start: datetime, end: datetime) -> Select[Any]:
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
    both = union_all(usage_sums(start, end), outcome_sums(start, end)).subquery("both_sums")
    return select(
        *(both.c[k] for k in KEYS), *(func.sum(both.c[s]).label(s) for s in SUMS)
    ).group_by(*(both.c[k] for k in KEYS))


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
