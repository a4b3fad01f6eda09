"""The weekly recognition spotlight and the recognition pieces other screens share (the
window, the recognised people per category, team standings, a template tip), as JSON-safe
template context (numbers, strings, lists, dicts): a notice waits in the outbox as JSON."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.messages import Notice, Reply
from budgets.windows import Window
from scoring.categories import CategoryResult, TeamStanding
from scoring.score import Improvement
from scoring.spotlight import SpotlightPost
from scoring.templates import TemplateReport

STANDINGS_SHOWN = 3


def recognition_context(results: list[CategoryResult]) -> list[dict[str, Any]]:
    """Categories with their recognised people and reasons, as plain data."""
    return [
        {
            "key": result.spec.key,
            "label": result.spec.label,
            "measure": result.spec.measure,
            "people": [
                {
                    "tier": r.tier,
                    "name": r.name,
                    "team": r.team,
                    "reason": asdict(r.reason),
                }
                for r in result.recognised
            ],
        }
        for result in results
    ]


def tip_context(
    report: TemplateReport | None, hidden: frozenset[int] = frozenset()
) -> dict[str, Any] | None:
    """A template tip as plain data; the author is left out when in `hidden` (people with an
    open flag, whom no public post names)."""
    if report is None:
        return None
    return {
        "template": report.name,
        "template_id": report.template_id,
        "use_case": report.use_case,
        "saving_share": report.saving_share or 0.0,
        "acceptance_rate": report.totals.acceptance_rate,
        "author": None if report.author_id in hidden else report.author_name,
        "artifacts": report.totals.artifacts,
    }


def new_template_context(
    report: TemplateReport | None, hidden: frozenset[int] = frozenset()
) -> dict[str, Any] | None:
    """The week's most reused new template as plain data; the author left out as in
    `tip_context`."""
    if report is None:
        return None
    return {
        "template": report.name,
        "template_id": report.template_id,
        "use_case": report.use_case,
        "author": None if report.author_id in hidden else report.author_name,
        "reuse": report.reuse.artifacts,
        "reusers": report.reusers,
    }


def standings_context(standings: list[TeamStanding]) -> list[dict[str, Any]]:
    return [asdict(s) for s in standings[:STANDINGS_SHOWN]]


def window_context(window: Window, zone: ZoneInfo) -> dict[str, str]:
    """The window's key and its first and last days on the policy's calendar (ISO dates)."""
    last = window.end - timedelta(microseconds=1)
    return {
        "key": window.key,
        "kind": window.kind,
        "first_day": window.start.astimezone(zone).date().isoformat(),
        "last_day": last.astimezone(zone).date().isoformat(),
    }


def spotlight_notice(post: SpotlightPost) -> tuple[str, Notice]:
    """The keyed channel post for one spotlight post."""
    context = {
        "window": window_context(post.window, post.zone),
        "scope": "team" if post.team else "org",
        "team": post.team,
        "categories": recognition_context(post.results),
        "standings": standings_context(post.standings),
        "tip": tip_context(post.tip, post.hidden),
        "new_template": new_template_context(post.new_template, post.hidden),
    }
    reply = Reply("spotlight", context, private=False)
    return post.key, Notice(None, reply, to_channel=post.channel, to_team=post.team)


def spotlight_notices(posts: list[SpotlightPost]) -> list[tuple[str, Notice]]:
    return [spotlight_notice(post) for post in posts]


def improvement_context(improvement: Improvement | None) -> dict[str, Any] | None:
    if improvement is None:
        return None
    return {
        "component": improvement.component,
        "use_case": improvement.use_case,
        "value": improvement.value,
        "baseline": improvement.baseline,
        "ratio": improvement.ratio,
        "unit": improvement.unit,
        "points": str(improvement.points),
        "artifacts": improvement.artifacts,
        "stretch": improvement.stretch,
        "target": improvement.target,
        "template": tip_context(improvement.template),
    }
