"""What is typical for a use case, and how far one person's record may be trusted.

Baseline: for each use case and metric, the org's median over the person-weeks of the trailing
`trailing_weeks` complete weeks before the window being scored, counting the person-weeks in
which the metric is defined (tokens per task needs artifacts and tokens, revision burden needs
edited accepted work, ...). Medians, so one outlier does not move the bar; use-case by use-case,
so an SEO brief is judged against SEO briefs.

Shrinkage: a person's ratio is computed as if they had also done `prior_weight` (k) tasks
exactly at the baseline: (their numerator + k tasks' worth at the baseline) / (their
denominator + k tasks' worth). With no data it is the baseline; with many tasks it is their own
ratio; one lucky artifact moves it a little. For accepted output per token the evidence is
counted in task-equivalents of spend (their tokens over the baseline tokens per task), so heavy
spending with little accepted output is not shrunk away.

Nothing here sorts people, and nothing ranks by tokens or money spent.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session

from budgets.policy import Policy
from budgets.windows import Window, trailing_weeks
from scoring.metrics import Totals, grouped_totals
from scoring.rollups import (
    MEDIANS,
    CurrentWeeks,
    UseCaseValues,
    current_weeks,
    merge_values,
    stored_week_values,
    values_by_use_case,
    window_sums,
)


@dataclass(frozen=True)
class Baseline:
    """A use case's medians over person-weeks; None where no person-week defines the metric."""

    use_case: str
    person_weeks: int
    tokens_per_task: float | None = None
    acceptance_rate: float | None = None
    revision_burden: float | None = None
    first_draft_seconds: float | None = None
    cost_per_accepted: float | None = None
    accepted_per_1k_tokens: float | None = None
    accepted_per_week: float | None = None
    verified_minutes_per_week: float | None = None
    template_reuse_rate: float | None = None

    @property
    def net_acceptance(self) -> float | None:
        """The acceptance component's baseline: the median acceptance rate times the share of
        accepted work left as drafted (1 - the median revision burden), so that revised work
        does not count as fully accepted and accepting good drafts as they are shows."""
        if self.acceptance_rate is None:
            return None
        return self.acceptance_rate * max(0.0, 1.0 - (self.revision_burden or 0.0))


def medians(found: dict[str, UseCaseValues]) -> dict[str, Baseline]:
    """Baselines from person-week values: per use case, the median of each metric over the
    person-weeks where it is defined."""
    baselines = {}
    for use_case, (person_weeks, columns) in found.items():
        values = {
            name: statistics.median(column)
            for name, column in zip(MEDIANS, columns, strict=True)
            if column
        }
        baselines[use_case] = Baseline(use_case, person_weeks, **values)
    return baselines


def use_case_baselines(
    session: Session,
    policy: Policy,
    window: Window,
    now: datetime,
    trailing: int,
    *,
    store: bool = False,
    current: CurrentWeeks | None = None,
) -> dict[str, Baseline]:
    """Every use case's baseline for scoring `window`: medians over the `trailing` complete
    weeks before it (`current`: a `current_weeks` answer already at hand, covering them).

    Weeks with current summaries give their stored values; any other week (the running one,
    or one whose rollup or templates changed since) is summed from its rollup or its events."""
    weeks = trailing_weeks(policy.periods.zone, window.start, trailing)
    if current is None:
        current = current_weeks(session, weeks, now, store=store)
    stored = [w.key for w in weeks if w.key in current.summaries]
    others = [w for w in weeks if w.key not in current.summaries]
    parts = [stored_week_values(session, stored)]
    if others:
        rows = window_sums(session, others, now, current=current.rollups)
        grouped = grouped_totals(session, rows, ("window", "person_id", "use_case"))
        parts.append(values_by_use_case((key[2], totals) for key, totals in grouped.items()))
    return medians(merge_values(parts))


# --- shrinkage and comparison (pure) -------------------------------------------------------


def shrink(numerator: float, denominator: float, baseline: float, prior: float) -> float | None:
    """The ratio numerator/denominator with `prior` units of denominator at `baseline` added.
    None when there is neither evidence nor prior."""
    total = denominator + prior
    if total <= 0:
        return None
    return (numerator + baseline * prior) / total


def index_against(
    value: float | None,
    baseline: float | None,
    higher_is_better: bool,
    smoothing: float,
    cap: float,
) -> float:
    """How many times better than the baseline (1 = at it), between 0 and `cap`. `smoothing`
    is added to both sides so a baseline near zero (few templates, no verified minutes yet)
    does not turn a small value into a huge multiple."""
    if value is None or baseline is None:
        return 1.0
    better, worse = (value, baseline) if higher_is_better else (baseline, value)
    better += smoothing
    worse += smoothing
    if worse <= 0:
        return cap if better > 0 else 1.0
    multiple = better / worse  # clamped to [0, cap] (without min/max: scored 200,000 times)
    return cap if multiple >= cap else multiple if multiple > 0.0 else 0.0


# Added to both sides of a comparison, per component, so a baseline near zero (few templates,
# no verified minutes yet) does not turn a small value into a huge multiple; in the units the
# values are in (artifacts, a rate, seconds, minutes). Screens name them beside the multiples.
SMOOTHING = {
    "adoption": 1.0,
    "acceptance": 0.05,
    "revision": 0.05,
    "efficiency": 0.0,
    "cost": 0.0,
    "speed": 1.0,
    "savings": 30.0,
    "reuse": 0.05,
}
HIGHER_IS_BETTER = frozenset({"adoption", "acceptance", "efficiency", "savings", "reuse"})


class Comparison(NamedTuple):
    value: float | None  # shrunk for ratios; the count itself for counts
    raw: float | None  # before shrinkage
    baseline: float | None  # in the value's terms (counts: per week times the window's weeks)
    # 1 = at the baseline, higher is better, between 0 and the cap (shadows tuple.index,
    # which nothing calls)
    index: float  # type: ignore[assignment]


def _ratio(
    numerator: float,
    denominator: float,
    baseline: float | None,
    prior: float | None,
    higher_is_better: bool,
    smoothing: float,
    cap: float,
) -> Comparison:
    raw = numerator / denominator if denominator else None
    if baseline is None:  # nothing to compare with: at the baseline
        return Comparison(raw, raw, None, 1.0)
    value = raw if prior is None else shrink(numerator, denominator, baseline, prior)
    return Comparison(
        value, raw, baseline, index_against(value, baseline, higher_is_better, smoothing, cap)
    )


def _count(value: float, baseline: float | None, smoothing: float, cap: float) -> Comparison:
    return Comparison(value, value, baseline, index_against(value, baseline, True, smoothing, cap))


def net_accepted(t: Totals) -> float:
    """Accepted artifacts, each less the share of it that was rewritten (its edit distance):
    accepted as drafted counts 1, half rewritten 0.5, rejected 0."""
    return max(0.0, t.accepted - t.edit_distance_sum)


def compare(
    t: Totals, b: Baseline, prior: float, weeks: float, cap: float
) -> dict[str, Comparison]:
    """Every score component of one use case's totals against its baseline.

    Acceptance is net of edits (`net_accepted` over artifacts, against
    `Baseline.net_acceptance`): with revised work counted as fully accepted, most use cases'
    baseline would be 100% and nobody could score above it.

    Ratios are shrunk with `prior` pseudo-tasks at the baseline; a pseudo-task is worth one
    unit of the denominator, except for accepted output per token (a task's worth of tokens,
    the baseline tokens per task) and cost per accepted artifact (a task's worth of accepted
    artifacts, the baseline acceptance rate). Counts (accepted artifacts, verified minutes)
    are not shrunk: they are compared with the weekly baseline times the window's weeks."""
    per_week = b.accepted_per_week
    minutes = b.verified_minutes_per_week
    return {
        "adoption": _count(
            t.accepted,
            per_week * weeks if per_week is not None else None,
            SMOOTHING["adoption"],
            cap,
        ),
        "acceptance": _ratio(
            net_accepted(t),
            t.artifacts,
            b.net_acceptance,
            prior,
            True,
            SMOOTHING["acceptance"],
            cap,
        ),
        "revision": _ratio(
            t.edit_distance_sum,
            t.edited,
            b.revision_burden,
            prior,
            False,
            SMOOTHING["revision"],
            cap,
        ),
        "efficiency": _ratio(
            t.accepted * 1000,
            t.tokens,
            b.accepted_per_1k_tokens,
            prior * b.tokens_per_task if b.tokens_per_task is not None else None,
            True,
            SMOOTHING["efficiency"],
            cap,
        ),
        "cost": _ratio(
            t.cost_micros,
            t.accepted,
            b.cost_per_accepted,
            prior * b.acceptance_rate if b.acceptance_rate is not None else None,
            False,
            SMOOTHING["cost"],
            cap,
        ),
        "speed": _ratio(
            t.first_draft_seconds_sum,
            t.drafts,
            b.first_draft_seconds,
            prior,
            False,
            SMOOTHING["speed"],
            cap,
        ),
        "savings": _count(
            t.verified_minutes,
            minutes * weeks if minutes is not None else None,
            SMOOTHING["savings"],
            cap,
        ),
        "reuse": _ratio(
            t.template_artifacts,
            t.artifacts,
            b.template_reuse_rate,
            prior,
            True,
            SMOOTHING["reuse"],
            cap,
        ),
    }
