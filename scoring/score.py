"""A person's efficiency score: a weighted sum of components, each comparing one metric with
its use case's baseline, explained down to the point.

- index: the person's value against the baseline of the use case (1 = at the baseline, higher
  is better whichever way the metric points), between 0 and `index_cap`; ratios are shrunk
  toward the baseline first (`scoring.baselines`). A person working in several use cases gets
  the average of their per-use-case indices, weighted by task-equivalents: artifacts, or spend
  in units of the use case's baseline tokens per task when that is larger, so tokens spent
  without outcomes weigh in.
- contribution = weight x index, in points to one decimal (Decimal); the score is the sum of
  the contributions, so the components always add up to the score shown. With the default
  weights (100 in all), someone at the baseline everywhere scores 100.
- weights come from the policy's rollout phase: adoption-heavy in `incentives`, efficiency-heavy
  in `optimize`.

Use cases without a baseline (uncategorised work, or a use case nobody has data for yet) are
measured but not scored. Spend is never a component and nothing sorts by it.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from budgets.policy import Policy
from budgets.windows import Window, trailing_weeks
from scoring.baselines import Baseline, Comparison, compare, net_accepted, use_case_baselines
from scoring.config import COMPONENTS, ScoringSettings, scoring_settings
from scoring.eligibility import barred_from_recognition
from scoring.metrics import Totals, collector_paused, grouped_totals
from scoring.rollups import CurrentWeeks, current_weeks, window_sums
from scoring.templates import TemplateReport, best_template, weekly_template_reports
from storage.database import Database
from storage.models import Person, Team

log = logging.getLogger(__name__)

# The unit each component's value and baseline are in (message templates format by it).
COMPONENT_UNITS = {
    "adoption": "count",
    "acceptance": "rate",
    "revision": "edit_distance",
    "efficiency": "per_1k",
    "cost": "cost_per_accepted",
    "speed": "seconds",
    "savings": "minutes",
    "reuse": "rate",
}
# Components that are counts (summed across use cases); the rest are ratios (averaged).
COUNTS = ("adoption", "savings")
POINT = Decimal("0.1")
ZERO = Decimal(0)
# When every component is at or above its baseline, the best improvement aims this much higher.
STRETCH = 1.25


class Component(NamedTuple):
    name: str
    value: float | None  # the person's value (shrunk for ratios), in the metric's unit
    raw: float | None  # the same before shrinkage: what the person actually did
    baseline: float | None
    index: Decimal  # type: ignore[assignment]  # (shadows tuple.index, which nothing calls)
    weight: Decimal
    contribution: Decimal  # weight x index, to 0.1 point


class UseCaseResult(NamedTuple):
    use_case: str
    totals: Totals
    baseline: Baseline
    share: float  # of the person's task-equivalents across scored use cases
    comparisons: dict[str, Comparison]  # component -> its comparison in this use case


@dataclass(frozen=True)
class PersonScore:
    person_id: int
    window: str
    score: Decimal
    components: tuple[Component, ...]
    totals: Totals  # every use case, uncategorised included
    use_cases: tuple[UseCaseResult, ...]  # the scored ones, largest share first

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    @property
    def main_use_case(self) -> UseCaseResult:
        return self.use_cases[0]


def _task_equivalents(t: Totals, b: Baseline) -> float:
    spend = t.tokens / b.tokens_per_task if b.tokens_per_task else 0.0
    return max(float(t.artifacts), spend)


# Indices are capped and kept to 0.01, so a few hundred distinct ones (and contributions) recur
# across thousands of people: made once each.
@lru_cache(maxsize=8192)
def _hundredths(text: str) -> Decimal:
    return Decimal(text)


@lru_cache(maxsize=8192)
def _points(weight: Decimal, index: Decimal) -> Decimal:
    """weight x index, to 0.1 point."""
    return (weight * index).quantize(POINT)


def _sum_totals(by_use_case: dict[str, Totals]) -> Totals:
    """Every use case's totals added up."""
    if len(by_use_case) == 1:
        return next(iter(by_use_case.values()))
    return sum(by_use_case.values(), Totals())


def _means(
    found: list[tuple[float, Comparison]],
) -> tuple[float | None, float | None, float | None]:
    """The share-weighted means of the values, the raw values and the baselines, each over
    those that are not None (None when all are)."""
    value_weight = value_sum = raw_weight = raw_sum = base_weight = base_sum = 0.0
    for share, c in found:
        if c.value is not None:
            value_weight += share
            value_sum += share * c.value
        if c.raw is not None:
            raw_weight += share
            raw_sum += share * c.raw
        if c.baseline is not None:
            base_weight += share
            base_sum += share * c.baseline
    return (
        value_sum / value_weight if value_weight else None,
        raw_sum / raw_weight if raw_weight else None,
        base_sum / base_weight if base_weight else None,
    )


def score_person(
    person_id: int,
    by_use_case: dict[str, Totals],
    baselines: dict[str, Baseline],
    settings: ScoringSettings,
    weights: dict[str, Decimal],
    window: Window,
) -> PersonScore | None:
    """The person's score in `window` from their totals per use case; None when none of their
    use cases has a baseline."""
    cap = float(settings.index_cap)
    prior = float(settings.prior_weight)
    weeks = window.weeks
    scored = []
    for use_case, totals in by_use_case.items():
        baseline = baselines.get(use_case) if use_case else None
        if baseline is not None:
            weight = _task_equivalents(totals, baseline)
            if weight > 0:
                scored.append((use_case, totals, baseline, weight))
    if not scored:
        return None
    total_weight = sum(item[3] for item in scored)
    results = sorted(
        (
            UseCaseResult(
                use_case,
                totals,
                baseline,
                weight / total_weight,
                compare(totals, baseline, prior, weeks, cap),
            )
            for use_case, totals, baseline, weight in scored
        ),
        key=lambda r: (-r.share, r.use_case),
    )
    components = []
    only = results[0] if len(results) == 1 else None
    for name in COMPONENTS:
        value: float | None
        raw: float | None
        reference: float | None
        if only is not None:  # the common case: one use case, nothing to average
            c = only.comparisons[name]
            value, raw, reference, index_value = c.value, c.raw, c.baseline, c.index
        else:
            found = [(r.share, r.comparisons[name]) for r in results]
            index_value = sum(share * c.index for share, c in found)
            if name in COUNTS:  # counts add up across use cases
                value = raw = sum(c.value or 0.0 for _share, c in found)
                references = [c.baseline for _share, c in found if c.baseline is not None]
                reference = sum(references) if references else None
            else:
                value, raw, reference = _means(found)
        index = _hundredths(f"{index_value:.2f}")  # to 0.01, straight from the float
        points = weights.get(name, ZERO)
        components.append(
            Component(name, value, raw, reference, index, points, _points(points, index))
        )
    return PersonScore(
        person_id=person_id,
        window=window.key,
        score=sum((c.contribution for c in components), ZERO),
        components=tuple(components),
        totals=_sum_totals(by_use_case),
        use_cases=tuple(results),
    )


# --- the scoreboard: everyone's scores in one window ---------------------------------------


@dataclass(frozen=True)
class PersonInfo:
    id: int
    name: str
    email: str
    team_id: int | None
    team: str | None
    manager_id: int | None
    active: bool


@dataclass(frozen=True)
class Scoreboard:
    """Everything recognition needs for one window, computed once."""

    window: Window
    phase: str
    settings: ScoringSettings
    weights: dict[str, Decimal]
    baselines: dict[str, Baseline]
    scores: dict[int, PersonScore]
    person_totals: dict[int, Totals]  # everyone with usage or outcomes in the window
    people: dict[int, PersonInfo]
    # People a flag not cleared keeps out of recognition in the window (the window's weeks,
    # the week after, the weeks the detectors still watch: `scoring.eligibility`): never
    # eligible, never named.
    flagged: frozenset[int]
    templates: dict[str, TemplateReport]  # over the baseline weeks and the window (no people)
    templates_in_window: dict[str, TemplateReport]
    teams: dict[int, str] = field(default_factory=dict)


def load_people(session: Session) -> dict[int, PersonInfo]:
    teams = dict(session.execute(select(Team.id, Team.name)).all())
    return {
        pid: PersonInfo(
            pid,
            name,
            email,
            team_id,
            teams.get(team_id) if team_id is not None else None,
            manager_id,
            bool(active),
        )
        for pid, name, email, team_id, manager_id, active in session.execute(
            select(
                Person.id,
                Person.name,
                Person.email,
                Person.team_id,
                Person.manager_id,
                Person.active,
            )
        )
    }


_STORING = threading.Lock()


class ScoredWeeks(NamedTuple):
    """What `store_scored_weeks` found or built: `current` is what a read of the scored week
    can take as stored (pass it to `build_scoreboard`), None when the build was given up."""

    current: CurrentWeeks | None
    stored: bool  # something was built and committed


def store_scored_weeks(db: Database, policy: Policy, window: Window, now: datetime) -> ScoredWeeks:
    """Store the rollups and summaries of the closed weeks a score of `window` reads (the week
    and its baseline weeks), when some are missing or stale.

    The Monday job stores them; until it has run (a new install, a week it missed) every
    `score`, `leaderboard` and App Home refresh would otherwise recompute the whole org's
    weeks from the events, seconds each at 10,000 people. Checking costs a few counts, and
    the answer spares the read that follows from counting again (events arriving in between
    are as late as those arriving during the read). One build at a time per process; a build
    that collides with another process's is given up (the read then computes from the events,
    as before)."""
    settings = scoring_settings(policy)
    weeks = [*trailing_weeks(policy.periods.zone, window.start, settings.trailing_weeks), window]
    closed = {w.key for w in weeks if w.kind == "week" and w.end <= now}
    with db.read() as session:
        current = current_weeks(session, weeks, now, store=False)
    if closed <= current.summaries:
        return ScoredWeeks(current, stored=False)
    with _STORING:
        try:
            with db.unit_of_work() as uow:
                current = current_weeks(uow.session, weeks, now, store=True)
                uow.commit()
        except DBAPIError as problem:
            log.warning("scored weeks not stored (computed from the events instead): %s", problem)
            return ScoredWeeks(None, stored=False)
    return ScoredWeeks(current, stored=True)


def build_scoreboard(
    session: Session,
    policy: Policy,
    window: Window,
    now: datetime,
    *,
    store: bool = False,
    person_ids: Iterable[int] | None = None,
    current: CurrentWeeks | None = None,
) -> Scoreboard:
    """Baselines, scores and template reports for `window`. `store` keeps the closed weeks'
    rollups (the caller commits); `person_ids` limits the scores (baselines stay org-wide);
    `current`: a `current_weeks` answer over the window and its baseline weeks already at
    hand (not checked again)."""
    settings = scoring_settings(policy)
    weights = settings.weights_for(policy.phase)
    history = trailing_weeks(policy.periods.zone, window.start, settings.trailing_weeks)
    if current is None:
        current = current_weeks(session, [*history, window], now, store=store)
    baselines = use_case_baselines(
        session, policy, window, now, settings.trailing_weeks, current=current
    )
    rows = window_sums(session, [window], now, current=current.rollups)
    ids = list(person_ids) if person_ids is not None else None
    by_person: dict[int, dict[str, Totals]] = defaultdict(dict)
    scores = {}
    person_totals = {}
    with collector_paused():
        for (pid, use_case), totals in grouped_totals(
            session, rows, ("person_id", "use_case"), ids
        ).items():
            by_person[pid][use_case] = totals
        for pid, by_use_case in by_person.items():
            score = score_person(pid, by_use_case, baselines, settings, weights, window)
            if score is not None:
                scores[pid] = score
                person_totals[pid] = score.totals
            else:
                person_totals[pid] = _sum_totals(by_use_case)
    people = load_people(session)
    return Scoreboard(
        window=window,
        phase=policy.phase,
        settings=settings,
        weights=weights,
        baselines=baselines,
        scores=scores,
        person_totals=person_totals,
        people=people,
        flagged=barred_from_recognition(session, policy, window),
        templates=weekly_template_reports(
            session, [*history, window], now, current, count_people=False
        ),
        templates_in_window=weekly_template_reports(session, [window], now, current),
        teams={p.team_id: p.team for p in people.values() if p.team_id is not None and p.team},
    )


# --- the one change that would raise a score most ------------------------------------------


@dataclass(frozen=True)
class Improvement:
    """The one change worth the most points, in the numbers a person can act on."""

    component: str
    use_case: str
    value: float | None  # the person's unshrunk value, in `unit` (None: nothing to divide)
    baseline: float
    unit: (
        str  # tokens_per_accepted, cost_per_accepted, rate, edit_distance, seconds, count, minutes
    )
    points: Decimal  # about this many points more
    artifacts: int  # the person's artifacts in the use case (the sample behind `value`)
    # True when every component is at or above its baseline already: the aim is `target`,
    # 25% better than now, rather than the baseline.
    stretch: bool = False
    target: float | None = None
    template: TemplateReport | None = None  # a template that would help, when one does

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


# Units whose value cannot get better past a bound (100% accepted, no edits at all).
_BOUNDED = {"rate": 1.0, "edit_distance": 0.0}
_LOWER_IS_BETTER_UNITS = ("tokens_per_accepted", "cost_per_accepted", "edit_distance", "seconds")


def readable_value(
    component: str, t: Totals, b: Baseline, weeks: float
) -> tuple[float | None, float | None, str]:
    """(the person's raw value, the baseline, unit) as people read them."""
    if component == "efficiency":
        base = 1000 / b.accepted_per_1k_tokens if b.accepted_per_1k_tokens else None
        return (t.tokens / t.accepted if t.accepted else None), base, "tokens_per_accepted"
    if component == "cost":
        return t.cost_per_accepted, b.cost_per_accepted, "cost_per_accepted"
    if component == "acceptance":
        value = net_accepted(t) / t.artifacts if t.artifacts else None
        return value, b.net_acceptance, "rate"
    if component == "reuse":
        return t.template_reuse_rate, b.template_reuse_rate, "rate"
    if component == "revision":
        return t.revision_burden, b.revision_burden, "edit_distance"
    if component == "speed":
        return t.first_draft_seconds, b.first_draft_seconds, "seconds"
    if component == "adoption":
        base = b.accepted_per_week * weeks if b.accepted_per_week is not None else None
        return float(t.accepted), base, "count"
    base = b.verified_minutes_per_week * weeks if b.verified_minutes_per_week is not None else None
    return t.verified_minutes, base, "minutes"


def _stretch_target(value: float | None, unit: str) -> float | None:
    """25% better than `value`, or None when the value cannot improve (at its bound)."""
    if value is None or _BOUNDED.get(unit) == value:
        return None
    if unit in _LOWER_IS_BETTER_UNITS:
        return value / STRETCH
    target = value * STRETCH if value else 1.0
    return min(target, _BOUNDED.get(unit, target))


def best_improvement(score: PersonScore, board: Scoreboard) -> Improvement | None:
    """The component and use case where reaching the baseline adds the most points; when
    every component is at or above it, where doing 25% better does. None when nothing would."""
    cap = float(board.settings.index_cap)
    weeks = board.window.weeks
    below: list[tuple[float, str, UseCaseResult]] = []
    stretch: list[tuple[float, str, UseCaseResult]] = []
    for result in score.use_cases:
        for name in COMPONENTS:
            weight = float(board.weights.get(name, 0))
            index = result.comparisons[name].index
            if weight <= 0:
                continue
            if index < 1:
                below.append((weight * result.share * (1 - index), name, result))
                continue
            value, _baseline, unit = readable_value(name, result.totals, result.baseline, weeks)
            if _stretch_target(value, unit) is not None and index < cap:
                gain = weight * result.share * (min(cap, index * STRETCH) - index)
                stretch.append((gain, name, result))
    candidates = below or stretch
    if not candidates:
        return None
    gain, name, result = max(candidates, key=lambda c: (c[0], c[1]))
    value, baseline, unit = readable_value(name, result.totals, result.baseline, weeks)
    if baseline is None:
        return None
    return Improvement(
        component=name,
        use_case=result.use_case,
        value=value,
        baseline=baseline,
        unit=unit,
        points=Decimal(gain).quantize(POINT),
        artifacts=result.totals.artifacts,
        stretch=not below,
        target=_stretch_target(value, unit) if not below else None,
        template=best_template(board.templates, result.use_case)
        if name in ("efficiency", "cost", "reuse")
        else None,
    )
