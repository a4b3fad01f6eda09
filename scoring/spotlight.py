"""The weekly recognition spotlight: one post per team channel and one org-wide, naming the
week's recognised people per category with the reason in one line each, and one tip.

`weekly_spotlight` computes the week once (storing its rollup and those of the baseline weeks,
in the caller's unit of work) and returns keyed notices; the scheduler enqueues them in the
outbox, whose key makes each post go out once per week. Contexts are JSON-safe (numbers,
strings, lists, dicts). Nothing is posted in the `baseline` phase, and a team channel gets a
post only when someone in the team is recognised. Flagged people are never eligible, so no post
names them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.core.messages import Notice, Reply
from budgets.policy import Policy
from scoring.categories import (
    CategoryResult,
    TeamStanding,
    recognise_every_team,
    team_standings,
)
from scoring.config import scoring_settings
from scoring.metrics import CurrentWeeks, current_weeks
from scoring.score import Scoreboard, build_scoreboard
from scoring.templates import TemplateReport, best_template
from scoring.windows import Window, trailing_weeks, week_starting

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


def team_tips(board: Scoreboard) -> dict[int | None, TemplateReport | None]:
    """Per team (and None: the org), the tip: the best template for the most common main use
    case among the team's scored people that has one, else the org's best template."""
    org_best = best_template(board.templates)
    use_cases: dict[int, Counter[str]] = {}
    for pid, score in board.scores.items():
        person = board.people.get(pid)
        if person is not None and person.team_id is not None:
            use_cases.setdefault(person.team_id, Counter())[score.main_use_case.use_case] += 1
    best = {
        use_case: best_template(board.templates, use_case)
        for counts in use_cases.values()
        for use_case in counts
    }
    tips: dict[int | None, TemplateReport | None] = {None: org_best}
    for team_id, counts in use_cases.items():
        tips[team_id] = next(
            (best[u] for u, _n in counts.most_common() if best[u] is not None), org_best
        )
    return tips


def _post(
    board: Scoreboard,
    results: list[CategoryResult],
    team: str | None,
    tip: TemplateReport | None,
    zone: ZoneInfo,
) -> Reply:
    context = {
        "window": window_context(board.window, zone),
        "scope": "team" if team else "org",
        "team": team,
        "categories": recognition_context(results),
        "standings": standings_context(team_standings(board)) if team is None else [],
        "tip": tip_context(tip, board.flagged),
    }
    return Reply("spotlight", context, private=False)


def prepare_spotlight(
    session: Session, policy: Policy, week_start: date, now: datetime
) -> CurrentWeeks:
    """Store the rollups the week's spotlight reads (the week and its baseline weeks), and
    return what is stored, for `weekly_spotlight(..., prepared=)`; the caller commits.
    Optional: `weekly_spotlight` stores what is missing itself, but on SQLite a unit of work
    holds the write lock until it ends, so a scheduler can call this in a short unit of work
    of its own first and keep the one that computes and enqueues the posts from blocking
    ingestion for long."""
    week = week_starting(policy.periods.zone, week_start)
    weeks = [
        *trailing_weeks(policy.periods.zone, week.start, scoring_settings(policy).trailing_weeks),
        week,
    ]
    return current_weeks(session, weeks, now, store=True)


def weekly_spotlight(
    session: Session,
    policy: Policy,
    week_start: date,
    now: datetime,
    prepared: CurrentWeeks | None = None,
) -> list[tuple[str, Notice]]:
    """The spotlight posts for the week holding `week_start`, keyed
    `spotlight:2026-W47:org` and `spotlight:2026-W47:team:<team id>`. `prepared`: what
    `prepare_spotlight` returned in a transaction committed just before (read, not checked
    again); without it, the rollups are checked and what is missing is stored."""
    if not policy.recognition_enabled:
        return []
    zone = policy.periods.zone
    week = week_starting(zone, week_start)
    if now < week.end:
        last_day = (week.end - timedelta(days=1)).astimezone(zone).date()
        raise ValueError(f"week {week.key} has not ended yet (it ends after {last_day})")
    board = build_scoreboard(session, policy, week, now, store=True, current=prepared)
    org, teams = recognise_every_team(board)
    tips = team_tips(board)
    notices: list[tuple[str, Notice]] = []
    if policy.channels.org_wide:
        reply = _post(board, org, None, tips[None], zone)
        notices.append(
            (f"spotlight:{week.key}:org", Notice(None, reply, to_channel=policy.channels.org_wide))
        )
    team_ids = {name: team_id for team_id, name in board.teams.items()}
    for team_name, channel in sorted(policy.channels.teams.items()):
        team_id = team_ids.get(team_name)
        if team_id is None or not channel:
            continue
        results = teams.get(team_id, [])
        if not any(result.recognised for result in results):
            continue
        reply = _post(board, results, team_name, tips.get(team_id, tips[None]), zone)
        notices.append(
            (
                f"spotlight:{week.key}:team:{team_id}",
                Notice(None, reply, to_channel=channel, to_team=team_name),
            )
        )
    return notices
