"""The monthly governance review, and the quarterly team scorecard.

`build_review` computes one calendar month (policy time zone) for the org or for a set of
people (a manager's reports): who over- and under-uses against plan, the workflows (use case
and template) with the highest acceptance, revision-burden hot spots (team and use case where
accepted work needed the most editing), budget variance by team, flags by type, and the trend
against the month before. Plans are the policy's: each person's tier baseline and each team's
pool (with applied quota overrides), pro rata when the budget period is not the month.

`monthly_review` is what the scheduler calls on the 1st: the reviews for finance and admins
(the org) and for each manager (their reports); in the `optimize` phase, the month's quota
recommendations for admins; after the last month of a quarter, the quarterly scorecard, all as
facts (`MonthlyRound`) that `bot.core.presenters.review` turns into keyed private notices, each
review with its chart. Flags appear only as counts by type: a review never names a flagged
person.

`quarterly_scorecard` compares each team's quarter with the one before: token use against
accepted output, verified time saved and budget variance, with a verdict ("healthy" when value
grew at least as fast as use; "revisit incentives" when use grew and value stayed flat) and the
score weights of the policy's rollout phase.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from budgets.periods import period_for
from budgets.policy import Policy
from budgets.quotas import (
    quota_overrides,
    recommend_quotas,
    store_recommendations,
)
from budgets.windows import Window, week_keys_between
from scoring.governance import MISCONDUCT, governance_settings
from scoring.metrics import Totals, grouped_totals
from scoring.plans import planned_tokens
from scoring.rollups import window_sums
from storage.models import Flag, Person, PromptTemplate, QuotaRecommendation, Team

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
LIST_LENGTH = 10  # people per over/under list
TOP = 5  # workflows and hot spots
MIN_ARTIFACTS = 5  # before a workflow's acceptance or a hot spot's edits count
GROWING = 0.10  # a change above +10% is growth; within +-5% is flat
FLAT = 0.05


# --- windows -------------------------------------------------------------------------------


def _window(policy: Policy, key: str, first: date, months: int) -> Window:
    zone = policy.periods.zone
    index = first.year * 12 + first.month - 1 + months
    after = date(index // 12, index % 12 + 1, 1)
    return Window(
        key,
        "month" if months == 1 else "quarter",
        datetime.combine(first, time(), zone).astimezone(UTC),
        datetime.combine(after, time(), zone).astimezone(UTC),
    )


def month_window(policy: Policy, month: str) -> Window:
    """The calendar month `YYYY-MM` in the policy's time zone; ValueError names the form."""
    match = _MONTH.match(month.strip())
    if not match or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"month {month!r} is not of the form YYYY-MM, e.g. 2026-10")
    return _window(policy, month.strip(), date(int(match[1]), int(match[2]), 1), 1)


def quarter_window(policy: Policy, quarter: str) -> Window:
    """The calendar quarter `YYYY-Qn` in the policy's time zone."""
    match = _QUARTER.match(quarter.strip().upper())
    if not match:
        raise ValueError(f"quarter {quarter!r} is not of the form YYYY-Qn, e.g. 2026-Q4")
    first = date(int(match[1]), (int(match[2]) - 1) * 3 + 1, 1)
    return _window(policy, quarter.strip().upper(), first, 3)


def month_before(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def quarter_before(quarter: str) -> str:
    year, number = int(quarter[:4]), int(quarter[6])
    return f"{year - 1}-Q4" if number == 1 else f"{year}-Q{number - 1}"


def quarter_of(month: str) -> str:
    return f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"


# --- the review ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonLine:
    person_id: int
    name: str
    team: str | None
    used: int
    planned: int
    variance: float  # +0.25: 25% over plan
    acceptance: float | None


@dataclass(frozen=True)
class WorkflowLine:
    use_case: str
    template_id: str | None
    template: str | None
    artifacts: int
    accepted: int
    acceptance: float
    tokens_per_task: float | None


@dataclass(frozen=True)
class HotSpot:
    team: str | None
    use_case: str
    edited: int
    revision_burden: float  # mean edit distance of accepted work (0..1)


@dataclass(frozen=True)
class TeamLine:
    team_id: int | None
    team: str
    people: int
    tokens: int
    cost_micros: int
    planned: int
    variance: float | None
    artifacts: int
    accepted: int
    acceptance: float | None
    verified_minutes: float


@dataclass(frozen=True)
class FlagCount:
    detector: str
    pending: int = 0
    disputed: int = 0
    upheld: int = 0
    cleared: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.disputed + self.upheld + self.cleared


@dataclass(frozen=True)
class Change:
    measure: str
    this: float
    last: float

    @property
    def change(self) -> float | None:
        return self.this / self.last - 1 if self.last else None


@dataclass(frozen=True)
class MonthlyReview:
    month: str
    scope: str  # org | team
    scope_name: str
    people: int
    over_users: tuple[PersonLine, ...]
    under_users: tuple[PersonLine, ...]
    workflows: tuple[WorkflowLine, ...]
    hot_spots: tuple[HotSpot, ...]
    teams: tuple[TeamLine, ...]
    flags: tuple[FlagCount, ...]
    trend: tuple[Change, ...]
    recommendations: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def people_in_scope(session: Session, person_ids: Iterable[int] | None) -> dict[int, Any]:
    """The directory rows (id, name, team_id, tier, active) of `person_ids` (None: everyone),
    by id: the one scope of people the review, the scorecard and the dashboard count over."""
    query = select(Person.id, Person.name, Person.team_id, Person.tier, Person.active)
    rows = session.execute(query).all()
    wanted = set(person_ids) if person_ids is not None else None
    return {r.id: r for r in rows if wanted is None or r.id in wanted}


def team_plans(
    session: Session, policy: Policy, window: Window, plans: dict[int, int], people: dict[int, Any]
) -> dict[int | None, int]:
    """Planned tokens per team for `window`: its members' baselines (`plans`, by person id)
    plus the team pool (a quota override first, else the policy's), pro rata for the window's
    share of its budget period. People without a team are summed under None."""
    period = period_for(policy.periods, window.start)
    share = window.days / period.days
    overrides = quota_overrides(session, period)
    names = dict(session.execute(select(Team.id, Team.name)).all())
    out: dict[int | None, int] = defaultdict(int)
    for pid, row in people.items():
        out[row.team_id] += plans.get(pid, 0)
    for team_id in {row.team_id for row in people.values() if row.team_id is not None}:
        pool = overrides.team_pools.get(
            team_id, policy.team_pools.amount_for(names.get(team_id, ""))
        )
        out[team_id] += round(pool * share)
    return out


def flag_counts(
    session: Session, policy: Policy, window: Window, person_ids: set[int]
) -> tuple[FlagCount, ...]:
    """Gaming flags raised in the weeks `window` overlaps on `person_ids`, by detector and
    status (one FlagCount per misconduct detector, zeros included): the counts the monthly
    review prints and the dashboard's policy exceptions show."""
    weeks = week_keys_between(policy.periods.zone, window.start, window.end)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pid, detector, status, n in session.execute(
        select(Flag.person_id, Flag.detector, Flag.status, func.count())
        .where(Flag.week.in_(weeks))
        .group_by(Flag.person_id, Flag.detector, Flag.status)
    ):
        if pid in person_ids:
            counts[detector][status] += int(n)
    return tuple(
        FlagCount(
            detector,
            **{s: counts[detector].get(s, 0) for s in ("pending", "disputed", "upheld", "cleared")},
        )
        for detector in MISCONDUCT
    )


def build_review(
    session: Session,
    policy: Policy,
    month: str,
    now: datetime,
    person_ids: Iterable[int] | None = None,
    scope_name: str | None = None,
) -> MonthlyReview:
    """The review of `month` for everyone, or for `person_ids` (a manager's reports)."""
    window = month_window(policy, month)
    previous = month_window(policy, month_before(month))
    people = people_in_scope(session, person_ids)
    ids = list(people)
    rows = window_sums(session, [window], now)
    per_person = grouped_totals(session, rows, ("person_id",), ids)
    plans = planned_tokens(session, policy, window)
    rules = governance_settings(policy)
    teams = dict(session.execute(select(Team.id, Team.name)).all())

    lines = []
    for pid, row in people.items():
        planned = plans.get(pid, 0)
        if not planned or not row.active:
            continue
        t = per_person.get((pid,), Totals())
        lines.append(
            PersonLine(
                pid,
                row.name,
                teams.get(row.team_id),
                t.tokens,
                planned,
                t.tokens / planned - 1,
                t.acceptance_rate,
            )
        )
    over = sorted(
        (p for p in lines if p.variance >= rules.overspend.over_plan),
        key=lambda p: (-p.variance, p.name),
    )[:LIST_LENGTH]
    under = sorted(
        (p for p in lines if p.used <= rules.underuse.max_used * p.planned),
        key=lambda p: (p.variance, p.name),
    )[:LIST_LENGTH]

    template_names = dict(session.execute(select(PromptTemplate.id, PromptTemplate.name)).all())
    workflows = sorted(
        (
            WorkflowLine(
                uc,
                template or None,
                template_names.get(template) if template else None,
                t.artifacts,
                t.accepted,
                t.accepted / t.artifacts,
                t.tokens_per_task,
            )
            for (uc, template), t in grouped_totals(
                session, rows, ("use_case", "template_id"), ids
            ).items()
            if uc and t.artifacts >= MIN_ARTIFACTS
        ),
        key=lambda w: (-w.acceptance, -w.artifacts, w.use_case, w.template_id or ""),
    )[:TOP]
    hot_spots = sorted(
        (
            HotSpot(teams.get(team_id), uc, t.edited, t.revision_burden or 0.0)
            for (team_id, uc), t in grouped_totals(
                session, rows, ("team_id", "use_case"), ids
            ).items()
            if uc and t.edited >= MIN_ARTIFACTS
        ),
        key=lambda h: (-h.revision_burden, -h.edited, h.team or "", h.use_case),
    )[:TOP]

    team_totals = grouped_totals(session, rows, ("team_id",), ids)
    plans_by_team = team_plans(session, policy, window, plans, people)
    members: dict[int | None, int] = defaultdict(int)
    for row in people.values():
        if row.active:
            members[row.team_id] += 1
    team_lines = []
    for team_id in sorted(
        set(members) | {k[0] for k in team_totals}, key=lambda t: teams.get(t, "") if t else "~"
    ):
        t = team_totals.get((team_id,), Totals())
        planned = plans_by_team.get(team_id, 0)
        team_lines.append(
            TeamLine(
                team_id,
                teams.get(team_id, "No team") if team_id is not None else "No team",
                members.get(team_id, 0),
                t.tokens,
                t.cost_micros,
                planned,
                t.tokens / planned - 1 if planned else None,
                t.artifacts,
                t.accepted,
                t.acceptance_rate,
                t.verified_minutes,
            )
        )

    now_total = sum(per_person.values(), Totals())
    before = sum(
        grouped_totals(
            session, window_sums(session, [previous], now), ("person_id",), ids
        ).values(),
        Totals(),
    )
    flags_now = flag_counts(session, policy, window, set(ids))
    flag_counts_before = flag_counts(session, policy, previous, set(ids))
    trend = (
        Change("tokens", now_total.tokens, before.tokens),
        Change("cost_micros", now_total.cost_micros, before.cost_micros),
        Change("artifacts", now_total.artifacts, before.artifacts),
        Change("accepted", now_total.accepted, before.accepted),
        Change("acceptance", now_total.acceptance_rate or 0.0, before.acceptance_rate or 0.0),
        Change("verified_minutes", now_total.verified_minutes, before.verified_minutes),
        Change("flags", sum(f.total for f in flags_now), sum(f.total for f in flag_counts_before)),
    )
    return MonthlyReview(
        month=month,
        scope="org" if person_ids is None else "team",
        scope_name=scope_name or "the organisation",
        people=sum(1 for r in people.values() if r.active),
        over_users=tuple(over),
        under_users=tuple(under),
        workflows=tuple(workflows),
        hot_spots=tuple(hot_spots),
        teams=tuple(team_lines),
        flags=flags_now,
        trend=trend,
    )


# --- the quarterly scorecard ---------------------------------------------------------------


@dataclass(frozen=True)
class TeamScorecard:
    quarter: str
    team_id: int | None
    team: str
    tokens: int
    tokens_before: int
    accepted: int
    accepted_before: int
    acceptance: float | None
    acceptance_before: float | None
    verified_minutes: float
    verified_minutes_before: float
    variance: float | None  # spend against plan over the quarter
    verdict: str  # healthy | revisit_incentives | watch | efficient | declining | steady | new
    usage_change: float | None
    accepted_change: float | None
    minutes_change: float | None
    value_change: float | None  # the better of accepted output and verified time saved
    value_measure: str | None  # accepted | verified_minutes


def verdict(usage_change: float | None, value_change: float | None) -> str:
    """How use and value moved together (changes as fractions, None when there was nothing
    before)."""
    if usage_change is None:
        return "new"
    value = value_change if value_change is not None else 0.0
    if usage_change > GROWING:
        if value >= usage_change - FLAT:
            return "healthy"
        if value <= FLAT:
            return "revisit_incentives"
        return "watch"
    if value > FLAT:
        return "efficient"
    if value < -GROWING:
        return "declining"
    return "steady"


def quarterly_scorecard(
    session: Session,
    policy: Policy,
    quarter: str,
    now: datetime,
    person_ids: Iterable[int] | None = None,
) -> list[TeamScorecard]:
    """Each team's quarter against the quarter before (see the module docstring)."""
    window = quarter_window(policy, quarter)
    before = quarter_window(policy, quarter_before(quarter))
    people = people_in_scope(session, person_ids)
    ids = list(people)
    teams = dict(session.execute(select(Team.id, Team.name)).all())
    now_totals = grouped_totals(session, window_sums(session, [window], now), ("team_id",), ids)
    old_totals = grouped_totals(session, window_sums(session, [before], now), ("team_id",), ids)
    plans: dict[int | None, int] = defaultdict(int)
    for month in months_of(policy, window.key):
        month_plan = planned_tokens(session, policy, month)
        for team_id, amount in team_plans(session, policy, month, month_plan, people).items():
            plans[team_id] += amount
    cards = []
    for team_id in sorted(
        {k[0] for k in now_totals} | {k[0] for k in old_totals},
        key=lambda t: teams.get(t, "~") if t else "~",
    ):
        t, b = now_totals.get((team_id,), Totals()), old_totals.get((team_id,), Totals())
        usage = _change(t.tokens, b.tokens)
        accepted = _change(t.accepted, b.accepted)
        minutes = _change(t.verified_minutes, b.verified_minutes)
        options = [
            (c, m)
            for c, m in ((accepted, "accepted"), (minutes, "verified_minutes"))
            if c is not None
        ]
        value, measure = max(options) if options else (None, None)
        cards.append(
            TeamScorecard(
                quarter=quarter,
                team_id=team_id,
                team=teams.get(team_id, "No team") if team_id is not None else "No team",
                tokens=t.tokens,
                tokens_before=b.tokens,
                accepted=t.accepted,
                accepted_before=b.accepted,
                acceptance=t.acceptance_rate,
                acceptance_before=b.acceptance_rate,
                verified_minutes=t.verified_minutes,
                verified_minutes_before=b.verified_minutes,
                variance=t.tokens / plans[team_id] - 1 if plans.get(team_id) else None,
                verdict=verdict(usage, value),
                usage_change=usage,
                accepted_change=accepted,
                minutes_change=minutes,
                value_change=value,
                value_measure=measure,
            )
        )
    return cards


def _change(now: float, before: float) -> float | None:
    return now / before - 1 if before else None


def months_of(policy: Policy, quarter: str) -> list[Window]:
    first = (int(quarter[6]) - 1) * 3 + 1
    return [month_window(policy, f"{quarter[:4]}-{first + i:02d}") for i in range(3)]


# --- the monthly job -----------------------------------------------------------------------


def reports_below(session: Session, manager_id: int) -> list[int]:
    """Everyone below `manager_id` in the reporting chain (direct and indirect reports,
    sorted ids; a cycle in the directory is walked once): whom a manager's review and
    dashboard cover."""
    managers = dict(session.execute(select(Person.id, Person.manager_id)).all())
    children: dict[int, list[int]] = defaultdict(list)
    for pid, mid in managers.items():
        if mid is not None:
            children[mid].append(pid)
    found, queue, seen = [], list(children.get(manager_id, [])), {manager_id}
    while queue:
        pid = queue.pop()
        if pid in seen:
            continue
        seen.add(pid)
        found.append(pid)
        queue.extend(children.get(pid, []))
    return sorted(found)


@dataclass(frozen=True)
class MonthlyRound:
    """What the 1st of the month sends, as facts: the org review for finance and admins
    (`leaders`), each other manager's review of their reports, the month's quota
    recommendations for admins (`optimize` phase; stored), and after a quarter's last month
    the quarterly scorecard for the leaders."""

    month: str
    org: MonthlyReview
    leaders: list[int]  # person ids: finance and admins
    team_reviews: list[tuple[int, MonthlyReview]]  # (manager's person id, their reports' review)
    recommendations: list[QuotaRecommendation]
    admins: list[int]
    quarter: str | None = None
    scorecards: list[TeamScorecard] = field(default_factory=list)


def monthly_review(session: Session, policy: Policy, month: str, now: datetime) -> MonthlyRound:
    """The month's reviews, recommendations and (after a quarter's last month) scorecard.
    Recommendations are stored in the caller's unit of work (the caller commits)."""
    window = month_window(policy, month)
    recipients = (
        session.execute(select(Person).where(Person.active).order_by(Person.id)).scalars().all()
    )
    org = build_review(session, policy, month, now)
    leaders = [p for p in recipients if p.has_role("finance") or p.has_role("admin")]
    team_reviews = []
    for person in recipients:
        if person in leaders or not person.has_role("manager"):
            continue
        reports = reports_below(session, person.id)
        if not reports:
            continue
        review = build_review(session, policy, month, now, reports, f"{person.name}'s team")
        team_reviews.append((person.id, review))
    pending: list[QuotaRecommendation] = []
    if policy.phase == "optimize":
        rules = governance_settings(policy).recommendations
        proposals = recommend_quotas(session, policy, window.start, window.end, rules)
        pending = list(store_recommendations(session, month, proposals, now))
    quarter, cards = None, []
    if int(month[5:7]) % 3 == 0:
        quarter = quarter_of(month)
        cards = quarterly_scorecard(session, policy, quarter, now)
    return MonthlyRound(
        month=month,
        org=org,
        leaders=[p.id for p in leaders],
        team_reviews=team_reviews,
        recommendations=pending,
        admins=[p.id for p in recipients if p.has_role("admin")],
        quarter=quarter,
        scorecards=cards,
    )
