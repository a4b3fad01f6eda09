"""The dashboard's pages as presenters: domain facts in, template context out.

Every figure comes from the domain function chat and reports use (`scoring.overview` over
`scoring.metrics` and `scoring.rollups`, `budgets.balances.balance_for`, `person_score` of the
`score` command, `scoring.flags`, `budgets.spend`); this module only picks, orders and labels
them, and draws the charts. Nothing here sums or divides a figure of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.commands.score import person_score
from bot.core.presenters.flags import view_context
from bot.core.presenters.spotlight import window_context
from bot.web.charts import bars_svg, chart_values, trend_svg
from bot.web.scope import Scope
from budgets.authorize import (
    CAPPED,
    HARD_LIMIT,
    MODEL_NOT_ALLOWED,
    PROHIBITED,
    SOFT_LIMIT,
    UNKNOWN_PERSON,
)
from budgets.balances import balance_for
from budgets.periods import period_for, previous_period
from budgets.policy import Policy
from budgets.spend import forecast, lapsed, spend_by
from budgets.windows import Window, last_complete_week
from scoring.config import scoring_settings
from scoring.flags import flags_of, may_view
from scoring.metrics import Totals
from scoring.overview import (
    Overview,
    View,
    build_overview,
    month_key,
    previous_window,
    quarter_key,
    spend_in,
    team_label,
    team_names,
    teams_by_use_case,
    totals_by,
    week_key_of,
    weeks_in,
    window_by_key,
    workflows,
)
from scoring.rollups import CurrentWeeks
from storage.models import Person

# label, how to show it, what it means (shown under the figure)
MEASURES: dict[str, tuple[str, str, str]] = {
    "adoption": ("Adoption", "pct", "people who used AI / people with a budget"),
    "tokens_per_task": ("Tokens per completed task", "tokens", "budget tokens / results"),
    "acceptance_rate": ("Acceptance", "pct", "results accepted or revised / all results"),
    "revision_burden": ("Revision burden", "pct", "share of text changed in accepted work"),
    "first_draft_seconds": ("Time to first draft", "seconds", "mean, where reported"),
    "verified_minutes": ("Verified time saved", "hours", "minutes saved that a manager verified"),
    "cost_micros": ("Spend", "money", "in money, at the catalog's prices"),
    "variance": ("Budget variance", "signed_pct", "spend against plan (baselines + team pools)"),
    "flags_total": ("Policy exceptions", "count", "gaming flags raised in the period"),
    "refused_total": ("Refused calls", "count", "gateway calls the policy refused"),
}

# Refused authorize calls by reason code (budgets.authorize), in the order the policy checks.
REFUSAL_REASONS: dict[str, str] = {
    UNKNOWN_PERSON: "Identity not in the directory",
    PROHIBITED: "Prohibited use case",
    MODEL_NOT_ALLOWED: "Model not allowed for the use case",
    CAPPED: "Use case cap reached",
    HARD_LIMIT: "Budget used up (hard limit)",
    SOFT_LIMIT: "Overdraft allowance used up (soft limit)",
}


@dataclass(frozen=True)
class PeriodChoice:
    key: str
    label: str


def period_choices(policy: Policy, now: datetime) -> list[PeriodChoice]:
    last_week = previous_window(policy, window_by_key(policy, week_key_of(policy, now)))
    this_month = window_by_key(policy, month_key(policy, now))
    this_quarter = window_by_key(policy, quarter_key(policy, now))
    return [
        PeriodChoice(DEFAULT_PERIOD, "Last 4 weeks"),
        PeriodChoice("13W", "Last 13 weeks"),
        PeriodChoice(last_week.key, f"Last week ({last_week.key})"),
        PeriodChoice(week_key_of(policy, now), "This week so far"),
        PeriodChoice(this_month.key, f"This month ({this_month.key})"),
        PeriodChoice(previous_window(policy, this_month).key, "Last month"),
        PeriodChoice(this_quarter.key, f"This quarter ({this_quarter.key})"),
        PeriodChoice(previous_window(policy, this_quarter).key, "Last quarter"),
    ]


# Whole closed weeks: read from the weekly rollups alone, the fastest view at any size. Calendar
# months and quarters (the budget period) are exact too, and add their cut-off edge days.
DEFAULT_PERIOD = "4W"


def chosen_window(policy: Policy, key: str | None, now: datetime) -> Window:
    """The window a `?period=` names (ValueError for a malformed one), else the last 4 weeks."""
    return window_by_key(policy, key or DEFAULT_PERIOD, now)


def window_label(window: Window, policy: Policy) -> str:
    """`2026-11 (1 Nov to 30 Nov 2026)`, or for a number of weeks `2026-W43 to 2026-W46 (...)`."""
    zone = policy.periods.zone
    first = window.start.astimezone(zone)
    last = (window.end - timedelta(microseconds=1)).astimezone(zone)
    days = f"{first.day} {first:%b} to {last.day} {last:%b %Y}"
    if window.kind == "weeks":
        weeks = weeks_in(policy, window)
        return f"{weeks[0].key} to {weeks[-1].key} ({days})"
    return f"{window.key} ({days})"


def overview_context(session: Session, view: View) -> dict[str, Any]:
    overview: Overview = build_overview(session, view)
    policy, window = view.policy, view.window
    hour_value = scoring_settings(policy).hour_value_usd
    cards = [
        _figure(overview, name, label, kind, meaning)
        for name, (label, kind, meaning) in MEASURES.items()
    ]
    refused = [
        _figure(overview, f"refused:{code}", label, "count", code)
        for code, label in REFUSAL_REASONS.items()
    ]
    current = overview.current
    return {
        "overview": overview,
        "cards": cards,
        "hour_value": float(hour_value),
        "saved_money": current.totals.verified_minutes / 60 * float(hour_value),
        "planned": current.planned,
        "tokens": current.totals.tokens,
        "people_active": current.people_active,
        "people_with_budgets": current.people_with_budgets,
        "flags": current.flags,
        "refused": refused,
        "previous_label": window_label(overview.previous.window, policy),
        "previous_key": f"the {round(window.weeks)} weeks before"
        if window.kind == "weeks"
        else overview.previous.window.key,
    }


def _figure(overview: Overview, name: str, label: str, kind: str, meaning: str) -> dict[str, Any]:
    """One figure of the overview: its value, the previous window's, the change, and its trend
    by week as a chart with a text equivalent."""
    labels = tuple(w.window.key for w in overview.weeks)
    values = [w.measure(name) for w in overview.weeks]
    return {
        "name": name,
        "label": label,
        "meaning": meaning,
        "kind": kind,
        "value": overview.current.measure(name),
        "previous": overview.previous.measure(name),
        "change": overview.change(name),
        "chart": trend_svg(labels, chart_values(values), kind),
        "chart_label": f"{label} by week, {labels[0]} to {labels[-1]}: "
        + ", ".join(_plain_value(v, kind) for v in values),
    }


def _plain_value(value: float | None, kind: str) -> str:
    if value is None:
        return "none"
    if kind in ("pct", "signed_pct"):
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}"


def teams_context(session: Session, view: View) -> dict[str, Any]:
    groups = teams_by_use_case(session, view)
    out = []
    for use_case, teams in groups.items():
        shown = [t for t in teams if t.tokens_per_accepted is not None]
        out.append(
            {
                "use_case": use_case,
                "teams": teams,
                "chart": bars_svg(
                    tuple(t.team for t in shown),
                    tuple(float(t.tokens_per_accepted or 0) for t in shown),
                    "budget tokens per accepted result",
                    tuple(bool(t.outlier) for t in shown),
                )
                if shown
                else None,
            }
        )
    return {"groups": out}


def workflows_context(session: Session, view: View) -> dict[str, Any]:
    found, rework = workflows(session, view)
    top = [w for w in found if w.totals.accepted_per_1k_tokens][:12]
    return {
        "workflows": found,
        "rework": rework,
        "chart": bars_svg(
            tuple(f"{w.use_case} / {w.template or w.template_id or 'no template'}" for w in top),
            tuple(float(w.totals.accepted_per_1k_tokens or 0) for w in top),
            "accepted results per 1,000 budget tokens",
        )
        if top
        else None,
    }


def finance_context(session: Session, view: View) -> dict[str, Any]:
    names = team_names(session)
    teams = totals_by(session, view, "team_id")
    use_cases = totals_by(session, view, "use_case")
    rows = spend_in(session, view)
    by_team = _by_cost((team_label(names, t), x.tokens, x.cost_micros) for t, x in teams.items())
    by_use_case = _by_cost(
        (uc or "uncategorised", x.tokens, x.cost_micros) for uc, x in use_cases.items()
    )
    by_project = _by_cost((p, t, c) for p, (t, c) in spend_by(rows, "project").items())
    by_model = _by_cost((m, t, c) for m, (t, c) in spend_by(rows, "model").items())
    policy, now, person_ids = view.policy, view.now, view.person_ids
    period = period_for(policy.periods, now)
    team_ids = None
    if person_ids is not None:
        team_ids = {
            t
            for (t,) in session.execute(select(Person.team_id).where(Person.id.in_(person_ids)))
            if t
        }
    earlier = [previous_period(policy.periods, period)]
    earlier.append(previous_period(policy.periods, earlier[0]))
    earlier.append(previous_period(policy.periods, earlier[1]))
    return {
        "by_team": by_team,
        "by_use_case": by_use_case,
        "by_project": by_project,
        "by_model": by_model,
        "total": sum(teams.values(), Totals()),
        "team_chart": bars_svg(
            tuple(r["name"] for r in by_team[:15]),
            tuple(r["cost_micros"] / 1_000_000 for r in by_team[:15]),
            "spend (USD)",
        )
        if by_team
        else None,
        "forecast": forecast(session, period, now, person_ids),
        "lapsed": lapsed(session, [p.key for p in reversed(earlier)], person_ids, team_ids),
    }


def _by_cost(rows: Any) -> list[dict[str, Any]]:
    return sorted(
        ({"name": n, "tokens": t, "cost_micros": c} for n, t, c in rows),
        key=lambda r: (-r["cost_micros"], r["name"]),
    )


def people_context(session: Session, policy: Policy, scope: Scope, now: datetime) -> dict[str, Any]:
    query = select(Person).where(Person.active).order_by(Person.name)
    if scope.person_ids is not None:
        query = query.where(Person.id.in_(scope.person_ids))
    return {"people": list(session.scalars(query.limit(500))), "limited": scope.person_ids is None}


def person_context(
    session: Session,
    policy: Policy,
    viewer: Person,
    person: Person,
    now: datetime,
    current: CurrentWeeks | None,
) -> dict[str, Any]:
    """What `balance`, `score` and `flags` say about the person, on one page."""
    week = last_complete_week(policy.periods.zone, now)
    score = person_score(session, policy, person.id, week, now, current)
    score["window"] = window_context(week, policy.periods.zone)
    shows_flags = may_view(session, viewer, person)
    own = viewer.id == person.id
    return {
        "person": person,
        "own": own,
        "view": balance_for(session, person, policy, now),
        "score": score,
        "shows_flags": shows_flags,
        # Written to the person, or about them for a manager (as `flags EMAIL` in chat).
        "flags": [view_context(f, own) for f in flags_of(session, person)] if shows_flags else [],
        "timezone": policy.periods.timezone,
    }
