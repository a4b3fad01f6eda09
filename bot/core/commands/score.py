"""`score [EMAIL] [--week 2026-W47|current]`: a person's efficiency score, explained.

Each component with its value, the baseline of the use case, its weight and its contribution
(they add up to the score shown), and the one change that would raise the score most. By
default the last complete week, the one the spotlight covers. Scores are private: a person
sees their own, a manager those of their reporting line, an admin anyone's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.core.context import CommandContext
from bot.core.errors import NotAllowed, UsageError
from bot.core.messages import Reply
from bot.core.parsing import parse_options
from bot.core.presenters.spotlight import improvement_context, window_context
from bot.core.registry import registry
from budgets.directory import find_person, manages
from budgets.policy import Policy
from budgets.windows import Window, last_complete_week, week_by_key, week_of
from scoring.baselines import SMOOTHING, net_accepted
from scoring.eligibility import barring_flags, eligibility, flag_reach
from scoring.rollups import CurrentWeeks
from scoring.score import (
    COMPONENT_UNITS,
    PersonScore,
    Scoreboard,
    best_improvement,
    build_scoreboard,
    store_scored_weeks,
)

USAGE = "score [EMAIL] [--week 2026-W47|current]"


# Components shown with the counts their rate divides (accepted of artifacts, ...).
_COUNTED = {
    "acceptance": lambda t: (round(net_accepted(t), 1), t.artifacts),
    "reuse": lambda t: (t.template_artifacts, t.artifacts),
}


def smoothing_text() -> str:
    """What is added to both sides of each comparison (`scoring.baselines.SMOOTHING`)."""
    s = SMOOTHING
    return (
        f"{s['adoption']:g} accepted artifact, {s['acceptance'] * 100:g} points of a rate or "
        f"of edits, {s['speed']:g} s of drafting time, {s['savings']:g} verified minutes"
    )


def component_parts(score: PersonScore, name: str) -> list[dict[str, Any]]:
    """A component's comparison in each scored use case, with the values its index is
    computed from: the person's value as counted (shrunk toward the baseline for ratios) and
    the baseline, and the raw value beside it. With one use case the component's index is
    that use case's; with several it is their share-weighted mean (shares as shown)."""
    counted = _COUNTED.get(name)
    return [
        {
            "use_case": u.use_case,
            "share": u.share,
            "value": u.comparisons[name].value,
            "raw": u.comparisons[name].raw,
            "baseline": u.comparisons[name].baseline,
            "index": f"{u.comparisons[name].index:.2f}",
            "counts": counted(u.totals) if counted is not None else None,
        }
        for u in score.use_cases
    ]


def score_context(score: PersonScore | None, board: Scoreboard, person_id: int) -> dict[str, Any]:
    general = eligibility(board, person_id)
    per_category = [
        (spec, eligibility(board, person_id, spec)) for spec in board.settings.categories
    ]
    short = [(spec, e) for spec, e in per_category if e.why == "too_few_artifacts"]
    context: dict[str, Any] = {
        "score": None,
        "artifacts": general.artifacts,
        "min_tasks": board.settings.min_tasks,
        "flagged": general.why == "flagged",
        "inactive": general.why == "inactive",
        # Where the flags keeping the person out lie: "window", "adjacent" or "watched"
        # (`person_score` reads them).
        "flag_reach": "window",
        # Categories the person has too few artifacts for, with each one's minimum (all of
        # them: `short_everywhere`).
        "short_of": [{"label": spec.label, "min_tasks": e.min_tasks} for spec, e in short],
        "short_everywhere": bool(short) and len(short) == len(per_category),
        "trailing_weeks": board.settings.trailing_weeks,
        "prior_weight": str(board.settings.prior_weight),
        "index_cap": f"{board.settings.index_cap:g}",
        "smoothing": smoothing_text(),
    }
    if score is None:
        return context
    components = [
        {
            **c._asdict(),
            "unit": COMPONENT_UNITS[c.name],
            "index": str(c.index),
            "weight": str(c.weight),
            "contribution": str(c.contribution),
            "parts": component_parts(score, c.name),
        }
        for c in score.components
    ]
    # The person's strongest component: furthest above its baseline (then: worth more points).
    top = max(
        range(len(components)),
        key=lambda n: (score.components[n].index, score.components[n].contribution),
    )
    context.update(
        score=str(score.score),
        components=components,
        top_component=components[top],
        use_cases=[
            {"use_case": u.use_case, "share": u.share, "artifacts": u.totals.artifacts}
            for u in score.use_cases
        ],
        improvement=improvement_context(best_improvement(score, board)),
    )
    return context


def person_score(
    session: Session,
    policy: Policy,
    person_id: int,
    window: Window,
    now: datetime,
    current: CurrentWeeks | None = None,
) -> dict[str, Any]:
    """What `score` shows for one person and week; the App Home shows the same figures.
    `current`: what `store_scored_weeks` found stored, when the caller asked it."""
    board = build_scoreboard(session, policy, window, now, person_ids=[person_id], current=current)
    context = score_context(board.scores.get(person_id), board, person_id)
    flags = barring_flags(session, policy, window, person_id)
    context["flag_statuses"] = sorted(status for _, status in flags)
    if flags:
        context["flag_reach"] = flag_reach(policy.periods.zone, window, [week for week, _ in flags])
    return context


def _window(ctx: CommandContext, week: str | None) -> Window:
    zone = ctx.policy.periods.zone
    if week is None:
        return last_complete_week(zone, ctx.now)
    if week.lower() in ("current", "this"):
        return week_of(zone, ctx.now)
    try:
        return week_by_key(zone, week)
    except ValueError as exc:
        raise UsageError(str(exc), USAGE) from None


@registry.command("score", summary="Your efficiency score, explained", usage=USAGE, order=40)
def score(ctx: CommandContext) -> Reply:
    words, options = parse_options(ctx.words, {"week"}, USAGE)
    if len(words) > 1:
        raise UsageError("score takes at most one email", USAGE)
    window = _window(ctx, options.get("week"))
    scored = store_scored_weeks(ctx.services.db, ctx.policy, window, ctx.now)
    with ctx.services.db.read() as session:
        person = ctx.person
        if words:
            found = find_person(session, words[0])
            if found is None and ctx.person.has_role("admin"):
                raise UsageError(f"no one with the email {words[0]} is in the directory", USAGE)
            if found is None or not (
                found.id == ctx.person.id
                or ctx.person.has_role("admin")
                or manages(session, ctx.person, found)
            ):
                # The same answer whether or not the person exists: no directory oracle.
                raise NotAllowed(
                    "Scores are private: you can see your own, and those of people you manage."
                )
            person = found
        context = person_score(session, ctx.policy, person.id, window, ctx.now, scored.current)
    context.update(
        name=person.name,
        own=person.id == ctx.person.id,
        phase=ctx.policy.phase,
        window=window_context(window, ctx.policy.periods.zone),
    )
    return Reply("score", context)
