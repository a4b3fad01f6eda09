"""Spend for finance: money and budget tokens by team, project, use case and model, the
forecast to a period's end at the current burn, and what lapsed at expiry.

Facts only, from the append-only tables: usage events (attributed usage, as scoring counts it:
`occurred_at` in the window, a person behind it) and the ledger's `expire` entries. The burn
rate is `balances.burn_per_day`, the rule `balance` uses for one person, applied to a scope.
Money is integer micro-dollars.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal_column, or_, select, union_all
from sqlalchemy.orm import Session

from budgets.balances import burn_per_day
from budgets.periods import Period
from storage.models import AccountTotal, Grant, LedgerEntry, Person, Team, UsageEvent


@dataclass(frozen=True)
class SpendRow:
    team: str
    project: str
    use_case: str
    model: str
    tokens: int
    cost_micros: int
    events: int


SPEND_KEYS = ("person_id", "project", "use_case", "model")
SPEND_SUMS = ("tokens", "cost_micros", "events")


def usage_spend(start: datetime, end: datetime) -> Select[Any]:
    """Attributed usage in [start, end) summed per (person_id, project, use case, model): rows
    of SPEND_KEYS and SPEND_SUMS, "" where usage named no project or use case. What
    `spend_rows_of` adds up, live or as stored per closed week (`scoring.rollups`)."""
    u = UsageEvent.__table__
    # One expression each for SELECT and GROUP BY, with a literal '' (PostgreSQL sees two bound
    # parameters as two different expressions).
    project = func.coalesce(u.c.project, literal_column("''"))
    use_case = func.coalesce(u.c.use_case, literal_column("''"))
    return (
        select(
            u.c.person_id,
            project.label("project"),
            use_case.label("use_case"),
            u.c.model,
            func.sum(u.c.budget_tokens).label("tokens"),
            func.sum(u.c.cost_micros).label("cost_micros"),
            func.count().label("events"),
        )
        .where(u.c.occurred_at >= start, u.c.occurred_at < end, u.c.person_id.is_not(None))
        .group_by(u.c.person_id, project, use_case, u.c.model)
    )


def spend_rows_of(
    session: Session, parts: Sequence[Select[Any]], person_ids: Iterable[int] | None = None
) -> list[SpendRow]:
    """`usage_spend`-shaped rows of disjoint parts of a window, summed per (team, project, use
    case, model), "No team" for people without one; the people's teams as they are now."""
    source = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("spend")
    query = (
        select(
            Team.name,
            source.c.project,
            source.c.use_case,
            source.c.model,
            *(func.sum(source.c[name]) for name in SPEND_SUMS),
        )
        .select_from(
            source.join(Person, Person.id == source.c.person_id).outerjoin(
                Team, Team.id == Person.team_id
            )
        )
        .group_by(Team.name, source.c.project, source.c.use_case, source.c.model)
    )
    if person_ids is not None:
        query = query.where(source.c.person_id.in_(list(person_ids)))
    return sorted(
        (
            SpendRow(team or "No team", project, use_case, model, int(t or 0), int(c or 0), int(n))
            for team, project, use_case, model, t, c, n in session.execute(query)
        ),
        key=lambda r: (r.team, r.project, r.use_case, r.model),
    )


def spend_rows(
    session: Session,
    start: datetime,
    end: datetime,
    person_ids: Iterable[int] | None = None,
) -> list[SpendRow]:
    """Attributed usage in [start, end) summed per (team, project, use case, model), from the
    events; "" where usage named no project or use case, "No team" for people without one."""
    return spend_rows_of(session, [usage_spend(start, end)], person_ids)


def spend_by(rows: Iterable[SpendRow], field: str) -> dict[str, tuple[int, int]]:
    """(tokens, cost_micros) per value of `field` (team, project, use_case or model)."""
    out: dict[str, tuple[int, int]] = {}
    for row in rows:
        key = getattr(row, field)
        tokens, cost = out.get(key, (0, 0))
        out[key] = (tokens + row.tokens, cost + row.cost_micros)
    return out


@dataclass(frozen=True)
class Forecast:
    period: Period
    used: int  # budget tokens so far this period
    cost_micros: int
    burn_per_day: int
    forecast: int  # used + burn for the days left
    forecast_cost_micros: int


def forecast(
    session: Session,
    period: Period,
    now: datetime,
    person_ids: Iterable[int] | None = None,
) -> Forecast:
    """The period's use so far (the ledger's account totals, as `balance` reads them) and where
    the current burn takes it by the period's end."""
    query = select(
        func.coalesce(func.sum(AccountTotal.used), 0),
        func.coalesce(func.sum(AccountTotal.cost_micros), 0),
    ).where(AccountTotal.period == period.key)
    if person_ids is not None:
        query = query.where(AccountTotal.person_id.in_(list(person_ids)))
    used, cost = (int(v) for v in session.execute(query).one())
    burn = burn_per_day(used, period, now)
    days_left = max((period.end - max(now, period.start)).total_seconds() / 86400, 0.0)
    projected = used + round(burn * days_left)
    projected_cost = round(cost * projected / used) if used else 0
    return Forecast(period, used, cost, burn, projected, projected_cost)


@dataclass(frozen=True)
class Lapsed:
    period: str
    kind: str  # baseline, team_pool, project, reserved, burst, manual
    tokens: int


def lapsed(
    session: Session,
    periods: Iterable[str],
    person_ids: Iterable[int] | None = None,
    team_ids: Iterable[int] | None = None,
) -> list[Lapsed]:
    """Budget tokens that expired unused, per period and grant kind (the ledger's `expire`
    entries). Scoped: the grants of `person_ids` and the pools of `team_ids` (None: all)."""
    query = (
        select(LedgerEntry.period, Grant.kind, func.sum(LedgerEntry.amount))
        .join(Grant, Grant.id == LedgerEntry.grant_id)
        .where(LedgerEntry.entry_type == "expire", LedgerEntry.period.in_(list(periods)))
        .group_by(LedgerEntry.period, Grant.kind)
    )
    if person_ids is not None or team_ids is not None:
        query = query.where(
            or_(
                (Grant.owner_type == "person") & Grant.owner_id.in_(list(person_ids or [])),
                (Grant.owner_type == "team") & Grant.owner_id.in_(list(team_ids or [])),
            )
        )
    return sorted(
        (Lapsed(period, kind, int(n or 0)) for period, kind, n in session.execute(query)),
        key=lambda x: (x.period, x.kind),
    )
