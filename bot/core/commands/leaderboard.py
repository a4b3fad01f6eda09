"""`leaderboard [CATEGORY] [--period]`: the recognised people of the last complete week (the
week the spotlight covers), or of the budget period so far, with what put them there.

Never shows spend: each line gives the measure that ranked the person against the baseline of
their use case. People with an open governance flag are not eligible, so they are never named.
"""

from __future__ import annotations

from bot.core.context import CommandContext
from bot.core.errors import UsageError
from bot.core.messages import Reply
from bot.core.presenters.spotlight import recognition_context, standings_context, window_context
from bot.core.registry import registry
from budgets.windows import last_complete_week, period_so_far
from scoring.categories import recognise, team_standings
from scoring.config import scoring_settings
from scoring.score import build_scoreboard, store_scored_weeks

USAGE = "leaderboard [CATEGORY] [--period]"


def _category(ctx: CommandContext, words: list[str]) -> str | None:
    if not words:
        return None
    wanted = " ".join(words).strip().lower()
    categories = scoring_settings(ctx.policy).categories
    for spec in categories:
        if wanted in (spec.key.lower(), spec.label.lower()):
            return spec.key
    known = ", ".join(spec.key for spec in categories)
    raise UsageError(f"there is no category {wanted!r} (categories: {known})", USAGE)


@registry.command(
    "leaderboard",
    summary="Last week's recognised people per category",
    usage=USAGE,
    order=50,
)
def leaderboard(ctx: CommandContext) -> Reply:
    words = [w for w in ctx.words if w != "--period"]
    for word in words:
        if word.startswith("--"):
            raise UsageError(f"unknown option {word} (allowed: --period)", USAGE)
    category = _category(ctx, words)
    zone = ctx.policy.periods.zone
    window = (
        period_so_far(ctx.policy, ctx.now)
        if "--period" in ctx.words
        else last_complete_week(zone, ctx.now)
    )
    context = {
        "phase": ctx.policy.phase,
        "window": window_context(window, zone),
        "category": category,
        "categories": [],
        "standings": [],
    }
    if ctx.policy.recognition_enabled:
        scored = store_scored_weeks(ctx.services.db, ctx.policy, window, ctx.now)
        with ctx.services.db.read() as session:
            board = build_scoreboard(session, ctx.policy, window, ctx.now, current=scored.current)
        context["categories"] = recognition_context(recognise(board, category=category))
        if category is None:
            context["standings"] = standings_context(team_standings(board))
    return Reply("leaderboard", context, private=False)
