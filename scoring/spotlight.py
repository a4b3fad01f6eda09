"""The weekly recognition spotlight: one post per team channel and one org-wide, naming the
week's recognised people per category with the reason in one line each, and one tip.

`weekly_spotlight` computes the week once (storing its rollup and those of the baseline weeks,
in the caller's unit of work) and returns the week's posts as facts (`SpotlightPost`, each with
its outbox key); `bot.core.presenters.spotlight` words them and the scheduler enqueues them in
the outbox, whose key makes each post go out once per week. Nothing is posted in the `baseline`
phase, and a team channel gets a post only when someone in the team is recognised. Flagged
people are never eligible, so no post names them.

Every post also names the week's most reused new template (`most_reused_new_template`): first
approved in the `NEW_TEMPLATE_WEEKS` weeks up to the week's end, with the most artifacts other
people than its author made with it that week; none when no new template was reused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from budgets.policy import Policy
from budgets.windows import Window, trailing_weeks, week_starting
from scoring.categories import (
    CategoryResult,
    TeamStanding,
    recognise_every_team,
    team_standings,
)
from scoring.config import scoring_settings
from scoring.rollups import CurrentWeeks, current_weeks
from scoring.score import Scoreboard, build_scoreboard
from scoring.templates import TemplateReport, best_template
from storage.models import PromptTemplate

NEW_TEMPLATE_WEEKS = 4  # a template counts as new this many weeks after its first approval


@dataclass(frozen=True)
class SpotlightPost:
    """One spotlight post: org-wide (`team` None) or for one team's channel."""

    key: str  # the outbox key: spotlight:2026-W47:org, spotlight:2026-W47:team:<team id>
    channel: str
    team: str | None
    window: Window
    zone: ZoneInfo
    results: list[CategoryResult]
    standings: list[TeamStanding]  # the org post's team standings; empty for a team's
    tip: TemplateReport | None
    hidden: frozenset[int]  # people with an open flag, whom no post names
    new_template: TemplateReport | None = None  # the week's most reused new template


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


def most_reused_new_template(
    reports: Mapping[str, TemplateReport],
    first_approved: Mapping[str, datetime | None],
    window: Window,
    weeks: int = NEW_TEMPLATE_WEEKS,
) -> TemplateReport | None:
    """Of the templates first approved in the `weeks` weeks up to the window's end, the one
    other people reused most in the window: the most artifacts made with it by people other
    than its author, then the most such people, then the first id. None when none was reused."""
    since = window.end - timedelta(weeks=weeks)
    new = [
        report
        for report in reports.values()
        if (approved := first_approved.get(report.template_id)) is not None
        and since <= approved < window.end
        and report.reuse.artifacts > 0
    ]
    new.sort(key=lambda r: (-r.reuse.artifacts, -r.reusers, r.template_id))
    return new[0] if new else None


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
) -> list[SpotlightPost]:
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
    first_approved = {
        template_id: approved
        for template_id, approved in session.execute(
            select(PromptTemplate.id, PromptTemplate.first_approved_at).where(
                PromptTemplate.id.in_(list(board.templates_in_window))
            )
        )
    }
    new_template = most_reused_new_template(board.templates_in_window, first_approved, week)
    posts: list[SpotlightPost] = []

    def post(key: str, channel: str, team: str | None, results, tip) -> SpotlightPost:  # noqa: ANN001
        standings = team_standings(board) if team is None else []
        return SpotlightPost(
            key,
            channel,
            team,
            board.window,
            zone,
            results,
            standings,
            tip,
            board.flagged,
            new_template,
        )

    if policy.channels.org_wide:
        posts.append(
            post(f"spotlight:{week.key}:org", policy.channels.org_wide, None, org, tips[None])
        )
    team_ids = {name: team_id for team_id, name in board.teams.items()}
    for team_name, channel in sorted(policy.channels.teams.items()):
        team_id = team_ids.get(team_name)
        if team_id is None or not channel:
            continue
        results = teams.get(team_id, [])
        if not any(result.recognised for result in results):
            continue
        tip = tips.get(team_id, tips[None])
        posts.append(post(f"spotlight:{week.key}:team:{team_id}", channel, team_name, results, tip))
    return posts
