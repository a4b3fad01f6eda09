"""The figures the web dashboard shows, as facts, for a window and a scope (everyone, or a set
of people): the overview with its weekly trend and the change against the previous window,
teams side by side per use case with outliers, and workflows.

Nothing here computes a figure a second way. Every sum comes from `scoring.rollups` and
`scoring.metrics` (`window_sums` -> `grouped_totals`, the rows `score`, the leaderboard and the
monthly review read), every ratio is a `Totals` property, plans and flag counts are the
monthly review's own (`scoring.review`), so for a calendar month and the same people the
overview says what the review job says in chat (a test holds them together). Refused
authorize calls are `budgets.refusals`' counts by reason. Windows are a
week (`2026-W49`), a calendar month (`2026-12`, the budget period under a monthly policy) or a
quarter (`2026-Q4`).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from budgets.periods import period_for
from budgets.policy import Policy
from budgets.refusals import refusals_by_reason
from budgets.spend import SpendRow, spend_rows_of
from budgets.windows import (
    Window,
    last_complete_week,
    previous_week,
    week_by_key,
    week_keys_between,
    week_of,
)
from scoring.metrics import Totals, grouped_totals
from scoring.plans import planned_tokens
from scoring.review import (
    MIN_ARTIFACTS,
    FlagCount,
    flag_counts,  # the review's own counting: the same figures in chat and on the page
    month_before,
    month_window,
    people_in_scope,
    quarter_before,
    quarter_window,
    team_plans,
)
from scoring.rollups import current_rollups, is_stored_kind, window_spend, window_sums
from storage.models import PromptTemplate, Team

_WEEK = re.compile(r"^\d{4}-W\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_QUARTER = re.compile(r"^\d{4}-Q[1-4]$")
_ROLLING = re.compile(r"^([1-9]\d?)W$")  # the last N complete weeks: 4W, 13W
OUTLIER_FACTOR = 1.5  # a team at 1.5x the use case's median (of teams) stands out


@dataclass(frozen=True)
class View:
    """What a screen asks for: `window` as of `now`, for `person_ids` (None: everyone), reading
    the closed weeks in `current` from their rollups (a `current_rollups` answer at hand; None:
    checked here, without building any)."""

    policy: Policy
    window: Window
    now: datetime
    person_ids: Iterable[int] | None = None
    current: set[str] | None = None


# --- windows -------------------------------------------------------------------------------


def window_by_key(policy: Policy, key: str, now: datetime | None = None) -> Window:
    """`2026-W49`, `2026-12`, `2026-Q4`, or `4W` (the last 4 complete weeks before `now`: whole
    closed weeks, so read from their rollups alone); ValueError names the forms."""
    key = key.strip().upper()
    zone = policy.periods.zone
    rolling = _ROLLING.match(key)
    if rolling and now is not None:
        last = last_complete_week(zone, now)
        first = last
        for _ in range(int(rolling[1]) - 1):
            first = previous_week(zone, first)
        return Window(key, "weeks", first.start, last.end)
    if _WEEK.match(key):
        return week_by_key(zone, key)
    if _MONTH.match(key):
        return month_window(policy, key)
    if _QUARTER.match(key):
        return quarter_window(policy, key)
    raise ValueError(
        f"period {key!r} is not a week (2026-W49), a month (2026-12) or a quarter (2026-Q4)"
    )


def previous_window(policy: Policy, window: Window) -> Window:
    if window.kind == "week":
        return previous_week(policy.periods.zone, window)
    if window.kind == "month":
        return month_window(policy, month_before(window.key))
    if window.kind == "weeks":  # the same number of weeks just before
        zone, first = policy.periods.zone, week_of(policy.periods.zone, window.start)
        start = first
        for _ in range(round(window.weeks)):
            start = previous_week(zone, start)
        return Window(f"{window.key}-before", "weeks", start.start, window.start)
    return quarter_window(policy, quarter_before(window.key))


def month_key(policy: Policy, now: datetime) -> str:
    local = now.astimezone(policy.periods.zone)
    return f"{local.year}-{local.month:02d}"


def quarter_key(policy: Policy, now: datetime) -> str:
    local = now.astimezone(policy.periods.zone)
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def week_key_of(policy: Policy, now: datetime) -> str:
    return week_of(policy.periods.zone, now).key


def weeks_in(policy: Policy, window: Window) -> list[Window]:
    """The ISO weeks `window` overlaps, oldest first (a month's trend by week)."""
    zone = policy.periods.zone
    return [week_by_key(zone, k) for k in week_keys_between(zone, window.start, window.end)]


# --- the overview --------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowFigures:
    """One window's figures for a scope."""

    window: Window
    totals: Totals
    people_with_budgets: int  # active people in scope with a baseline allotment
    people_active: int  # ... who spent tokens in the window
    planned: int  # baselines pro rata plus team pools (the monthly review's plan)
    flags: tuple[FlagCount, ...]
    refused: tuple[tuple[str, int], ...] = ()  # refused authorize calls by reason code

    def refused_for(self, code: str) -> int:
        return dict(self.refused).get(code, 0)

    @property
    def refused_total(self) -> int:
        return sum(n for _, n in self.refused)

    @property
    def adoption(self) -> float | None:
        return self.people_active / self.people_with_budgets if self.people_with_budgets else None

    @property
    def variance(self) -> float | None:
        return self.totals.tokens / self.planned - 1 if self.planned else None

    @property
    def flags_total(self) -> int:
        return sum(f.total for f in self.flags)

    def measure(self, name: str) -> float | None:
        """A figure by name: a Totals metric, adoption, variance, a count of exceptions, or
        `refused:<code>`, the refused calls of one reason."""
        if name in ("adoption", "variance", "flags_total", "refused_total"):
            return getattr(self, name)
        if name.startswith("refused:"):
            return self.refused_for(name.removeprefix("refused:"))
        value = getattr(self.totals, name)
        return None if value is None else float(value)


@dataclass(frozen=True)
class Overview:
    current: WindowFigures
    previous: WindowFigures
    weeks: tuple[WindowFigures, ...]

    def change(self, name: str) -> float | None:
        """Relative change against the previous window (None when it had nothing)."""
        now, before = self.current.measure(name), self.previous.measure(name)
        if now is None or not before:
            return None
        return now / before - 1


MEASURES = (
    "adoption",
    "tokens_per_task",
    "acceptance_rate",
    "revision_burden",
    "first_draft_seconds",
    "verified_minutes",
    "cost_micros",
    "variance",
    "flags_total",
    "refused_total",
)


def trend_weeks(policy: Policy, window: Window, now: datetime, minimum: int = 6) -> list[Window]:
    """The weeks a window's trend shows, oldest first: those it overlaps that have begun by
    `now`, and when they are fewer than `minimum` (early in a month), the weeks before them."""
    weeks = [w for w in weeks_in(policy, window) if w.start <= now] or [
        week_of(policy.periods.zone, min(now, window.start))
    ]
    while len(weeks) < minimum:
        weeks.insert(0, previous_week(policy.periods.zone, weeks[0]))
    return weeks


def pieces(policy: Policy, window: Window, now: datetime) -> list[Window]:
    """`window` as disjoint parts whose sums add up to its own: each ISO week wholly inside it
    that has ended, and the whole days its edges share with a week once they have ended (both
    read from their rollups when current: `scoring.rollups.STORED_KINDS`), and what falls in
    the running week (aggregated live). Every sum is additive over time, so the totals of the
    parts are the window's totals, whichever way `window_sums` reads each part."""
    if window.kind == "week":
        return [window]
    parts = []
    for week in weeks_in(policy, window):
        start, end = max(week.start, window.start), min(week.end, window.end)
        if (start, end) == (week.start, week.end) and week.end <= now:
            parts.append(week)
        elif start < end:
            parts.append(edge_days(policy, week, start, end, window.key, now))
    return parts


def edge_days(
    policy: Policy, week: Window, start: datetime, end: datetime, owner: str, now: datetime
) -> Window:
    """The days [start, end) of `week` at the edge of a window keyed `owner`: once ended, a
    "days" window keyed by the week and the days (`2026-W44-6`: its first 6 days, `2026-W44+6`:
    from its 7th day), the same key whichever window it is cut for, so one rollup serves the
    month, the quarter and the previous period alike; else a live "part"."""
    zone = policy.periods.zone
    first = week.start.astimezone(zone).date()
    if end <= now and start == week.start:
        return Window(
            f"{week.key}-{(end.astimezone(zone).date() - first).days}", "days", start, end
        )
    if end <= now and end == week.end:
        return Window(
            f"{week.key}+{(start.astimezone(zone).date() - first).days}", "days", start, end
        )
    return Window(f"{owner}/{week.key}", "part", start, end)


class _Plans:
    """The scope's planned tokens per window, through `planned_tokens` and the review's
    `team_plans`, asked once per budget period and window length (their only inputs besides
    the directory), so a quarter's 14 weeks cost two reads of the directory, not 14."""

    def __init__(self, session: Session, policy: Policy, people: dict[int, Any]):
        self.session, self.policy, self.people = session, policy, people
        self.found: dict[tuple[str, float], int] = {}

    def __call__(self, window: Window) -> int:
        key = (period_for(self.policy.periods, window.start).key, window.days)
        if key not in self.found:
            plans = planned_tokens(self.session, self.policy, window)
            by_team = team_plans(self.session, self.policy, window, plans, self.people)
            self.found[key] = sum(by_team.values())
        return self.found[key]


def budget_tiers(policy: Policy) -> list[str]:
    """Tiers whose people get a baseline allotment: "people with a budget"."""
    return [name for name, tier in policy.tiers.items() if tier.baseline > 0]


def overview_windows(policy: Policy, window: Window, now: datetime) -> list[Window]:
    """What an overview of `window` reads: its pieces, its previous window's, its trend weeks."""
    previous = previous_window(policy, window)
    found = [*trend_weeks(policy, window, now), *pieces(policy, window, now)]
    found += pieces(policy, previous, now)
    return list({w.key: w for w in found}.values())


def build_overview(session: Session, view: View) -> Overview:
    """The window, the one before it and the weeks of its trend, for the view's people.
    Closed weeks and edge days are read from their rollups when current (see also
    `store_rollups`), so a month or a quarter costs the running week, not its events. People
    with a budget are the active people in scope whose tier has a baseline; active ones spent
    budget tokens in the window."""
    policy, window, now, person_ids = view.policy, view.window, view.now, view.person_ids
    current = view.current
    people = people_in_scope(session, person_ids)
    ids = None if person_ids is None else list(people)
    previous = previous_window(policy, window)
    weeks = trend_weeks(policy, window, now)
    parts = {w: pieces(policy, w, now) for w in (window, previous)}
    sub_windows = overview_windows(policy, window, now)
    if current is None:
        current = current_rollups(session, sub_windows, now, store=False)
    tiers = set(budget_tiers(policy))
    with_budgets = sum(1 for row in people.values() if row.active and row.tier in tiers)
    eligible = {pid for pid, row in people.items() if row.active and row.tier in tiers}
    totals: dict[str, Totals] = {}
    spenders: dict[str, set[int]] = {}
    stored = [w for w in sub_windows if is_stored_kind(w) and w.key in current]
    if stored:  # rollups: cheap to read twice, once per window and once per spender
        rows = window_sums(session, stored, now, current=current)
        by_window = grouped_totals(session, rows, ("window",), ids)
        totals.update((key[0], t) for key, t in by_window.items())
        spenders.update(_spenders(session, rows, eligible))
    live = [w for w in sub_windows if not (is_stored_kind(w) and w.key in current)]
    if live:  # aggregated from the events: read once, per window and person
        rows = window_sums(session, live, now, current=current)
        for (key, pid), t in grouped_totals(session, rows, ("window", "person_id"), ids).items():
            totals[key] = totals.get(key, Totals()) + t
            if t.tokens > 0 and pid in eligible:
                spenders.setdefault(key, set()).add(pid)
    plans = _Plans(session, policy, people)
    scope_ids = set(people)

    def figures(w: Window, keys: Sequence[str]) -> WindowFigures:
        found = [spenders[k] for k in keys if k in spenders]
        active = len(found[0]) if len(found) == 1 else len(set().union(*found))
        return WindowFigures(
            window=w,
            totals=sum((totals[k] for k in keys if k in totals), Totals()),
            people_with_budgets=with_budgets,
            people_active=active,
            planned=plans(w),
            flags=flag_counts(session, policy, w, scope_ids),
            refused=tuple(sorted(refusals_by_reason(session, w.start, w.end, ids).items())),
        )

    return Overview(
        current=figures(window, [p.key for p in parts[window]]),
        previous=figures(previous, [p.key for p in parts[previous]]),
        weeks=tuple(figures(w, [w.key]) for w in weeks),
    )


def _spenders(session: Session, rows: Any, eligible: set[int]) -> dict[str, set[int]]:
    """Per window key of `window_sums` rows, the `eligible` people who spent tokens in it."""
    sub = rows.subquery("spend")
    query = select(sub.c.window, sub.c.person_id).where(sub.c.tokens > 0).distinct()
    found: dict[str, set[int]] = {}
    for key, pid in session.execute(query):
        if pid in eligible:
            found.setdefault(key, set()).add(pid)
    return found


def store_rollups(session: Session, policy: Policy, window: Window, now: datetime) -> None:
    """Build the rollups of the closed weeks an overview of `window` reads, as the Monday job
    and `score` do (the caller commits), so pages read sums instead of events."""
    current_rollups(session, overview_windows(policy, window, now), now, store=True)


# --- teams side by side --------------------------------------------------------------------


@dataclass(frozen=True)
class TeamUseCase:
    team_id: int | None
    team: str
    use_case: str
    totals: Totals
    outlier: tuple[str, ...]  # which figures stand out: tokens_per_accepted, revision_burden

    @property
    def tokens_per_accepted(self) -> float | None:
        return self.totals.tokens / self.totals.accepted if self.totals.accepted else None


def outliers(values: dict[Any, float | None], factor: float = OUTLIER_FACTOR) -> set[Any]:
    """Keys whose value is at least `factor` times the median of the defined values (needs
    three values or more: with two, neither is "the usual")."""
    defined = [v for v in values.values() if v is not None]
    if len(defined) < 3:
        return set()
    median = statistics.median(defined)
    if median <= 0:
        return set()
    return {k for k, v in values.items() if v is not None and v >= factor * median}


def team_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Team.id, Team.name)).all())


def window_rows(session: Session, view: View) -> Any:
    """`window_sums` rows of the view's window's `pieces`: grouped without "window", the
    window's."""
    return window_sums(
        session, pieces(view.policy, view.window, view.now), view.now, current=view.current
    )


def view_totals(session: Session, view: View, by: Sequence[str]) -> dict[tuple[Any, ...], Totals]:
    """The view's totals grouped `by` (team_id, use_case, template_id, ...), for its people."""
    ids = None if view.person_ids is None else list(people_in_scope(session, view.person_ids))
    return grouped_totals(session, window_rows(session, view), by, ids)


def team_label(names: dict[int, str], team_id: int | None) -> str:
    return names.get(team_id, "No team") if team_id is not None else "No team"


def teams_by_use_case(session: Session, view: View) -> dict[str, list[TeamUseCase]]:
    """Per use case (uncategorised work left out), each team's totals, outliers marked."""
    grouped = view_totals(session, view, ("use_case", "team_id"))
    names = team_names(session)
    by_use_case: dict[str, dict[int | None, Totals]] = {}
    for (use_case, team_id), totals in grouped.items():
        if use_case:
            by_use_case.setdefault(use_case, {})[team_id] = totals
    out: dict[str, list[TeamUseCase]] = {}
    for use_case, teams in sorted(by_use_case.items()):
        per_accepted = {
            t: (x.tokens / x.accepted if x.accepted else None) for t, x in teams.items()
        }
        burden = {t: x.revision_burden for t, x in teams.items()}
        high_cost, heavy_edits = outliers(per_accepted), outliers(burden)
        out[use_case] = sorted(
            (
                TeamUseCase(
                    team_id,
                    team_label(names, team_id),
                    use_case,
                    totals,
                    tuple(
                        name
                        for name, found in (
                            ("tokens_per_accepted", high_cost),
                            ("revision_burden", heavy_edits),
                        )
                        if team_id in found
                    ),
                )
                for team_id, totals in teams.items()
            ),
            key=lambda t: t.team,
        )
    return out


# --- workflows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Workflow:
    use_case: str
    template_id: str | None
    template: str | None
    totals: Totals


@dataclass(frozen=True)
class Rework:
    team: str
    use_case: str
    totals: Totals


def workflows(session: Session, view: View) -> tuple[list[Workflow], list[Rework]]:
    """Use cases and templates by accepted output per 1,000 tokens (best first), and where
    rework concentrates: team and use case by revision burden, from `MIN_ARTIFACTS` edited
    results (the review's hot spots, not cut to its top five)."""
    names = dict(session.execute(select(PromptTemplate.id, PromptTemplate.name)).all())
    found = [
        Workflow(uc, template or None, names.get(template) if template else None, t)
        for (uc, template), t in view_totals(session, view, ("use_case", "template_id")).items()
        if uc and (t.tokens or t.artifacts)
    ]
    found.sort(
        key=lambda w: (
            -(w.totals.accepted_per_1k_tokens or 0.0),
            -w.totals.artifacts,
            w.use_case,
            w.template_id or "",
        )
    )
    teams = team_names(session)
    rework = [
        Rework(team_label(teams, team_id), uc, t)
        for (team_id, uc), t in view_totals(session, view, ("team_id", "use_case")).items()
        if uc and t.edited >= MIN_ARTIFACTS
    ]
    rework.sort(
        key=lambda r: (-(r.totals.revision_burden or 0.0), -r.totals.edited, r.team, r.use_case)
    )
    return found, rework


def totals_by(session: Session, view: View, by: str) -> dict[Any, Totals]:
    """Totals per team_id or use_case (spend by team and by use case on the finance page)."""
    return {key[0]: t for key, t in view_totals(session, view, (by,)).items()}


def spend_in(session: Session, view: View) -> list[SpendRow]:
    """`budgets.spend.spend_rows` of the view's window (by team, project, use case and
    model), read from the stored spend of its `pieces` where current: the finance page and
    its chargeback CSV. The same sums as the events give (a test holds them equal)."""
    parts = pieces(view.policy, view.window, view.now)
    current = view.current
    if current is None:
        current = current_rollups(session, parts, view.now, store=False)
    return spend_rows_of(session, window_spend(parts, current), view.person_ids)
