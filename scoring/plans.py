"""Plans and flags: each person's planned tokens (their baseline allotment pro rata for a
window), the flags not cleared in a window, and `metric_table`, every group's metrics with its
plan and open flags.

Invariants: nothing here writes except through `window_sums(store=True)` (rollups of closed
weeks, the caller commits); a flag that is not cleared (OPEN_FLAG_STATUSES) is a policy
exception and bars recognition that week. Imports `scoring.metrics` and
`scoring.rollups`, and nothing imports this module back from those.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from budgets.periods import period_for
from budgets.policy import Policy
from budgets.windows import Window, week_keys_between
from scoring.metrics import Metrics, grouped_totals
from scoring.rollups import window_sums
from storage.models import Flag, Person

# A flag that is not cleared is a policy exception; these also bar recognition that week.
OPEN_FLAG_STATUSES = ("pending", "disputed", "upheld")

GRAINS = {
    "person": ("person_id",),
    "team": ("team_id",),
    "use_case": ("use_case",),
    "person_use_case": ("person_id", "use_case"),
    "team_use_case": ("team_id", "use_case"),
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
