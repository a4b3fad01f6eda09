"""A person's dashboard: the figures behind Slack's App Home tab (and any other surface's home).

It reuses the commands' own numbers, so the dashboard and the chat replies never disagree: the
balance from `balance_for` (the `balance` command), the score summary from `person_score`
(the `score` command, for the same week: the last complete one, which the spotlight covers),
the open requests from `budgets.request_views`. Every manager sees the requests awaiting them,
whoever routed them (`budgets.request_views.awaiting`), and their team's pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.commands.score import person_score
from bot.core.commands.team import decision_buttons
from bot.core.messages import Reply
from bot.core.presenters.spotlight import window_context
from budgets import request_views as burst_requests
from budgets.balances import balance_for
from budgets.windows import last_complete_week
from scoring.score import store_scored_weeks
from storage.models import Person

if TYPE_CHECKING:
    from bot.bootstrap import Services


def is_manager(person: Person) -> bool:
    return person.has_role("manager") or person.has_role("admin")


def dashboard_reply(services: Services, person: Person) -> Reply:
    """Reply("home", ...) for `person`, read in one read-only unit of work."""
    now = services.clock()
    policy = services.policy
    week = last_complete_week(policy.periods.zone, now)
    scored = store_scored_weeks(services.db, policy, week, now)
    with services.db.read() as session:
        view = balance_for(session, person, policy, now)
        my_requests = [
            r for r in burst_requests.requests_of(session, policy, person) if r.is_pending
        ]
        awaiting_me = burst_requests.awaiting(session, policy, person)
        score = person_score(session, policy, person.id, week, now, scored.current)
    score["window"] = window_context(week, policy.periods.zone)
    return Reply(
        "home",
        {
            "view": view,
            "now": now,
            "phase": policy.phase,
            "timezone": policy.periods.timezone,
            "is_manager": is_manager(person),
            "team_pools": [p for p in view.pools if p.kind == "team_pool"],
            "my_requests": my_requests,
            "awaiting_me": awaiting_me,
            "score": score,
        },
        buttons=decision_buttons(awaiting_me),
    )
